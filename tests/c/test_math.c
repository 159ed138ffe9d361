/*
 * test_math.c: Check suite for tensor/elementwise_math.c: values of every
 * unary and binary function on edge cases (signed zeros, inf, nan, domain
 * errors, negative operands; expected values printed by PyTorch 1.13),
 * dtype rules (integers to float32, trunc/square keeping integers, the
 * dtypes PyTorch rejects), weak-scalar promotion, broadcasting, in-place
 * forms, logit / nan_to_num / lerp, error messages, the accuracy of the
 * vectorised float32 kernels against float64 (contiguous and strided, on
 * arrays big enough for the threaded path), and finite-difference gradient
 * checks of every differentiable op.
 */
#include "helpers.h"

#include <float.h>
#include <string.h>

#include "tensor/internal.h"

/* EXPECT that also matches infinities exactly */
static void expect_vals(const tn_tensor *t, const double *v, int64_t n, double tol) {
    ck_assert_msg(t != NULL, "tensor is NULL: %s", tn_last_error());
    ck_assert_int_eq(t->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double got = tn_get_flat(t, i);
        bool ok = isinf(v[i]) ? got == v[i] : isnan(v[i]) ? isnan(got) : fabs(got - v[i]) <= tol;
        ck_assert_msg(ok, "element %lld: got %.9g, expected %.9g", (long long)i, got, v[i]);
    }
}
#undef EXPECT
#define EXPECT(t, tol, ...) \
    expect_vals(t, (double[])__VA_ARGS__, (int64_t)(sizeof((double[])__VA_ARGS__) / sizeof(double)), tol)

static tn_tensor *U1(tn_math_unary_kind k, tn_tensor *x) {
    tn_tensor *r = tn_math_unary(k, x);
    ck_assert_msg(r != NULL, "%s: %s", tn_math_unary_name(k), tn_last_error());
    return r;
}

/* a float64 leaf in [lo, hi) that requires grad */
static tn_tensor *leaf(int nd, const int64_t *shape, double lo, double hi) {
    tn_tensor *t = tn_rand(TN_FLOAT64, nd, shape);
    double *p = tn_data(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = lo + (hi - lo) * p[i];
    t->requires_grad = true;
    return t;
}

/* ---------- values ---------- */

START_TEST(test_unary_values) {
    /* f64, against PyTorch 1.13 */
    tn_tensor *x = T1(TN_FLOAT64, 6, {0.5, -0.5, 2.0, 1e-5, 7.25, 100});
    struct { tn_math_unary_kind k; double v[6]; } want[] = {
        {TN_M_LOG2, {-1.0, NAN, 1.0, -16.609640474436812, 2.8579809951275723, 6.643856189774724}},
        {TN_M_EXPM1, {0.6487212707001282, -0.3934693402873666, 6.38905609893065, 1.0000050000166668e-05,
                      1407.1048482046956, 2.6881171418161356e+43}},
        {TN_M_ERF, {0.5204998778130465, -0.5204998778130465, 0.9953222650189527, 1.1283791670579e-05, 1, 1}},
        {TN_M_ERFINV, {0.4769362762044699, -0.4769362762044699, NAN, 8.862269254759594e-06, NAN, NAN}},
        {TN_M_ASIN, {0.5235987755982989, -0.5235987755982989, NAN, 1.0000000000166668e-05, NAN, NAN}},
        {TN_M_ACOSH, {NAN, NAN, 1.3169578969248166, NAN, 2.669358110903154, 5.298292365610484}},
        {TN_M_ATANH, {0.5493061443340548, -0.5493061443340548, NAN, 1.0000000000333335e-05, NAN, NAN}},
        {TN_M_FRAC, {0.5, -0.5, 0, 1e-05, 0.25, 0}},
        {TN_M_SINC, {0.6366197723675814, 0.6366197723675814, -3.8981718325193755e-17, 0.9999999998355066,
                     -0.031045390212314006, 6.2528371445095934e-18}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tn_tensor *r = U1(want[i].k, x);
        for (int j = 0; j < 6; j++) {
            double g = tn_get_flat(r, j), w = want[i].v[j];
            ck_assert_msg((isnan(w) && isnan(g)) || fabs(g - w) <= 1e-14 * fabs(w) + 1e-30,
                          "%s[%d]: got %.17g, expected %.17g", tn_math_unary_name(want[i].k), j, g, w);
        }
        tn_release(r);
    }
    tn_release(x);
    /* special values */
    tn_tensor *s = T1(TN_FLOAT32, 5, {1, -1, INFINITY, -INFINITY, 0});
    tn_tensor *r = U1(TN_M_ERFINV, s);
    EXPECT(r, 0, {INFINITY, -INFINITY, NAN, NAN, 0});
    tn_release(r);
    r = U1(TN_M_LOG2, s);
    EXPECT(r, 0, {0, NAN, INFINITY, NAN, -INFINITY});
    tn_release(r);
    r = U1(TN_M_EXPM1, s);
    EXPECT(r, 1e-6, {1.718281828, -0.6321205588, INFINITY, -1, 0});
    tn_release(r);
    r = U1(TN_M_SINC, s);  /* sinc(0) = 1; sinc(+-1) is sin(pi_f) / pi_f in float32 */
    EXPECT(r, 1e-7, {0, 0, NAN, NAN, 1});
    tn_release(r);
    r = U1(TN_M_DEG2RAD, s);
    EXPECT(r, 1e-7, {0.017453292, -0.017453292, INFINITY, -INFINITY, 0});
    tn_release(r);
    tn_release(s);
}
END_TEST

/* digamma against mpmath (30 digits), its poles and signed zeros, and its
 * derivative trigamma through backward */
START_TEST(test_gamma_family) {
    tn_tensor *x = T1(TN_FLOAT64, 6, {0.5, 1, 9.123011969365, -0.5, -2.9999, 1e-300});
    x->requires_grad = true;
    tn_tensor *d = U1(TN_M_DIGAMMA, x);
    const double dig[6] = {-1.9635100260214235, -0.5772156649015329, 2.1549934951407748, 0.03648997397857652,
                           -9998.743581706345, -9.999999999999999e+299};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(fabs(tn_get_flat(d, i) - dig[i]) <= 1e-13 * fabs(dig[i]), "digamma[%d] = %.17g", i,
                      tn_get_flat(d, i));
    tn_tensor *s = tn_sum(d, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    /* trigamma: pi^2/2, pi^2/6, mpmath's values */
    const double tri[6] = {4.934802200544679, 1.6449340668482264, 0.11583939514507735, 8.934802200544679,
                           100000003.00561517, INFINITY};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(fabs(tn_get_flat(x->grad, i) - tri[i]) <= 1e-13 * tri[i], "trigamma[%d] = %.17g", i,
                      tn_get_flat(x->grad, i));
    tn_release(s); tn_release(d); tn_release(x);
    tn_tensor *p = T1(TN_FLOAT64, 5, {0.0, -0.0, -1, -INFINITY, INFINITY});
    d = U1(TN_M_DIGAMMA, p);
    EXPECT(d, 0, {-INFINITY, INFINITY, NAN, NAN, INFINITY});
    tn_release(d);
    d = U1(TN_M_LGAMMA, p);
    EXPECT(d, 0, {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY});
    tn_release(d);
    tn_release(p);
    /* big arrays run on several threads: lgamma must not race on signgam */
    int64_t n = 200000;
    tn_tensor *b = tn_rand(TN_FLOAT32, 1, &n), *l = U1(TN_M_LGAMMA, b);
    for (int64_t i = 0; i < n; i += 997)
        ck_assert(fabs(tn_get_flat(l, i) - lgamma(tn_get_flat(b, i))) < 1e-5 * (1 + fabs(tn_get_flat(l, i))));
    tn_release(b); tn_release(l);
}
END_TEST

START_TEST(test_negative_zero) {
    tn_tensor *z = T1(TN_FLOAT32, 2, {-0.0, -0.25});
    tn_math_unary_kind keep[] = {TN_M_EXPM1, TN_M_ERF, TN_M_ERFINV, TN_M_SINH, TN_M_ASIN,
                                 TN_M_ATAN, TN_M_ASINH, TN_M_ATANH, TN_M_TRUNC, TN_M_DEG2RAD};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        tn_tensor *r = U1(keep[i], z);
        float v = ((float *)tn_data(r))[0];
        ck_assert_msg(v == 0 && signbit(v), "%s(-0) lost the sign", tn_math_unary_name(keep[i]));
        tn_release(r);
    }
    tn_tensor *t = U1(TN_M_TRUNC, z);  /* trunc(-0.25) = -0 */
    ck_assert(signbit(((float *)tn_data(t))[1]));
    tn_release(t);
    tn_tensor *f = U1(TN_M_FRAC, z);   /* frac(-0) = +0, as PyTorch */
    ck_assert(!signbit(((float *)tn_data(f))[0]));
    tn_release(f);
    tn_release(z);
}
END_TEST

START_TEST(test_unary_dtypes) {
    tn_tensor *i = T1(TN_INT64, 3, {1, 2, 8});
    tn_tensor *r = U1(TN_M_LOG2, i);
    ck_assert_int_eq(r->dtype, TN_FLOAT32);
    EXPECT(r, 0, {0, 1, 3});
    tn_release(r);
    r = U1(TN_M_TRUNC, i);
    ck_assert_int_eq(r->dtype, TN_INT64);
    EXPECT(r, 0, {1, 2, 8});
    tn_release(r);
    r = U1(TN_M_SQUARE, i);
    ck_assert_int_eq(r->dtype, TN_INT64);
    EXPECT(r, 0, {1, 4, 64});
    tn_release(r);
    r = U1(TN_M_ISFINITE, i);
    ck_assert_int_eq(r->dtype, TN_BOOL);
    EXPECT(r, 0, {1, 1, 1});
    tn_release(r);
    r = U1(TN_M_ISINF, i);
    EXPECT(r, 0, {0, 0, 0});
    tn_release(r);
    /* int64 square wraps instead of overflowing (UBSan checks) */
    tn_tensor *big = tn_scalar_i64(INT64_C(4294967296));
    r = U1(TN_M_SQUARE, big);
    ck_assert_int_eq(tn_get_flat_i64(r, 0), 0);
    tn_release(r);
    tn_release(big);
    tn_tensor *i32 = T1(TN_INT32, 1, {65536});
    r = U1(TN_M_SQUARE, i32);
    ck_assert_int_eq(r->dtype, TN_INT32);
    ck_assert_int_eq(tn_get_flat_i64(r, 0), 0);
    tn_release(r);
    tn_release(i32);
    tn_tensor *b = T1(TN_BOOL, 2, {1, 0});
    r = U1(TN_M_SQUARE, b);
    ck_assert_int_eq(r->dtype, TN_INT64);
    tn_release(r);
    r = U1(TN_M_ERF, b);
    ck_assert_int_eq(r->dtype, TN_FLOAT32);
    EXPECT(r, 1e-7, {0.8427007794380188, 0});
    tn_release(r);
    EXPECT_ERROR(tn_math_unary(TN_M_TRUNC, b), "trunc: not supported for dtype bool");
    EXPECT_ERROR(tn_math_unary(TN_M_FRAC, i), "frac: not supported for dtype int64");
    EXPECT_ERROR(tn_math_unary((tn_math_unary_kind)99, i), "bad op");
    tn_release(b);
    tn_release(i);
}
END_TEST

START_TEST(test_binary_values) {
    /* fmod keeps the sign of a, floor_divide rounds toward -inf (PyTorch 1.13) */
    tn_tensor *a = T1(TN_FLOAT64, 6, {5.5, -5.5, 5.5, -5.5, 7.0, -0.0});
    tn_tensor *b = T1(TN_FLOAT64, 6, {2, 2, -2, -2, 0.7, -2.0});
    tn_tensor *r = tn_math_binary(TN_MB_FMOD, a, b);
    EXPECT(r, 1e-15, {1.5, -1.5, 1.5, -1.5, 4.440892098500626e-16, -0.0});
    ck_assert(signbit(tn_get_flat(r, 5)));
    tn_release(r);
    r = tn_math_binary(TN_MB_FLOOR_DIVIDE, a, b);
    EXPECT(r, 0, {2, -3, -3, 2, 10, 0});
    ck_assert(!signbit(tn_get_flat(r, 5)));  /* -0 // -2 = +0 */
    tn_release(r);
    r = tn_math_binary(TN_MB_ATAN2, a, b);
    EXPECT(r, 1e-15, {1.2220253232109897, -1.2220253232109897, 1.9195673303788037, -1.9195673303788037,
                      1.4711276743037347, -3.141592653589793});
    tn_release(r);
    r = tn_math_binary(TN_MB_COPYSIGN, a, b);
    EXPECT(r, 0, {5.5, 5.5, -5.5, -5.5, 7, -0.0});
    tn_release(r);
    r = tn_math_binary(TN_MB_HYPOT, a, b);
    EXPECT(r, 1e-15, {5.852349955359813, 5.852349955359813, 5.852349955359813, 5.852349955359813,
                      7.034912934784623, 2});
    tn_release(r);
    tn_release(a);
    tn_release(b);
    /* xlogy: 0 where x == 0 (even for y == 0 or inf), nan for y == nan */
    tn_tensor *x = T1(TN_FLOAT32, 4, {0, 0, 2, 0});
    tn_tensor *y = T1(TN_FLOAT32, 4, {0, INFINITY, 3, NAN});
    r = tn_math_binary(TN_MB_XLOGY, x, y);
    EXPECT(r, 1e-6, {0, 0, 2.1972245773, NAN});
    tn_release(r);
    r = tn_math_binary(TN_MB_LOGICAL_XOR, x, y);
    ck_assert_int_eq(r->dtype, TN_BOOL);
    EXPECT(r, 0, {0, 1, 0, 1});  /* nan is true */
    tn_release(r);
    tn_release(x);
    tn_release(y);
    /* integers: C fmod, floor division; INT64_MIN // -1 wraps */
    tn_tensor *ia = T1(TN_INT64, 5, {7, -7, 7, -7, 5});
    tn_tensor *ib = T1(TN_INT64, 5, {2, 2, -2, -2, -1});
    r = tn_math_binary(TN_MB_FMOD, ia, ib);
    ck_assert_int_eq(r->dtype, TN_INT64);
    EXPECT(r, 0, {1, -1, 1, -1, 0});
    tn_release(r);
    r = tn_math_binary(TN_MB_FLOOR_DIVIDE, ia, ib);
    EXPECT(r, 0, {3, -4, -4, 3, -5});
    tn_release(r);
    tn_release(ia);
    tn_release(ib);
    tn_tensor *mn = tn_scalar_i64(INT64_MIN), *m1 = tn_scalar_i64(-1);
    r = tn_math_binary(TN_MB_FLOOR_DIVIDE, mn, m1);
    ck_assert(tn_get_flat_i64(r, 0) == INT64_MIN);
    tn_release(r);
    r = tn_math_binary(TN_MB_FMOD, mn, m1);
    ck_assert_int_eq(tn_get_flat_i64(r, 0), 0);
    tn_release(r);
    tn_release(mn);
    tn_release(m1);
    tn_tensor *u = T1(TN_UINT8, 2, {200, 7});
    tn_tensor *u3 = T1(TN_UINT8, 2, {3, 2});
    r = tn_math_binary(TN_MB_FLOOR_DIVIDE, u, u3);
    ck_assert_int_eq(r->dtype, TN_UINT8);
    EXPECT(r, 0, {66, 3});
    tn_release(r);
    tn_release(u);
    tn_release(u3);
}
END_TEST

START_TEST(test_binary_dtypes_and_errors) {
    tn_tensor *i = T1(TN_INT64, 2, {1, 0}), *bo = T1(TN_BOOL, 2, {1, 0});
    tn_tensor *half = tn_wrap_number(0.5, false), *two = tn_wrap_number(2, true);
    tn_tensor *d = T1(TN_FLOAT64, 1, {2});
    tn_tensor *r = tn_math_binary(TN_MB_ATAN2, i, i);
    ck_assert_int_eq(r->dtype, TN_FLOAT32);
    tn_release(r);
    r = tn_math_binary(TN_MB_ATAN2, i, d);
    ck_assert_int_eq(r->dtype, TN_FLOAT64);
    tn_release(r);
    r = tn_math_binary(TN_MB_FMOD, i, half);   /* weak float scalar: float32 */
    ck_assert_int_eq(r->dtype, TN_FLOAT32);
    EXPECT(r, 0, {0, 0});
    tn_release(r);
    tn_tensor *t3 = T1(TN_INT64, 2, {3, -3});
    r = tn_math_binary(TN_MB_FMOD, two, t3);   /* a number on the left */
    ck_assert_int_eq(r->dtype, TN_INT64);
    EXPECT(r, 0, {2, 2});
    tn_release(r);
    tn_release(t3);
    r = tn_math_binary(TN_MB_COPYSIGN, bo, bo);
    ck_assert_int_eq(r->dtype, TN_FLOAT32);
    tn_release(r);
    EXPECT_ERROR(tn_math_binary(TN_MB_FMOD, i, i), "fmod: integer division by zero");
    EXPECT_ERROR(tn_math_binary(TN_MB_FLOOR_DIVIDE, two, i), "floor_divide: integer division by zero");
    EXPECT_ERROR(tn_math_binary(TN_MB_HYPOT, i, i), "hypot: not supported for dtype int64");
    EXPECT_ERROR(tn_math_binary(TN_MB_FMOD, bo, bo), "fmod: not supported for dtype bool");
    tn_tensor *m23 = tn_ones(TN_FLOAT32, 2, (int64_t[]){2, 3}), *m4 = tn_ones(TN_FLOAT32, 1, (int64_t[]){4});
    EXPECT_ERROR(tn_math_binary(TN_MB_ATAN2, m23, m4), "atan2");
    /* float division by zero: IEEE */
    tn_tensor *f = T1(TN_FLOAT32, 3, {1, -1, 0}), *z = tn_wrap_number(0, false);
    r = tn_math_binary(TN_MB_FLOOR_DIVIDE, f, z);
    EXPECT(r, 0, {INFINITY, -INFINITY, NAN});
    tn_release(r);
    tn_release(f); tn_release(z); tn_release(m23); tn_release(m4);
    tn_release(i); tn_release(bo); tn_release(half); tn_release(two); tn_release(d);
}
END_TEST

START_TEST(test_broadcast_and_strided) {
    /* (3, 1) with (4): every pair, and a transposed operand */
    tn_tensor *a = T2(TN_FLOAT32, 3, 1, {1, -2, 3});
    tn_tensor *b = T1(TN_FLOAT32, 4, {0.5, -1, 2, -0.0});
    tn_tensor *r = tn_math_binary(TN_MB_ATAN2, a, b);
    EXPECT_SHAPE(r, 3, 4);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            ck_assert(fabs(tn_get_flat(r, i * 4 + j) - atan2(tn_get_flat(a, i), tn_get_flat(b, j))) < 1e-6);
    tn_tensor *rt = tn_transpose(r, 0, 1);
    tn_tensor *e1 = U1(TN_M_EXPM1, rt), *c = tn_contiguous(rt), *e2 = U1(TN_M_EXPM1, c);
    EXPECT_SHAPE(e1, 4, 3);
    for (int64_t i = 0; i < 12; i++) ck_assert(tn_get_flat(e1, i) == tn_get_flat(e2, i));
    tn_release(e1); tn_release(e2); tn_release(c); tn_release(rt);
    tn_release(r); tn_release(a); tn_release(b);
}
END_TEST

START_TEST(test_inplace) {
    tn_tensor *x = T1(TN_FLOAT32, 2, {5.5, -5.5});
    tn_tensor *two = tn_wrap_number(2, true);
    ck_assert_int_eq(tn_math_binary_(TN_MB_FMOD, x, two), 0);
    EXPECT(x, 0, {1.5, -1.5});
    ck_assert_int_eq(tn_math_unary_(TN_M_SQUARE, x), 0);
    EXPECT(x, 0, {2.25, 2.25});
    tn_tensor *i = T1(TN_INT64, 2, {-7, 7});
    ck_assert_int_eq(tn_math_binary_(TN_MB_FLOOR_DIVIDE, i, two), 0);
    EXPECT(i, 0, {-4, 3});
    ck_assert_int_eq(tn_math_unary_(TN_M_TRUNC, i), 0);
    EXPECT(i, 0, {-4, 3});
    ck_assert_int_eq(tn_math_unary_(TN_M_ERF, i), -1);
    ck_assert(strstr(tn_last_error(), "erf_: result type float32 can't be cast to the tensor's dtype int64"));
    tn_tensor *half = tn_wrap_number(0.5, false);
    ck_assert_int_eq(tn_math_binary_(TN_MB_FMOD, i, half), -1);
    ck_assert(strstr(tn_last_error(), "fmod_: result type float32"));
    tn_tensor *m = tn_ones(TN_FLOAT32, 2, (int64_t[]){2, 2});
    ck_assert_int_eq(tn_math_binary_(TN_MB_HYPOT, x, m), -1);
    ck_assert(strstr(tn_last_error(), "hypot_: shape [2, 2] cannot be broadcast into the tensor's shape [2]"));
    /* logical_xor_ into a float tensor writes 0 / 1 */
    tn_tensor *f = T1(TN_FLOAT64, 3, {0, 1, 2}), *bb = T1(TN_BOOL, 3, {1, 1, 0});
    ck_assert_int_eq(tn_math_binary_(TN_MB_LOGICAL_XOR, f, bb), 0);
    EXPECT(f, 0, {1, 0, 1});
    tn_release(f); tn_release(bb);
    tn_release(x); tn_release(two); tn_release(i); tn_release(half); tn_release(m);
}
END_TEST

START_TEST(test_logit_nan_to_num_lerp) {
    tn_tensor *x = T1(TN_FLOAT32, 5, {0, 0.05, 0.5, 1, -0.1});
    tn_tensor *r = tn_logit(x, 0.1);
    EXPECT(r, 1e-6, {-2.1972246170043945, -2.1972246170043945, 0, 2.1972243785858154, -2.1972246170043945});
    tn_release(r);
    r = tn_logit(x, -1);
    EXPECT(r, 1e-6, {-INFINITY, -2.944438934326172, 0, INFINITY, NAN});
    tn_release(r);
    EXPECT_ERROR(tn_logit(x, 0.6), "logit: eps must be at most 0.5");
    tn_release(x);

    tn_tensor *n = T1(TN_FLOAT32, 4, {1, NAN, INFINITY, -INFINITY});
    r = tn_nan_to_num(n, 0, NULL, NULL);
    EXPECT(r, 0, {1, 0, FLT_MAX, -FLT_MAX});
    tn_release(r);
    double pi = 9, ni = -9;
    r = tn_nan_to_num(n, -1, &pi, &ni);
    EXPECT(r, 0, {1, -1, 9, -9});
    tn_release(r);
    tn_tensor *n64 = tn_to(n, TN_FLOAT64);
    ck_assert_int_eq(tn_nan_to_num_(n64, 0, NULL, NULL), 0);
    EXPECT(n64, 0, {1, 0, DBL_MAX, -DBL_MAX});
    tn_release(n64);
    tn_release(n);

    tn_tensor *a = T1(TN_FLOAT32, 4, {1, 2, 3, 4}), *b = T1(TN_FLOAT32, 4, {10, -20, 30, 40});
    tn_tensor *w = T1(TN_FLOAT32, 4, {0, 0.25, 0.75, 1});
    r = tn_lerp(a, b, w);
    EXPECT(r, 1e-6, {1, -3.5, 23.25, 40});
    tn_release(r);
    tn_tensor *s = tn_wrap_number(0.3, false);
    r = tn_lerp(a, b, s);
    EXPECT(r, 1e-6, {3.700000047683716, -4.600000381469727, 11.100000381469727, 14.800000190734863});
    tn_release(r);
    tn_tensor *b64 = tn_to(b, TN_FLOAT64), *ia = T1(TN_INT64, 1, {1}), *w3 = tn_ones(TN_FLOAT32, 1, (int64_t[]){3});
    EXPECT_ERROR(tn_lerp(a, b64, s), "lerp: expected end of dtype float32, got float64");
    EXPECT_ERROR(tn_lerp(a, b, b64), "lerp: expected weight of dtype float32, got float64");
    EXPECT_ERROR(tn_lerp(ia, ia, s), "lerp: expected a float tensor, got int64");
    EXPECT_ERROR(tn_lerp(a, b, w3), "lerp");
    tn_release(b64); tn_release(ia); tn_release(w3);
    tn_release(a); tn_release(b); tn_release(w); tn_release(s);
}
END_TEST

/* ---------- accuracy of the vectorised float32 kernels ---------- */

START_TEST(test_f32_accuracy) {
    struct { tn_math_unary_kind k; double lo, hi; bool exp_spaced; } cases[] = {
        {TN_M_LOG2, -87, 88, true}, {TN_M_LOG2, 0.5, 2, false}, {TN_M_EXPM1, -1, 1, false},
        {TN_M_EXPM1, -30, 88, false}, {TN_M_ERF, -6, 6, false}, {TN_M_ERF, -1e-3, 1e-3, false},
        {TN_M_ERFC, -5, 10.1, false},
    };
    int64_t n = 100003;  /* big enough for the threaded path, odd for the tails */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tn_tensor *x32 = tn_empty(TN_FLOAT32, 1, &n);
        float *p = tn_data(x32);
        for (int64_t i = 0; i < n; i++) {
            double v = cases[c].lo + (cases[c].hi - cases[c].lo) * (double)i / (double)(n - 1);
            p[i] = (float)(cases[c].exp_spaced ? exp(v) : v);
        }
        tn_tensor *x64 = tn_to(x32, TN_FLOAT64);
        tn_tensor *r32 = U1(cases[c].k, x32), *r64 = U1(cases[c].k, x64);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double g = tn_get_flat(r32, i), w = tn_get_flat(r64, i);
            if (!isfinite(w) || fabs(w) < 1e-30 || fabs(w) > FLT_MAX) continue;
            double e = fabs(g - w) / fabs(w);
            if (e > worst) worst = e;
        }
        ck_assert_msg(worst < (cases[c].k == TN_M_ERFC ? 6e-7 : 3e-7), "%s on [%g, %g]: max relative error %g",
                      tn_math_unary_name(cases[c].k), cases[c].lo, cases[c].hi, worst);
        /* a strided view gives the same bits as the contiguous loop */
        tn_tensor *v = tn_slice(x32, 0, 1, n, 2), *rv = U1(cases[c].k, v);
        for (int64_t i = 0; i < rv->numel; i++)
            ck_assert(tn_get_flat(rv, i) == tn_get_flat(r32, 1 + 2 * i) ||
                      (isnan(tn_get_flat(rv, i)) && isnan(tn_get_flat(r32, 1 + 2 * i))));
        tn_release(v); tn_release(rv);
        tn_release(x32); tn_release(x64); tn_release(r32); tn_release(r64);
    }
    /* subnormal inputs of log2 and exact powers of two */
    tn_tensor *s = T1(TN_FLOAT32, 4, {1e-40, 1e-45, 0.125, 1024});
    tn_tensor *r = U1(TN_M_LOG2, s);
    EXPECT(r, 1e-5, {-132.87713623046875, -149.0, -3, 10});
    ck_assert(tn_get_flat(r, 2) == -3 && tn_get_flat(r, 3) == 10);
    tn_release(r);
    tn_release(s);
}
END_TEST

/* ---------- gradients ---------- */

typedef struct { int kind; bool binary, transposed; } gctx;

static tn_tensor *gfn(void *vc, tn_tensor **in) {
    gctx *c = vc;
    tn_tensor *x = c->transposed ? tn_transpose(in[0], 0, 1) : tn_retain(in[0]);
    tn_tensor *r = c->binary ? tn_math_binary((tn_math_binary_kind)c->kind, x, in[1])
                             : tn_math_unary((tn_math_unary_kind)c->kind, x);
    tn_release(x);
    return r;
}

START_TEST(test_gradcheck_unary) {
    tn_manual_seed(5);
    struct { tn_math_unary_kind k; double lo, hi; } d[] = {
        {TN_M_LOG2, 0.2, 2}, {TN_M_LOG10, 0.2, 2}, {TN_M_EXPM1, -1, 1}, {TN_M_EXP2, -1, 1},
        {TN_M_ERF, -2, 2}, {TN_M_ERFC, -2, 2}, {TN_M_ERFINV, -0.8, 0.8}, {TN_M_SINH, -1, 1},
        {TN_M_COSH, -1, 1}, {TN_M_ASIN, -0.8, 0.8}, {TN_M_ACOS, -0.8, 0.8}, {TN_M_ATAN, -3, 3},
        {TN_M_ASINH, -3, 3}, {TN_M_ACOSH, 1.2, 3}, {TN_M_ATANH, -0.8, 0.8}, {TN_M_TRUNC, 0.1, 0.9},
        {TN_M_FRAC, 1.1, 1.9}, {TN_M_SQUARE, -1, 1}, {TN_M_SINC, -2, 2}, {TN_M_DEG2RAD, -1, 1},
        {TN_M_RAD2DEG, -1, 1}, {TN_M_LGAMMA, 0.2, 4}, {TN_M_DIGAMMA, 0.2, 4}, {TN_M_LGAMMA, -0.9, -0.1},
        {TN_M_DIGAMMA, -2.9, -2.1},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        for (int tr = 0; tr < 2; tr++) {
            tn_tensor *x = leaf(2, (int64_t[]){3, 4}, d[i].lo, d[i].hi);
            gctx c = {d[i].k, false, tr != 0};
            ck_assert_msg(tn_gradcheck(gfn, &c, 1, &x, 1e-6, 1e-6, 1e-4) == 0, "%s: %s",
                          tn_math_unary_name(d[i].k), tn_last_error());
            tn_release(x);
        }
}
END_TEST

START_TEST(test_gradcheck_binary) {
    tn_manual_seed(6);
    struct { tn_math_binary_kind k; double alo, ahi, blo, bhi; } d[] = {
        {TN_MB_ATAN2, -2, 2, 0.2, 2}, {TN_MB_HYPOT, 0.2, 2, -2, -0.2}, {TN_MB_FMOD, 2.1, 2.9, 1, 1.04},
        {TN_MB_COPYSIGN, -2, -0.2, 0.2, 1}, {TN_MB_XLOGY, -2, 2, 0.2, 2},
        {TN_MB_LOGADDEXP, -3, 3, -3, 3}, {TN_MB_LOGADDEXP2, -30, 30, -3, 3},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        for (int tr = 0; tr < 2; tr++) {
            /* a (4, 3) transposed to (3, 4), or (3, 4); b (4) broadcast over rows */
            int64_t sa[2] = {tr ? 4 : 3, tr ? 3 : 4};
            tn_tensor *in[2] = {leaf(2, sa, d[i].alo, d[i].ahi), leaf(1, (int64_t[]){4}, d[i].blo, d[i].bhi)};
            gctx c = {d[i].k, true, tr != 0};
            ck_assert_msg(tn_gradcheck(gfn, &c, 2, in, 1e-6, 1e-6, 1e-4) == 0, "%s: %s",
                          tn_math_binary_name(d[i].k), tn_last_error());
            tn_release(in[0]);
            tn_release(in[1]);
        }
}
END_TEST

static tn_tensor *logit_fn(void *vc, tn_tensor **in) { return tn_logit(in[0], *(double *)vc); }
static tn_tensor *n2n_fn(void *vc, tn_tensor **in) { (void)vc; return tn_nan_to_num(in[0], 0, NULL, NULL); }
static tn_tensor *lerp_fn(void *vc, tn_tensor **in) { (void)vc; return tn_lerp(in[0], in[1], in[2]); }

START_TEST(test_gradcheck_others) {
    tn_manual_seed(7);
    double eps[2] = {-1, 0.1};
    for (int e = 0; e < 2; e++) {
        tn_tensor *x = leaf(2, (int64_t[]){3, 4}, 0.2, 0.8);
        ck_assert_msg(tn_gradcheck(logit_fn, &eps[e], 1, &x, 1e-6, 1e-6, 1e-4) == 0, "logit: %s", tn_last_error());
        tn_release(x);
    }
    tn_tensor *x = leaf(2, (int64_t[]){3, 4}, -1, 1);
    ck_assert_msg(tn_gradcheck(n2n_fn, NULL, 1, &x, 1e-6, 1e-6, 1e-4) == 0, "nan_to_num: %s", tn_last_error());
    tn_release(x);
    tn_tensor *in[3] = {leaf(2, (int64_t[]){3, 1}, -1, 1), leaf(1, (int64_t[]){4}, -1, 1),
                        leaf(2, (int64_t[]){3, 4}, 0, 1)};
    ck_assert_msg(tn_gradcheck(lerp_fn, NULL, 3, in, 1e-6, 1e-6, 1e-4) == 0, "lerp: %s", tn_last_error());
    for (int i = 0; i < 3; i++) tn_release(in[i]);
}
END_TEST

/* PyTorch's conventions at the special points and for the ops without
 * gradients */
START_TEST(test_grad_special_points) {
    tn_tensor *a = T1(TN_FLOAT64, 3, {0, 0, 2}), *b = T1(TN_FLOAT64, 3, {0, -1, 3});
    a->requires_grad = b->requires_grad = true;
    tn_tensor *y = tn_math_binary(TN_MB_XLOGY, a, b);
    tn_tensor *s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    EXPECT(a->grad, 1e-15, {0, 0, 1.0986122886681098});
    EXPECT(b->grad, 1e-15, {NAN, 0, 0.6666666666666666});
    tn_release(y); tn_release(s);
    tn_release(a->grad); a->grad = NULL;
    y = tn_math_unary(TN_M_TRUNC, a);
    s = tn_sum(y, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    EXPECT(a->grad, 0, {0, 0, 0});
    tn_release(y); tn_release(s);
    y = tn_math_binary(TN_MB_FLOOR_DIVIDE, a, b);
    ck_assert(y && !y->requires_grad && !y->grad_fn);
    tn_release(y);
    y = tn_math_unary(TN_M_ISINF, a);
    ck_assert(y && !y->requires_grad);
    tn_release(y);
    tn_release(a); tn_release(b);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_unary_values);
    tcase_add_test(tc, test_gamma_family);
    tcase_add_test(tc, test_negative_zero);
    tcase_add_test(tc, test_unary_dtypes);
    tcase_add_test(tc, test_binary_values);
    tcase_add_test(tc, test_binary_dtypes_and_errors);
    tcase_add_test(tc, test_broadcast_and_strided);
    tcase_add_test(tc, test_inplace);
    tcase_add_test(tc, test_logit_nan_to_num_lerp);
    tcase_add_test(tc, test_f32_accuracy);
    tcase_add_test(tc, test_gradcheck_unary);
    tcase_add_test(tc, test_gradcheck_binary);
    tcase_add_test(tc, test_gradcheck_others);
    tcase_add_test(tc, test_grad_special_points);
}

TN_SUITE_MAIN("math", add_tests)
