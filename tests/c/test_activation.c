/*
 * test_activation.c: Check suite for nn/activation.c: values at PyTorch's
 * kinks (literals printed by PyTorch 1.13), float32 against float64 over a
 * wide range (the vectorised exp paths), the parallel path on big inputs,
 * NaN propagation, PReLU's per-channel slopes and their gradient,
 * finite-difference gradient checks (float64, also non-contiguous), error
 * messages, and backward refusing a saved input modified in place.
 */
#include "helpers.h"

#include "nn/nn.h"

#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define RANDN(dt, ...) tn_randn(dt, NDIMS(__VA_ARGS__), (int64_t[]){__VA_ARGS__})

static const double KINKS[6] = {-3, -1, 0, 1, 3, 6};

/* y = f(x) on KINKS (float64) and the gradient of sum(y) */
typedef tn_tensor *(*act_fn)(tn_tensor *);
static void kink_values(act_fn f, double *y, double *g) {
    tn_tensor *x = t_from(TN_FLOAT64, 1, (int64_t[]){6}, KINKS);
    x->requires_grad = true;
    tn_tensor *out = f(x);
    ck_assert_msg(out != NULL, "%s", tn_last_error());
    tn_tensor *s = tn_sum(out, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    for (int i = 0; i < 6; i++) {
        y[i] = tn_get_flat(out, i);
        g[i] = tn_get_flat(x->grad, i);
    }
    tn_release(s);
    tn_release(out);
    tn_release(x);
}

static void expect6(const char *what, const double *got, const double *want) {
    for (int i = 0; i < 6; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-9 * (1 + fabs(want[i])), "%s[%d]: got %.12g, want %.12g",
                      what, i, got[i], want[i]);
}

static tn_tensor *selu(tn_tensor *x) { return nn_elu(x, 1.6732632423543772, 1.0507009873554805, 1); }
static tn_tensor *elu1(tn_tensor *x) { return nn_elu(x, 1, 1, 1); }
static tn_tensor *relu6(tn_tensor *x) { return nn_hardtanh(x, 0, 6); }

START_TEST(test_values_at_kinks) {
    double y[6], g[6];
    kink_values(nn_hardswish, y, g);
    expect6("hardswish", y, (double[]){0, -1.0 / 3, 0, 2.0 / 3, 3, 6});
    expect6("hardswish grad", g, (double[]){-0.5, 1.0 / 6, 0.5, 5.0 / 6, 1.5, 1});
    kink_values(nn_hardsigmoid, y, g);
    expect6("hardsigmoid", y, (double[]){0, 1.0 / 3, 0.5, 2.0 / 3, 1, 1});
    expect6("hardsigmoid grad", g, (double[]){0, 1.0 / 6, 1.0 / 6, 1.0 / 6, 0, 0});
    kink_values(relu6, y, g);
    expect6("relu6", y, (double[]){0, 0, 0, 1, 3, 6});
    expect6("relu6 grad", g, (double[]){0, 0, 0, 1, 1, 0});
    kink_values(elu1, y, g);
    expect6("elu", y, (double[]){-0.950212931632136, -0.6321205588285577, 0, 1, 3, 6});
    expect6("elu grad", g, (double[]){0.049787068367863944, 0.36787944117144233, 1, 1, 1, 1});
    kink_values(selu, y, g);
    expect6("selu", y, (double[]){-1.6705687287671118, -1.1113307378125625, 0, 1.0507009873554805,
                                  3.1521029620664414, 6.304205924132883});
    expect6("selu grad", g, (double[]){0.08753061208026487, 0.646768603034814, 1.7580993408473766,
                                       1.0507009873554805, 1.0507009873554805, 1.0507009873554805});
    kink_values(nn_mish, y, g);
    expect6("mish", y, (double[]){-0.1456474612756246, -0.30340146137410895, 0, 0.8650983882673103,
                                  2.9865350049679575, 5.999926634065252});
    expect6("mish grad", g, (double[]){-0.09339311453232084, 0.059216755877395014, 0.6, 1.0490362200997922,
                                       1.0211069109294435, 1.00013414050621});
    kink_values(nn_log_sigmoid, y, g);
    expect6("log_sigmoid", y, (double[]){-3.048587351573742, -1.3132616875182228, -0.6931471805599453,
                                         -0.31326168751822286, -0.04858735157374206, -0.0024756851377304495});
    expect6("log_sigmoid grad", g, (double[]){0.9525741268224333, 0.7310585786300049, 0.5, 0.2689414213699951,
                                              0.04742587317756679, 0.0024726231566347748});
}
END_TEST

/* float32 against float64 over [-100, 100]: values and gradients */
START_TEST(test_float32_matches_float64) {
    int64_t n = 40001;
    tn_tensor *x64 = tn_linspace(-100, 100, n, TN_FLOAT64);
    tn_tensor *x32 = tn_to(x64, TN_FLOAT32);
    act_fn fns[] = {elu1, selu, nn_mish, nn_log_sigmoid, nn_hardswish};
    const char *names[] = {"elu", "selu", "mish", "log_sigmoid", "hardswish"};
    for (int k = 0; k < 5; k++) {
        x32->requires_grad = x64->requires_grad = true;
        tn_tensor *a = fns[k](x32), *b = fns[k](x64);
        ck_assert_msg(a && b, "%s", tn_last_error());
        tn_tensor *sa = tn_sum(a, TN_ALL_DIMS, false), *sb = tn_sum(b, TN_ALL_DIMS, false);
        ck_assert_int_eq(tn_backward(sa, NULL, false), 0);
        ck_assert_int_eq(tn_backward(sb, NULL, false), 0);
        for (int64_t i = 0; i < n; i++) {
            double va = tn_get_flat(a, i), vb = tn_get_flat(b, i);
            double ga = tn_get_flat(x32->grad, i), gb = tn_get_flat(x64->grad, i);
            ck_assert_msg(fabs(va - vb) <= 1e-6 * fabs(vb) + 1e-7, "%s(%g): %.9g vs %.9g", names[k],
                          tn_get_flat(x64, i), va, vb);
            ck_assert_msg(fabs(ga - gb) <= 1e-6 * fabs(gb) + 1e-7, "%s'(%g): %.9g vs %.9g", names[k],
                          tn_get_flat(x64, i), ga, gb);
        }
        tn_release(sa);
        tn_release(sb);
        tn_release(a);
        tn_release(b);
        tn_release(x32->grad);
        tn_release(x64->grad);
        x32->grad = x64->grad = NULL;
    }
    tn_release(x32);
    tn_release(x64);
}
END_TEST

START_TEST(test_nan_and_extremes) {
    tn_tensor *x = T1(TN_FLOAT32, 3, {NAN, -INFINITY, INFINITY});
    tn_tensor *r;
    act_fn fns[] = {elu1, nn_mish, nn_log_sigmoid, nn_hardswish, nn_hardsigmoid, relu6};
    for (int k = 0; k < 6; k++) {
        r = fns[k](x);
        ck_assert_msg(r && isnan(tn_get_flat(r, 0)), "fn %d drops NaN", k);
        tn_release(r);
    }
    r = nn_log_sigmoid(x);
    ck_assert(tn_get_flat(r, 1) == -INFINITY && tn_get_flat(r, 2) == 0);
    tn_release(r);
    r = elu1(x);
    ck_assert(tn_get_flat(r, 1) == -1 && tn_get_flat(r, 2) == INFINITY);
    tn_release(r);
    tn_release(x);
}
END_TEST

/* big enough for several parallel chunks; a transposed input */
START_TEST(test_big_and_strided) {
    tn_tensor *x = RANDN(TN_FLOAT64, 300, 200);
    tn_tensor *xt = tn_transpose(x, 0, 1);
    tn_tensor *a = nn_hardtanh(xt, -0.5, 0.7);
    EXPECT_SHAPE(a, 200, 300);
    for (int64_t i = 0; i < 300; i += 7)
        for (int64_t j = 0; j < 200; j += 3) {
            double v = tn_get_flat(x, i * 200 + j), w = v < -0.5 ? -0.5 : v > 0.7 ? 0.7 : v;
            ck_assert(tn_get_flat(a, j * 300 + i) == w);
        }
    tn_release(a);
    tn_release(xt);
    tn_release(x);
}
END_TEST

START_TEST(test_prelu_values_and_grad) {
    /* x (2, 3, 2); slopes per channel */
    tn_tensor *x = t_from(TN_FLOAT64, 3, (int64_t[]){2, 3, 2}, (double[]){-1, 2, -3, 4, -5, -6, 1, -2, 3, -4, 5, 6});
    tn_tensor *w = T1(TN_FLOAT64, 3, {0.1, 0.2, 0.3});
    x->requires_grad = w->requires_grad = true;
    tn_tensor *y = nn_prelu(x, w);
    EXPECT(y, 1e-12, {-0.1, 2, -0.6, 4, -1.5, -1.8, 1, -0.2, 3, -0.8, 5, 6});
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    /* dL/dw[c] = sum of x over the non-positive elements of channel c */
    EXPECT(w->grad, 1e-12, {-1 - 2, -3 - 4, -5 - 6});
    EXPECT(x->grad, 1e-12, {0.1, 1, 0.2, 1, 0.3, 0.3, 1, 0.1, 1, 0.2, 1, 1});
    tn_release(s);
    tn_release(y);
    /* one shared slope */
    tn_tensor *w1 = T1(TN_FLOAT64, 1, {0.5});
    y = nn_prelu(x, w1);
    ck_assert(tn_get_flat(y, 0) == -0.5 && tn_get_flat(y, 1) == 2);
    tn_release(y);
    tn_release(w1);
    tn_release(w);
    tn_release(x);
}
END_TEST

typedef struct { int which; } gc_ctx;
static tn_tensor *gc_fn(void *vctx, tn_tensor **in) {
    gc_ctx *c = vctx;
    switch (c->which) {
    case 0: return nn_elu(in[0], 0.7, 1.2, 0.8);
    case 1: return nn_hardtanh(in[0], -0.5, 2);
    case 2: return nn_hardsigmoid(in[0]);
    case 3: return nn_hardswish(in[0]);
    case 4: return nn_mish(in[0]);
    case 5: return nn_log_sigmoid(in[0]);
    case 6: return nn_elu(in[0], -1, 1, -1);   /* celu with a negative alpha: the scalar exp path */
    default: {
        tn_tensor *xt = tn_transpose(in[0], 0, 1);
        tn_tensor *r = nn_prelu(xt, in[1]);
        tn_release(xt);
        return r;
    }
    }
}

START_TEST(test_gradcheck) {
    for (int k = 0; k < 8; k++) {
        tn_tensor *x = RANDN(TN_FLOAT64, 4, 3);
        tn_tensor *x3 = tn_mul_scalar(x, 3);
        x3->requires_grad = true;
        tn_tensor *w = T1(TN_FLOAT64, 4, {0.1, -0.2, 0.3, 0.4});
        w->requires_grad = true;
        gc_ctx c = {k};
        int rc = tn_gradcheck(gc_fn, &c, k == 7 ? 2 : 1, (tn_tensor *[]){x3, w}, 1e-6, 1e-6, 1e-5);
        ck_assert_msg(rc == 0, "op %d: %s", k, tn_last_error());
        tn_release(w);
        tn_release(x3);
        tn_release(x);
    }
}
END_TEST

START_TEST(test_errors) {
    tn_tensor *xi = T1(TN_INT64, 2, {1, 2});
    EXPECT_ERROR(nn_elu(xi, 1, 1, 1), "elu: input must be float32 or float64, got int64");
    EXPECT_ERROR(nn_mish(xi), "mish: input must be float32 or float64");
    tn_tensor *x = RANDN(TN_FLOAT32, 2, 3);
    EXPECT_ERROR(nn_hardtanh(x, 1, -1), "hardtanh: min_val (1) must not be greater than max_val (-1)");
    EXPECT_ERROR(nn_hardtanh(x, NAN, 1), "must not be greater");
    tn_tensor *w4 = tn_ones(TN_FLOAT32, 1, (int64_t[]){4});
    EXPECT_ERROR(nn_prelu(x, w4), "prelu: weight has 4 slopes but input of shape [2, 3]");
    tn_tensor *w64 = tn_ones(TN_FLOAT64, 1, (int64_t[]){3});
    EXPECT_ERROR(nn_prelu(x, w64), "prelu: weight is float64 but input is float32");
    tn_tensor *w2d = tn_ones(TN_FLOAT32, 2, (int64_t[]){1, 3});
    EXPECT_ERROR(nn_prelu(x, w2d), "prelu: weight must be 1-D");
    tn_release(w2d);
    tn_release(w64);
    tn_release(w4);
    tn_release(x);
    tn_release(xi);
}
END_TEST

START_TEST(test_inplace_after_save_is_refused) {
    tn_tensor *x = RANDN(TN_FLOAT64, 5);
    x->requires_grad = true;
    tn_tensor *h = tn_mul_scalar(x, 2);      /* interior: may be modified in place */
    tn_tensor *y = nn_mish(h);
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    bool was = tn_set_grad_enabled(false);
    ck_assert_int_eq(tn_fill_(h, 1), 0);
    tn_set_grad_enabled(was);
    ck_assert_int_ne(tn_backward(s, NULL, false), 0);
    ck_assert_msg(strstr(tn_last_error(), "in place") || strstr(tn_last_error(), "in-place"), "%s",
                  tn_last_error());
    tn_release(s);
    tn_release(y);
    tn_release(h);
    tn_release(x);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_values_at_kinks);
    tcase_add_test(tc, test_float32_matches_float64);
    tcase_add_test(tc, test_nan_and_extremes);
    tcase_add_test(tc, test_big_and_strided);
    tcase_add_test(tc, test_prelu_values_and_grad);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_inplace_after_save_is_refused);
}

TN_SUITE_MAIN("activation", add_tests)
