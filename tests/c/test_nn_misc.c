/*
 * test_nn_misc.c: Check suite for nn/norm.c, nn/dropout.c, nn/embedding.c and
 * nn/attention.c: values against hand computations and naive reference loops,
 * running-statistics updates, train/eval behaviour, mask reproducibility,
 * error messages, and finite-difference gradient checks (float64) of every
 * op, including non-contiguous inputs.
 */
#include "helpers.h"

#include <string.h>

#include "nn/nn.h"

/* a float64 leaf that requires grad, values from the seeded stream */
static tn_tensor *leaf64(int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(TN_FLOAT64, nd, shape);
    t->requires_grad = true;
    return t;
}
#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define LEAF(...) leaf64(NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})
#define RANDN(dt, ...) tn_randn(dt, NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

static void check_grad(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **in) {
    int rc = tn_gradcheck(fn, ctx, n, in, 1e-6, 1e-6, 1e-5);
    ck_assert_msg(rc == 0, "gradcheck: %s", tn_last_error());
}

static void release_all(int n, tn_tensor **t) {
    for (int i = 0; i < n; i++) tn_release(t[i]);
}

/* ======================= batch norm ======================= */

START_TEST(test_batch_norm_values_and_running_stats) {
    tn_tensor *x = T2(TN_FLOAT32, 2, 2, {1, 2, 3, 6});
    tn_tensor *rm = T1(TN_FLOAT32, 2, {0, 0}), *rv = T1(TN_FLOAT32, 2, {1, 1});
    tn_tensor *y = nn_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5);
    /* channel 0: {1, 3}, mean 2, biased var 1; channel 1: {2, 6}, mean 4, var 4 */
    double a = 1 / sqrt(1 + 1e-5), b = 2 / sqrt(4 + 1e-5);
    EXPECT(y, 1e-6, {-a, -b, a, b});
    /* running: (1 - 0.1) * old + 0.1 * batch, with the unbiased variance (2 and 8) */
    EXPECT(rm, 1e-7, {0.2, 0.4});
    EXPECT(rv, 1e-6, {0.9 + 0.2, 0.9 + 0.8});
    tn_release(y);
    /* eval: normalised with the running statistics, then weight and bias */
    tn_tensor *w = T1(TN_FLOAT32, 2, {2, -1}), *bb = T1(TN_FLOAT32, 2, {0.5, 1});
    y = nn_batch_norm(x, rm, rv, w, bb, false, 0.1, 1e-5);
    EXPECT(y, 1e-5, {(1 - 0.2) / sqrt(1.1 + 1e-5) * 2 + 0.5, (2 - 0.4) / sqrt(1.7 + 1e-5) * -1 + 1,
                     (3 - 0.2) / sqrt(1.1 + 1e-5) * 2 + 0.5, (6 - 0.4) / sqrt(1.7 + 1e-5) * -1 + 1});
    /* eval does not touch the running statistics */
    EXPECT(rm, 1e-7, {0.2, 0.4});
    tn_release(y);
    release_all(5, (tn_tensor *[]){x, rm, rv, w, bb});
}
END_TEST

/* naive reference: batch norm of (N, C, S) in double */
static void bn_reference(tn_tensor *x, double eps, double *out) {
    int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C);
    for (int64_t c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) s += tn_get_flat(x, (n * C + c) * S + i);
        double mean = s / (double)(N * S);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                double d = tn_get_flat(x, (n * C + c) * S + i) - mean;
                ss += d * d;
            }
        double is = 1 / sqrt(ss / (double)(N * S) + eps);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++)
                out[(n * C + c) * S + i] = (tn_get_flat(x, (n * C + c) * S + i) - mean) * is;
    }
}

START_TEST(test_batch_norm_4d_against_reference) {
    tn_manual_seed(1);
    for (int k = 0; k < 2; k++) {
        tn_dtype dt = k ? TN_FLOAT64 : TN_FLOAT32;
        tn_tensor *x = RANDN(dt, 3, 4, 5, 6);
        x->requires_grad = false;
        tn_tensor *y = nn_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
        ck_assert_ptr_nonnull(y);
        double *ref = malloc(sizeof(double) * (size_t)x->numel);
        bn_reference(x, 1e-5, ref);
        t_expect(y, ref, x->numel, k ? 1e-12 : 1e-5);
        free(ref);
        tn_release(y);
        tn_release(x);
    }
}
END_TEST

START_TEST(test_batch_norm_parallel_big) {
    /* big enough to split over threads: same result with 1 and 2 threads */
    tn_manual_seed(2);
    tn_tensor *x = RANDN(TN_FLOAT32, 16, 8, 32, 32);
    tn_set_num_threads(1);
    tn_tensor *y1 = nn_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
    tn_set_num_threads(2);
    tn_tensor *y2 = nn_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
    ck_assert(memcmp(tn_data(y1), tn_data(y2), sizeof(float) * (size_t)x->numel) == 0);
    double *ref = malloc(sizeof(double) * (size_t)x->numel);
    bn_reference(x, 1e-5, ref);
    t_expect(y2, ref, x->numel, 1e-5);
    free(ref);
    release_all(3, (tn_tensor *[]){x, y1, y2});
}
END_TEST

typedef struct {
    bool training;
    tn_tensor *rm, *rv;
    bool transpose;   /* feed a non-contiguous view of the input */
} bn_case;

static tn_tensor *bn_fn(void *ctx, tn_tensor **in) {
    bn_case *c = ctx;
    tn_tensor *x = c->transpose ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    /* running stats are updated in training; copies keep the check repeatable */
    tn_tensor *rm = c->rm ? tn_clone(c->rm) : NULL, *rv = c->rv ? tn_clone(c->rv) : NULL;
    tn_tensor *y = nn_batch_norm(x, rm, rv, in[1], in[2], c->training, 0.1, 1e-5);
    tn_release(rm);
    tn_release(rv);
    tn_release(x);
    return y;
}

START_TEST(test_batch_norm_gradcheck) {
    tn_manual_seed(3);
    const int64_t shapes[3][4] = {{4, 3}, {3, 2, 5}, {2, 3, 3, 2}};
    const int nds[3] = {2, 3, 4};
    for (int s = 0; s < 3; s++) {
        int64_t C = shapes[s][1];
        tn_tensor *in[3] = {leaf64(nds[s], shapes[s]), LEAF(C), LEAF(C)};
        tn_tensor *rm = RANDN(TN_FLOAT64, C), *rv = tn_full(TN_FLOAT64, 1, &C, 1.5);
        bn_case train = {true, rm, rv, false}, eval = {false, rm, rv, false};
        check_grad(bn_fn, &train, 3, in);
        check_grad(bn_fn, &eval, 3, in);
        /* no weight / bias: only x */
        tn_tensor *in1[3] = {in[0], NULL, NULL};
        bn_case nostats = {true, NULL, NULL, false};
        check_grad(bn_fn, &nostats, 1, in1);
        release_all(5, (tn_tensor *[]){in[0], in[1], in[2], rm, rv});
    }
    /* non-contiguous: the input is a transposed (C, N) leaf */
    tn_tensor *in[3] = {LEAF(3, 5), LEAF(3), LEAF(3)};
    bn_case tr = {true, NULL, NULL, true};
    check_grad(bn_fn, &tr, 3, in);
    release_all(3, in);
}
END_TEST

START_TEST(test_batch_norm_backward_values) {
    /* sum(bn(x) * [1, 2]) through x = {1, 3} per channel: the gradient through the
     * batch statistics cancels a constant upstream gradient */
    tn_tensor *x = T2(TN_FLOAT64, 2, 1, {1, 3});
    x->requires_grad = true;
    tn_tensor *y = nn_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 0);
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    EXPECT(x->grad, 1e-12, {0, 0});
    ck_assert_str_eq(y->grad_fn->name, "batch_norm");
    release_all(3, (tn_tensor *[]){x, y, s});
}
END_TEST

START_TEST(test_batch_norm_errors) {
    tn_tensor *x = RANDN(TN_FLOAT32, 4, 3), *w = RANDN(TN_FLOAT32, 4), *x1 = RANDN(TN_FLOAT32, 1, 3);
    tn_tensor *v = RANDN(TN_FLOAT32, 3), *xi = tn_zeros(TN_INT64, 2, (int64_t[]){4, 3});
    EXPECT_ERROR(nn_batch_norm(x, NULL, NULL, w, NULL, true, 0.1, 1e-5), "weight has shape [4], expected [3]");
    EXPECT_ERROR(nn_batch_norm(v, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), "at least 2 dims");
    EXPECT_ERROR(nn_batch_norm(x1, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), "more than 1 value per channel");
    EXPECT_ERROR(nn_batch_norm(x, v, NULL, NULL, NULL, true, 0.1, 1e-5), "given together");
    EXPECT_ERROR(nn_batch_norm(xi, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), "float32 or float64");
    /* eval with one sample is fine when running stats exist */
    tn_tensor *rv = tn_ones(TN_FLOAT32, 1, (int64_t[]){3});
    tn_tensor *y = nn_batch_norm(x1, v, rv, NULL, NULL, false, 0.1, 1e-5);
    ck_assert_ptr_nonnull(y);
    release_all(7, (tn_tensor *[]){x, w, x1, v, xi, rv, y});
}
END_TEST

/* ======================= layer norm ======================= */

START_TEST(test_layer_norm_values) {
    tn_tensor *x = T2(TN_FLOAT32, 2, 4, {1, 2, 3, 4, 2, 2, 2, 6});
    tn_tensor *y = nn_layer_norm(x, 1, (int64_t[]){4}, NULL, NULL, 1e-5);
    /* row 1: mean 2.5, var 1.25; row 2: mean 3, var 3 */
    double a = 1 / sqrt(1.25 + 1e-5), b = 1 / sqrt(3 + 1e-5);
    EXPECT(y, 1e-6, {-1.5 * a, -0.5 * a, 0.5 * a, 1.5 * a, -b, -b, -b, 3 * b});
    tn_tensor *w = T1(TN_FLOAT32, 4, {1, 2, 3, 4}), *bb = T1(TN_FLOAT32, 4, {0, 0, 0, 1});
    tn_tensor *y2 = nn_layer_norm(x, 1, (int64_t[]){4}, w, bb, 1e-5);
    EXPECT(y2, 1e-6, {-1.5 * a, -1 * a, 1.5 * a, 6 * a + 1, -b, -2 * b, -3 * b, 12 * b + 1});
    /* over the last two dims = over everything here */
    tn_tensor *y3 = nn_layer_norm(x, 2, (int64_t[]){2, 4}, NULL, NULL, 0);
    tn_tensor *m = tn_mean(y3, TN_ALL_DIMS, false);
    ck_assert(fabs(tn_item(m)) < 1e-6);
    release_all(7, (tn_tensor *[]){x, y, w, bb, y2, y3, m});
}
END_TEST

typedef struct {
    int k;
    int64_t shape[4];
    bool transpose;
} ln_case;

static tn_tensor *ln_fn(void *ctx, tn_tensor **in) {
    ln_case *c = ctx;
    tn_tensor *x = c->transpose ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    tn_tensor *y = nn_layer_norm(x, c->k, c->shape, in[1], in[2], 1e-5);
    tn_release(x);
    return y;
}

START_TEST(test_layer_norm_gradcheck) {
    tn_manual_seed(4);
    ln_case c1 = {1, {5}, false};
    tn_tensor *in[3] = {LEAF(3, 5), LEAF(5), LEAF(5)};
    check_grad(ln_fn, &c1, 3, in);
    tn_tensor *in1[3] = {in[0], NULL, NULL};
    check_grad(ln_fn, &c1, 1, in1);
    release_all(3, in);
    ln_case c2 = {2, {3, 4}, false};
    tn_tensor *in2[3] = {LEAF(2, 3, 4), LEAF(3, 4), LEAF(3, 4)};
    check_grad(ln_fn, &c2, 3, in2);
    release_all(3, in2);
    /* non-contiguous input: transpose of a (4, 2) leaf normalised over 4 */
    ln_case c3 = {1, {4}, true};
    tn_tensor *in3[3] = {LEAF(4, 2), LEAF(4), NULL};
    check_grad(ln_fn, &c3, 2, in3);
    release_all(2, in3);
}
END_TEST

START_TEST(test_layer_norm_errors) {
    tn_tensor *x = RANDN(TN_FLOAT32, 2, 3), *w = RANDN(TN_FLOAT32, 2);
    EXPECT_ERROR(nn_layer_norm(x, 1, (int64_t[]){2}, NULL, NULL, 1e-5),
                 "normalized_shape [2] does not match the last dims of the input of shape [2, 3]");
    EXPECT_ERROR(nn_layer_norm(x, 1, (int64_t[]){3}, w, NULL, 1e-5), "weight has shape [2], expected [3]");
    EXPECT_ERROR(nn_layer_norm(x, 3, (int64_t[]){1, 2, 3}, NULL, NULL, 1e-5), "does not match");
    release_all(2, (tn_tensor *[]){x, w});
}
END_TEST

/* ======================= dropout ======================= */

START_TEST(test_dropout_identity_and_errors) {
    tn_tensor *x = RANDN(TN_FLOAT32, 10);
    tn_tensor *y = nn_dropout(x, 0.5, false);
    ck_assert_ptr_eq(y, x);
    tn_release(y);
    y = nn_dropout(x, 0, true);
    ck_assert_ptr_eq(y, x);
    tn_release(y);
    y = nn_dropout(x, 1, true);
    for (int i = 0; i < 10; i++) ck_assert_double_eq(tn_get_flat(y, i), 0);
    tn_release(y);
    /* x * mask * scale as PyTorch: a dropped NaN stays NaN */
    tn_tensor *xn = tn_full(TN_FLOAT32, 1, (int64_t[]){64}, NAN);
    y = nn_dropout(xn, 0.5, true);
    for (int i = 0; i < 64; i++) ck_assert(isnan(tn_get_flat(y, i)));
    tn_release(y);
    tn_release(xn);
    EXPECT_ERROR(nn_dropout(x, 1.5, true), "between 0 and 1, got 1.5");
    EXPECT_ERROR(nn_dropout(x, -0.1, true), "between 0 and 1");
    tn_tensor *xi = tn_zeros(TN_INT64, 1, (int64_t[]){3});
    EXPECT_ERROR(nn_dropout(xi, 0.5, true), "float32 or float64");
    release_all(2, (tn_tensor *[]){x, xi});
}
END_TEST

START_TEST(test_dropout_statistics_and_scale) {
    int64_t n = 200000;
    tn_tensor *x = tn_ones(TN_FLOAT32, 1, &n);
    tn_manual_seed(5);
    tn_tensor *y = nn_dropout(x, 0.3, true);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = tn_get_flat(y, i);
        ck_assert(v == 0 || fabs(v - 1 / 0.7) < 1e-6);
        kept += v != 0;
    }
    /* 200000 Bernoulli(0.7): sd about 205, allow 5 sd */
    ck_assert_msg(llabs(kept - 140000) < 1025, "kept %lld of %lld", (long long)kept, (long long)n);
    /* same seed, same mask, whatever the thread count */
    tn_set_num_threads(1);
    tn_manual_seed(5);
    tn_tensor *y1 = nn_dropout(x, 0.3, true);
    tn_set_num_threads(2);
    ck_assert(memcmp(tn_data(y), tn_data(y1), sizeof(float) * (size_t)n) == 0);
    /* the next call draws a different mask */
    tn_tensor *y2 = nn_dropout(x, 0.3, true);
    ck_assert(memcmp(tn_data(y), tn_data(y2), sizeof(float) * (size_t)n) != 0);
    release_all(4, (tn_tensor *[]){x, y, y1, y2});
}
END_TEST

START_TEST(test_dropout_backward_same_mask) {
    tn_manual_seed(6);
    tn_tensor *x = RANDN(TN_FLOAT64, 1000);
    x->requires_grad = true;
    tn_tensor *y = nn_dropout(x, 0.4, true);
    ck_assert_str_eq(y->grad_fn->name, "dropout");
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    /* d sum / dx_i = scale where kept, 0 where dropped: exactly y_i / x_i */
    for (int64_t i = 0; i < 1000; i++) {
        double yi = tn_get_flat(y, i), gi = tn_get_flat(x->grad, i);
        ck_assert_double_eq_tol(gi, yi == 0 ? 0 : 1 / 0.6, 1e-12);
    }
    release_all(3, (tn_tensor *[]){x, y, s});
}
END_TEST

static tn_tensor *dropout_fn(void *ctx, tn_tensor **in) {
    (void)ctx;
    tn_manual_seed(77);  /* the same mask on every evaluation */
    tn_tensor *x = tn_transpose(in[0], 0, 1);
    tn_tensor *y = nn_dropout(x, 0.5, true);
    tn_release(x);
    return y;
}

START_TEST(test_dropout_gradcheck) {
    tn_manual_seed(7);
    tn_tensor *x = LEAF(6, 7);
    check_grad(dropout_fn, NULL, 1, &x);
    tn_release(x);
}
END_TEST

/* ======================= embedding ======================= */

START_TEST(test_embedding_values_and_backward) {
    tn_tensor *w = T2(TN_FLOAT64, 4, 2, {0, 1, 10, 11, 20, 21, 30, 31});
    w->requires_grad = true;
    tn_tensor *ids = t_from(TN_INT64, 2, (int64_t[]){2, 3}, (double[]){3, 0, 3, 1, 1, 3});
    tn_tensor *y = nn_embedding(w, ids, NN_NO_INDEX);
    ck_assert_int_eq(y->ndim, 3);
    ck_assert_int_eq(y->shape[0], 2);
    ck_assert_int_eq(y->shape[1], 3);
    ck_assert_int_eq(y->shape[2], 2);
    EXPECT(y, 0, {30, 31, 0, 1, 30, 31, 10, 11, 10, 11, 30, 31});
    ck_assert_str_eq(y->grad_fn->name, "embedding");
    /* repeated ids accumulate: row 3 thrice, row 1 twice, row 0 once, row 2 never */
    tn_tensor *gy = tn_ones(TN_FLOAT64, 3, y->shape);
    ck_assert_int_eq(tn_backward(y, gy, false), 0);
    EXPECT(w->grad, 0, {1, 1, 2, 2, 0, 0, 3, 3});
    /* padding_idx 3 gets no gradient */
    tn_release(w->grad);
    w->grad = NULL;
    tn_tensor *y2 = nn_embedding(w, ids, 3);
    ck_assert_int_eq(tn_backward(y2, gy, false), 0);
    EXPECT(w->grad, 0, {1, 1, 2, 2, 0, 0, 0, 0});
    /* int32 ids and 0-dim ids */
    tn_tensor *i32 = tn_to(ids, TN_INT32), *i0 = tn_scalar_i64(2);
    tn_tensor *y3 = nn_embedding(w, i32, NN_NO_INDEX), *y4 = nn_embedding(w, i0, NN_NO_INDEX);
    EXPECT(y3, 0, {30, 31, 0, 1, 30, 31, 10, 11, 10, 11, 30, 31});
    ck_assert_int_eq(y4->ndim, 1);
    EXPECT(y4, 0, {20, 21});
    release_all(9, (tn_tensor *[]){w, ids, y, gy, y2, i32, i0, y3, y4});
}
END_TEST

static tn_tensor *embedding_fn(void *ctx, tn_tensor **in) {
    return nn_embedding(in[0], ctx, NN_NO_INDEX);
}

START_TEST(test_embedding_gradcheck_and_errors) {
    tn_manual_seed(8);
    tn_tensor *w = LEAF(5, 3);
    tn_tensor *ids = t_from(TN_INT64, 2, (int64_t[]){2, 2}, (double[]){4, 0, 4, 2});
    check_grad(embedding_fn, ids, 1, &w);
    tn_tensor *bad = T1(TN_INT64, 2, {1, 5});
    EXPECT_ERROR(nn_embedding(w, bad, NN_NO_INDEX), "embedding: id 6 is out of range 1..5");
    tn_tensor *neg = T1(TN_INT64, 1, {-1});
    EXPECT_ERROR(nn_embedding(w, neg, NN_NO_INDEX), "id 0 is out of range 1..5");
    tn_tensor *fl = T1(TN_FLOAT32, 1, {1});
    EXPECT_ERROR(nn_embedding(w, fl, NN_NO_INDEX), "ids must be an integer tensor");
    EXPECT_ERROR(nn_embedding(neg, ids, NN_NO_INDEX), "weight must be 2-D");
    EXPECT_ERROR(nn_embedding(w, ids, 5), "padding_idx 6 is out of range 1..5");
    release_all(5, (tn_tensor *[]){w, ids, bad, neg, fl});
}
END_TEST

/* ======================= attention ======================= */

/* naive reference in double: q (B, L, E), k (B, S, E), v (B, S, Ev) flattened */
static void sdpa_reference(tn_tensor *q, tn_tensor *k, tn_tensor *v, bool causal, double scale,
                           double *out) {
    int nd = q->ndim;
    int64_t L = q->shape[nd - 2], E = q->shape[nd - 1], S = k->shape[nd - 2], Ev = v->shape[nd - 1];
    int64_t B = q->numel / (L * E);
    double *w = malloc(sizeof(double) * (size_t)S);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < L; i++) {
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < S; j++) {
                double d = 0;
                for (int64_t e = 0; e < E; e++)
                    d += tn_get_flat(q, (b * L + i) * E + e) * tn_get_flat(k, (b * S + j) * E + e);
                w[j] = causal && j > i ? -INFINITY : d * scale;
                if (w[j] > m) m = w[j];
            }
            for (int64_t j = 0; j < S; j++) sum += (w[j] = exp(w[j] - m));
            for (int64_t e = 0; e < Ev; e++) {
                double o = 0;
                for (int64_t j = 0; j < S; j++) o += w[j] / sum * tn_get_flat(v, (b * S + j) * Ev + e);
                out[(b * L + i) * Ev + e] = o;
            }
        }
    free(w);
}

START_TEST(test_sdpa_against_reference) {
    tn_manual_seed(9);
    for (int causal = 0; causal < 2; causal++)
        for (int k64 = 0; k64 < 2; k64++) {
            tn_dtype dt = k64 ? TN_FLOAT64 : TN_FLOAT32;
            /* L = 3 queries, S = 5 keys: the causal mask is aligned top-left */
            tn_tensor *q = RANDN(dt, 2, 3, 3, 4), *k = RANDN(dt, 2, 3, 5, 4), *v = RANDN(dt, 2, 3, 5, 6);
            tn_tensor *o = nn_scaled_dot_product_attention(q, k, v, causal, 0);
            ck_assert_ptr_nonnull(o);
            ck_assert_int_eq(o->ndim, 4);
            ck_assert_int_eq(o->shape[2], 3);
            ck_assert_int_eq(o->shape[3], 6);
            double ref[2 * 3 * 3 * 6];
            sdpa_reference(q, k, v, causal, 0.5, ref);
            t_expect(o, ref, 2 * 3 * 3 * 6, k64 ? 1e-12 : 1e-5);
            /* an explicit scale */
            tn_tensor *o2 = nn_scaled_dot_product_attention(q, k, v, causal, 0.1);
            sdpa_reference(q, k, v, causal, 0.1, ref);
            t_expect(o2, ref, 2 * 3 * 3 * 6, k64 ? 1e-12 : 1e-5);
            release_all(5, (tn_tensor *[]){q, k, v, o, o2});
        }
    /* causal, first query: attends to key 1 only, so the output is v's first row */
    tn_tensor *q = RANDN(TN_FLOAT64, 4, 2), *k = RANDN(TN_FLOAT64, 4, 2), *v = RANDN(TN_FLOAT64, 4, 3);
    tn_tensor *o = nn_scaled_dot_product_attention(q, k, v, true, 0);
    for (int e = 0; e < 3; e++) ck_assert_double_eq_tol(tn_get_flat(o, e), tn_get_flat(v, e), 1e-15);
    release_all(4, (tn_tensor *[]){q, k, v, o});
}
END_TEST

typedef struct {
    bool causal, transpose;
} sdpa_case;

static tn_tensor *sdpa_fn(void *ctx, tn_tensor **in) {
    sdpa_case *c = ctx;
    tn_tensor *t[3];
    for (int i = 0; i < 3; i++) t[i] = c->transpose ? tn_transpose(in[i], 1, 2) : tn_retain(in[i]);
    tn_tensor *o = nn_scaled_dot_product_attention(t[0], t[1], t[2], c->causal, 0);
    release_all(3, t);
    return o;
}

START_TEST(test_sdpa_gradcheck) {
    tn_manual_seed(10);
    tn_tensor *in[3] = {LEAF(2, 2, 3, 4), LEAF(2, 2, 5, 4), LEAF(2, 2, 5, 3)};
    sdpa_case a = {false, false}, b = {true, false};
    check_grad(sdpa_fn, &a, 3, in);
    check_grad(sdpa_fn, &b, 3, in);
    release_all(3, in);
    /* heads split from (N, L, H, E) by a transpose: non-contiguous inputs */
    tn_tensor *tin[3] = {LEAF(1, 4, 2, 3), LEAF(1, 4, 2, 3), LEAF(1, 4, 2, 2)};
    sdpa_case c = {true, true};
    check_grad(sdpa_fn, &c, 3, tin);
    /* only v requires grad */
    tin[0]->requires_grad = tin[1]->requires_grad = false;
    check_grad(sdpa_fn, &c, 3, tin);
    release_all(3, tin);
}
END_TEST

START_TEST(test_sdpa_extremes) {
    /* huge score gaps (far below exp's range): attention becomes a hard argmax */
    tn_tensor *q = T2(TN_FLOAT32, 2, 2, {1, 0, 0, 1});
    tn_tensor *k = T2(TN_FLOAT32, 3, 2, {1, 0, 0, 1, -1, -1});
    tn_tensor *v = T2(TN_FLOAT32, 3, 2, {10, 20, 30, 40, 50, 60});
    tn_tensor *o = nn_scaled_dot_product_attention(q, k, v, false, 1000);
    EXPECT(o, 1e-4, {10, 20, 30, 40});
    /* a NaN score makes its row NaN (as PyTorch), the other row is unaffected */
    ((float *)tn_data(q))[0] = NAN;
    tn_tensor *o2 = nn_scaled_dot_product_attention(q, k, v, false, 0);
    ck_assert(isnan(tn_get_flat(o2, 0)) && isnan(tn_get_flat(o2, 1)));
    ck_assert(!isnan(tn_get_flat(o2, 2)) && !isnan(tn_get_flat(o2, 3)));
    release_all(5, (tn_tensor *[]){q, k, v, o, o2});
}
END_TEST

START_TEST(test_sdpa_errors) {
    tn_tensor *q = RANDN(TN_FLOAT32, 2, 3, 4), *k = RANDN(TN_FLOAT32, 2, 5, 3), *v = RANDN(TN_FLOAT32, 2, 5, 4);
    EXPECT_ERROR(nn_scaled_dot_product_attention(q, k, v, false, 0),
                 "shapes query [2, 3, 4], key [2, 5, 3], value [2, 5, 4] do not fit");
    tn_tensor *k64 = RANDN(TN_FLOAT64, 2, 5, 4);
    EXPECT_ERROR(nn_scaled_dot_product_attention(q, k64, v, false, 0), "one dtype");
    tn_tensor *k3 = RANDN(TN_FLOAT32, 3, 5, 4);
    EXPECT_ERROR(nn_scaled_dot_product_attention(q, k3, v, false, 0), "do not fit");
    release_all(5, (tn_tensor *[]){q, k, v, k64, k3});
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_batch_norm_values_and_running_stats);
    tcase_add_test(tc, test_batch_norm_4d_against_reference);
    tcase_add_test(tc, test_batch_norm_parallel_big);
    tcase_add_test(tc, test_batch_norm_gradcheck);
    tcase_add_test(tc, test_batch_norm_backward_values);
    tcase_add_test(tc, test_batch_norm_errors);
    tcase_add_test(tc, test_layer_norm_values);
    tcase_add_test(tc, test_layer_norm_gradcheck);
    tcase_add_test(tc, test_layer_norm_errors);
    tcase_add_test(tc, test_dropout_identity_and_errors);
    tcase_add_test(tc, test_dropout_statistics_and_scale);
    tcase_add_test(tc, test_dropout_backward_same_mask);
    tcase_add_test(tc, test_dropout_gradcheck);
    tcase_add_test(tc, test_embedding_values_and_backward);
    tcase_add_test(tc, test_embedding_gradcheck_and_errors);
    tcase_add_test(tc, test_sdpa_against_reference);
    tcase_add_test(tc, test_sdpa_gradcheck);
    tcase_add_test(tc, test_sdpa_extremes);
    tcase_add_test(tc, test_sdpa_errors);
}

TN_SUITE_MAIN("nn_misc", add_tests)
