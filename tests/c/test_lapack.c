/*
 * test_lapack.c: Check suite for the LAPACK-based linear algebra of the core
 * (tensor/linalg_lu.c, tensor/linalg_decomp.c): values against PyTorch 1.13
 * on a fixed 3 x 3 matrix, reconstruction identities on batches in float32
 * and float64 (contiguous and transposed inputs), LAPACK failures turned
 * into errors (singular, not positive-definite, wrong dtype and shapes),
 * interruption, and finite-difference checks of every backward rule.
 */
#include "helpers.h"

/* N = [[2, -1, 0.5], [1, 3, -2], [0, 1, 4]], det 32.5 */
static tn_tensor *mat_n(tn_dtype dt) { return T2(dt, 3, 3, {2, -1, 0.5, 1, 3, -2, 0, 1, 4}); }
/* symmetric positive-definite */
static tn_tensor *mat_a(tn_dtype dt) { return T2(dt, 3, 3, {4, 1, 2, 1, 5, 3, 2, 3, 6}); }

/* a batch (b, n, n) of well-conditioned matrices: 3 I + sin noise */
static tn_tensor *batch_wellcond(tn_dtype dt, int64_t b, int64_t n) {
    tn_tensor *t = tn_empty(dt, 3, (int64_t[]){b, n, n});
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t r = (i / n) % n, c = i % n;
        tn_store(dt, tn_data(t), i, sin(0.37 * (double)i) + (r == c ? 3.0 : 0.0));
    }
    return t;
}

static double maxdiff(tn_tensor *a, tn_tensor *b) {
    ck_assert_msg(a && b, "NULL: %s", tn_last_error());
    ck_assert_int_eq(a->numel, b->numel);
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = fabs(tn_get_flat(a, i) - tn_get_flat(b, i));
        if (d > m) m = d;
    }
    return m;
}

static tn_tensor *mT(tn_tensor *t) { return tn_transpose(t, -2, -1); }

/* a contiguous copy of the first len entries of dim (consumes t) */
static tn_tensor *first(tn_tensor *t, int dim, int64_t len) {
    tn_tensor *v = tn_narrow(t, dim, 0, len), *c = tn_clone(v);
    tn_release(v);
    tn_release(t);
    return c;
}

START_TEST(test_values_vs_torch) {
    tn_tensor *n = mat_n(TN_FLOAT64), *a = mat_a(TN_FLOAT64);
    tn_tensor *inv = tn_linalg_inv(n);
    EXPECT(inv, 1e-12, {0.4307692307692308, 0.13846153846153847, 0.015384615384615385, -0.12307692307692307,
                        0.24615384615384614, 0.13846153846153847, 0.03076923076923077, -0.06153846153846154,
                        0.2153846153846154});
    tn_tensor *d = tn_linalg_det(n);
    EXPECT(d, 1e-12, {32.5});
    tn_tensor *b = T1(TN_FLOAT64, 3, {1, 2, 3});
    tn_tensor *x = tn_linalg_solve(n, b);
    EXPECT(x, 1e-12, {0.7538461538461538, 0.7846153846153847, 0.553846153846154});
    tn_tensor *l = tn_linalg_cholesky(a);
    EXPECT(l, 1e-12, {2, 0, 0, 0.5, 2.179449471770337, 0, 1, 1.1470786693528088, 1.9194297398747862});
    tn_tensor *w, *v;
    ck_assert_int_eq(tn_linalg_eigh(a, false, true, &w, &v), 0);
    EXPECT(w, 1e-12, {2.1943971674224096, 3.3867701566075494, 9.418832675970037});
    tn_tensor *s;
    ck_assert_int_eq(tn_linalg_svd(n, false, false, NULL, &s, NULL), 0);
    EXPECT(s, 1e-12, {4.57985650559311, 3.2343741691325545, 2.1940232729450635});
    tn_tensor *sg, *la;
    tn_tensor *neg = tn_mul_scalar(n, -1);
    ck_assert_int_eq(tn_linalg_slogdet(neg, &sg, &la), 0);
    EXPECT(sg, 0, {-1});
    EXPECT(la, 1e-9, {3.4812400893});
    tn_release(n), tn_release(a), tn_release(inv), tn_release(d), tn_release(b), tn_release(x);
    tn_release(l), tn_release(w), tn_release(v), tn_release(s), tn_release(sg), tn_release(la), tn_release(neg);
}
END_TEST

/* A inv(A) = I, A solve(A, B) = B, L L^T = A, V diag(w) V^T = A,
 * U diag(S) Vh = A, Q R = A on a batch, for both dtypes */
static void identities(tn_dtype dt, double tol) {
    tn_tensor *a = batch_wellcond(dt, 3, 5), *at = mT(a);
    tn_tensor *eye = tn_eye(5, 5, dt);
    tn_tensor *eyes = tn_expand(eye, 3, (int64_t[]){3, 5, 5});
    for (int k = 0; k < 2; k++) {
        tn_tensor *m = k ? at : a;  /* contiguous, then transposed (non-contiguous) */
        tn_tensor *inv = tn_linalg_inv(m), *p = tn_matmul(m, inv);
        ck_assert_double_le(maxdiff(p, eyes), tol);
        tn_release(inv), tn_release(p);
        tn_tensor *b = tn_narrow(a, 2, 0, 2);
        tn_tensor *x = tn_linalg_solve(m, b), *mx = tn_matmul(m, x);
        ck_assert_double_le(maxdiff(mx, b), tol);
        tn_release(b), tn_release(x), tn_release(mx);
        /* symmetric positive-definite: m m^T */
        tn_tensor *mt = mT(m), *spd = tn_matmul(m, mt);
        tn_tensor *l = tn_linalg_cholesky(spd), *lt = mT(l), *llt = tn_matmul(l, lt);
        ck_assert_double_le(maxdiff(llt, spd), tol * 30);
        tn_tensor *w, *v;
        ck_assert_int_eq(tn_linalg_eigh(spd, false, true, &w, &v), 0);
        tn_tensor *w2 = tn_unsqueeze(w, -2), *vw = tn_mul(v, w2), *vt = mT(v), *rec = tn_matmul(vw, vt);
        ck_assert_double_le(maxdiff(rec, spd), tol * 30);
        tn_release(mt), tn_release(spd), tn_release(l), tn_release(lt), tn_release(llt);
        tn_release(w), tn_release(v), tn_release(w2), tn_release(vw), tn_release(vt), tn_release(rec);
        /* tall (3, 5, 3) slices for svd and qr */
        tn_tensor *tall = tn_narrow(m, 2, 0, 3);
        tn_tensor *u, *s, *vh;
        ck_assert_int_eq(tn_linalg_svd(tall, false, true, &u, &s, &vh), 0);
        EXPECT_SHAPE(u, 3, 5, 3);
        EXPECT_SHAPE(vh, 3, 3, 3);
        tn_tensor *s2 = tn_unsqueeze(s, -2), *us = tn_mul(u, s2), *usv = tn_matmul(us, vh);
        ck_assert_double_le(maxdiff(usv, tall), tol);
        tn_tensor *q, *r;
        ck_assert_int_eq(tn_linalg_qr(tall, 0, &q, &r), 0);
        tn_tensor *qr = tn_matmul(q, r);
        ck_assert_double_le(maxdiff(qr, tall), tol);
        tn_release(tall), tn_release(u), tn_release(s), tn_release(vh), tn_release(s2), tn_release(us);
        tn_release(usv), tn_release(q), tn_release(r), tn_release(qr);
    }
    tn_release(a), tn_release(at), tn_release(eye), tn_release(eyes);
}

START_TEST(test_identities_f64) { identities(TN_FLOAT64, 1e-12); }
END_TEST
START_TEST(test_identities_f32) { identities(TN_FLOAT32, 2e-5); }
END_TEST

START_TEST(test_errors) {
    tn_tensor *sing = T2(TN_FLOAT64, 2, 2, {1, 2, 2, 4});
    EXPECT_ERROR(tn_linalg_inv(sing), "linalg.inv: the matrix is singular");
    tn_tensor *d = tn_linalg_det(sing);
    EXPECT(d, 0, {0});
    tn_tensor *b = T1(TN_FLOAT64, 2, {1, 1});
    EXPECT_ERROR(tn_linalg_solve(sing, b), "linalg.solve: A is singular");
    tn_tensor *neg = T2(TN_FLOAT64, 2, 2, {-1, 0, 0, 1});
    EXPECT_ERROR(tn_linalg_cholesky(neg), "not positive-definite");
    tn_tensor *rect = T2(TN_FLOAT64, 2, 3, {1, 2, 3, 4, 5, 6});
    EXPECT_ERROR(tn_linalg_inv(rect), "expected square matrices in the last two dims, got shape [2, 3]");
    EXPECT_ERROR(tn_linalg_det(rect), "linalg.det");
    tn_tensor *ints = T2(TN_INT64, 2, 2, {1, 0, 0, 1});
    EXPECT_ERROR(tn_linalg_inv(ints), "expected a float32 or float64 tensor, got int64");
    tn_tensor *vec = T1(TN_FLOAT64, 3, {1, 2, 3});
    EXPECT_ERROR(tn_linalg_inv(vec), "at least 2 dims");
    tn_tensor *n = mat_n(TN_FLOAT64);
    EXPECT_ERROR(tn_linalg_solve(n, b), "B of shape [2]");
    tn_tensor *q, *r;
    ck_assert_int_eq(tn_linalg_qr(vec, 0, &q, &r), -1);
    tn_release(sing), tn_release(d), tn_release(b), tn_release(neg), tn_release(rect), tn_release(ints);
    tn_release(vec), tn_release(n);
}
END_TEST

START_TEST(test_interrupt) {
    tn_tensor *a = batch_wellcond(TN_FLOAT64, 4, 3);
    tn_interrupt_flag = 1;
    EXPECT_ERROR(tn_linalg_inv(a), "interrupted");
    tn_interrupt_flag = 0;
    tn_tensor *ok = tn_linalg_inv(a);
    ck_assert_ptr_nonnull(ok);
    tn_release(ok), tn_release(a);
}
END_TEST

START_TEST(test_lu) {
    tn_tensor *n = mat_n(TN_FLOAT64), *lu, *piv;
    ck_assert_int_eq(tn_linalg_lu_factor(n, &lu, &piv), 0);
    EXPECT(lu, 1e-12, {2, -1, 0.5, 0.5, 3.5, -2.25, 0, 0.2857142857142857, 4.642857142857142});
    ck_assert_int_eq(piv->dtype, TN_INT32);
    EXPECT(piv, 0, {1, 2, 3});
    tn_tensor *b = T2(TN_FLOAT64, 3, 1, {1, 2, 3});
    tn_tensor *x = tn_linalg_lu_solve(lu, piv, b, false);
    EXPECT(x, 1e-12, {0.7538461538461538, 0.7846153846153847, 0.553846153846154});
    /* a pivot outside 1..n is refused before LAPACK could index with it */
    tn_tensor *bad = T1(TN_INT32, 3, {1, 9, 3});
    EXPECT_ERROR(tn_linalg_lu_solve(lu, bad, b, false), "pivot 2 is 9");
    tn_tensor *p, *l, *u;
    ck_assert_int_eq(tn_linalg_lu(n, &p, &l, &u), 0);
    tn_tensor *pl = tn_matmul(p, l), *plu = tn_matmul(pl, u);
    ck_assert_double_le(maxdiff(plu, n), 1e-12);
    tn_release(n), tn_release(lu), tn_release(piv), tn_release(b), tn_release(x), tn_release(bad);
    tn_release(p), tn_release(l), tn_release(u), tn_release(pl), tn_release(plu);
}
END_TEST

/* ---------- gradients ---------- */

static tn_tensor *g_inv(void *c, tn_tensor **in) { (void)c; return tn_linalg_inv(in[0]); }
static tn_tensor *g_det(void *c, tn_tensor **in) { (void)c; return tn_linalg_det(in[0]); }
static tn_tensor *g_slogdet(void *c, tn_tensor **in) {
    (void)c;
    tn_tensor *s, *l;
    if (tn_linalg_slogdet(in[0], &s, &l) < 0) return NULL;
    tn_release(s);
    return l;
}
static tn_tensor *g_solve(void *c, tn_tensor **in) { (void)c; return tn_linalg_solve(in[0], in[1]); }
/* symmetric input x + x^T for the one-triangle readers */
static tn_tensor *symm(tn_tensor *x) {
    tn_tensor *t = mT(x), *s = tn_add(x, t);
    tn_release(t);
    return s;
}
static tn_tensor *g_chol(void *c, tn_tensor **in) {
    (void)c;
    tn_tensor *t = mT(in[0]), *p = tn_matmul(in[0], t);
    tn_tensor *e = tn_eye(3, 3, TN_FLOAT64), *s = tn_add(p, e), *l = tn_linalg_cholesky(s);
    tn_release(t), tn_release(p), tn_release(e), tn_release(s);
    return l;
}
static tn_tensor *g_eigh(void *c, tn_tensor **in) {
    bool vec = c != NULL;
    tn_tensor *s = symm(in[0]), *w, *v = NULL;
    int rc = tn_linalg_eigh(s, false, vec, &w, vec ? &v : NULL);
    tn_release(s);
    if (rc < 0) return NULL;
    if (!vec) return w;
    tn_release(w);
    tn_tensor *r = tn_mul(v, v);  /* invariant under the sign of each vector */
    tn_release(v);
    return r;
}
static tn_tensor *g_svd(void *c, tn_tensor **in) {
    int which = (int)(intptr_t)c;  /* 0: S, 1: U*U, 2: Vh*Vh */
    tn_tensor *u, *s, *vh;
    if (tn_linalg_svd(in[0], false, true, &u, &s, &vh) < 0) return NULL;
    tn_tensor *r = which == 0 ? tn_retain(s) : which == 1 ? tn_mul(u, u) : tn_mul(vh, vh);
    tn_release(u), tn_release(s), tn_release(vh);
    return r;
}
static tn_tensor *g_qr(void *c, tn_tensor **in) {
    tn_tensor *q, *r;
    if (tn_linalg_qr(in[0], 0, &q, &r) < 0) return NULL;
    tn_tensor *out = c ? tn_retain(r) : tn_retain(q);
    tn_release(q), tn_release(r);
    return out;
}

static void gradcheck(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **in) {
    for (int i = 0; i < n; i++) in[i]->requires_grad = true;
    ck_assert_msg(tn_gradcheck(fn, ctx, n, in, 1e-6, 1e-6, 1e-4) == 0, "%s", tn_last_error());
    for (int i = 0; i < n; i++) tn_release(in[i]);
}

START_TEST(test_grads) {
    gradcheck(g_inv, NULL, 1, (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3)});
    gradcheck(g_det, NULL, 1, (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3)});
    gradcheck(g_det, NULL, 1, (tn_tensor *[]){T2(TN_FLOAT64, 3, 3, {1, 2, 3, 2, 4, 6, 1, 0, 1})});  /* singular */
    gradcheck(g_slogdet, NULL, 1, (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3)});
    gradcheck(g_solve, NULL, 2,
              (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3), first(batch_wellcond(TN_FLOAT64, 2, 3), 2, 2)});
    gradcheck(g_chol, NULL, 1, (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3)});
    gradcheck(g_eigh, NULL, 1, (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3)});
    gradcheck(g_eigh, (void *)1, 1, (tn_tensor *[]){batch_wellcond(TN_FLOAT64, 2, 3)});
    for (intptr_t w = 0; w < 3; w++)
        gradcheck(g_svd, (void *)w, 1, (tn_tensor *[]){first(batch_wellcond(TN_FLOAT64, 2, 4), 2, 3)});
    for (intptr_t w = 0; w < 2; w++)
        gradcheck(g_qr, (void *)w, 1, (tn_tensor *[]){first(batch_wellcond(TN_FLOAT64, 2, 4), 2, 3)});
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_values_vs_torch);
    tcase_add_test(tc, test_identities_f64);
    tcase_add_test(tc, test_identities_f32);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_interrupt);
    tcase_add_test(tc, test_lu);
    tcase_add_test(tc, test_grads);
}

TN_SUITE_MAIN("lapack", add_tests)
