/*
 * test_core.c: the core of tensor/: dtypes and promotion, storage and
 * refcounts, the iterator and elementwise ops (values, broadcasting,
 * non-contiguous operands), the thread pool (determinism, fork), the RNG,
 * and the autograd engine (accumulation, errors, in-place safety) with
 * finite-difference checks of every elementwise op.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

START_TEST(test_promotion) {
    tn_tensor *i = T1(TN_INT64, 2, {1, 2}), *f = T1(TN_FLOAT32, 2, {1, 2});
    tn_tensor *half = tn_wrap_number(0.5, false), *two = tn_wrap_number(2, true);
    ck_assert_int_eq(tn_result_type(i, half), TN_FLOAT32);
    ck_assert_int_eq(tn_result_type(f, two), TN_FLOAT32);
    ck_assert_int_eq(tn_result_type(i, two), TN_INT64);
    ck_assert_int_eq(tn_result_type(i, f), TN_FLOAT32);
    tn_tensor *d0 = tn_scalar(TN_FLOAT64, 1);  /* 0-dim float64 does not widen float32 */
    ck_assert_int_eq(tn_result_type(f, d0), TN_FLOAT32);
    ck_assert_int_eq(tn_promote(TN_UINT8, TN_INT32), TN_INT32);
    ck_assert_int_eq(tn_promote(TN_BOOL, TN_UINT8), TN_UINT8);
    tn_release(i); tn_release(f); tn_release(half); tn_release(two); tn_release(d0);
}
END_TEST

START_TEST(test_binary_broadcast) {
    tn_tensor *a = T2(TN_FLOAT32, 2, 1, {1, 2});
    tn_tensor *b = T1(TN_FLOAT32, 3, {10, 20, 30});
    tn_tensor *c = tn_add(a, b);
    ck_assert_int_eq(c->ndim, 2);
    EXPECT(c, 0, {11, 21, 31, 12, 22, 32});
    tn_tensor *d = tn_binary(TN_B_GT, c, b);  /* bool result */
    ck_assert_int_eq(d->dtype, TN_BOOL);
    EXPECT(d, 0, {1, 1, 1, 1, 1, 1});
    tn_tensor *bad = T1(TN_FLOAT32, 2, {1, 2});
    ck_assert_ptr_null(tn_add(b, bad));
    ck_assert_msg(strstr(tn_last_error(), "cannot be broadcast") != NULL, "%s", tn_last_error());
    tn_release(a); tn_release(b); tn_release(c); tn_release(d); tn_release(bad);
}
END_TEST

START_TEST(test_noncontiguous) {
    /* a transposed operand goes through the strided path */
    tn_tensor *a = T2(TN_FLOAT64, 2, 3, {1, 2, 3, 4, 5, 6});
    tn_tensor *at = tn_transpose(a, 0, 1);
    ck_assert(!tn_is_contiguous(at));
    tn_tensor *m = tn_mul_scalar(at, 2);
    EXPECT(m, 0, {2, 8, 4, 10, 6, 12});
    tn_tensor *e = tn_unary(TN_U_NEG, at);
    EXPECT(e, 0, {-1, -4, -2, -5, -3, -6});
    tn_release(a); tn_release(at); tn_release(m); tn_release(e);
}
END_TEST

START_TEST(test_int_ops_no_ub) {
    tn_tensor *a = T1(TN_INT64, 3, {7, -7, 3});
    tn_tensor *b = T1(TN_INT64, 3, {3, 3, -2});
    tn_tensor *r = tn_binary(TN_B_MOD, a, b);
    EXPECT(r, 0, {1, 2, -1});
    tn_tensor *z = T1(TN_INT64, 3, {1, 0, 1});
    ck_assert_ptr_null(tn_binary(TN_B_MOD, a, z));
    tn_tensor *p = tn_binary(TN_B_POW, a, b);
    ck_assert_int_eq(p->dtype, TN_INT64);
    ck_assert_int_eq(tn_get_flat_i64(p, 0), 343);
    tn_tensor *q = tn_div(a, b);  /* true division promotes to float */
    ck_assert_int_eq(q->dtype, TN_FLOAT32);
    /* float -> int conversion of NaN/inf saturates instead of UB */
    tn_tensor *f = T1(TN_FLOAT64, 3, {NAN, INFINITY, -1e30});
    tn_tensor *fi = tn_to(f, TN_INT64);
    ck_assert_int_eq(tn_get_flat_i64(fi, 0), 0);
    ck_assert(tn_get_flat_i64(fi, 1) == INT64_MAX);
    tn_release(a); tn_release(b); tn_release(r); tn_release(z); tn_release(p); tn_release(q);
    tn_release(f); tn_release(fi);
}
END_TEST

START_TEST(test_unary_values) {
    tn_tensor *x = T1(TN_FLOAT64, 4, {-2, -0.5, 0.5, 2});
    struct { tn_unary_kind k; double (*f)(double); } cases[] = {
        {TN_U_EXP, exp}, {TN_U_TANH, tanh}, {TN_U_SIN, sin}, {TN_U_COS, cos}, {TN_U_FLOOR, floor},
        {TN_U_CEIL, ceil}, {TN_U_ABS, fabs},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tn_tensor *y = tn_unary(cases[c].k, x);
        for (int i = 0; i < 4; i++)
            ck_assert_double_eq_tol(tn_get_flat(y, i), cases[c].f(tn_get_flat(x, i)), 1e-12);
        tn_release(y);
    }
    tn_tensor *g = tn_unary(TN_U_GELU, x);
    ck_assert_double_eq_tol(tn_get_flat(g, 3), 2 * 0.5 * (1 + erf(2 / sqrt(2))), 1e-12);
    tn_tensor *i = T1(TN_INT64, 2, {1, 2});
    tn_tensor *ie = tn_unary(TN_U_EXP, i);
    ck_assert_int_eq(ie->dtype, TN_FLOAT32);
    tn_release(x); tn_release(g); tn_release(i); tn_release(ie);
}
END_TEST

START_TEST(test_refcount_views) {
    tn_tensor *a = tn_zeros(TN_FLOAT32, 1, (int64_t[]){4});
    size_t live = tn_bytes_live();
    tn_tensor *v = tn_narrow(a, 0, 1, 2);
    ck_assert_int_eq(tn_bytes_live(), live);  /* views allocate no storage */
    tn_fill_(v, 3);
    EXPECT(a, 0, {0, 3, 3, 0});
    tn_release(a);  /* the view keeps the storage alive */
    EXPECT(v, 0, {3, 3});
    tn_release(v);
    ck_assert_int_eq(tn_bytes_live(), live - 16);
}
END_TEST

typedef struct { double *out; } sum_ctx;
static void partial_sums(void *vctx, int64_t lo, int64_t hi) {
    sum_ctx *c = vctx;
    double s = 0;
    for (int64_t i = lo; i < hi; i++) s += 1.0 / (double)(i + 1);
    c->out[lo / 1000] = s;
}

START_TEST(test_parallel_deterministic_and_fork) {
    enum { N = 1000000 };
    static double parts[N / 1000];
    sum_ctx c = {parts};
    double totals[2];
    for (int th = 1; th <= 2; th++) {
        tn_set_num_threads(th);
        tn_parallel_for(N, 1000, partial_sums, &c);
        double s = 0;
        for (int i = 0; i < N / 1000; i++) s += parts[i];
        totals[th - 1] = s;
    }
    ck_assert(totals[0] == totals[1]);  /* same bits whatever the thread count */
    /* the parent used both threads; a child must still compute */
    tn_tensor *big = tn_ones(TN_FLOAT32, 1, (int64_t[]){1 << 20});
    tn_tensor *s1 = tn_sum(big, TN_ALL_DIMS, false);
    ck_assert_double_eq(tn_item(s1), 1 << 20);
    pid_t pid = fork();
    if (pid == 0) {
        tn_tensor *d = tn_mul_scalar(big, 2);
        tn_tensor *s = d ? tn_sum(d, TN_ALL_DIMS, false) : NULL;
        sum_ctx cc = {parts};
        tn_parallel_for(N, 1000, partial_sums, &cc);
        double t = 0;
        for (int i = 0; i < N / 1000; i++) t += parts[i];
        _exit(s && tn_item(s) == 2.0 * (1 << 20) && t == totals[0] ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tn_release(big);
    tn_release(s1);
}
END_TEST

START_TEST(test_rng_thread_independent) {
    int64_t n = 300000;
    tn_set_num_threads(1);
    tn_manual_seed(123);
    tn_tensor *a = tn_randn(TN_FLOAT32, 1, &n);
    tn_set_num_threads(2);
    tn_manual_seed(123);
    tn_tensor *b = tn_randn(TN_FLOAT32, 1, &n);
    ck_assert_int_eq(memcmp(tn_data(a), tn_data(b), (size_t)n * 4), 0);
    tn_tensor *m = tn_mean(a, TN_ALL_DIMS, false);
    ck_assert_double_eq_tol(tn_item(m), 0, 0.01);
    tn_release(a); tn_release(b); tn_release(m);
}
END_TEST

/* ---------- autograd engine ---------- */

START_TEST(test_backward_accumulates) {
    tn_tensor *x = T1(TN_FLOAT32, 3, {1, 2, 3});
    x->requires_grad = true;
    for (int rep = 0; rep < 2; rep++) {
        tn_tensor *y = tn_mul(x, x);  /* y = x^2, dy/dx = 2x */
        tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
        ck_assert_int_eq(tn_backward(s, NULL, false), 0);
        tn_release(y);
        tn_release(s);
    }
    EXPECT(x->grad, 1e-6, {4, 8, 12});  /* accumulated twice */
    tn_release(x);
}
END_TEST

START_TEST(test_backward_errors) {
    tn_tensor *x = T1(TN_FLOAT32, 3, {1, 2, 3});
    tn_tensor *y = tn_mul_scalar(x, 2);
    ck_assert_int_eq(tn_backward(y, NULL, false), -1);  /* does not require grad */
    ck_assert_msg(strstr(tn_last_error(), "does not require grad"), "%s", tn_last_error());
    tn_release(y);
    x->requires_grad = true;
    y = tn_mul(x, x);
    ck_assert_int_eq(tn_backward(y, NULL, false), -1);  /* non-scalar */
    ck_assert_msg(strstr(tn_last_error(), "one element"), "%s", tn_last_error());
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    ck_assert_int_eq(tn_backward(s, NULL, false), -1);  /* graph freed */
    ck_assert_msg(strstr(tn_last_error(), "second time"), "%s", tn_last_error());
    tn_release(s);
    tn_release(y);
    /* in-place change of a saved tensor */
    tn_tensor *h = tn_mul_scalar(x, 1.0);   /* non-leaf */
    tn_tensor *e = tn_unary(TN_U_EXP, h);    /* saves its output */
    tn_tensor *es = tn_sum(e, TN_ALL_DIMS, false);
    bool was = tn_set_grad_enabled(false);
    tn_tensor *one = tn_scalar(TN_FLOAT32, 1);
    ck_assert_int_eq(tn_binary_(TN_B_ADD, e, one), 0);
    tn_set_grad_enabled(was);
    ck_assert_int_eq(tn_backward(es, NULL, false), -1);
    ck_assert_msg(strstr(tn_last_error(), "in-place"), "%s", tn_last_error());
    /* leaf requiring grad cannot be modified in place while recording */
    ck_assert_int_eq(tn_binary_(TN_B_ADD, x, one), -1);
    tn_release(h); tn_release(e); tn_release(es); tn_release(one); tn_release(x);
}
END_TEST

START_TEST(test_retain_graph_and_broadcast_grad) {
    tn_tensor *w = T2(TN_FLOAT64, 2, 1, {1, 2});
    tn_tensor *b = T1(TN_FLOAT64, 3, {1, 1, 1});
    w->requires_grad = b->requires_grad = true;
    tn_tensor *y = tn_add(w, b);  /* (2,3) */
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, true), 0);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);  /* retained */
    EXPECT(w->grad, 0, {6, 6});
    EXPECT(b->grad, 0, {4, 4, 4});
    tn_release(w); tn_release(b); tn_release(y); tn_release(s);
}
END_TEST

START_TEST(test_inplace_on_nonleaf_rebases_history) {
    tn_tensor *x = T1(TN_FLOAT64, 2, {1, 2});
    x->requires_grad = true;
    tn_tensor *y = tn_mul_scalar(x, 3);
    tn_tensor *two = tn_scalar(TN_FLOAT64, 2);
    ck_assert_int_eq(tn_binary_(TN_B_MUL, y, two), 0);  /* y = 6x */
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    EXPECT(x->grad, 1e-12, {6, 6});
    tn_release(x); tn_release(y); tn_release(two); tn_release(s);
}
END_TEST

/* gradchecks of every elementwise op */
typedef struct { int kind; int binary; } ew_ctx;
static tn_tensor *ew_fn(void *vctx, tn_tensor **in) {
    ew_ctx *c = vctx;
    if (c->binary) return tn_binary((tn_binary_kind)c->kind, in[0], in[1]);
    return tn_unary((tn_unary_kind)c->kind, in[0]);
}

static tn_tensor *leaf64(int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
    tn_manual_seed(seed);
    tn_tensor *t = tn_empty(TN_FLOAT64, ndim, shape);
    tn_uniform_(t, lo, hi);
    t->requires_grad = true;
    return t;
}

START_TEST(test_gradcheck_unary) {
    struct { tn_unary_kind k; double lo, hi; } ops[] = {
        {TN_U_NEG, -2, 2}, {TN_U_ABS, 0.1, 2}, {TN_U_EXP, -2, 2}, {TN_U_LOG, 0.2, 3},
        {TN_U_LOG1P, -0.5, 2}, {TN_U_SQRT, 0.2, 3}, {TN_U_RSQRT, 0.2, 3}, {TN_U_SIN, -3, 3},
        {TN_U_COS, -3, 3}, {TN_U_TANH, -2, 2}, {TN_U_SIGMOID, -3, 3}, {TN_U_RELU, 0.1, 2},
        {TN_U_GELU, -3, 3}, {TN_U_SILU, -3, 3}, {TN_U_SOFTPLUS, -3, 3}, {TN_U_RECIPROCAL, 0.5, 2},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        tn_tensor *x = leaf64(2, (int64_t[]){3, 4}, ops[i].lo, ops[i].hi, 10 + i);
        ew_ctx c = {ops[i].k, 0};
        ck_assert_msg(tn_gradcheck(ew_fn, &c, 1, &x, 1e-6, 1e-6, 1e-4) == 0, "unary %d: %s", (int)ops[i].k,
                      tn_last_error());
        /* non-contiguous input: check through a transposed view */
        tn_tensor *xt = tn_transpose(x, 0, 1);
        tn_tensor *y = tn_unary(ops[i].k, xt);
        ck_assert_ptr_nonnull(y);
        tn_release(xt);
        tn_release(y);
        tn_release(x);
    }
}
END_TEST

START_TEST(test_gradcheck_binary_broadcast) {
    tn_binary_kind ops[] = {TN_B_ADD, TN_B_SUB, TN_B_MUL, TN_B_DIV, TN_B_POW, TN_B_MAXIMUM, TN_B_MINIMUM};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        tn_tensor *in[2] = {leaf64(2, (int64_t[]){3, 4}, 0.5, 2, 100 + i),
                            leaf64(1, (int64_t[]){4}, 0.5, 2, 200 + i)};
        ew_ctx c = {ops[i], 1};
        ck_assert_msg(tn_gradcheck(ew_fn, &c, 2, in, 1e-6, 1e-6, 1e-4) == 0, "binary %d: %s", (int)ops[i],
                      tn_last_error());
        tn_release(in[0]);
        tn_release(in[1]);
    }
}
END_TEST

typedef struct { int which; } misc_ctx;
static tn_tensor *misc_fn(void *vctx, tn_tensor **in) {
    misc_ctx *c = vctx;
    switch (c->which) {
    case 0: return tn_leaky_relu(in[0], 0.1);
    case 1: return tn_clamp(in[0], -0.5, 0.5);
    case 2: {
        tn_tensor *z = tn_scalar(TN_FLOAT64, 0);
        tn_tensor *m = tn_binary(TN_B_GT, in[0], z);
        tn_tensor *r = tn_where(m, in[0], in[1]);
        tn_release(z);
        tn_release(m);
        return r;
    }
    case 3: {
        tn_tensor *z = tn_scalar(TN_FLOAT64, 0);
        tn_tensor *m = tn_binary(TN_B_GT, in[0], z);
        tn_tensor *r = tn_masked_fill(in[0], m, 3.0);
        tn_release(z);
        tn_release(m);
        return r;
    }
    case 4: {
        tn_tensor *f = tn_to(in[0], TN_FLOAT32);
        tn_tensor *r = tn_to(f, TN_FLOAT64);
        tn_release(f);
        return r;
    }
    default: return tn_clone(in[0]);
    }
}

START_TEST(test_gradcheck_misc) {
    for (int w = 0; w <= 5; w++) {
        tn_tensor *in[2] = {leaf64(2, (int64_t[]){2, 5}, -1, 1, 300 + w), leaf64(1, (int64_t[]){5}, -1, 1, 400 + w)};
        misc_ctx c = {w};
        /* the float32 round trip loses precision: looser tolerance */
        double tol = w == 4 ? 1e-3 : 1e-6, eps = w == 4 ? 1e-2 : 1e-6;
        ck_assert_msg(tn_gradcheck(misc_fn, &c, w == 2 ? 2 : 1, in, eps, tol, tol) == 0, "case %d: %s", w,
                      tn_last_error());
        tn_release(in[0]);
        tn_release(in[1]);
    }
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_promotion);
    tcase_add_test(tc, test_binary_broadcast);
    tcase_add_test(tc, test_noncontiguous);
    tcase_add_test(tc, test_int_ops_no_ub);
    tcase_add_test(tc, test_unary_values);
    tcase_add_test(tc, test_refcount_views);
    tcase_add_test(tc, test_parallel_deterministic_and_fork);
    tcase_add_test(tc, test_rng_thread_independent);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_backward_errors);
    tcase_add_test(tc, test_retain_graph_and_broadcast_grad);
    tcase_add_test(tc, test_inplace_on_nonleaf_rebases_history);
    tcase_add_test(tc, test_gradcheck_unary);
    tcase_add_test(tc, test_gradcheck_binary_broadcast);
    tcase_add_test(tc, test_gradcheck_misc);
}

TN_SUITE_MAIN("core", add_tests)
