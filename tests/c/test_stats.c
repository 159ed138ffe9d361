/*
 * test_stats.c: Check suite for tensor/stats.c and tensor/sample.c: the
 * scans (cumprod, logcumsumexp, cummax/cummin) along each dim of 3-D and
 * transposed inputs against a naive reference, their gradients by finite
 * differences (cumprod with zeros), kthvalue, median, mode, unique, bincount, histc and
 * searchsorted against PyTorch's values (0-based here: the C core's
 * convention), error messages, and the samplers: bit-identical draws with
 * 1 and 2 threads, frequencies within 4 sigma, draws without replacement
 * distinct.  Every tensor made here is released (the suite runs under ASan).
 */
#include "helpers.h"

#include "tensor/internal.h"

static tn_tensor *leaf64(int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(TN_FLOAT64, nd, shape);
    t->requires_grad = true;
    return t;
}

static bool same_values(const tn_tensor *a, const tn_tensor *b) {
    if (!a || !b || a->numel != b->numel || a->dtype != b->dtype) return false;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = tn_get_flat(a, i), y = tn_get_flat(b, i);
        if (x != y && !(x != x && y != y)) return false;
    }
    return true;
}

/* ---------- scans against a naive reference ---------- */

/* element (i, j, k) of a contiguous (2, 3, 4) tensor along dim d */
static int64_t at3(int d, int64_t line, int64_t j) {
    int64_t shape[3] = {2, 3, 4}, idx[3], r = line;
    for (int q = 2; q >= 0; q--) {
        if (q == d) continue;
        idx[q] = r % shape[q];
        r /= shape[q];
    }
    idx[d] = j;
    return (idx[0] * 3 + idx[1]) * 4 + idx[2];
}

START_TEST(test_scans_every_dim) {
    int64_t shape[3] = {2, 3, 4};
    tn_manual_seed(7);
    tn_tensor *x = tn_randn(TN_FLOAT64, 3, shape);
    const double *xv = tn_data(x);
    for (int d = 0; d < 3; d++) {
        tn_tensor *cp = tn_cumprod(x, d), *ls = tn_logcumsumexp(x, d), *mv, *mi;
        ck_assert_int_eq(tn_cummax(x, d, &mv, &mi), 0);
        int64_t lines = 24 / shape[d];
        for (int64_t l = 0; l < lines; l++) {
            double p = 1, s = 0, m = -INFINITY;
            int64_t am = 0;
            for (int64_t j = 0; j < shape[d]; j++) {
                int64_t o = at3(d, l, j);
                p *= xv[o];
                s += exp(xv[o]);
                if (xv[o] >= m) {
                    m = xv[o];
                    am = j;
                }
                ck_assert(fabs(tn_get_flat(cp, o) - p) < 1e-12);
                ck_assert(fabs(tn_get_flat(ls, o) - log(s)) < 1e-12);
                ck_assert(tn_get_flat(mv, o) == m);
                ck_assert_int_eq(tn_get_flat_i64(mi, o), am);
            }
        }
        tn_release(cp);
        tn_release(ls);
        tn_release(mv);
        tn_release(mi);
    }
    /* a transposed input gives the transposed result */
    tn_tensor *xt = tn_transpose(x, 0, 2), *a = tn_cumprod(xt, 2), *b = tn_cumprod(x, 0);
    tn_tensor *bt = tn_transpose(b, 0, 2);
    ck_assert(same_values(a, bt));
    tn_release(xt);
    tn_release(a);
    tn_release(b);
    tn_release(bt);
    tn_release(x);
}
END_TEST

START_TEST(test_cumprod_int_and_zeros) {
    tn_tensor *i = T1(TN_INT32, 4, {2, -3, 0, 5});
    tn_tensor *c = tn_cumprod(i, 0);
    ck_assert_int_eq(c->dtype, TN_INT64);
    EXPECT(c, 0, {2, -6, 0, 0});
    tn_release(c);
    tn_release(i);
    /* int64 overflow wraps (no undefined behaviour under UBSan) */
    tn_tensor *big = T1(TN_INT64, 3, {4294967296.0, 4294967296.0, 3});
    c = tn_cumprod(big, 0);
    ck_assert_int_eq(tn_get_flat_i64(c, 1), 0);
    tn_release(c);
    tn_release(big);
    tn_tensor *f = T1(TN_FLOAT32, 3, {1, 2, 3});
    EXPECT_ERROR(tn_cumprod(f, 1), "cumprod");
    EXPECT_ERROR(tn_logcumsumexp(f, 2), "logcumsumexp");
    tn_tensor *l = T1(TN_INT64, 2, {1, 2});
    EXPECT_ERROR(tn_logcumsumexp(l, 0), "floating point");
    tn_release(l);
    tn_release(f);
}
END_TEST

static tn_tensor *gc_cumprod(void *ctx, tn_tensor **in) { return tn_cumprod(in[0], *(int *)ctx); }
static tn_tensor *gc_lcse(void *ctx, tn_tensor **in) { return tn_logcumsumexp(in[0], *(int *)ctx); }
static tn_tensor *gc_cumprod_t(void *ctx, tn_tensor **in) {
    tn_tensor *t = tn_transpose(in[0], 0, 1), *r = tn_cumprod(t, 1);
    tn_release(t);
    return r;
}

START_TEST(test_scan_gradients) {
    int64_t shape[3] = {2, 3, 4};
    for (int d = -3; d < 3; d++) {
        tn_tensor *x = leaf64(3, shape);
        ck_assert_msg(tn_gradcheck(gc_cumprod, &d, 1, &x, 1e-6, 1e-6, 1e-4) == 0, "cumprod %d: %s", d, tn_last_error());
        ck_assert_msg(tn_gradcheck(gc_lcse, &d, 1, &x, 1e-6, 1e-6, 1e-4) == 0, "logcumsumexp %d: %s", d, tn_last_error());
        tn_release(x);
    }
    /* zeros: single, double, first, last */
    tn_tensor *z = T2(TN_FLOAT64, 3, 4, {0.5, 0, 2, -1.5, 0, 1.2, 0, 0.9, 1.1, -0.8, 0.6, 0});
    z->requires_grad = true;
    int d = 1;
    ck_assert_msg(tn_gradcheck(gc_cumprod, &d, 1, &z, 1e-6, 1e-6, 1e-4) == 0, "%s", tn_last_error());
    ck_assert_msg(tn_gradcheck(gc_cumprod_t, NULL, 1, &z, 1e-6, 1e-6, 1e-4) == 0, "%s", tn_last_error());
    tn_release(z);
}
END_TEST

/* ---------- counting, against PyTorch (0-based) ---------- */

START_TEST(test_mode_unique) {
    tn_tensor *v = T2(TN_FLOAT32, 3, 5, {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9});
    tn_tensor *m, *mi;
    ck_assert_int_eq(tn_mode(v, 1, false, &m, &mi), 0);
    EXPECT(m, 0, {1, 2, 9});
    EXPECT(mi, 0, {3, 1, 4});
    tn_release(m);
    tn_release(mi);
    ck_assert_int_eq(tn_mode(v, 0, true, &m, &mi), 0);
    EXPECT_SHAPE(m, 1, 5);
    EXPECT(m, 0, {3, 1, 4, 1, 3});
    EXPECT(mi, 0, {0, 0, 0, 0, 1});
    tn_release(m);
    tn_release(mi);
    tn_release(v);

    tn_tensor *u = T2(TN_INT64, 3, 2, {3, 1, 2, 1, 3, 2}), *val, *inv, *cnt;
    ck_assert_int_eq(tn_unique(u, TN_ALL_DIMS, false, &val, &inv, &cnt), 0);
    EXPECT(val, 0, {1, 2, 3});
    EXPECT_SHAPE(inv, 3, 2);
    EXPECT(inv, 0, {2, 0, 1, 0, 2, 1});
    EXPECT(cnt, 0, {2, 2, 2});
    tn_release(val);
    tn_release(inv);
    tn_release(cnt);
    ck_assert_int_eq(tn_unique(u, 1, false, &val, &inv, &cnt), 0);  /* columns */
    EXPECT_SHAPE(val, 3, 2);
    EXPECT(val, 0, {1, 3, 1, 2, 2, 3});
    EXPECT(inv, 0, {1, 0});
    tn_release(val);
    tn_release(inv);
    tn_release(cnt);
    tn_release(u);
    tn_tensor *c = T1(TN_INT64, 7, {1, 1, 2, 2, 3, 1, 1});
    ck_assert_int_eq(tn_unique(c, TN_ALL_DIMS, true, &val, &inv, &cnt), 0);
    EXPECT(val, 0, {1, 2, 3, 1});
    EXPECT(inv, 0, {0, 0, 1, 1, 2, 3, 3});
    EXPECT(cnt, 0, {2, 2, 1, 2});
    tn_release(val);
    tn_release(inv);
    tn_release(cnt);
    tn_release(c);
}
END_TEST

START_TEST(test_bincount_histc_searchsorted) {
    tn_tensor *x = T1(TN_INT64, 4, {0, 1, 1, 3}), *w = T1(TN_FLOAT64, 4, {0.5, 1, 2, 3});
    tn_tensor *b = tn_bincount(x, NULL, 6, 0);
    EXPECT(b, 0, {1, 2, 0, 1, 0, 0});
    tn_release(b);
    b = tn_bincount(x, w, 0, 0);
    ck_assert_int_eq(b->dtype, TN_FLOAT64);
    EXPECT(b, 0, {0.5, 3, 0, 3});
    tn_release(b);
    EXPECT_ERROR(tn_bincount(x, NULL, 0, 1), "values must be >= 1, got 0 at position 1");
    EXPECT_ERROR(tn_bincount(w, NULL, 0, 0), "1-D integer");
    tn_release(x);
    tn_release(w);

    tn_tensor *h = T1(TN_FLOAT32, 7, {1, 2, 1, 4, 2.5, 0, -1});
    tn_tensor *hc = tn_histc(h, 4, 0, 3);
    EXPECT(hc, 0, {1, 2, 1, 1});
    tn_release(hc);
    hc = tn_histc(h, 2, 0, 0);  /* the data's range [-1, 4] */
    EXPECT(hc, 0, {4, 3});
    tn_release(hc);
    EXPECT_ERROR(tn_histc(h, 0, 0, 1), "bins must be > 0");
    EXPECT_ERROR(tn_histc(h, 3, 1, 0), "min (1) must be <= max (0)");
    tn_release(h);

    tn_tensor *s = T1(TN_INT64, 5, {1, 3, 5, 7, 9}), *q = T1(TN_INT64, 5, {3, 6, 9, 10, 0});
    tn_tensor *r = tn_searchsorted(s, q, false);
    EXPECT(r, 0, {1, 3, 4, 5, 0});
    tn_release(r);
    r = tn_searchsorted(s, q, true);
    EXPECT(r, 0, {2, 3, 5, 5, 0});
    tn_release(r);
    tn_tensor *s2 = T2(TN_FLOAT32, 2, 3, {1, 3, 5, 2, 4, 6}), *q2 = T2(TN_INT64, 2, 2, {3, 0, 6, 7});
    r = tn_searchsorted(s2, q2, false);
    EXPECT(r, 0, {1, 0, 2, 3});
    tn_release(r);
    EXPECT_ERROR(tn_searchsorted(s2, q, false), "leading dims");
    tn_release(s2);
    tn_release(q2);
    tn_release(s);
    tn_release(q);
}
END_TEST

START_TEST(test_kthvalue_median) {
    tn_tensor *v = T2(TN_FLOAT32, 3, 5, {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9}), *m, *mi;
    ck_assert_int_eq(tn_median_dim(v, 1, false, false, &m, &mi), 0);
    EXPECT(m, 0, {3, 5, 8});
    EXPECT(mi, 0, {0, 3, 1});
    tn_release(m);
    tn_release(mi);
    ck_assert_int_eq(tn_kthvalue(v, 3, -1, true, &m, &mi), 0);
    EXPECT_SHAPE(m, 3, 1);
    EXPECT(m, 0, {4, 6, 9});
    EXPECT(mi, 0, {2, 2, 2});
    tn_release(m);
    tn_release(mi);
    tn_tensor *r;
    ck_assert_int_eq(tn_kthvalue(v, 5, 1, false, &m, &r), -1);
    ck_assert(strstr(tn_last_error(), "k (6) is out of range for dim 2 of size 5") != NULL);
    tn_release(v);
    /* NaN: median gives it (at the first NaN), nanmedian skips it */
    tn_tensor *n = T1(TN_FLOAT64, 5, {2, NAN, 1, NAN, 0});
    ck_assert_int_eq(tn_median_dim(n, 0, false, false, &m, &mi), 0);
    ck_assert(isnan(tn_item(m)));
    ck_assert_int_eq(tn_get_flat_i64(mi, 0), 1);
    tn_release(m);
    tn_release(mi);
    ck_assert_int_eq(tn_median_dim(n, 0, false, true, &m, &mi), 0);
    EXPECT(m, 0, {1});
    EXPECT(mi, 0, {2});
    tn_release(m);
    tn_release(mi);
    tn_release(n);
}
END_TEST

/* ---------- samplers ---------- */

START_TEST(test_samplers_thread_invariant) {
    int threads = tn_get_num_threads();
    int64_t ps[2] = {2000, 9}, n = 60000;
    tn_tensor *out[2][5];
    for (int pass = 0; pass < 2; pass++) {
        tn_set_num_threads(pass + 1);
        tn_manual_seed(11);
        tn_tensor *p = tn_rand(TN_FLOAT32, 2, ps), *pr = tn_rand(TN_FLOAT64, 1, &n);
        out[pass][0] = tn_multinomial(p, 7, true);
        out[pass][1] = tn_multinomial(p, 5, false);
        out[pass][2] = tn_bernoulli(pr);
        tn_tensor *rates = tn_mul_scalar(pr, 50);
        out[pass][3] = tn_poisson(rates);
        out[pass][4] = tn_multinomial(p, 9, false);
        tn_release(rates);
        tn_release(p);
        tn_release(pr);
    }
    tn_set_num_threads(threads);
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(same_values(out[0][i], out[1][i]), "sampler %d differs between 1 and 2 threads", i);
        tn_release(out[0][i]);
        tn_release(out[1][i]);
    }
}
END_TEST

START_TEST(test_multinomial_statistics) {
    tn_manual_seed(3);
    tn_tensor *p = T1(TN_FLOAT64, 4, {1, 0, 3, 6});  /* weights, need not sum to 1 */
    int64_t n = 100000;
    tn_tensor *d = tn_multinomial(p, n, true);
    ck_assert_msg(d != NULL, "%s", tn_last_error());
    int64_t cnt[4] = {0};
    for (int64_t i = 0; i < n; i++) cnt[tn_get_flat_i64(d, i)]++;
    double pr[4] = {0.1, 0, 0.3, 0.6};
    for (int k = 0; k < 4; k++)
        ck_assert_msg(fabs((double)cnt[k] - n * pr[k]) <= 4 * sqrt(n * pr[k] * (1 - pr[k])) + 1e-9,
                      "category %d: %lld", k, (long long)cnt[k]);
    tn_release(d);
    /* without replacement: all nonzero categories, each once */
    d = tn_multinomial(p, 3, false);
    int seen[4] = {0};
    for (int i = 0; i < 3; i++) seen[tn_get_flat_i64(d, i)]++;
    ck_assert(seen[0] == 1 && seen[1] == 0 && seen[2] == 1 && seen[3] == 1);
    tn_release(d);
    EXPECT_ERROR(tn_multinomial(p, 4, false), "only 3 nonzero categories");
    EXPECT_ERROR(tn_multinomial(p, 5, false), "cannot draw 5 samples from 4 categories");
    tn_release(p);
    tn_tensor *bad = T1(TN_FLOAT32, 2, {0.5, -1});
    EXPECT_ERROR(tn_multinomial(bad, 1, true), "finite and >= 0");
    tn_release(bad);
    tn_tensor *zero = T2(TN_FLOAT32, 2, 2, {1, 1, 0, 0});
    EXPECT_ERROR(tn_multinomial(zero, 1, true), "row 2 of the probabilities sums to 0");
    tn_release(zero);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_scans_every_dim);
    tcase_add_test(tc, test_cumprod_int_and_zeros);
    tcase_add_test(tc, test_scan_gradients);
    tcase_add_test(tc, test_mode_unique);
    tcase_add_test(tc, test_kthvalue_median);
    tcase_add_test(tc, test_bincount_histc_searchsorted);
    tcase_add_test(tc, test_samplers_thread_invariant);
    tcase_add_test(tc, test_multinomial_statistics);
}

TN_SUITE_MAIN("stats", add_tests)
