/*
 * test_index.c: Check suite for tensor/index.c: index_select, gather,
 * scatter_add, one_hot, masked_select, masked_assign_ and nonzero: values,
 * negative dims, non-contiguous operands, int32 indices, bounds errors with
 * 1-based numbers in the message, and finite-difference gradient checks.
 */
#include "helpers.h"

#include <string.h>

/* 0, 1, 2, ... as a tensor of the given dtype and shape */
static tn_tensor *iota(tn_dtype dt, int nd, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, nd, shape);
    for (int64_t i = 0; i < t->numel; i++) tn_store(dt, t->storage->data, i, (double)i);
    return t;
}
#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define IOTA(...) iota(TN_FLOAT32, NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

/* an int64 index tensor from a literal list */
static tn_tensor *idx_from(int nd, const int64_t *shape, const int64_t *v) {
    return tn_from_data(TN_INT64, nd, shape, v);
}
#define IDX1(n, ...) idx_from(1, (int64_t[]){n}, (int64_t[])__VA_ARGS__)
#define IDX2(a, b, ...) idx_from(2, (int64_t[]){a, b}, (int64_t[])__VA_ARGS__)

static tn_tensor *leaf64(int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(TN_FLOAT64, nd, shape);
    t->requires_grad = true;
    return t;
}
#define LEAF(...) leaf64(NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

static tn_tensor *mask_from(int nd, const int64_t *shape, const double *v) {
    return t_from(TN_BOOL, nd, shape, v);
}

#define EXPECT_FAIL(expr, substr)                                                  \
    do {                                                                           \
        ck_assert_int_eq((expr), -1);                                              \
        ck_assert_msg(strstr(tn_last_error(), substr) != NULL, "message '%s' lacks '%s'", \
                      tn_last_error(), substr);                                    \
    } while (0)

static void check_grad(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **in) {
    int rc = tn_gradcheck(fn, ctx, n, in, 1e-6, 1e-6, 1e-5);
    ck_assert_msg(rc == 0, "gradcheck: %s", tn_last_error());
}

/* ---------- index_select ---------- */

START_TEST(test_index_select_values) {
    tn_tensor *t = IOTA(3, 4);
    tn_tensor *i = IDX1(4, {2, 0, 2, 1});
    tn_tensor *r0 = tn_index_select(t, 0, i);
    EXPECT_SHAPE(r0, 4, 4);
    EXPECT(r0, 0, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7});
    tn_tensor *r1 = tn_index_select(t, -1, i);
    EXPECT_SHAPE(r1, 3, 4);
    EXPECT(r1, 0, {2, 0, 2, 1, 6, 4, 6, 5, 10, 8, 10, 9});
    ck_assert_ptr_ne(r1->storage, t->storage);
    /* middle dim of a 3-D tensor, int64 data, int32 index */
    tn_tensor *t3 = iota(TN_INT64, 3, (int64_t[]){2, 3, 2});
    tn_tensor *i32 = tn_to(i, TN_INT32);
    tn_tensor *n2 = tn_narrow(i32, 0, 0, 2);  /* {2, 0} */
    tn_tensor *r3 = tn_index_select(t3, 1, n2);
    EXPECT_SHAPE(r3, 2, 2, 2);
    ck_assert_int_eq(r3->dtype, TN_INT64);
    EXPECT(r3, 0, {4, 5, 0, 1, 10, 11, 6, 7});
    /* an empty index */
    tn_tensor *e = tn_empty(TN_INT64, 1, (int64_t[]){0});
    tn_tensor *re = tn_index_select(t, 0, e);
    EXPECT_SHAPE(re, 0, 4);
    /* a 0-dim index keeps the dim with size 1 */
    tn_tensor *s = tn_scalar_i64(1);
    tn_tensor *rs = tn_index_select(t, 0, s);
    EXPECT_SHAPE(rs, 1, 4);
    EXPECT(rs, 0, {4, 5, 6, 7});
    tn_release(s); tn_release(rs); tn_release(e); tn_release(re);
    tn_release(t3); tn_release(i32); tn_release(n2); tn_release(r3);
    tn_release(r0); tn_release(r1); tn_release(i); tn_release(t);
}
END_TEST

START_TEST(test_index_select_noncontiguous) {
    tn_tensor *t = IOTA(3, 4);
    tn_tensor *tt = tn_transpose(t, 0, 1);  /* [4, 3] */
    tn_tensor *i = IDX1(3, {3, 1, 3});
    tn_tensor *r = tn_index_select(tt, 0, i);
    EXPECT_SHAPE(r, 3, 3);
    EXPECT(r, 0, {3, 7, 11, 1, 5, 9, 3, 7, 11});
    tn_tensor *one = tn_narrow(i, 0, 1, 1);  /* {1} */
    tn_tensor *r1 = tn_index_select(tt, 1, one);
    EXPECT_SHAPE(r1, 4, 1);
    EXPECT(r1, 0, {4, 5, 6, 7});
    tn_release(one); tn_release(r1);
    /* a non-contiguous index (every other element) */
    tn_tensor *big = IDX1(6, {2, 9, 0, 9, 1, 9});
    tn_tensor *step = tn_slice(big, 0, 0, 6, 2);  /* {2, 0, 1} */
    tn_tensor *r2 = tn_index_select(t, 0, step);
    EXPECT(r2, 0, {8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7});
    tn_release(big); tn_release(step); tn_release(r2);
    tn_release(r); tn_release(i); tn_release(tt); tn_release(t);
}
END_TEST

START_TEST(test_index_select_errors) {
    tn_tensor *t = IOTA(3, 5);
    tn_tensor *i = IDX1(2, {1, 6});
    EXPECT_ERROR(tn_index_select(t, 1, i), "index_select: index 7 is out of range for dim 2 of size 5");
    tn_tensor *neg = IDX1(1, {-1});
    EXPECT_ERROR(tn_index_select(t, 0, neg), "index 0 is out of range for dim 1 of size 3");
    tn_tensor *f = tn_zeros(TN_FLOAT32, 1, (int64_t[]){1});
    EXPECT_ERROR(tn_index_select(t, 0, f), "must be an int64");
    tn_tensor *i2 = IDX2(1, 1, {0});
    EXPECT_ERROR(tn_index_select(t, 0, i2), "must be 1-D");
    EXPECT_ERROR(tn_index_select(t, 2, neg), "out of range");
    tn_tensor *s = tn_scalar(TN_FLOAT32, 1);
    EXPECT_ERROR(tn_index_select(s, 0, neg), "0-dim");
    tn_release(s); tn_release(i2); tn_release(f); tn_release(neg); tn_release(i); tn_release(t);
}
END_TEST

/* the parallel row-copy path (what Embedding and data loaders hit) */
START_TEST(test_index_select_large) {
    int64_t rows = 3000, cols = 40, k = 20000;
    tn_tensor *t = iota(TN_FLOAT32, 2, (int64_t[]){rows, cols});
    tn_tensor *i = tn_randint(0, rows, 1, &k);
    tn_tensor *r = tn_index_select(t, 0, i);
    EXPECT_SHAPE(r, k, cols);
    const float *p = tn_data(r);
    const int64_t *ip = tn_data(i);
    int64_t bad = 0;  /* counted, not asserted per element: Check's asserts are slow */
    for (int64_t j = 0; j < k; j++)
        for (int64_t c = 0; c < cols; c++) bad += p[j * cols + c] != (float)(ip[j] * cols + c);
    ck_assert_int_eq(bad, 0);
    /* columns (inner size 1) */
    int64_t kc = 7;
    tn_tensor *ic = tn_randint(0, cols, 1, &kc);
    tn_tensor *rc = tn_index_select(t, 1, ic);
    const int64_t *icp = tn_data(ic);
    for (int64_t j = 0; j < rows * kc; j++) bad += tn_get_flat(rc, j) != (double)((j / kc) * cols + icp[j % kc]);
    ck_assert_int_eq(bad, 0);
    tn_release(ic); tn_release(rc);
    tn_release(r); tn_release(i); tn_release(t);
}
END_TEST

/* ---------- gather / scatter_add ---------- */

START_TEST(test_gather) {
    tn_tensor *t = IOTA(3, 4);
    tn_tensor *i = IDX2(3, 2, {3, 0, 1, 1, 0, 2});
    tn_tensor *g1 = tn_gather(t, 1, i);
    EXPECT_SHAPE(g1, 3, 2);
    EXPECT(g1, 0, {3, 0, 5, 5, 8, 10});
    tn_tensor *j = IDX2(2, 3, {2, 0, 1, 1, 2, 0});
    tn_tensor *g0 = tn_gather(t, -2, j);  /* index smaller than t in dim 2 */
    EXPECT_SHAPE(g0, 2, 3);
    EXPECT(g0, 0, {8, 1, 6, 4, 9, 2});
    /* non-contiguous t and int32 index */
    tn_tensor *tt = tn_transpose(t, 0, 1);  /* [4, 3] */
    tn_tensor *j32 = tn_to(j, TN_INT32);
    tn_tensor *gt = tn_gather(tt, 0, j32);  /* tt[j[a][b]][b] */
    EXPECT(gt, 0, {2, 4, 9, 1, 6, 8});
    /* one index per row (how a loss picks the target class), and a
     * non-contiguous index */
    tn_tensor *col = IDX2(3, 1, {3, 0, 2});
    tn_tensor *gc = tn_gather(t, 1, col);
    EXPECT_SHAPE(gc, 3, 1);
    EXPECT(gc, 0, {3, 4, 10});
    tn_tensor *jt = tn_transpose(j, 0, 1);  /* [3, 2]: {2, 1} {0, 2} {1, 0} */
    tn_tensor *gj = tn_gather(t, 1, jt);
    EXPECT(gj, 0, {2, 1, 4, 6, 9, 8});
    tn_release(col); tn_release(gc); tn_release(jt); tn_release(gj);
    /* errors */
    tn_tensor *bad = IDX2(1, 2, {0, 4});
    EXPECT_ERROR(tn_gather(t, 1, bad), "gather: index 5 is out of range for dim 2 of size 4");
    tn_tensor *i1 = IDX1(2, {0, 1});
    EXPECT_ERROR(tn_gather(t, 1, i1), "as many dims");
    tn_tensor *wide = tn_zeros(TN_INT64, 2, (int64_t[]){4, 1});
    EXPECT_ERROR(tn_gather(t, 1, wide), "larger than the tensor's shape [3, 4] in dim 1");
    tn_release(wide); tn_release(i1); tn_release(bad);
    tn_release(tt); tn_release(j32); tn_release(gt);
    tn_release(g0); tn_release(j); tn_release(g1); tn_release(i); tn_release(t);
}
END_TEST

START_TEST(test_scatter_add) {
    tn_tensor *t = tn_ones(TN_FLOAT32, 2, (int64_t[]){2, 4});
    tn_tensor *i = IDX2(2, 3, {0, 3, 0, 1, 1, 2});
    tn_tensor *src = IOTA(2, 3);
    tn_tensor *r = tn_scatter_add(t, 1, i, src);
    EXPECT_SHAPE(r, 2, 4);
    EXPECT(r, 0, {1 + 0 + 2, 1, 1, 1 + 1, 1, 1 + 3 + 4, 1 + 5, 1});
    EXPECT(t, 0, {1, 1, 1, 1, 1, 1, 1, 1});  /* out of place */
    /* dim 0, src larger than index, int64 data */
    tn_tensor *ti = tn_zeros(TN_INT64, 2, (int64_t[]){3, 2});
    tn_tensor *si = iota(TN_INT64, 2, (int64_t[]){2, 3});
    tn_tensor *j = IDX2(2, 2, {2, 0, 2, 2});
    tn_tensor *ri = tn_scatter_add(ti, 0, j, si);
    ck_assert_int_eq(ri->dtype, TN_INT64);
    EXPECT(ri, 0, {0, 1, 0, 0, 0 + 3, 4});
    /* non-contiguous t and src */
    tn_tensor *tt = tn_transpose(t, 0, 1);           /* [4, 2] of ones */
    tn_tensor *st = tn_transpose(src, 0, 1);         /* [3, 2] */
    tn_tensor *k = IDX2(3, 2, {3, 0, 3, 0, 0, 1});
    tn_tensor *rt = tn_scatter_add(tt, 0, k, st);
    EXPECT(rt, 0, {1 + 2, 1 + 3 + 4, 1, 1 + 5, 1, 1, 1 + 0 + 1, 1});
    /* errors */
    tn_tensor *bad = IDX2(1, 1, {-1});
    tn_tensor *s1 = IOTA(1, 1);
    EXPECT_ERROR(tn_scatter_add(t, 1, bad, s1), "scatter_add: index 0 is out of range for dim 2 of size 4");
    tn_tensor *sd = tn_to(src, TN_FLOAT64);
    EXPECT_ERROR(tn_scatter_add(t, 1, i, sd), "dtype float64");
    tn_tensor *small = IOTA(2, 2);
    EXPECT_ERROR(tn_scatter_add(t, 1, i, small), "larger than src's shape");
    tn_release(small); tn_release(sd); tn_release(bad); tn_release(s1);
    tn_release(tt); tn_release(st); tn_release(k); tn_release(rt);
    tn_release(ti); tn_release(si); tn_release(j); tn_release(ri);
    tn_release(r); tn_release(src); tn_release(i); tn_release(t);
}
END_TEST

/* ---------- one_hot ---------- */

START_TEST(test_one_hot) {
    tn_tensor *i = IDX2(2, 2, {0, 2, 1, 0});
    tn_tensor *o = tn_one_hot(i, 3);
    EXPECT_SHAPE(o, 2, 2, 3);
    ck_assert_int_eq(o->dtype, TN_INT64);
    EXPECT(o, 0, {1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0});
    tn_tensor *inf = tn_one_hot(i, -1);  /* inferred: 3 classes */
    EXPECT_SHAPE(inf, 2, 2, 3);
    tn_tensor *i32 = tn_to(i, TN_INT32);
    tn_tensor *o32 = tn_one_hot(i32, 4);
    EXPECT_SHAPE(o32, 2, 2, 4);
    EXPECT(o32, 0, {1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0});
    tn_tensor *bad = IDX1(3, {1, 10, 2});
    EXPECT_ERROR(tn_one_hot(bad, 10), "one_hot: class index 11 is out of range for 10 classes");
    tn_tensor *neg = IDX1(1, {-1});
    EXPECT_ERROR(tn_one_hot(neg, 10), "class index 0 is out of range");
    tn_tensor *f = tn_zeros(TN_FLOAT32, 1, (int64_t[]){2});
    EXPECT_ERROR(tn_one_hot(f, 3), "int64");
    tn_tensor *e = tn_empty(TN_INT64, 1, (int64_t[]){0});
    EXPECT_ERROR(tn_one_hot(e, -1), "cannot infer");
    tn_tensor *s = tn_scalar_i64(2);
    tn_tensor *os = tn_one_hot(s, 3);
    EXPECT_SHAPE(os, 3);
    EXPECT(os, 0, {0, 0, 1});
    tn_release(s); tn_release(os); tn_release(e); tn_release(f); tn_release(neg); tn_release(bad);
    tn_release(i32); tn_release(o32); tn_release(inf); tn_release(o); tn_release(i);
}
END_TEST

/* ---------- masks ---------- */

START_TEST(test_masked_select) {
    tn_tensor *t = IOTA(2, 3);
    tn_tensor *m = mask_from(2, (int64_t[]){2, 3}, (double[]){1, 0, 1, 0, 0, 1});
    tn_tensor *r = tn_masked_select(t, m);
    EXPECT_SHAPE(r, 3);
    EXPECT(r, 0, {0, 2, 5});
    /* a broadcast mask, over a non-contiguous tensor */
    tn_tensor *tt = tn_transpose(t, 0, 1);  /* [3, 2]: 0 3 / 1 4 / 2 5 */
    tn_tensor *m2 = mask_from(1, (int64_t[]){2}, (double[]){0, 1});
    tn_tensor *r2 = tn_masked_select(tt, m2);
    EXPECT(r2, 0, {3, 4, 5});
    /* t broadcast against a larger mask */
    tn_tensor *v = IOTA(3);
    tn_tensor *r3 = tn_masked_select(v, m);
    EXPECT(r3, 0, {0, 2, 2});
    tn_tensor *none = tn_zeros(TN_BOOL, 2, (int64_t[]){2, 3});
    tn_tensor *r4 = tn_masked_select(t, none);
    EXPECT_SHAPE(r4, 0);
    tn_tensor *fm = tn_zeros(TN_FLOAT32, 2, (int64_t[]){2, 3});
    EXPECT_ERROR(tn_masked_select(t, fm), "mask must be a bool tensor, got float32");
    tn_tensor *m4 = tn_zeros(TN_BOOL, 1, (int64_t[]){4});
    EXPECT_ERROR(tn_masked_select(t, m4), "cannot be broadcast");
    tn_release(m4); tn_release(fm); tn_release(none); tn_release(r4);
    tn_release(v); tn_release(r3); tn_release(tt); tn_release(m2); tn_release(r2);
    tn_release(r); tn_release(m); tn_release(t);
}
END_TEST

START_TEST(test_masked_assign) {
    tn_tensor *t = IOTA(2, 3);
    tn_tensor *m = mask_from(2, (int64_t[]){2, 3}, (double[]){1, 0, 1, 0, 0, 1});
    /* a scalar */
    tn_tensor *s = tn_scalar(TN_FLOAT64, -1);
    ck_assert_int_eq(tn_masked_assign_(t, m, s), 0);
    EXPECT(t, 0, {-1, 1, -1, 3, 4, -1});
    /* one value per selected place, in order */
    tn_tensor *vals = IOTA(3);
    ck_assert_int_eq(tn_masked_assign_(t, m, vals), 0);
    EXPECT(t, 0, {0, 1, 1, 3, 4, 2});
    /* a 2-D src broadcasts against t (a 1-D src of the count fills in order) */
    tn_tensor *row = t_from(TN_FLOAT32, 2, (int64_t[]){1, 3}, (double[]){10, 20, 30});
    tn_tensor *m2 = mask_from(2, (int64_t[]){2, 3}, (double[]){0, 1, 1, 1, 0, 0});
    ck_assert_int_eq(tn_masked_assign_(t, m2, row), 0);
    EXPECT(t, 0, {0, 20, 30, 10, 4, 2});
    /* through a non-contiguous view, with a broadcast mask: writes land in t */
    tn_tensor *tt = tn_transpose(t, 0, 1);  /* [3, 2] */
    tn_tensor *mc = mask_from(1, (int64_t[]){2}, (double[]){1, 0});
    tn_tensor *seven = tn_full(TN_INT64, 2, (int64_t[]){1, 1}, 7);
    ck_assert_int_eq(tn_masked_assign_(tt, mc, seven), 0);
    EXPECT(t, 0, {7, 7, 7, 10, 4, 2});
    /* a src of another shape with one value per place fills them in order */
    tn_tensor *sq = t_from(TN_FLOAT32, 2, (int64_t[]){2, 2}, (double[]){-1, -2, -3, -4});
    tn_tensor *m3 = mask_from(2, (int64_t[]){2, 3}, (double[]){1, 1, 0, 0, 1, 1});
    ck_assert_int_eq(tn_masked_assign_(t, m3, sq), 0);
    EXPECT(t, 0, {-1, -2, 7, 10, -3, -4});
    ck_assert_int_eq(tn_masked_assign_(t, m3, seven), 0);
    tn_release(sq); tn_release(m3);
    /* errors */
    tn_tensor *two = IOTA(2);
    EXPECT_FAIL(tn_masked_assign_(t, m, two), "has 2 elements, but the mask selects 3");
    tn_tensor *m4 = tn_zeros(TN_BOOL, 1, (int64_t[]){4});
    EXPECT_FAIL(tn_masked_assign_(t, m4, s), "cannot be broadcast");
    tn_tensor *mbig = tn_zeros(TN_BOOL, 3, (int64_t[]){2, 2, 3});
    EXPECT_FAIL(tn_masked_assign_(t, mbig, s), "does not broadcast to the tensor's shape [2, 3]");
    tn_tensor *fm = tn_zeros(TN_UINT8, 2, (int64_t[]){2, 3});
    EXPECT_FAIL(tn_masked_assign_(t, fm, s), "bool");
    tn_tensor *leaf = LEAF(2, 3);
    EXPECT_FAIL(tn_masked_assign_(leaf, m, s), "leaf");
    EXPECT(t, 0, {7, 7, 7, 10, 7, 7});  /* failed calls left t alone */
    tn_release(leaf); tn_release(fm); tn_release(mbig); tn_release(m4); tn_release(two);
    tn_release(tt); tn_release(mc); tn_release(seven); tn_release(row); tn_release(m2);
    tn_release(vals); tn_release(s); tn_release(m); tn_release(t);
}
END_TEST

START_TEST(test_nonzero) {
    tn_tensor *t = t_from(TN_FLOAT32, 2, (int64_t[]){2, 3}, (double[]){0, 1.5, 0, -2, 0, NAN});
    tn_tensor *n = tn_nonzero(t);
    EXPECT_SHAPE(n, 3, 2);
    ck_assert_int_eq(n->dtype, TN_INT64);
    EXPECT(n, 0, {0, 1, 1, 0, 1, 2});
    tn_tensor *tt = tn_transpose(t, 0, 1);
    tn_tensor *nt = tn_nonzero(tt);
    EXPECT(nt, 0, {0, 1, 1, 0, 2, 1});
    tn_tensor *z = tn_zeros(TN_BOOL, 1, (int64_t[]){4});
    tn_tensor *nz = tn_nonzero(z);
    EXPECT_SHAPE(nz, 0, 1);
    tn_tensor *s = tn_scalar_i64(3);
    tn_tensor *ns = tn_nonzero(s);
    EXPECT_SHAPE(ns, 1, 0);
    tn_release(s); tn_release(ns); tn_release(z); tn_release(nz);
    tn_release(tt); tn_release(nt); tn_release(n); tn_release(t);
}
END_TEST

/* ---------- autograd ---------- */

static tn_tensor *g_index_select(void *ctx, tn_tensor **in) {
    int dim = *(int *)ctx;
    tn_tensor *i = IDX1(5, {2, 0, 2, 1, 2});  /* duplicates accumulate */
    tn_tensor *x = dim == 99 ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    tn_tensor *r = tn_index_select(x, dim == 99 ? 1 : dim, i);
    tn_tensor *m = tn_mul(r, r);
    tn_release(i); tn_release(x); tn_release(r);
    return m;
}
START_TEST(test_grad_index_select) {
    tn_tensor *x = LEAF(3, 3, 4);  /* every dim has an index 2 */
    int dims[] = {0, 1, -1};
    for (int k = 0; k < 3; k++) check_grad(g_index_select, &dims[k], 1, &x);
    tn_tensor *y = LEAF(3, 3);
    int nc = 99;  /* the transposed (non-contiguous) input */
    check_grad(g_index_select, &nc, 1, &y);
    tn_tensor *i = IDX1(1, {0});
    tn_tensor *r = tn_index_select(x, 0, i);
    ck_assert_str_eq(r->grad_fn->name, "index_select");
    tn_release(i); tn_release(r); tn_release(y); tn_release(x);
}
END_TEST

/* embedding-sized backward: the column-parallel path (outer == 1) */
static tn_tensor *g_embed(void *ctx, tn_tensor **in) {
    int64_t k = 40;
    tn_tensor *i = tn_empty(TN_INT64, 1, &k);
    for (int64_t j = 0; j < k; j++) ((int64_t *)tn_data(i))[j] = (j * 7) % 5;
    tn_tensor *r = tn_index_select(in[0], 0, i);
    tn_release(i);
    return r;
}
START_TEST(test_grad_index_select_embedding) {
    tn_tensor *w = LEAF(5, 300);
    check_grad(g_embed, NULL, 1, &w);
    tn_release(w);
}
END_TEST

static tn_tensor *g_gather(void *ctx, tn_tensor **in) {
    int dim = *(int *)ctx;
    tn_tensor *i = IDX2(2, 3, {2, 0, 2, 1, 1, 0});
    /* dim 99: gather along dim 1 of the transposed (non-contiguous) input */
    tn_tensor *x = dim == 99 ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    tn_tensor *r = tn_gather(x, dim == 99 ? 1 : dim, i);
    tn_tensor *m = tn_mul(r, r);
    tn_release(i); tn_release(r); tn_release(x);
    return m;
}
START_TEST(test_grad_gather) {
    tn_tensor *x = LEAF(3, 4);
    int dims[] = {0, -1};
    for (int k = 0; k < 2; k++) check_grad(g_gather, &dims[k], 1, &x);
    tn_tensor *y = LEAF(4, 3);
    int nc = 99;
    check_grad(g_gather, &nc, 1, &y);
    tn_release(y);
    tn_tensor *i = IDX2(1, 1, {0});
    tn_tensor *r = tn_gather(x, 0, i);
    ck_assert_str_eq(r->grad_fn->name, "gather");
    tn_release(i); tn_release(r); tn_release(x);
}
END_TEST

static tn_tensor *g_scatter(void *ctx, tn_tensor **in) {
    int dim = *(int *)ctx;
    tn_tensor *i = IDX2(2, 2, {2, 0, 2, 2});
    tn_tensor *st = tn_transpose(in[1], 0, 1);  /* src [3, 3] -> non-contiguous */
    tn_tensor *r = tn_scatter_add(in[0], dim, i, st);
    tn_tensor *m = tn_mul(r, r);
    tn_release(i); tn_release(st); tn_release(r);
    return m;
}
START_TEST(test_grad_scatter_add) {
    /* src [3, 3] is larger than index [2, 2]: its unused part gets zero grad */
    tn_tensor *in[2] = {LEAF(3, 3), LEAF(3, 3)};
    int dims[] = {0, 1};
    for (int k = 0; k < 2; k++) check_grad(g_scatter, &dims[k], 2, in);
    int d = 0;
    tn_tensor *r = g_scatter(&d, in);
    ck_assert_str_eq(r->grad_fn->name, "mul");
    ck_assert_str_eq(r->grad_fn->edges[0].fn->name, "scatter_add");
    tn_release(r);
    tn_release(in[0]); tn_release(in[1]);
}
END_TEST

static tn_tensor *g_masked_select(void *ctx, tn_tensor **in) {
    tn_tensor *m = mask_from(2, (int64_t[]){2, 3}, (double[]){1, 0, 1, 1, 1, 0});
    tn_tensor *r = tn_masked_select(in[0], m);  /* in[0] is [3]: broadcast */
    tn_tensor *q = tn_mul(r, r);
    tn_release(m); tn_release(r);
    return q;
}
START_TEST(test_grad_masked_select) {
    tn_tensor *x = LEAF(3);
    check_grad(g_masked_select, NULL, 1, &x);
    tn_tensor *y = LEAF(2, 3);
    check_grad(g_masked_select, NULL, 1, &y);
    tn_tensor *m = tn_ones(TN_BOOL, 1, (int64_t[]){3});
    tn_tensor *r = tn_masked_select(x, m);
    ck_assert_str_eq(r->grad_fn->name, "masked_select");
    tn_release(m); tn_release(r); tn_release(y); tn_release(x);
}
END_TEST

/* masked assignment with history: t (not a leaf) and src both get gradients */
static tn_tensor *g_masked_assign(void *ctx, tn_tensor **in) {
    int seq = *(int *)ctx;
    tn_tensor *t = tn_mul(in[0], in[0]);  /* [2, 3], has history */
    tn_tensor *m = mask_from(2, (int64_t[]){2, 3}, (double[]){0, 1, 1, 1, 0, 1});
    /* [4] in order, [3] broadcast, or [2, 2] in order */
    tn_tensor *src = seq == 1 ? tn_retain(in[1]) : seq == 0 ? tn_narrow(in[1], 0, 0, 3)
                                                            : tn_view(in[1], 2, (int64_t[]){2, 2});
    int rc = tn_masked_assign_(t, m, src);
    tn_release(m); tn_release(src);
    if (rc < 0) {
        tn_release(t);
        return NULL;
    }
    tn_tensor *q = tn_mul(t, in[0]);
    tn_release(t);
    return q;
}
START_TEST(test_grad_masked_assign) {
    tn_tensor *in[2] = {LEAF(2, 3), LEAF(4)};
    int modes[] = {1, 0, 2};
    for (int k = 0; k < 3; k++) check_grad(g_masked_assign, &modes[k], 2, in);
    tn_release(in[0]); tn_release(in[1]);
}
END_TEST

START_TEST(test_no_leaks) {
    size_t before = tn_bytes_live();
    tn_tensor *in[2] = {LEAF(3, 3), LEAF(3, 3)};
    int d = 1;
    tn_tensor *r = g_scatter(&d, in);
    tn_tensor *s = tn_sum(r, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    tn_tensor *x = LEAF(3);
    tn_tensor *q = g_masked_select(NULL, &x);
    tn_tensor *qs = tn_sum(q, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(qs, NULL, false), 0);
    tn_release(q); tn_release(qs); tn_release(x);
    tn_release(s); tn_release(r); tn_release(in[0]); tn_release(in[1]);
    ck_assert_uint_eq(tn_bytes_live(), before);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_index_select_values);
    tcase_add_test(tc, test_index_select_noncontiguous);
    tcase_add_test(tc, test_index_select_errors);
    tcase_add_test(tc, test_index_select_large);
    tcase_add_test(tc, test_gather);
    tcase_add_test(tc, test_scatter_add);
    tcase_add_test(tc, test_one_hot);
    tcase_add_test(tc, test_masked_select);
    tcase_add_test(tc, test_masked_assign);
    tcase_add_test(tc, test_nonzero);
    tcase_add_test(tc, test_grad_index_select);
    tcase_add_test(tc, test_grad_index_select_embedding);
    tcase_add_test(tc, test_grad_gather);
    tcase_add_test(tc, test_grad_scatter_add);
    tcase_add_test(tc, test_grad_masked_select);
    tcase_add_test(tc, test_grad_masked_assign);
    tcase_add_test(tc, test_no_leaks);
}

TN_SUITE_MAIN("index", add_tests)
