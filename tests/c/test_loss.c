/*
 * test_loss.c: Check suite for nn/loss.c: cross_entropy (class indices and
 * probabilities, label smoothing, ignore_index, every reduction, the
 * (N, C, d...) layout), nll_loss, binary_cross_entropy (with its -100 log
 * clamp) and its logits form (stable at large |x|), and the composite
 * mse / l1 / smooth_l1 losses: values against hand computations and
 * log_softmax references, error messages, thread-count independence, and
 * finite-difference gradient checks (float64), non-contiguous inputs too.
 */
#include "helpers.h"

#include <string.h>

#include "nn/nn.h"

#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define RANDN(dt, ...) tn_randn(dt, NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

static tn_tensor *leaf64(int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(TN_FLOAT64, nd, shape);
    t->requires_grad = true;
    return t;
}
#define LEAF(...) leaf64(NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

/* int64 tensor of the given shape and values */
static tn_tensor *ids(int nd, const int64_t *shape, const double *v) { return t_from(TN_INT64, nd, shape, v); }

static void check_grad(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **in) {
    int rc = tn_gradcheck(fn, ctx, n, in, 1e-6, 1e-6, 1e-5);
    ck_assert_msg(rc == 0, "gradcheck: %s", tn_last_error());
}

static void release_all(int n, tn_tensor **t) {
    for (int i = 0; i < n; i++) tn_release(t[i]);
}

static double item_and_release(tn_tensor *t) {
    ck_assert_msg(t != NULL, "NULL: %s", tn_last_error());
    double v = tn_item(t);
    tn_release(t);
    return v;
}

/* ======================= cross entropy ======================= */

START_TEST(test_cross_entropy_values) {
    tn_tensor *x = T2(TN_FLOAT32, 2, 3, {1, 2, 3, 1, 1, 1});
    tn_tensor *t = T1(TN_INT64, 2, {2, 0});
    double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(3);
    tn_tensor *none = nn_cross_entropy(x, t, NN_REDUCE_NONE, 0, NN_NO_INDEX);
    ck_assert_int_eq(none->ndim, 1);
    EXPECT(none, 1e-6, {l0, l1});
    ck_assert_double_eq_tol(item_and_release(nn_cross_entropy(x, t, NN_REDUCE_SUM, 0, NN_NO_INDEX)), l0 + l1, 1e-6);
    ck_assert_double_eq_tol(item_and_release(nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0, NN_NO_INDEX)),
                            (l0 + l1) / 2, 1e-6);
    /* ignore_index: the second sample is skipped, and the mean divides by 1 */
    ck_assert_double_eq_tol(item_and_release(nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0, 0)), l0, 1e-6);
    tn_tensor *none_ig = nn_cross_entropy(x, t, NN_REDUCE_NONE, 0, 0);
    EXPECT(none_ig, 1e-6, {l0, 0});
    /* label smoothing 0.3 on 3 classes: 0.8 on the target's -logp, 0.1 on each other */
    double lp[3] = {1 - log(exp(1) + exp(2) + exp(3)), 2 - log(exp(1) + exp(2) + exp(3)), -l0};
    double s0 = -(0.8 * lp[2] + 0.1 * lp[0] + 0.1 * lp[1]);
    tn_tensor *sm = nn_cross_entropy(x, t, NN_REDUCE_NONE, 0.3, NN_NO_INDEX);
    EXPECT(sm, 1e-6, {s0, l1});
    /* 1-D logits with a 0-dim target */
    tn_tensor *x1 = T1(TN_FLOAT64, 3, {1, 2, 3}), *t0 = tn_scalar_i64(2);
    tn_tensor *r1 = nn_cross_entropy(x1, t0, NN_REDUCE_NONE, 0, NN_NO_INDEX);
    ck_assert_int_eq(r1->ndim, 0);
    ck_assert_double_eq_tol(tn_item(r1), l0, 1e-12);
    release_all(8, (tn_tensor *[]){x, t, none, none_ig, sm, x1, t0, r1});
}
END_TEST

START_TEST(test_cross_entropy_probabilities) {
    tn_tensor *x = T2(TN_FLOAT64, 2, 3, {1, 2, 3, 0, -1, 2});
    tn_tensor *q = T2(TN_FLOAT64, 2, 3, {0.2, 0.3, 0.5, 1, 0, 0});
    tn_tensor *lsm = tn_log_softmax(x, 1);
    double want[2] = {0, 0}, want_s[2] = {0, 0};
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++) {
            double l = tn_get_flat(lsm, n * 3 + c), qq = tn_get_flat(q, n * 3 + c);
            want[n] -= qq * l;
            want_s[n] -= (0.9 * qq + 0.1 / 3) * l;
        }
    tn_tensor *r = nn_cross_entropy(x, q, NN_REDUCE_NONE, 0, NN_NO_INDEX);
    t_expect(r, want, 2, 1e-12);
    tn_tensor *rs = nn_cross_entropy(x, q, NN_REDUCE_NONE, 0.1, NN_NO_INDEX);
    t_expect(rs, want_s, 2, 1e-12);
    /* mean divides by the number of samples */
    ck_assert_double_eq_tol(item_and_release(nn_cross_entropy(x, q, NN_REDUCE_MEAN, 0, NN_NO_INDEX)),
                            (want[0] + want[1]) / 2, 1e-12);
    /* one-hot probabilities equal index targets */
    tn_tensor *t = T1(TN_INT64, 2, {2, 0});
    tn_tensor *oh = T2(TN_FLOAT64, 2, 3, {0, 0, 1, 1, 0, 0});
    ck_assert_double_eq_tol(item_and_release(nn_cross_entropy(x, oh, NN_REDUCE_SUM, 0.2, NN_NO_INDEX)),
                            item_and_release(nn_cross_entropy(x, t, NN_REDUCE_SUM, 0.2, NN_NO_INDEX)), 1e-12);
    release_all(7, (tn_tensor *[]){x, q, lsm, r, rs, t, oh});
}
END_TEST

START_TEST(test_cross_entropy_spatial_layout) {
    /* (N, C, H, W) against log_softmax over dim 1 */
    tn_manual_seed(11);
    tn_tensor *x = RANDN(TN_FLOAT64, 2, 4, 3, 2);
    tn_tensor *t = tn_randint(0, 4, 3, (int64_t[]){2, 3, 2});
    tn_tensor *lsm = tn_log_softmax(x, 1);
    tn_tensor *r = nn_cross_entropy(x, t, NN_REDUCE_NONE, 0, NN_NO_INDEX);
    ck_assert_int_eq(r->ndim, 3);
    double sum = 0;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t s = 0; s < 6; s++) {
            int64_t c = tn_get_flat_i64(t, n * 6 + s);
            double want = -tn_get_flat(lsm, (n * 4 + c) * 6 + s);
            ck_assert_double_eq_tol(tn_get_flat(r, n * 6 + s), want, 1e-12);
            sum += want;
        }
    ck_assert_double_eq_tol(item_and_release(nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0, NN_NO_INDEX)), sum / 12, 1e-12);
    release_all(4, (tn_tensor *[]){x, t, lsm, r});
}
END_TEST

START_TEST(test_cross_entropy_threads_and_float32) {
    /* big enough for several chunks: the same bits with 1 and 2 threads */
    tn_manual_seed(12);
    tn_tensor *x = RANDN(TN_FLOAT32, 5000, 10);
    tn_tensor *t = tn_randint(0, 10, 1, (int64_t[]){5000});
    tn_set_num_threads(1);
    double a = item_and_release(nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0.1, NN_NO_INDEX));
    tn_set_num_threads(2);
    double b = item_and_release(nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0.1, NN_NO_INDEX));
    ck_assert(a == b);
    /* float32 agrees with the float64 computation */
    tn_tensor *x64 = tn_to(x, TN_FLOAT64);
    double c = item_and_release(nn_cross_entropy(x64, t, NN_REDUCE_MEAN, 0.1, NN_NO_INDEX));
    ck_assert_double_eq_tol(a, c, 1e-6 * fabs(c));
    release_all(3, (tn_tensor *[]){x, t, x64});
}
END_TEST

START_TEST(test_cross_entropy_errors) {
    tn_tensor *x = RANDN(TN_FLOAT32, 2, 10);
    tn_tensor *t = T1(TN_INT64, 2, {3, 10});
    EXPECT_ERROR(nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0, NN_NO_INDEX),
                 "cross_entropy: target 11 is out of range for 10 classes");
    tn_tensor *tn = T1(TN_INT64, 2, {-1, 0});
    EXPECT_ERROR(nn_cross_entropy(x, tn, NN_REDUCE_MEAN, 0, NN_NO_INDEX), "target 0 is out of range for 10 classes");
    /* ignore_index makes -1 legal */
    tn_tensor *ok = nn_cross_entropy(x, tn, NN_REDUCE_MEAN, 0, -1);
    ck_assert_ptr_nonnull(ok);
    tn_tensor *t3 = T1(TN_INT64, 3, {0, 1, 2});
    EXPECT_ERROR(nn_cross_entropy(x, t3, NN_REDUCE_MEAN, 0, NN_NO_INDEX),
                 "target of shape [3] does not match input of shape [2, 10]");
    tn_tensor *tf = T1(TN_FLOAT32, 2, {0, 1});
    EXPECT_ERROR(nn_cross_entropy(x, tf, NN_REDUCE_MEAN, 0, NN_NO_INDEX), "must be int64");
    EXPECT_ERROR(nn_cross_entropy(x, tn, NN_REDUCE_MEAN, 1.5, -1), "label_smoothing must be between 0 and 1, got 1.5");
    tn_tensor *xi = tn_zeros(TN_INT64, 2, (int64_t[]){2, 10});
    EXPECT_ERROR(nn_cross_entropy(xi, t, NN_REDUCE_MEAN, 0, NN_NO_INDEX), "float32 or float64");
    ck_assert_int_eq(nn_reduction_from_name("sum", "cross_entropy"), NN_REDUCE_SUM);
    ck_assert_int_eq(nn_reduction_from_name("none", "cross_entropy"), NN_REDUCE_NONE);
    ck_assert_int_eq(nn_reduction_from_name("avg", "cross_entropy"), -1);
    ck_assert(strstr(tn_last_error(), "unknown reduction 'avg'") != NULL);
    release_all(7, (tn_tensor *[]){x, t, tn, ok, t3, tf, xi});
}
END_TEST

typedef struct {
    tn_tensor *target;   /* index targets, or NULL: probabilities are inputs[1] */
    nn_reduction red;
    double smoothing;
    int64_t ignore;
    bool transpose;
} ce_case;

static tn_tensor *ce_fn(void *ctx, tn_tensor **in) {
    ce_case *c = ctx;
    tn_tensor *x = c->transpose ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    tn_tensor *r = nn_cross_entropy(x, c->target ? c->target : in[1], c->red, c->smoothing, c->ignore);
    tn_release(x);
    return r;
}

START_TEST(test_cross_entropy_gradcheck) {
    tn_manual_seed(13);
    tn_tensor *x = LEAF(4, 5);
    tn_tensor *t = T1(TN_INT64, 4, {0, 4, 2, 4});
    nn_reduction reds[3] = {NN_REDUCE_MEAN, NN_REDUCE_SUM, NN_REDUCE_NONE};
    for (int r = 0; r < 3; r++) {
        ce_case c = {t, reds[r], 0, NN_NO_INDEX, false};
        check_grad(ce_fn, &c, 1, &x);
        c.smoothing = 0.2;
        check_grad(ce_fn, &c, 1, &x);
        c.ignore = 4;
        check_grad(ce_fn, &c, 1, &x);
    }
    /* non-contiguous logits: the transpose of a (5, 4) leaf */
    tn_tensor *xt = LEAF(5, 4);
    ce_case ct = {t, NN_REDUCE_MEAN, 0.1, NN_NO_INDEX, true};
    check_grad(ce_fn, &ct, 1, &xt);
    /* (N, C, d) layout */
    tn_tensor *x3 = LEAF(2, 3, 4);
    tn_tensor *t3 = ids(2, (int64_t[]){2, 4}, (double[]){0, 1, 2, 1, 2, 2, 0, 0});
    ce_case c3 = {t3, NN_REDUCE_MEAN, 0.1, 1, false};
    check_grad(ce_fn, &c3, 1, &x3);
    /* probabilities: gradients for logits and for the target */
    tn_tensor *in[2] = {LEAF(3, 4), NULL};
    tn_tensor *raw = RANDN(TN_FLOAT64, 3, 4);
    in[1] = tn_softmax(raw, 1);
    in[1]->requires_grad = true;
    ce_case cp = {NULL, NN_REDUCE_MEAN, 0.15, NN_NO_INDEX, false};
    check_grad(ce_fn, &cp, 2, in);
    cp.red = NN_REDUCE_NONE;
    check_grad(ce_fn, &cp, 2, in);
    release_all(9, (tn_tensor *[]){x, t, xt, x3, t3, in[0], in[1], raw, NULL});
}
END_TEST

START_TEST(test_cross_entropy_float32_rows_grad) {
    /* the float32 (N, C) path (vectorised rows) against the float64 one, with
     * smoothing, an ignored class and every reduction; logits up to +-30 */
    tn_manual_seed(17);
    tn_tensor *x64 = RANDN(TN_FLOAT64, 300, 37);
    double *px = tn_data(x64);
    for (int i = 0; i < 300 * 37; i++) px[i] *= 10;
    tn_tensor *x32 = tn_to(x64, TN_FLOAT32);
    tn_tensor *t = tn_randint(0, 37, 1, (int64_t[]){300});
    nn_reduction reds[3] = {NN_REDUCE_MEAN, NN_REDUCE_SUM, NN_REDUCE_NONE};
    for (int r = 0; r < 3; r++) {
        tn_tensor *ls[2], *xs[2] = {x32, x64};
        for (int k = 0; k < 2; k++) {
            xs[k]->requires_grad = true;
            ls[k] = nn_cross_entropy(xs[k], t, reds[r], 0.05, 3);
            tn_tensor *g = tn_ones(ls[k]->dtype, ls[k]->ndim, ls[k]->shape);
            ck_assert_int_eq(tn_backward(ls[k], g, false), 0);
            tn_release(g);
        }
        for (int64_t i = 0; i < ls[1]->numel; i++)
            ck_assert_double_eq_tol(tn_get_flat(ls[0], i), tn_get_flat(ls[1], i), 1e-5 * (1 + fabs(tn_get_flat(ls[1], i))));
        for (int64_t i = 0; i < 300 * 37; i++)
            ck_assert_double_eq_tol(tn_get_flat(x32->grad, i), tn_get_flat(x64->grad, i), 1e-6);
        for (int k = 0; k < 2; k++) {
            tn_release(ls[k]);
            tn_release(xs[k]->grad);
            xs[k]->grad = NULL;
        }
    }
    release_all(3, (tn_tensor *[]){x64, x32, t});
}
END_TEST

START_TEST(test_cross_entropy_grad_values) {
    /* d mean CE / d logits = (softmax - onehot) / N */
    tn_tensor *x = T2(TN_FLOAT32, 2, 2, {0, 0, 1, 1});
    x->requires_grad = true;
    tn_tensor *t = T1(TN_INT64, 2, {0, 1});
    tn_tensor *l = nn_cross_entropy(x, t, NN_REDUCE_MEAN, 0, NN_NO_INDEX);
    ck_assert_str_eq(l->grad_fn->name, "cross_entropy");
    ck_assert_int_eq(tn_backward(l, NULL, false), 0);
    EXPECT(x->grad, 1e-7, {-0.25, 0.25, 0.25, -0.25});
    release_all(3, (tn_tensor *[]){x, t, l});
}
END_TEST

/* ======================= nll loss ======================= */

typedef struct {
    tn_tensor *target;
    nn_reduction red;
    int64_t ignore;
} nll_case;

static tn_tensor *nll_fn(void *ctx, tn_tensor **in) {
    nll_case *c = ctx;
    return nn_nll_loss(in[0], c->target, c->red, c->ignore);
}

START_TEST(test_nll_loss) {
    tn_tensor *x = T2(TN_FLOAT64, 2, 3, {-1, -2, -3, -0.5, -0.25, -4});
    tn_tensor *t = T1(TN_INT64, 2, {2, 1});
    tn_tensor *r = nn_nll_loss(x, t, NN_REDUCE_NONE, NN_NO_INDEX);
    EXPECT(r, 1e-12, {3, 0.25});
    ck_assert_double_eq_tol(item_and_release(nn_nll_loss(x, t, NN_REDUCE_MEAN, NN_NO_INDEX)), 1.625, 1e-12);
    ck_assert_double_eq_tol(item_and_release(nn_nll_loss(x, t, NN_REDUCE_SUM, 1)), 3, 1e-12);
    ck_assert_double_eq_tol(item_and_release(nn_nll_loss(x, t, NN_REDUCE_MEAN, 1)), 3, 1e-12);
    /* nll(log_softmax(x)) == cross_entropy(x) */
    tn_manual_seed(14);
    tn_tensor *z = RANDN(TN_FLOAT64, 3, 4, 2);
    tn_tensor *tz = ids(2, (int64_t[]){3, 2}, (double[]){0, 3, 1, 2, 3, 3});
    tn_tensor *lz = tn_log_softmax(z, 1);
    ck_assert_double_eq_tol(item_and_release(nn_nll_loss(lz, tz, NN_REDUCE_MEAN, NN_NO_INDEX)),
                            item_and_release(nn_cross_entropy(z, tz, NN_REDUCE_MEAN, 0, NN_NO_INDEX)), 1e-12);
    EXPECT_ERROR(nn_nll_loss(x, tz, NN_REDUCE_MEAN, NN_NO_INDEX), "does not match input of shape [2, 3]");
    tn_tensor *bad = T1(TN_INT64, 2, {0, 3});
    EXPECT_ERROR(nn_nll_loss(x, bad, NN_REDUCE_MEAN, NN_NO_INDEX), "nll_loss: target 4 is out of range for 3 classes");
    /* gradients, every reduction, with an ignored class */
    tn_tensor *g = LEAF(4, 3);
    tn_tensor *tg = T1(TN_INT64, 4, {0, 2, 1, 2});
    nll_case cases[4] = {{tg, NN_REDUCE_MEAN, NN_NO_INDEX}, {tg, NN_REDUCE_SUM, NN_NO_INDEX},
                         {tg, NN_REDUCE_NONE, NN_NO_INDEX}, {tg, NN_REDUCE_MEAN, 2}};
    for (int i = 0; i < 4; i++) check_grad(nll_fn, &cases[i], 1, &g);
    tn_tensor *g3 = LEAF(2, 3, 2);
    tn_tensor *t3 = ids(2, (int64_t[]){2, 2}, (double[]){0, 2, 1, 1});
    nll_case c3 = {t3, NN_REDUCE_MEAN, NN_NO_INDEX};
    check_grad(nll_fn, &c3, 1, &g3);
    release_all(11, (tn_tensor *[]){x, t, r, z, tz, lz, bad, g, tg, g3, t3});
}
END_TEST

/* ======================= binary cross-entropy ======================= */

START_TEST(test_bce_values) {
    tn_tensor *p = T1(TN_FLOAT32, 4, {0.5, 0.9, 0.2, 0});
    tn_tensor *y = T1(TN_FLOAT32, 4, {1, 0, 0, 1});
    tn_tensor *r = nn_binary_cross_entropy(p, y, NN_REDUCE_NONE);
    /* p = 0 with y = 1: log(0) is clamped at -100 */
    EXPECT(r, 1e-5, {-log(0.5), -log(0.1), -log(0.8), 100});
    ck_assert_double_eq_tol(item_and_release(nn_binary_cross_entropy(p, y, NN_REDUCE_MEAN)),
                            (-log(0.5) - log(0.1) - log(0.8) + 100) / 4, 1e-5);
    /* the logits form equals bce(sigmoid(x)) and stays finite at large |x| */
    tn_tensor *x = T1(TN_FLOAT64, 5, {0, 2, -3, 100, -100});
    tn_tensor *yx = T1(TN_FLOAT64, 5, {1, 0, 0.5, 0, 1});
    tn_tensor *rl = nn_binary_cross_entropy_with_logits(x, yx, NN_REDUCE_NONE);
    double want[5];
    for (int i = 0; i < 3; i++) {
        double xi = tn_get_flat(x, i), yi = tn_get_flat(yx, i), s = 1 / (1 + exp(-xi));
        want[i] = -(yi * log(s) + (1 - yi) * log(1 - s));
    }
    want[3] = 100;
    want[4] = 100;
    t_expect(rl, want, 5, 1e-12);
    ck_assert_double_eq_tol(item_and_release(nn_binary_cross_entropy_with_logits(x, yx, NN_REDUCE_SUM)),
                            want[0] + want[1] + want[2] + 200, 1e-10);
    release_all(6, (tn_tensor *[]){p, y, r, x, yx, rl});
}
END_TEST

START_TEST(test_bce_errors) {
    tn_tensor *p = T1(TN_FLOAT32, 2, {0.5, 1.5});
    tn_tensor *y = T1(TN_FLOAT32, 2, {1, 0});
    EXPECT_ERROR(nn_binary_cross_entropy(p, y, NN_REDUCE_MEAN), "between 0 and 1, got 1.5 at element 2");
    tn_tensor *y3 = T1(TN_FLOAT32, 3, {1, 0, 1});
    EXPECT_ERROR(nn_binary_cross_entropy(y, y3, NN_REDUCE_MEAN),
                 "binary_cross_entropy: target of shape [3] must have the input's shape [2]");
    EXPECT_ERROR(nn_binary_cross_entropy_with_logits(y, y3, NN_REDUCE_MEAN), "with_logits: target of shape [3]");
    tn_tensor *pi = T1(TN_INT64, 2, {0, 1});
    EXPECT_ERROR(nn_binary_cross_entropy_with_logits(pi, y, NN_REDUCE_MEAN), "float32 or float64");
    /* an integer target is converted */
    tn_tensor *r = nn_binary_cross_entropy_with_logits(y, pi, NN_REDUCE_SUM);
    ck_assert_ptr_nonnull(r);
    release_all(5, (tn_tensor *[]){p, y, y3, pi, r});
}
END_TEST

typedef struct {
    nn_reduction red;
    bool logits, transpose;
} bce_case;

static tn_tensor *bce_fn(void *ctx, tn_tensor **in) {
    bce_case *c = ctx;
    tn_tensor *x = c->transpose ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    tn_tensor *y = c->transpose ? tn_transpose(in[1], 0, 1) : tn_retain(in[1]);
    tn_tensor *r = c->logits ? nn_binary_cross_entropy_with_logits(x, y, c->red)
                             : nn_binary_cross_entropy(x, y, c->red);
    tn_release(x);
    tn_release(y);
    return r;
}

START_TEST(test_bce_gradcheck) {
    tn_manual_seed(15);
    /* probabilities in [0.1, 0.9], targets in [0, 1] */
    tn_tensor *in[2] = {tn_rand(TN_FLOAT64, 2, (int64_t[]){3, 4}), tn_rand(TN_FLOAT64, 2, (int64_t[]){3, 4})};
    double *p = tn_data(in[0]);
    for (int i = 0; i < 12; i++) p[i] = 0.1 + 0.8 * p[i];
    in[0]->requires_grad = in[1]->requires_grad = true;
    nn_reduction reds[3] = {NN_REDUCE_MEAN, NN_REDUCE_SUM, NN_REDUCE_NONE};
    for (int r = 0; r < 3; r++)
        for (int lg = 0; lg < 2; lg++)
            for (int tr = 0; tr < 2; tr++) {
                bce_case c = {reds[r], lg != 0, tr != 0};
                check_grad(bce_fn, &c, 2, in);
            }
    /* logits far from 0 */
    tn_tensor *big[2] = {T1(TN_FLOAT64, 4, {-30, -8, 8, 30}), T1(TN_FLOAT64, 4, {0, 1, 0.3, 1})};
    big[0]->requires_grad = big[1]->requires_grad = true;
    bce_case cb = {NN_REDUCE_SUM, true, false};
    check_grad(bce_fn, &cb, 2, big);
    release_all(4, (tn_tensor *[]){in[0], in[1], big[0], big[1]});
}
END_TEST

/* ======================= composite losses ======================= */

START_TEST(test_regression_losses) {
    tn_tensor *a = T1(TN_FLOAT32, 4, {1, 2, 3, 4});
    tn_tensor *b = T1(TN_FLOAT32, 4, {1.5, 0, 3, 7});
    ck_assert_double_eq_tol(item_and_release(nn_mse_loss(a, b, NN_REDUCE_MEAN)), (0.25 + 4 + 0 + 9) / 4, 1e-6);
    ck_assert_double_eq_tol(item_and_release(nn_l1_loss(a, b, NN_REDUCE_SUM)), 0.5 + 2 + 0 + 3, 1e-6);
    /* smooth_l1 with beta 1: 0.5 d^2 inside, |d| - 0.5 outside */
    tn_tensor *s = nn_smooth_l1_loss(a, b, NN_REDUCE_NONE, 1);
    EXPECT(s, 1e-6, {0.125, 1.5, 0, 2.5});
    tn_tensor *s2 = nn_smooth_l1_loss(a, b, NN_REDUCE_NONE, 4);
    EXPECT(s2, 1e-6, {0.25 / 8, 0.5, 0, 9.0 / 8});
    ck_assert_double_eq_tol(item_and_release(nn_smooth_l1_loss(a, b, NN_REDUCE_SUM, 0)), 5.5, 1e-6);
    EXPECT_ERROR(nn_smooth_l1_loss(a, b, NN_REDUCE_SUM, -1), "beta must be >= 0");
    tn_tensor *ia = T1(TN_INT64, 2, {1, 2});
    EXPECT_ERROR(nn_mse_loss(ia, ia, NN_REDUCE_MEAN), "mse_loss: needs float inputs");
    release_all(5, (tn_tensor *[]){a, b, s, s2, ia});
}
END_TEST

static tn_tensor *regression_fn(void *ctx, tn_tensor **in) {
    int which = *(int *)ctx;
    switch (which) {
    case 0: return nn_mse_loss(in[0], in[1], NN_REDUCE_MEAN);
    case 1: return nn_l1_loss(in[0], in[1], NN_REDUCE_SUM);
    case 2: return nn_smooth_l1_loss(in[0], in[1], NN_REDUCE_NONE, 0.7);
    default: return nn_mse_loss(in[0], in[1], NN_REDUCE_NONE);
    }
}

START_TEST(test_regression_gradcheck) {
    tn_manual_seed(16);
    /* b broadcasts over the rows of a */
    tn_tensor *in[2] = {LEAF(3, 4), LEAF(4)};
    for (int w = 0; w < 4; w++) check_grad(regression_fn, &w, 2, in);
    release_all(2, in);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_cross_entropy_values);
    tcase_add_test(tc, test_cross_entropy_probabilities);
    tcase_add_test(tc, test_cross_entropy_spatial_layout);
    tcase_add_test(tc, test_cross_entropy_threads_and_float32);
    tcase_add_test(tc, test_cross_entropy_errors);
    tcase_add_test(tc, test_cross_entropy_gradcheck);
    tcase_add_test(tc, test_cross_entropy_grad_values);
    tcase_add_test(tc, test_cross_entropy_float32_rows_grad);
    tcase_add_test(tc, test_nll_loss);
    tcase_add_test(tc, test_bce_values);
    tcase_add_test(tc, test_bce_errors);
    tcase_add_test(tc, test_bce_gradcheck);
    tcase_add_test(tc, test_regression_losses);
    tcase_add_test(tc, test_regression_gradcheck);
}

TN_SUITE_MAIN("loss", add_tests)
