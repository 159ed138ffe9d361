/*
 * test_reduce.c: Check suite for tensor/reduce.c and tensor/sort.c: values
 * of every reduction against hand-computed results for each dtype class,
 * keepdim and negative dims, each dim (and pairs of dims) of 3-D tensors
 * against a naive reference, transposed inputs, tn_sum_to over broadcast
 * patterns, bit-identical results with 1 and 2 threads, error messages, and
 * finite-difference gradient checks of every differentiable op over each dim
 * and on non-contiguous inputs.
 */
#include "helpers.h"

#include <string.h>

#include "tensor/internal.h"

/* 0, 1, 2, ... of the given dtype and shape */
static tn_tensor *iota(tn_dtype dt, int nd, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, nd, shape);
    for (int64_t i = 0; i < t->numel; i++) tn_store(dt, t->storage->data, i, (double)i);
    return t;
}

/* a float64 leaf that requires grad, values from the seeded stream */
static tn_tensor *leaf64(int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(TN_FLOAT64, nd, shape);
    t->requires_grad = true;
    return t;
}
#define LEAF(...) leaf64((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static tn_tensor *R1(tn_reduce_kind k, tn_tensor *t, int dim, bool keepdim) {
    return tn_reduce(k, t, &dim, 1, keepdim);
}

/* ---------- values ---------- */

START_TEST(test_sum_values) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 3, {1, 2, 3, 4, 5, 6});
    tn_tensor *s = tn_sum(a, TN_ALL_DIMS, false);
    ck_assert_int_eq(s->ndim, 0);   /* everything: a 0-dim tensor */
    EXPECT(s, 0, {21});
    ck_assert_int_eq(s->dtype, TN_FLOAT32);
    tn_tensor *s0 = tn_sum(a, 0, false), *s1 = tn_sum(a, 1, true), *sm = tn_sum(a, -1, false);
    EXPECT_SHAPE(s0, 3);
    EXPECT(s0, 0, {5, 7, 9});
    EXPECT_SHAPE(s1, 2, 1);
    EXPECT(s1, 0, {6, 15});
    EXPECT_SHAPE(sm, 2);
    EXPECT(sm, 0, {6, 15});
    tn_tensor *sk = tn_sum(a, TN_ALL_DIMS, true);
    EXPECT_SHAPE(sk, 1, 1);
    EXPECT(sk, 0, {21});
    /* a list of dims */
    int dims[2] = {1, 0};
    tn_tensor *sl = tn_reduce(TN_R_SUM, a, dims, 2, false);
    EXPECT(sl, 0, {21});
    tn_release(a); tn_release(s); tn_release(s0); tn_release(s1); tn_release(sm); tn_release(sk);
    tn_release(sl);
}
END_TEST

START_TEST(test_sum_int_dtypes) {
    tn_tensor *i = T2(TN_INT64, 2, 2, {1, 2, 3, 4});
    tn_tensor *s = tn_sum(i, 0, false);
    ck_assert_int_eq(s->dtype, TN_INT64);
    EXPECT(s, 0, {4, 6});
    tn_tensor *b = T1(TN_BOOL, 4, {1, 0, 1, 1});
    tn_tensor *sb = tn_sum(b, TN_ALL_DIMS, false);
    ck_assert_int_eq(sb->dtype, TN_INT64);
    EXPECT(sb, 0, {3});
    tn_tensor *i32 = T1(TN_INT32, 3, {-1, 5, 7});
    tn_tensor *s32 = tn_sum(i32, 0, false);
    ck_assert_int_eq(s32->dtype, TN_INT64);
    EXPECT(s32, 0, {11});
    tn_tensor *u8 = T1(TN_UINT8, 3, {200, 100, 50});
    tn_tensor *su = tn_sum(u8, 0, false);
    EXPECT(su, 0, {350});   /* no uint8 overflow: int64 result */
    /* exact large int64 values (beyond double precision) */
    int64_t big[2] = {(int64_t)1 << 60, 3};
    tn_tensor *bi = tn_from_data(TN_INT64, 1, (int64_t[]){2}, big);
    tn_tensor *sbi = tn_sum(bi, 0, false);
    ck_assert(((int64_t *)tn_data(sbi))[0] == ((int64_t)1 << 60) + 3);
    tn_release(i); tn_release(s); tn_release(b); tn_release(sb); tn_release(i32); tn_release(s32);
    tn_release(u8); tn_release(su); tn_release(bi); tn_release(sbi);
}
END_TEST

START_TEST(test_mean_prod) {
    tn_tensor *a = T2(TN_FLOAT64, 2, 3, {1, 2, 3, 4, 5, 6});
    tn_tensor *m = tn_mean(a, 1, false), *ma = tn_mean(a, TN_ALL_DIMS, false);
    EXPECT(m, 1e-12, {2, 5});
    EXPECT(ma, 1e-12, {3.5});
    ck_assert_int_eq(ma->ndim, 0);
    tn_tensor *p = R1(TN_R_PROD, a, 0, false);
    EXPECT(p, 0, {4, 10, 18});
    tn_tensor *i3 = T1(TN_INT32, 3, {2, 3, 4});
    tn_tensor *pi = tn_reduce(TN_R_PROD, i3, NULL, 0, false);
    tn_release(i3);
    ck_assert_int_eq(pi->dtype, TN_INT64);
    EXPECT(pi, 0, {24});
    /* mean of an integer tensor is an error, as in PyTorch */
    tn_tensor *it = T1(TN_INT64, 2, {1, 2});
    EXPECT_ERROR(tn_mean(it, 0, false), "floating point");
    /* mean over an empty dim is NaN */
    tn_tensor *e = tn_zeros(TN_FLOAT32, 2, (int64_t[]){2, 0});
    tn_tensor *me = tn_mean(e, 1, false);
    EXPECT(me, 0, {NAN, NAN});
    tn_tensor *se = tn_sum(e, 1, false);
    EXPECT(se, 0, {0, 0});
    tn_release(a); tn_release(m); tn_release(ma); tn_release(p); tn_release(pi); tn_release(it);
    tn_release(e); tn_release(me); tn_release(se);
}
END_TEST

START_TEST(test_max_min_all_any) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 3, {1, 7, 3, -4, 5, 6});
    tn_tensor *mx = R1(TN_R_MAX, a, 1, false), *mn = R1(TN_R_MIN, a, 0, false);
    EXPECT(mx, 0, {7, 6});
    EXPECT(mn, 0, {-4, 5, 3});
    tn_tensor *all = tn_reduce(TN_R_MAX, a, NULL, 0, false);
    EXPECT(all, 0, {7});
    /* NaN propagates */
    tn_tensor *n = T2(TN_FLOAT64, 2, 2, {1, NAN, 3, 2});
    tn_tensor *nm = R1(TN_R_MAX, n, 1, false), *nn = R1(TN_R_MIN, n, 0, false);
    EXPECT(nm, 0, {NAN, 3});
    EXPECT(nn, 0, {1, NAN});
    /* integer max keeps the dtype */
    tn_tensor *i = T1(TN_INT32, 3, {-5, 9, 2});
    tn_tensor *im = tn_reduce(TN_R_MAX, i, NULL, 0, false);
    ck_assert_int_eq(im->dtype, TN_INT32);
    EXPECT(im, 0, {9});
    /* empty: an error with a clear message */
    tn_tensor *e = tn_zeros(TN_FLOAT32, 1, (int64_t[]){0});
    EXPECT_ERROR(tn_reduce(TN_R_MAX, e, NULL, 0, false), "empty");
    tn_tensor *m0;
    tn_tensor *ix;
    ck_assert_int_eq(tn_max_dim(e, 0, false, &m0, &ix), -1);
    ck_assert_msg(strstr(tn_last_error(), "size 0") != NULL, "%s", tn_last_error());
    /* all / any */
    tn_tensor *b = T2(TN_FLOAT32, 2, 2, {1, 0, NAN, 2});
    tn_tensor *al = R1(TN_R_ALL, b, 1, false), *an = R1(TN_R_ANY, b, 0, false);
    ck_assert_int_eq(al->dtype, TN_BOOL);
    EXPECT(al, 0, {0, 1});
    EXPECT(an, 0, {1, 1});
    tn_tensor *z = tn_zeros(TN_INT64, 1, (int64_t[]){3});
    tn_tensor *az = tn_reduce(TN_R_ANY, z, NULL, 0, false);
    EXPECT(az, 0, {0});
    tn_tensor *ae = tn_reduce(TN_R_ALL, e, NULL, 0, false);
    EXPECT(ae, 0, {1});
    tn_release(a); tn_release(mx); tn_release(mn); tn_release(all); tn_release(n); tn_release(nm);
    tn_release(nn); tn_release(i); tn_release(im); tn_release(e); tn_release(b); tn_release(al);
    tn_release(an); tn_release(z); tn_release(az); tn_release(ae);
}
END_TEST

START_TEST(test_logsumexp_norm_var) {
    tn_tensor *a = T2(TN_FLOAT64, 2, 3, {1, 2, 3, 1000, 1000, 1000});
    tn_tensor *l = R1(TN_R_LOGSUMEXP, a, 1, false);
    EXPECT(l, 1e-9, {3 + log(1 + exp(-1) + exp(-2)), 1000 + log(3)});
    tn_tensor *ninf = T1(TN_FLOAT32, 2, {-INFINITY, -INFINITY});
    tn_tensor *ln = tn_reduce(TN_R_LOGSUMEXP, ninf, NULL, 0, false);
    ck_assert(ln && isinf(tn_item(ln)) && tn_item(ln) < 0);
    /* +inf and NaN, rows (fused) and a list of dims (composite), keepdim */
    tn_tensor *sp = T2(TN_FLOAT32, 2, 2, {1, INFINITY, 1, NAN});
    tn_tensor *lsp = R1(TN_R_LOGSUMEXP, sp, 1, false), *lsc = R1(TN_R_LOGSUMEXP, sp, 0, true);
    ck_assert(isinf(tn_get_flat(lsp, 0)) && isnan(tn_get_flat(lsp, 1)));
    EXPECT_SHAPE(lsc, 1, 2);
    EXPECT(lsc, 1e-6, {1 + log(2), NAN});
    tn_tensor *l3 = tn_randn(TN_FLOAT64, 3, (int64_t[]){2, 3, 4});
    int d02[2] = {0, 2};
    tn_tensor *la = tn_reduce(TN_R_LOGSUMEXP, l3, NULL, 0, true);
    tn_tensor *lb = tn_reduce(TN_R_LOGSUMEXP, l3, d02, 2, false);
    EXPECT_SHAPE(la, 1, 1, 1);
    EXPECT_SHAPE(lb, 3);
    double tot = 0, part[3] = {0};
    for (int64_t q = 0; q < 24; q++) {
        double e = exp(tn_get_flat(l3, q));
        tot += e;
        part[(q / 4) % 3] += e;
    }
    EXPECT(la, 1e-12, {log(tot)});
    EXPECT(lb, 1e-12, {log(part[0]), log(part[1]), log(part[2])});
    tn_release(sp); tn_release(lsp); tn_release(lsc); tn_release(l3); tn_release(la); tn_release(lb);
    tn_tensor *v = T1(TN_FLOAT32, 4, {3, -4, 0, 12});
    tn_tensor *n2 = tn_norm(v, 2, TN_ALL_DIMS, false), *n1 = tn_norm(v, 1, 0, false);
    tn_tensor *ni = tn_norm(v, INFINITY, 0, false), *n3 = tn_norm(v, 3, 0, true);
    tn_tensor *n0 = tn_norm(v, 0, 0, false);
    EXPECT(n2, 1e-5, {13});
    EXPECT(n1, 1e-5, {19});
    EXPECT(ni, 0, {12});
    EXPECT_SHAPE(n3, 1);
    EXPECT(n3, 1e-3, {cbrt(27 + 64 + 1728)});
    EXPECT(n0, 0, {3});
    tn_tensor *rn = tn_reduce(TN_R_NORM, v, NULL, 0, false);
    EXPECT(rn, 1e-5, {13});
    tn_tensor *it = T1(TN_INT64, 2, {3, 4});
    EXPECT_ERROR(tn_norm(it, 2, TN_ALL_DIMS, false), "floating point");
    tn_release(it);
    /* var / std, correction 1 (default) and 0 */
    tn_tensor *x = T2(TN_FLOAT64, 2, 4, {1, 2, 3, 4, 2, 4, 6, 8});
    tn_tensor *v1 = tn_var(x, 1, false, 1), *v0 = tn_var(x, 1, true, 0);
    tn_tensor *s1 = tn_std(x, TN_ALL_DIMS, false, 1);
    EXPECT(v1, 1e-12, {5.0 / 3, 20.0 / 3});
    EXPECT_SHAPE(v0, 2, 1);
    EXPECT(v0, 1e-12, {1.25, 5});
    /* all 8: mean 3.75, sum of squares of deviations 37.5 */
    EXPECT(s1, 1e-12, {sqrt(37.5 / 7)});
    tn_tensor *one = T1(TN_FLOAT32, 1, {5});
    tn_tensor *vn = tn_var(one, 0, false, 1);
    EXPECT(vn, 0, {NAN});
    tn_release(a); tn_release(l); tn_release(ninf); tn_release(ln); tn_release(v); tn_release(n2);
    tn_release(n1); tn_release(ni); tn_release(n3); tn_release(n0); tn_release(rn); tn_release(x);
    tn_release(v1); tn_release(v0); tn_release(s1); tn_release(one); tn_release(vn);
}
END_TEST

START_TEST(test_max_dim_argmax) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 4, {1, 9, 9, 2, 5, -1, 5, 0});
    tn_tensor *v, *ix;
    ck_assert_int_eq(tn_max_dim(a, 1, false, &v, &ix), 0);
    EXPECT(v, 0, {9, 5});
    EXPECT(ix, 0, {1, 0});   /* first of the ties */
    ck_assert_int_eq(ix->dtype, TN_INT64);
    tn_release(v); tn_release(ix);
    ck_assert_int_eq(tn_min_dim(a, 0, true, &v, &ix), 0);
    EXPECT_SHAPE(v, 1, 4);
    EXPECT(v, 0, {1, -1, 5, 0});
    EXPECT(ix, 0, {0, 1, 1, 1});
    tn_release(v); tn_release(ix);
    ck_assert_int_eq(tn_max_dim(a, -2, false, &v, &ix), 0);
    EXPECT(v, 0, {5, 9, 9, 2});
    EXPECT(ix, 0, {1, 0, 0, 0});
    tn_release(v); tn_release(ix);
    /* NaN wins */
    tn_tensor *n = T1(TN_FLOAT64, 4, {1, NAN, 7, NAN});
    ck_assert_int_eq(tn_max_dim(n, 0, false, &v, &ix), 0);
    EXPECT(v, 0, {NAN});
    EXPECT(ix, 0, {1});
    tn_release(v); tn_release(ix);
    /* argmax over everything indexes the flattened tensor */
    tn_tensor *am = tn_argmax(a, TN_ALL_DIMS, false), *an = tn_argmin(a, TN_ALL_DIMS, false);
    ck_assert_int_eq(am->ndim, 0);
    EXPECT(am, 0, {1});
    EXPECT(an, 0, {5});
    tn_tensor *ak = tn_argmax(a, TN_ALL_DIMS, true);
    EXPECT_SHAPE(ak, 1, 1);
    /* transposed input: the flat index is in the transposed (logical) order */
    tn_tensor *t = tn_transpose(a, 0, 1);
    tn_tensor *at = tn_argmax(t, TN_ALL_DIMS, false), *ad = tn_argmin(t, 1, false);
    EXPECT(at, 0, {2});   /* t = [[1,5],[9,-1],[9,5],[2,0]] */
    EXPECT(ad, 0, {0, 1, 1, 1});
    /* integer dtypes */
    tn_tensor *iv = T1(TN_UINT8, 3, {4, 200, 7});
    tn_tensor *ia = tn_argmax(iv, 0, false);
    EXPECT(ia, 0, {1});
    ck_assert_int_eq(tn_min_dim(iv, 0, false, &v, &ix), 0);
    ck_assert_int_eq(v->dtype, TN_UINT8);
    EXPECT(v, 0, {4});
    tn_release(v); tn_release(ix);
    /* long rows (the blocked search): ties, then a NaN */
    int64_t L = 1000;
    tn_tensor *lr = tn_empty(TN_FLOAT32, 2, (int64_t[]){2, L});
    float *pl = tn_data(lr);
    for (int64_t k = 0; k < 2 * L; k++) pl[k] = (float)((k * 37) % 101) / 101.0f;
    pl[500] = pl[900] = 5;
    pl[L + 300] = pl[L + 301] = -5;
    pl[L + 700] = NAN;
    tn_tensor *lm = tn_argmax(lr, 1, false), *ln = tn_argmin(lr, 1, false);
    EXPECT(lm, 0, {500, 700});
    EXPECT(ln, 0, {0, 700});
    tn_tensor *lt = tn_transpose(lr, 0, 1), *lmt = tn_argmax(lt, 0, false);  /* strided rows */
    EXPECT(lmt, 0, {500, 700});
    tn_release(lr); tn_release(lm); tn_release(ln); tn_release(lt); tn_release(lmt);
    EXPECT_ERROR(tn_argmax(a, 2, false), "out of range");
    tn_release(a); tn_release(n); tn_release(am); tn_release(an); tn_release(ak); tn_release(t);
    tn_release(at); tn_release(ad); tn_release(iv); tn_release(ia);
}
END_TEST

START_TEST(test_cumsum_softmax) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 3, {1, 2, 3, 4, 5, 6});
    tn_tensor *c1 = tn_cumsum(a, 1), *c0 = tn_cumsum(a, -2);
    EXPECT(c1, 0, {1, 3, 6, 4, 9, 15});
    EXPECT(c0, 0, {1, 2, 3, 5, 7, 9});
    tn_tensor *t = tn_transpose(a, 0, 1);
    tn_tensor *ct = tn_cumsum(t, 1);
    EXPECT(ct, 0, {1, 5, 2, 7, 3, 9});
    /* long rows (the blocked row path) and int64 rows against a running sum */
    tn_tensor *lr = tn_randn(TN_FLOAT64, 2, (int64_t[]){3, 45});
    tn_tensor *li = tn_randint(-9, 9, 2, (int64_t[]){3, 45});
    tn_tensor *lc = tn_cumsum(lr, 1), *lic = tn_cumsum(li, -1);
    for (int64_t r = 0; r < 3; r++) {
        double run = 0;
        int64_t irun = 0;
        for (int64_t k = 0; k < 45; k++) {
            run += tn_get_flat(lr, r * 45 + k);
            irun += tn_get_flat_i64(li, r * 45 + k);
            ck_assert(fabs(tn_get_flat(lc, r * 45 + k) - run) < 1e-12);
            ck_assert(tn_get_flat_i64(lic, r * 45 + k) == irun);
        }
    }
    tn_release(lr); tn_release(li); tn_release(lc); tn_release(lic);
    tn_tensor *i = T1(TN_INT32, 3, {1, 2, 3});
    tn_tensor *ci = tn_cumsum(i, 0);
    ck_assert_int_eq(ci->dtype, TN_INT64);
    EXPECT(ci, 0, {1, 3, 6});
    /* softmax over the last dim (row path) and dim 0 (column path) */
    tn_tensor *x = T2(TN_FLOAT64, 2, 3, {1, 2, 3, 1000, 1000, 1001});
    tn_tensor *s1 = tn_softmax(x, 1), *l1 = tn_log_softmax(x, -1);
    double z = 1 + exp(1) + exp(2), z2 = 2 + exp(1);
    EXPECT(s1, 1e-12, {1 / z, exp(1) / z, exp(2) / z, 1 / z2, 1 / z2, exp(1) / z2});
    EXPECT(l1, 1e-9, {-log(z), 1 - log(z), 2 - log(z), -log(z2), -log(z2), 1 - log(z2)});
    tn_tensor *s0 = tn_softmax(x, 0);
    EXPECT(s0, 1e-12, {0, 0, 0, 1, 1, 1});
    tn_tensor *f = T2(TN_FLOAT32, 2, 2, {0, 0, 1, 3});
    tn_tensor *sf = tn_softmax(f, 0), *lf = tn_log_softmax(f, 0);
    double e1 = 1 / (1 + exp(1)), e3 = 1 / (1 + exp(3));
    EXPECT(sf, 1e-6, {e1, e3, 1 - e1, 1 - e3});
    EXPECT(lf, 1e-5, {log(e1), log(e3), log(1 - e1), log(1 - e3)});
    EXPECT_ERROR(tn_softmax(i, 0), "floating point");
    EXPECT_ERROR(tn_softmax(a, 2), "out of range");
    tn_release(a); tn_release(c1); tn_release(c0); tn_release(t); tn_release(ct); tn_release(i);
    tn_release(ci); tn_release(x); tn_release(s1); tn_release(l1); tn_release(s0); tn_release(f);
    tn_release(sf); tn_release(lf);
}
END_TEST

START_TEST(test_sort_topk) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 5, {3, 1, 2, 1, NAN, 5, 5, -1, 0, 5});
    tn_tensor *v, *ix;
    ck_assert_int_eq(tn_sort(a, 1, false, &v, &ix), 0);
    EXPECT(v, 0, {1, 1, 2, 3, NAN, -1, 0, 5, 5, 5});
    EXPECT(ix, 0, {1, 3, 2, 0, 4, 2, 3, 0, 1, 4});   /* stable */
    tn_release(v); tn_release(ix);
    ck_assert_int_eq(tn_sort(a, -1, true, &v, &ix), 0);
    EXPECT(v, 0, {NAN, 3, 2, 1, 1, 5, 5, 5, 0, -1});
    EXPECT(ix, 0, {4, 0, 2, 1, 3, 0, 1, 4, 3, 2});
    tn_release(v); tn_release(ix);
    ck_assert_int_eq(tn_sort(a, 0, false, &v, &ix), 0);
    EXPECT(v, 0, {3, 1, -1, 0, 5, 5, 5, 2, 1, NAN});
    EXPECT(ix, 0, {0, 0, 1, 1, 1, 1, 1, 0, 0, 0});
    tn_release(v); tn_release(ix);
    /* int64 keys beyond double precision compare exactly */
    int64_t big[3] = {((int64_t)1 << 60) + 1, (int64_t)1 << 60, -3};
    tn_tensor *b = tn_from_data(TN_INT64, 1, (int64_t[]){3}, big);
    ck_assert_int_eq(tn_sort(b, 0, false, &v, &ix), 0);
    EXPECT(ix, 0, {2, 1, 0});
    tn_release(v); tn_release(ix);
    /* topk: largest and smallest, on a transposed input */
    tn_tensor *t = tn_transpose(a, 0, 1);   /* (5, 2) */
    ck_assert_int_eq(tn_topk(t, 2, 0, true, &v, &ix), 0);
    EXPECT_SHAPE(v, 2, 2);
    EXPECT(v, 0, {NAN, 5, 3, 5});
    EXPECT(ix, 0, {4, 0, 0, 1});
    tn_release(v); tn_release(ix);
    ck_assert_int_eq(tn_topk(a, 3, 1, false, &v, &ix), 0);
    EXPECT(v, 0, {1, 1, 2, -1, 0, 5});
    EXPECT(ix, 0, {1, 3, 2, 2, 3, 0});
    tn_release(v); tn_release(ix);
    ck_assert_int_eq(tn_topk(a, 6, 1, true, &v, &ix), -1);
    ck_assert_msg(strstr(tn_last_error(), "k (6)") != NULL, "%s", tn_last_error());
    ck_assert_int_eq(tn_sort(a, 3, false, &v, &ix), -1);
    /* a long line (merge passes beyond the insertion runs) */
    tn_tensor *r = tn_randint(0, 50, 1, (int64_t[]){1000});
    ck_assert_int_eq(tn_sort(r, 0, false, &v, &ix), 0);
    for (int64_t k = 1; k < 1000; k++) {
        int64_t p = tn_get_flat_i64(v, k - 1), q = tn_get_flat_i64(v, k);
        ck_assert(p <= q);
        if (p == q) ck_assert(tn_get_flat_i64(ix, k - 1) < tn_get_flat_i64(ix, k));
        ck_assert(tn_get_flat_i64(r, tn_get_flat_i64(ix, k)) == q);
    }
    tn_release(v); tn_release(ix);
    /* topk with small k (the selection path) equals the stable sort's prefix,
     * with many ties and NaNs, largest and smallest, rows and columns */
    tn_tensor *tf = tn_randint(0, 6, 2, (int64_t[]){7, 200});
    tn_tensor *tff = tn_to(tf, TN_FLOAT32);
    for (int64_t q = 0; q < tff->numel; q += 37) ((float *)tn_data(tff))[q] = NAN;
    tn_tensor *srcs[2] = {tf, tff};
    for (int si = 0; si < 2; si++)
        for (int dim = 0; dim < 2; dim++)
            for (int largest = 0; largest < 2; largest++)
                for (int64_t k = 1; k <= 7; k += 3) {
                    tn_tensor *sv, *sx, *kv, *kx;
                    ck_assert_int_eq(tn_sort(srcs[si], dim, largest, &sv, &sx), 0);
                    ck_assert_int_eq(tn_topk(srcs[si], k, dim, largest, &kv, &kx), 0);
                    int64_t n0 = kx->shape[0], n1 = kx->shape[1];
                    for (int64_t i = 0; i < n0; i++)
                        for (int64_t j = 0; j < n1; j++)
                            ck_assert_int_eq(tn_get_flat_i64(kx, i * n1 + j),
                                             tn_get_flat_i64(sx, i * sx->shape[1] + j));
                    tn_release(sv); tn_release(sx); tn_release(kv); tn_release(kx);
                }
    tn_release(tf); tn_release(tff);
    tn_release(a); tn_release(b); tn_release(t); tn_release(r);
}
END_TEST

/* ---------- 3-D against a naive reference ---------- */

/* reference reduction of a 3-D tensor over mask, keepdim, via tn_get_flat */
static double naive(const tn_tensor *t, uint32_t mask, int64_t o, int kind) {
    int64_t kept[3], ko = o;
    for (int d = 2; d >= 0; d--) {
        if (mask & (1u << d)) { kept[d] = -1; continue; }
        kept[d] = ko % t->shape[d];
        ko /= t->shape[d];
    }
    double acc = kind == 0 ? 0 : -INFINITY;
    for (int64_t i = 0; i < t->shape[0]; i++)
        for (int64_t j = 0; j < t->shape[1]; j++)
            for (int64_t k = 0; k < t->shape[2]; k++) {
                int64_t ix[3] = {i, j, k};
                bool ok = true;
                for (int d = 0; d < 3; d++) if (kept[d] >= 0 && kept[d] != ix[d]) ok = false;
                if (!ok) continue;
                double v = tn_get_flat(t, (i * t->shape[1] + j) * t->shape[2] + k);
                acc = kind == 0 ? acc + v : (v > acc ? v : acc);
            }
    return acc;
}

static void check_3d(tn_tensor *t) {
    for (uint32_t mask = 1; mask < 8; mask++) {
        int dims[3], nd = 0;
        for (int d = 0; d < 3; d++) if (mask & (1u << d)) dims[nd++] = d - (mask == 5 ? 3 : 0);
        for (int kind = 0; kind < 2; kind++) {
            tn_tensor *r = tn_reduce(kind == 0 ? TN_R_SUM : TN_R_MAX, t, dims, nd, true);
            ck_assert_msg(r != NULL, "%s", tn_last_error());
            for (int d = 0; d < 3; d++)
                ck_assert_int_eq(r->shape[d], (mask & (1u << d)) ? 1 : t->shape[d]);
            for (int64_t o = 0; o < r->numel; o++) {
                double want = naive(t, mask, o, kind), got = tn_get_flat(r, o);
                ck_assert_msg(fabs(got - want) <= 1e-3 * (1 + fabs(want)),
                              "mask %u kind %d out %lld: got %g want %g", mask, kind, (long long)o,
                              got, want);
            }
            tn_release(r);
        }
    }
}

START_TEST(test_each_dim_3d) {
    /* sizes chosen to hit both the row and the column kernels and the tails */
    int64_t shapes[4][3] = {{2, 3, 4}, {3, 17, 9}, {5, 2, 300}, {4, 33, 20}};
    for (int s = 0; s < 4; s++) {
        tn_tensor *t = tn_randn(TN_FLOAT32, 3, shapes[s]);
        check_3d(t);
        /* non-contiguous: permuted and sliced views */
        tn_tensor *p = tn_permute(t, (int[]){2, 0, 1});
        check_3d(p);
        tn_tensor *q = tn_transpose(t, 0, 2);
        check_3d(q);
        tn_release(t); tn_release(p); tn_release(q);
    }
    tn_tensor *i = tn_randint(-100, 100, 3, (int64_t[]){4, 9, 10});
    check_3d(i);
    tn_tensor *ip = tn_transpose(i, 1, 2);
    check_3d(ip);
    tn_release(i); tn_release(ip);
    /* a stepped slice (stride 2 along the last dim) */
    tn_tensor *b = tn_randn(TN_FLOAT64, 3, (int64_t[]){3, 4, 40});
    tn_tensor *sl = tn_slice(b, 2, 1, 40, 3);
    check_3d(sl);
    tn_release(b); tn_release(sl);
}
END_TEST

/* ---------- sum_to ---------- */

START_TEST(test_sum_to) {
    int64_t sh[3] = {2, 3, 4};
    tn_tensor *t = iota(TN_FLOAT32, 3, sh);
    struct { int nd; int64_t shape[3]; } pats[] = {
        {2, {3, 4}}, {2, {1, 4}}, {2, {3, 1}}, {3, {2, 1, 4}}, {3, {1, 3, 1}},
        {1, {4}}, {1, {1}}, {0, {0}}, {3, {2, 3, 4}}, {3, {1, 1, 1}}};
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        tn_tensor *r = tn_sum_to(t, pats[k].nd, pats[k].shape);
        ck_assert_msg(r != NULL, "%s", tn_last_error());
        ck_assert_int_eq(r->ndim, pats[k].nd);
        for (int d = 0; d < pats[k].nd; d++) ck_assert_int_eq(r->shape[d], pats[k].shape[d]);
        /* reference: every element of t lands on the broadcast position */
        double ref[24] = {0};
        for (int64_t i = 0; i < 24; i++) {
            int64_t ix[3] = {i / 12, (i / 4) % 3, i % 4}, o = 0;
            for (int d = 0; d < pats[k].nd; d++) {
                int64_t sz = pats[k].shape[d], td = 3 - pats[k].nd + d;
                o = o * sz + (sz == 1 ? 0 : ix[td]);
            }
            ref[o] += (double)i;
        }
        t_expect(r, ref, r->numel, 0);
        tn_release(r);
    }
    /* transposed gradient summed to a row vector */
    tn_tensor *tt = tn_transpose(t, 1, 2);   /* (2, 4, 3) */
    tn_tensor *r = tn_sum_to(tt, 2, (int64_t[]){1, 3});
    /* tt[a, b, c] = 12a + b + 4c: summing a and b gives 60 + 32c */
    EXPECT(r, 0, {60, 92, 124});
    EXPECT_ERROR(tn_sum_to(t, 1, (int64_t[]){5}), "cannot be summed");
    EXPECT_ERROR(tn_sum_to(t, 4, (int64_t[]){1, 2, 3, 4}), "cannot be summed");
    tn_release(tt); tn_release(r); tn_release(t);
}
END_TEST

START_TEST(test_errors) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 3, {1, 2, 3, 4, 5, 6});
    int dup[2] = {1, -1};
    EXPECT_ERROR(tn_reduce(TN_R_SUM, a, dup, 2, false), "multiple times");
    EXPECT_ERROR(tn_sum(a, 2, false), "out of range");
    EXPECT_ERROR(tn_sum(a, -3, false), "out of range");
    EXPECT_ERROR(tn_cumsum(a, 5), "out of range");
    tn_tensor *it = T1(TN_INT64, 2, {1, 2});
    EXPECT_ERROR(tn_var(it, 0, false, 1), "floating point");
    EXPECT_ERROR(tn_std(it, 0, false, 1), "floating point");
    tn_release(it);
    /* 0-dim inputs */
    tn_tensor *s = tn_scalar(TN_FLOAT32, 4);
    tn_tensor *r = tn_sum(s, 0, false), *m = tn_reduce(TN_R_MAX, s, NULL, 0, false);
    ck_assert_int_eq(r->ndim, 0);
    EXPECT(r, 0, {4});
    EXPECT(m, 0, {4});
    tn_tensor *sm = tn_softmax(s, -1);
    EXPECT(sm, 0, {1});
    /* Ctrl-C: long kernels stop and report it */
    tn_tensor *big = tn_ones(TN_FLOAT32, 2, (int64_t[]){300, 500});
    tn_interrupt_flag = 1;
    EXPECT_ERROR(tn_sum(big, 0, false), "interrupted");
    EXPECT_ERROR(tn_sum(big, 1, false), "interrupted");
    tn_tensor *sv, *si;
    ck_assert_int_eq(tn_sort(big, 1, false, &sv, &si), -1);
    ck_assert_str_eq(tn_last_error(), "interrupted");
    tn_interrupt_flag = 0;
    tn_tensor *ok = tn_sum(big, 0, false);
    ck_assert(ok != NULL);
    tn_release(ok);
    tn_release(big);
    tn_release(a); tn_release(s); tn_release(r); tn_release(m); tn_release(sm);
}
END_TEST

/* ---------- determinism and accuracy ---------- */

static bool same_bits(const tn_tensor *a, const tn_tensor *b) {
    return a && b && a->numel == b->numel &&
           memcmp(tn_data(a), tn_data(b), (size_t)a->numel * tn_dtype_size(a->dtype)) == 0;
}

START_TEST(test_determinism) {
    tn_manual_seed(7);
    tn_tensor *x = tn_randn(TN_FLOAT32, 2, (int64_t[]){1500, 2001});
    tn_tensor *t = tn_transpose(x, 0, 1);
    tn_tensor *r1[8], *r2[8];
    for (int pass = 0; pass < 2; pass++) {
        tn_set_num_threads(pass == 0 ? 1 : 2);
        tn_tensor **r = pass == 0 ? r1 : r2;
        r[0] = tn_sum(x, TN_ALL_DIMS, false);
        r[1] = tn_sum(x, 0, false);
        r[2] = tn_sum(x, 1, false);
        r[3] = tn_sum(t, TN_ALL_DIMS, false);
        r[4] = tn_norm(x, 2, TN_ALL_DIMS, false);
        r[5] = tn_softmax(x, 0);
        r[6] = tn_sum_to(x, 2, (int64_t[]){1, 2001});
        r[7] = tn_cumsum(x, 0);
    }
    tn_set_num_threads(2);
    /* the chunked column path (dim 0) and row path (dim 1) against a naive sum */
    for (int64_t k = 0; k < 2001; k += 1000) {
        double want = 0;
        for (int64_t i = 0; i < 1500; i++) want += tn_get_flat(x, i * 2001 + k);
        ck_assert(fabs(tn_get_flat(r1[1], k) - want) < 1e-3);
    }
    for (int64_t i = 0; i < 1500; i += 700) {
        double want = 0;
        for (int64_t k = 0; k < 2001; k++) want += tn_get_flat(x, i * 2001 + k);
        ck_assert(fabs(tn_get_flat(r1[2], i) - want) < 1e-3);
    }
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(same_bits(r1[i], r2[i]), "result %d differs between 1 and 2 threads", i);
        tn_release(r1[i]);
        tn_release(r2[i]);
    }
    tn_release(x);
    tn_release(t);
}
END_TEST

START_TEST(test_accuracy) {
    /* 10M float32 values of 0.1: a float accumulator would be far off */
    int64_t n = 10000000;
    tn_tensor *x = tn_full(TN_FLOAT32, 1, &n, 0.1);
    tn_tensor *s = tn_sum(x, 0, false);
    ck_assert_msg(fabs(tn_item(s) - 1e6) < 1.0, "sum %f", tn_item(s));
    tn_tensor *m = tn_mean(x, 0, false);
    ck_assert(fabs(tn_item(m) - 0.1) < 1e-7);
    tn_release(x); tn_release(s); tn_release(m);
}
END_TEST

/* ---------- autograd ---------- */

enum { G_SUM, G_MEAN, G_PROD, G_AMAX, G_AMIN, G_MAXDIM, G_MINDIM, G_LSE, G_NORM2, G_NORM1,
       G_NORMINF, G_NORM3, G_CUMSUM, G_SOFTMAX, G_LOGSOFTMAX, G_VAR, G_STD, G_SORT, G_TOPK,
       G_SUMTO, G_COUNT };
static const char *const gnames[G_COUNT] = {
    "sum", "mean", "prod", "amax", "amin", "max_dim", "min_dim", "logsumexp", "norm2", "norm1",
    "norminf", "norm3", "cumsum", "softmax", "log_softmax", "var", "std", "sort", "topk", "sum_to"};

typedef struct {
    int op, dim;       /* dim: TN_ALL_DIMS or a dim */
    bool keepdim, transpose;
} gctx;

static tn_tensor *gfn(void *vc, tn_tensor **in) {
    gctx *c = vc;
    tn_tensor *x = c->transpose ? tn_transpose(in[0], 0, -1) : tn_retain(in[0]);
    tn_tensor *r = NULL, *v = NULL, *ix = NULL;
    int d = c->dim;
    switch (c->op) {
    case G_SUM: r = tn_sum(x, d, c->keepdim); break;
    case G_MEAN: r = tn_mean(x, d, c->keepdim); break;
    case G_PROD: r = d == TN_ALL_DIMS ? tn_reduce(TN_R_PROD, x, NULL, 0, c->keepdim) : R1(TN_R_PROD, x, d, c->keepdim); break;
    case G_AMAX: r = d == TN_ALL_DIMS ? tn_reduce(TN_R_MAX, x, NULL, 0, c->keepdim) : R1(TN_R_MAX, x, d, c->keepdim); break;
    case G_AMIN: r = d == TN_ALL_DIMS ? tn_reduce(TN_R_MIN, x, NULL, 0, c->keepdim) : R1(TN_R_MIN, x, d, c->keepdim); break;
    case G_MAXDIM: if (tn_max_dim(x, d, c->keepdim, &v, &ix) == 0) r = v; tn_release(ix); break;
    case G_MINDIM: if (tn_min_dim(x, d, c->keepdim, &v, &ix) == 0) r = v; tn_release(ix); break;
    case G_LSE: r = d == TN_ALL_DIMS ? tn_reduce(TN_R_LOGSUMEXP, x, NULL, 0, c->keepdim) : R1(TN_R_LOGSUMEXP, x, d, c->keepdim); break;
    case G_NORM2: r = tn_norm(x, 2, d, c->keepdim); break;
    case G_NORM1: r = tn_norm(x, 1, d, c->keepdim); break;
    case G_NORMINF: r = tn_norm(x, INFINITY, d, c->keepdim); break;
    case G_NORM3: r = tn_norm(x, 3, d, c->keepdim); break;
    case G_CUMSUM: r = tn_cumsum(x, d); break;
    case G_SOFTMAX: r = tn_softmax(x, d); break;
    case G_LOGSOFTMAX: r = tn_log_softmax(x, d); break;
    case G_VAR: r = tn_var(x, d, c->keepdim, 1); break;
    case G_STD: r = tn_std(x, d, c->keepdim, 1); break;
    case G_SORT: if (tn_sort(x, d, c->keepdim, &v, &ix) == 0) r = v; tn_release(ix); break;
    case G_TOPK: if (tn_topk(x, 2, d, c->keepdim, &v, &ix) == 0) r = v; tn_release(ix); break;
    case G_SUMTO: {
        int64_t shape[TN_MAX_DIMS];
        int nd = x->ndim - (d == 0 ? 1 : 0);
        for (int i = 0; i < nd; i++) shape[i] = x->shape[i + x->ndim - nd];
        if (d != 0) shape[d] = 1;
        r = tn_sum_to(x, nd, shape);
        break;
    }
    }
    tn_release(x);
    return r;
}

/* ops whose dim may be TN_ALL_DIMS */
static bool all_dims_ok(int op) {
    return op != G_MAXDIM && op != G_MINDIM && op != G_CUMSUM && op != G_SOFTMAX &&
           op != G_LOGSOFTMAX && op != G_SORT && op != G_TOPK && op != G_SUMTO;
}

START_TEST(test_gradcheck_all) {
    tn_manual_seed(3);
    int checks = 0;
    for (int op = 0; op < G_COUNT; op++) {
        for (int tr = 0; tr < 2; tr++) {
            for (int dim = -1; dim < 3; dim++) {
                int d = dim < 0 ? TN_ALL_DIMS : dim;
                if (d == TN_ALL_DIMS && !all_dims_ok(op)) continue;
                for (int kd = 0; kd < 2; kd++) {
                    /* (3, 4, 5): distinct values with probability 1 (no ties) */
                    tn_tensor *x = LEAF(3, 4, 5);
                    if (op == G_PROD || op == G_NORM3) {  /* keep away from 0 */
                        double *p = tn_data(x);
                        for (int64_t i = 0; i < x->numel; i++) p[i] = (p[i] >= 0 ? 0.5 : -0.5) + p[i] * 0.5;
                    }
                    gctx c = {op, d, kd != 0, tr != 0};
                    int rc = tn_gradcheck(gfn, &c, 1, &x, 1e-6, 1e-6, 1e-4);
                    ck_assert_msg(rc == 0, "%s dim %d keepdim %d transposed %d: %s", gnames[op], dim,
                                  kd, tr, tn_last_error());
                    checks++;
                    tn_release(x);
                }
            }
        }
    }
    ck_assert_int_gt(checks, 200);
}
END_TEST

/* tn_reduce over a list of dims (two of three), keepdim or not, plain and
 * transposed, for every differentiable reduction kind */
typedef struct {
    tn_reduce_kind k;
    int dims[2];
    bool keepdim, transpose;
} mctx;

static tn_tensor *mfn(void *vc, tn_tensor **in) {
    mctx *c = vc;
    tn_tensor *x = c->transpose ? tn_transpose(in[0], 0, 2) : tn_retain(in[0]);
    tn_tensor *r = tn_reduce(c->k, x, c->dims, 2, c->keepdim);
    tn_release(x);
    return r;
}

START_TEST(test_gradcheck_multi_dims) {
    tn_reduce_kind kinds[] = {TN_R_SUM, TN_R_MEAN, TN_R_PROD, TN_R_MAX, TN_R_MIN,
                              TN_R_LOGSUMEXP, TN_R_NORM};
    int pairs[3][2] = {{0, 2}, {-1, 0}, {1, 2}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int p = 0; p < 3; p++)
            for (int v = 0; v < 4; v++) {
                tn_tensor *x = LEAF(3, 4, 5);
                double *px = tn_data(x);
                for (int64_t i = 0; i < x->numel; i++) px[i] = (px[i] >= 0 ? 0.5 : -0.5) + px[i] * 0.5;
                mctx c = {kinds[k], {pairs[p][0], pairs[p][1]}, v & 1, (v & 2) != 0};
                int rc = tn_gradcheck(mfn, &c, 1, &x, 1e-6, 1e-6, 1e-4);
                ck_assert_msg(rc == 0, "kind %d dims {%d, %d} keepdim %d transposed %d: %s",
                              (int)kinds[k], pairs[p][0], pairs[p][1], v & 1, (v & 2) != 0,
                              tn_last_error());
                tn_release(x);
            }
}
END_TEST

START_TEST(test_grad_ties_and_zeros) {
    /* amax splits the gradient evenly among ties */
    tn_tensor *x = T1(TN_FLOAT64, 4, {1, 3, 3, 2});
    x->requires_grad = true;
    tn_tensor *m = tn_reduce(TN_R_MAX, x, NULL, 0, false);
    ck_assert_str_eq(m->grad_fn->name, "amax");
    ck_assert_int_eq(tn_backward(m, NULL, false), 0);
    EXPECT(x->grad, 1e-12, {0, 0.5, 0.5, 0});
    tn_release(m);
    /* max along a dim gives it all to the selected index */
    tn_release(x->grad);
    x->grad = NULL;
    tn_tensor *v, *ix;
    ck_assert_int_eq(tn_max_dim(x, 0, false, &v, &ix), 0);
    ck_assert_str_eq(v->grad_fn->name, "max");
    ck_assert_int_eq(tn_backward(v, NULL, false), 0);
    EXPECT(x->grad, 0, {0, 1, 0, 0});
    tn_release(v); tn_release(ix); tn_release(x);
    /* prod with one and two zeros */
    tn_tensor *p = T2(TN_FLOAT64, 2, 3, {2, 0, 3, 0, 5, 0});
    p->requires_grad = true;
    tn_tensor *pr = R1(TN_R_PROD, p, 1, false);
    tn_tensor *g = T1(TN_FLOAT64, 2, {1, 1});
    ck_assert_int_eq(tn_backward(pr, g, false), 0);
    EXPECT(p->grad, 0, {0, 6, 0, 0, 0, 0});
    /* norm at 0 has gradient 0, not NaN */
    tn_tensor *z = tn_zeros(TN_FLOAT64, 1, (int64_t[]){3});
    z->requires_grad = true;
    tn_tensor *nz = tn_norm(z, 2, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(nz, NULL, false), 0);
    EXPECT(z->grad, 0, {0, 0, 0});
    /* summing a size-1 dim: the gradient passed in is never written to */
    tn_tensor *w = LEAF(3, 1);
    tn_tensor *w2 = tn_mul_scalar(w, 2.0), *w3 = tn_add(w2, w2);
    tn_tensor *ws = tn_sum(w3, 1, false);
    tn_tensor *ug = T1(TN_FLOAT64, 3, {1, 2, 3});
    ck_assert_int_eq(tn_backward(ws, ug, false), 0);
    EXPECT(ug, 0, {1, 2, 3});
    EXPECT(w->grad, 1e-12, {4, 8, 12});
    tn_release(w); tn_release(w2); tn_release(w3); tn_release(ws); tn_release(ug);
    /* integer reductions record nothing */
    tn_tensor *ii = T1(TN_INT64, 2, {1, 2});
    tn_tensor *si = tn_sum(ii, 0, false);
    ck_assert(!si->requires_grad);
    /* grad_fn names */
    tn_tensor *y = LEAF(2, 3);
    tn_tensor *a = tn_sum(y, 1, false), *b = tn_softmax(y, 1), *c = tn_log_softmax(y, 0);
    tn_tensor *d = tn_cumsum(y, 1), *e = tn_reduce(TN_R_MIN, y, NULL, 0, false);
    ck_assert_str_eq(a->grad_fn->name, "sum");
    ck_assert_str_eq(b->grad_fn->name, "softmax");
    ck_assert_str_eq(c->grad_fn->name, "log_softmax");
    ck_assert_str_eq(d->grad_fn->name, "cumsum");
    ck_assert_str_eq(e->grad_fn->name, "amin");
    tn_release(p); tn_release(pr); tn_release(g); tn_release(z); tn_release(nz); tn_release(ii);
    tn_release(si); tn_release(y); tn_release(a); tn_release(b); tn_release(c); tn_release(d);
    tn_release(e);
}
END_TEST

/* softmax over a big last dim and a column dim against the composite formula */
START_TEST(test_softmax_large) {
    tn_tensor *x = tn_randn(TN_FLOAT32, 3, (int64_t[]){7, 300, 33});
    for (int d = 0; d < 3; d++) {
        tn_tensor *s = tn_softmax(x, d), *l = tn_log_softmax(x, d);
        tn_tensor *lse = R1(TN_R_LOGSUMEXP, x, d, true);
        tn_tensor *ref = tn_sub(x, lse), *sum = tn_sum(s, d, false);
        for (int64_t i = 0; i < x->numel; i++) {
            ck_assert(fabs(tn_get_flat(l, i) - tn_get_flat(ref, i)) < 1e-4);
            ck_assert(fabs(tn_get_flat(s, i) - exp(tn_get_flat(ref, i))) < 1e-5);
        }
        for (int64_t i = 0; i < sum->numel; i++) ck_assert(fabs(tn_get_flat(sum, i) - 1) < 1e-5);
        tn_release(s); tn_release(l); tn_release(lse); tn_release(ref); tn_release(sum);
    }
    tn_release(x);
}
END_TEST

/* float32 backward kernels (gradcheck covers float64) against float64 */
START_TEST(test_softmax_grad_f32) {
    for (int is_log = 0; is_log < 2; is_log++)
        for (int d = 0; d < 2; d++) {
            tn_tensor *x64 = LEAF(5, 37);
            bool was = tn_set_grad_enabled(false);
            tn_tensor *x32 = tn_to(x64, TN_FLOAT32);   /* a separate leaf */
            tn_set_grad_enabled(was);
            x32->requires_grad = true;
            tn_tensor *w = tn_randn(TN_FLOAT64, 2, (int64_t[]){5, 37});
            tn_tensor *xs[2] = {x64, x32};
            for (int k = 0; k < 2; k++) {
                tn_tensor *y = is_log ? tn_log_softmax(xs[k], d) : tn_softmax(xs[k], d);
                tn_tensor *y64 = tn_to(y, TN_FLOAT64), *p = tn_mul(y64, w);
                tn_tensor *l = tn_sum(p, TN_ALL_DIMS, false);
                ck_assert_int_eq(tn_backward(l, NULL, false), 0);
                tn_release(y); tn_release(y64); tn_release(p); tn_release(l);
            }
            ck_assert(x64->grad && x32->grad);
            for (int64_t i = 0; i < x64->numel; i++)
                ck_assert_msg(fabs(tn_get_flat(x64->grad, i) - tn_get_flat(x32->grad, i)) < 1e-5,
                              "log %d dim %d element %lld", is_log, d, (long long)i);
            tn_release(x64); tn_release(x32); tn_release(w);
        }
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_softmax_grad_f32);
    tcase_add_test(tc, test_sum_values);
    tcase_add_test(tc, test_sum_int_dtypes);
    tcase_add_test(tc, test_mean_prod);
    tcase_add_test(tc, test_max_min_all_any);
    tcase_add_test(tc, test_logsumexp_norm_var);
    tcase_add_test(tc, test_max_dim_argmax);
    tcase_add_test(tc, test_cumsum_softmax);
    tcase_add_test(tc, test_sort_topk);
    tcase_add_test(tc, test_each_dim_3d);
    tcase_add_test(tc, test_sum_to);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_accuracy);
    tcase_add_test(tc, test_gradcheck_all);
    tcase_add_test(tc, test_gradcheck_multi_dims);
    tcase_add_test(tc, test_grad_ties_and_zeros);
    tcase_add_test(tc, test_softmax_large);
}

TN_SUITE_MAIN("reduce", add_tests)
