/*
 * test_resample.c: Check suite for nn/resample.c: nearest, nearest-exact and
 * (bi)linear resizing against values printed by PyTorch 1.13 (float64 and
 * float32, whose sampling positions PyTorch computes in float), the adjoint
 * property of backward (<resize(x), g> = <x, resize^T(g)>), leading dims
 * and strides, gradient checks and errors.
 */
#include "helpers.h"

#include "nn/nn.h"

static tn_tensor *arange4(tn_dtype dt, int64_t h, int64_t w) {
    tn_tensor *a = tn_arange(0, (double)(h * w), 1, dt);
    tn_tensor *v = tn_view(a, 4, (int64_t[]){1, 1, h, w});
    tn_release(a);
    return v;
}

static const double NO_SCALE[2] = {0, 0};

START_TEST(test_values_against_pytorch) {
    tn_tensor *x = arange4(TN_FLOAT64, 2, 3);
    tn_tensor *y = nn_resample(x, 2, (int64_t[]){3, 4}, NN_RESAMPLE_LINEAR, false, NO_SCALE);
    EXPECT_SHAPE(y, 1, 1, 3, 4);
    EXPECT(y, 1e-12, {0.0, 0.625, 1.375, 2.0, 1.5, 2.125, 2.875, 3.5, 3.0, 3.625, 4.375, 5.0});
    tn_release(y);
    y = nn_resample(x, 2, (int64_t[]){3, 4}, NN_RESAMPLE_LINEAR, true, NO_SCALE);
    EXPECT(y, 1e-12, {0.0, 2.0 / 3, 4.0 / 3, 2.0, 1.5, 13.0 / 6, 17.0 / 6, 3.5, 3.0, 11.0 / 3, 13.0 / 3, 5.0});
    tn_release(y);
    y = nn_resample(x, 2, (int64_t[]){3, 5}, NN_RESAMPLE_NEAREST_EXACT, false, NO_SCALE);
    EXPECT(y, 0, {0, 0, 1, 2, 2, 3, 3, 4, 5, 5, 3, 3, 4, 5, 5});
    tn_release(y);
    tn_release(x);
    /* float32 with a scale factor: positions in float, as PyTorch */
    tn_tensor *x32 = arange4(TN_FLOAT32, 2, 3);
    y = nn_resample(x32, 2, (int64_t[]){3, 5}, NN_RESAMPLE_LINEAR, false, (double[]){1.7, 1.7});
    EXPECT(y, 2e-6, {0.0, 0.3823529779911041, 0.9705883264541626, 1.558823585510254, 2.0, 1.1470589637756348,
                     1.529412031173706, 2.117647409439087, 2.7058825492858887, 3.1470589637756348,
                     2.9117650985717773, 3.2941181659698486, 3.8823533058166504, 4.470588684082031,
                     4.911765098571777});
    tn_release(y);
    tn_release(x32);
}
END_TEST

/* backward is the adjoint of forward: <f(x), g> = <x, f^T g> */
START_TEST(test_backward_is_adjoint) {
    int modes[3] = {NN_RESAMPLE_NEAREST, NN_RESAMPLE_NEAREST_EXACT, NN_RESAMPLE_LINEAR};
    for (int m = 0; m < 3; m++)
        for (int align = 0; align < 2; align++) {
            if (align && modes[m] != NN_RESAMPLE_LINEAR) continue;
            tn_tensor *x = tn_randn(TN_FLOAT64, 4, (int64_t[]){2, 3, 5, 4});
            x->requires_grad = true;
            tn_tensor *y = nn_resample(x, 2, (int64_t[]){7, 3}, modes[m], align, NO_SCALE);
            EXPECT_SHAPE(y, 2, 3, 7, 3);
            tn_tensor *g = tn_randn(TN_FLOAT64, 4, y->shape);
            ck_assert_int_eq(tn_backward(y, g, false), 0);
            double a = 0, b = 0;
            for (int64_t i = 0; i < y->numel; i++) a += tn_get_flat(y, i) * tn_get_flat(g, i);
            for (int64_t i = 0; i < x->numel; i++) b += tn_get_flat(x, i) * tn_get_flat(x->grad, i);
            ck_assert_msg(fabs(a - b) <= 1e-10 * (1 + fabs(a)), "mode %d: %.15g vs %.15g", modes[m], a, b);
            tn_release(g);
            tn_release(y);
            tn_release(x);
        }
}
END_TEST

typedef struct { int mode, nsp; bool align; } gc_ctx;
static tn_tensor *gc_fn(void *vctx, tn_tensor **in) {
    gc_ctx *c = vctx;
    tn_tensor *xt = tn_transpose(in[0], -1, -2);   /* a non-contiguous input */
    tn_tensor *r = nn_resample(xt, c->nsp, c->nsp == 2 ? (int64_t[]){5, 2} : (int64_t[]){7}, c->mode, c->align,
                               (double[]){0, 0});
    tn_release(xt);
    return r;
}

START_TEST(test_gradcheck) {
    gc_ctx cases[] = {{NN_RESAMPLE_LINEAR, 2, false}, {NN_RESAMPLE_LINEAR, 2, true}, {NN_RESAMPLE_LINEAR, 1, false},
                      {NN_RESAMPLE_NEAREST, 2, false}, {NN_RESAMPLE_NEAREST_EXACT, 1, false}};
    for (int k = 0; k < 5; k++) {
        tn_tensor *x = tn_randn(TN_FLOAT64, 3, (int64_t[]){2, 4, 3});
        x->requires_grad = true;
        int rc = tn_gradcheck(gc_fn, &cases[k], 1, &x, 1e-6, 1e-6, 1e-5);
        ck_assert_msg(rc == 0, "case %d: %s", k, tn_last_error());
        tn_release(x);
    }
}
END_TEST

START_TEST(test_errors) {
    tn_tensor *xi = tn_zeros(TN_INT64, 3, (int64_t[]){1, 2, 3});
    EXPECT_ERROR(nn_resample(xi, 1, (int64_t[]){4}, NN_RESAMPLE_NEAREST, false, NO_SCALE),
                 "interpolate: input must be float32 or float64, got int64");
    tn_tensor *x = tn_zeros(TN_FLOAT32, 1, (int64_t[]){3});
    EXPECT_ERROR(nn_resample(x, 2, (int64_t[]){4, 4}, NN_RESAMPLE_NEAREST, false, NO_SCALE),
                 "cannot resize 2 spatial dims of an input of shape [3]");
    tn_tensor *x3 = tn_zeros(TN_FLOAT32, 3, (int64_t[]){1, 2, 3});
    EXPECT_ERROR(nn_resample(x3, 1, (int64_t[]){0}, NN_RESAMPLE_LINEAR, false, NO_SCALE), "must be non-empty");
    EXPECT_ERROR(nn_resample(x3, 1, (int64_t[]){4}, 7, false, NO_SCALE), "unknown mode 7");
    EXPECT_ERROR(nn_resample(x3, 2, (int64_t[]){INT64_MAX / 2, 4}, NN_RESAMPLE_LINEAR, false, NO_SCALE), "too large");
    tn_release(x3);
    tn_release(x);
    tn_release(xi);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_values_against_pytorch);
    tcase_add_test(tc, test_backward_is_adjoint);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_errors);
}

TN_SUITE_MAIN("resample", add_tests)
