/*
 * elementwise_math.c: the elementwise math functions beyond elementwise.c's
 * core set, with PyTorch's semantics and their backward rules:
 *
 *   unary   log2 log10 expm1 exp2 erf erfc erfinv sinh cosh asin acos atan
 *           asinh acosh atanh trunc frac square sinc deg2rad rad2deg lgamma
 *           digamma, the predicates isinf isfinite isposinf isneginf, logit,
 *           nan_to_num
 *   binary  atan2 hypot fmod floor_divide logical_xor copysign xlogy
 *           logaddexp logaddexp2
 *   ternary lerp
 *
 * Forward kernels follow elementwise.c's pattern: one typed loop per
 * (op, dtype) over the strided iterator, with a contiguous case the
 * compiler vectorises.  The float32 forms of the common loss-function
 * pieces (log2, expm1, erf, erfc) use branch-free polynomial kernels
 * instead of libm's scalar calls so those loops vectorise too (10x and more
 * on a 4M-element tensor).
 *
 * Backward rules are fused: one pass computes gin = g * f'(x) (or f'(a, b))
 * elementwise from the saved input, instead of a chain of temporaries built
 * from tensor ops; the unary ones as one straight-line loop per op.  The
 * engine runs backward with recording off, so the fused kernels need no
 * history of their own.
 */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef void (*kernel_fn)(void *ctx, int64_t n, char **p, const int64_t *s);

#define PI_D 3.14159265358979323846
#define LN2_D 0.69314718055994530942
#define LN10_D 2.30258509299404568402
#define TWO_OVER_SQRTPI 1.12837916709551257390

/* ===================== float32 kernels that vectorise ===================== */

/* Natural log of the mantissa and the exponent of x: x = m * 2^e with m in
 * [sqrt(1/2), sqrt(2)), ln(m) from Cephes' logf polynomial in f = m - 1.
 * Subnormal inputs are scaled by 2^25 first.  Special values are the
 * caller's business. */
#define VINLINE __attribute__((always_inline)) /* big, but must inline to vectorise */
NO_TRAP VINLINE static inline float ln_mantissa_f32(float x, float *e_out) {
    int sub = x < 1.17549435e-38f;
    float xs = sub ? x * 33554432.0f : x;
    int32_t bits;
    memcpy(&bits, &xs, sizeof bits);
    int32_t e = ((bits >> 23) & 0xff) - 126;
    int32_t mb = (bits & 0x007fffff) | 0x3f000000;  /* mantissa in [0.5, 1) */
    float m;
    memcpy(&m, &mb, sizeof m);
    int lo = m < 0.70710678f;
    e = lo ? e - 1 : e;
    m = lo ? m + m : m;
    float f = m - 1.0f, z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    *e_out = (float)e - (sub ? 25.0f : 0.0f);
    return f + (f * z * p - 0.5f * z);
}

/* log2 for float32 lanes: the exponent exactly plus ln(m) * log2(e), with
 * log2(e) split as 1 + 0.4427 so the product keeps its low bits; within 2
 * ulp (powers of two are exact). */
NO_TRAP VINLINE static inline float log2f_v(float x) {
    float e, l = ln_mantissa_f32(x, &e);
    float r = e + (l * 0.44269504088896341f + l);
    r = x == 0 ? -INFINITY : r;
    r = x == INFINITY ? INFINITY : r;
    r = x < 0 ? NAN : r;
    return x != x ? x : r;
}

/* expm1 for float32 lanes: the Taylor series through x^9 for |x| < 0.5
 * (truncation below 3e-10 relative: no cancellation near 0), e^x - 1
 * through the vectorised exp elsewhere (|e^x - 1| >= 0.39 there, so the
 * subtraction loses nothing). */
NO_TRAP VINLINE static inline float expm1f_v(float x) {
    float p = 1.0f / 362880;
    p = p * x + 1.0f / 40320;
    p = p * x + 1.0f / 5040;
    p = p * x + 1.0f / 720;
    p = p * x + 1.0f / 120;
    p = p * x + 1.0f / 24;
    p = p * x + 1.0f / 6;
    p = p * x + 0.5f;
    float small = x + x * x * p;
    small = x == 0 ? x : small;  /* keeps -0 */
    float big = tn_exp_f32(x) - 1.0f;
    return fabsf(x) < 0.5f ? small : big;
}

/* erf(x) for |x| < 0.75: the Maclaurin series through x^15, relative
 * truncation below 2e-8. */
NO_TRAP VINLINE static inline float erf_series_f32(float x) {
    float z = x * x;
    float p = -1.492565035840625e-05f;
    p = p * z + 1.2055332981789664e-04f;
    p = p * z - 8.548327023450852e-04f;
    p = p * z + 5.223977625442188e-03f;
    p = p * z - 2.6866170645131252e-02f;
    p = p * z + 1.1283791670955126e-01f;
    p = p * z - 3.7612638903183754e-01f;
    p = p * z + 1.1283791670955126f;
    return x * p;
}

/* Numerical Recipes' Chebyshev fit for erfc: erfc(a) ~ t exp(q(t) - a^2)
 * with t = 1 / (1 + a/2); shared by erff_v and erfcf_v. */
NO_TRAP VINLINE static inline float erfc_poly(float t) {
    float q = 0.17087277f;
    q = q * t - 0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t - 1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t - 0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t - 1.26551223f;
    return q;
}

/* erf for float32 lanes: the Maclaurin series through x^15 for |x| < 0.75
 * (relative truncation below 2e-8), and 1 - erfc(|x|) beyond, with erfc
 * from Numerical Recipes' Chebyshev fit (relative error below 1.2e-7), so
 * results are within about 2 ulp everywhere and exact for tiny x. */
NO_TRAP VINLINE static inline float erff_v(float x) {
    float a = fabsf(x), small = erf_series_f32(x);
    float t = 1.0f / (1.0f + 0.5f * a);
    float q = erfc_poly(t);
    float erfc_a = t * tn_exp_f32(q - a * a);
    float big = copysignf(1.0f - erfc_a, x);
    float r = a < 0.75f ? small : big;
    return x != x ? x : r;
}

/* erfc for float32 lanes, relative error within 4 ulp down to the
 * subnormal tail (erfc(10) = 2e-45): Numerical Recipes' fit t * exp(q(t) -
 * x^2) with x^2 split exactly as hi + lo (an fma), and e^-hi taken as
 * (e^(-hi/2))^2 so neither the rounding of x^2 (up to 100 here) nor the
 * float exp's underflow at -87 costs accuracy. */
NO_TRAP VINLINE static inline float erfcf_v(float x) {
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * a);
    float q = erfc_poly(t);
    float ac = a < 10.5f ? a : 10.5f;  /* erfc(10.5) is below float32's range */
    float hi = ac * ac, lo = fmaf(ac, ac, -hi);
    float e = tn_exp_f32(-0.5f * hi);
    float r = ((t * tn_exp_f32(q - lo)) * e) * e;
    r = a < 10.5f ? r : 0.0f;
    r = x < 0 ? 2.0f - r : r;
    /* near 0, 1 - erf(x) is in [0.29, 1.71]: no cancellation, and the
     * series is more accurate than the fit */
    r = a < 0.75f ? 1.0f - erf_series_f32(x) : r;
    return x != x ? x : r;
}

/* ===================== scalar helpers ===================== */

/* erfinv: Giles' single-precision approximation ("Approximating the erfinv
 * function", GPU Computing Gems, 2010) as a start, then Newton steps on
 * erf(r) = y.  The residual is taken through erfc in the tails, where
 * 1 - |y| is exact and erf(r) - y would cancel, so double results are
 * accurate to the last bits up to |y| = 1 - 1e-16. */
static double erfinv_d(double y) {
    double a = fabs(y);
    if (y != y || a > 1) return NAN;
    if (a == 1) return copysign(INFINITY, y);
    if (a == 0) return y;
    double w = -log((1.0 - a) * (1.0 + a)), p;
    if (w < 5) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    double r = p * a;
    /* two steps from the start's ~1e-7 suffice in float range; the far
     * tails (beyond what the start was fitted for) take a few more */
    for (int i = 0; i < 12; i++) {
        double resid = a < 0.5 ? erf(r) - a : (1.0 - a) - erfc(r);
        double step = resid / (TWO_OVER_SQRTPI * exp(-r * r));
        r -= step;
        if (fabs(step) <= 1e-17 * r) break;
    }
    return copysign(r, y);
}

/* digamma (psi): the reflection psi(x) = psi(1 - x) - pi / tan(pi x) for
 * x < 0 (tan of x's distance to the nearest integer, exact, so neither
 * large |x| nor x near an integer loses accuracy), the
 * recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic
 * series (Bernoulli numbers through B14; its error below 1e-16 there).
 * PyTorch's conventions: psi(+-0) = -+inf, nan at the negative integers. */
static double digamma_d(double x) {
    if (x != x || x == INFINITY) return x;
    if (x == 0) return copysign(INFINITY, -x);
    if (x == -INFINITY || (x < 0 && x == floor(x))) return NAN;
    double r = 0;
    if (x < 0) {
        r = -PI_D / tan(PI_D * (x - rint(x)));  /* x - rint(x) is exact, in [-1/2, 1/2] */
        x = 1 - x;
    }
    for (; x < 10; x += 1) r -= 1 / x;
    double z = 1 / (x * x);
    double p = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 -
               z * (691.0 / 32760 - z / 12))))));
    return r + log(x) - 0.5 / x - p;
}

/* trigamma (psi'), digamma's derivative: the reflection psi'(x) =
 * pi^2 / sin^2(pi x) - psi'(1 - x), the recurrence psi'(x) = psi'(x + 1) +
 * 1/x^2 up to x >= 10, then the asymptotic series; inf at the poles. */
static double trigamma_d(double x) {
    if (x != x) return x;
    if (x == INFINITY) return 0;
    if (x <= 0 && x == floor(x)) return INFINITY;
    double r = 0, sign = 1;
    if (x < 0) {
        double s = sin(PI_D * (x - rint(x)));
        r = PI_D * PI_D / (s * s);
        sign = -1;
        x = 1 - x;
    }
    double t = 0;
    for (; x < 10; x += 1) t += 1 / (x * x);
    double z = 1 / (x * x);
    t += 1 / x + z / 2 + z / x * (1.0 / 6 - z * (1.0 / 30 - z * (1.0 / 42 - z * (1.0 / 30 - z * (5.0 / 66 -
         z * (691.0 / 2730 - z * 7.0 / 6))))));
    return r + sign * t;
}
static inline float digamma_f(float x) { return (float)digamma_d((double)x); }
static inline float trigamma_f(float x) { return (float)trigamma_d((double)x); }
/* the reentrant forms: lgamma() writes the global signgam, a data race
 * when the threads of tn_parallel_for run it */
static inline double lgamma_d(double x) {
    int sg;
    return lgamma_r(x, &sg);
}
static inline float lgamma_f(float x) {
    int sg;
    return lgammaf_r(x, &sg);
}

/* log(e^a + e^b) without overflow; equal infinities give themselves (the
 * difference would be nan) */
#define DEF_LOGADDEXP(name, T, EXP, LOG1P, ABS, SCALE)                            \
    NO_TRAP static inline T name(T a, T b) {                                      \
        if (a == b && (a == (T)INFINITY || a == -(T)INFINITY)) return a;          \
        T m = a > b ? a : b;                                                      \
        return m + LOG1P(EXP(-ABS(a - b) * (T)SCALE)) / (T)SCALE;                 \
    }
DEF_LOGADDEXP(logaddexp_f, float, tn_exp_f32, log1pf, fabsf, 1)
DEF_LOGADDEXP(logaddexp_d, double, exp, log1p, fabs, 1)
DEF_LOGADDEXP(logaddexp2_f, float, tn_exp_f32, log1pf, fabsf, LN2_D)
DEF_LOGADDEXP(logaddexp2_d, double, exp, log1p, fabs, LN2_D)

/* PyTorch's floor division of floats (the remainder-corrected quotient,
 * so 7.0 // 0.7 is 9 as in Python, not floor(7.0 / 0.7) = 10); division by
 * zero gives IEEE's inf or nan. */
#define DEF_DIV_FLOOR(name, T, FMOD, FLOOR)                                       \
    static inline T name(T a, T b) {                                              \
        if (b == 0) return a / b;                                                 \
        T mod = FMOD(a, b), div = (a - mod) / b;                                  \
        if (mod != 0 && ((b < 0) != (mod < 0))) div -= (T)1;                      \
        if (div == 0) return copysign((T)0, a / b);                                \
        T fl = FLOOR(div);                                                        \
        if (div - fl > (T)0.5) fl += (T)1;                                        \
        return fl;                                                                \
    }
DEF_DIV_FLOOR(div_floor_f, float, fmodf, floorf)
DEF_DIV_FLOOR(div_floor_d, double, fmod, floor)

/* Integer floor division and C remainder without UB (b == 0 was rejected
 * before the loop; INT64_MIN / -1 wraps, as PyTorch). */
static inline int64_t idiv_floor(int64_t a, int64_t b) {
    if (b == -1) return (int64_t)(0 - (uint64_t)a);
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}
static inline int64_t ifmod(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }

static inline float sinc_f(float x) {
    float px = (float)PI_D * x;
    return x == 0 ? 1.0f : sinf(px) / px;
}
static inline double sinc_d(double x) {
    double px = PI_D * x;
    return x == 0 ? 1.0 : sin(px) / px;
}
static inline double xlogy_d(double x, double y) {
    if (y != y) return NAN;
    return x == 0 ? 0 : x * log(y);
}
static inline float xlogy_f(float x, float y) {
    if (y != y) return NAN;
    return x == 0 ? 0 : x * logf(y);
}

/* ===================== unary kernels ===================== */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define TN_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define TN_CLONES
#endif

#define DEF_UN(name, OT, T, EXPR)                                                 \
    TN_CLONES NO_TRAP static void name(void *ctx, int64_t n, char **p, const int64_t *s) { \
        (void)ctx;                                                                \
        OT *o = (OT *)p[0];                                                       \
        const T *xs = (const T *)p[1];                                            \
        int64_t so = s[0], sx = s[1];                                             \
        if (so == 1 && sx == 1) {                                                 \
            for (int64_t i = 0; i < n; i++) { T x = xs[i]; o[i] = (OT)(EXPR); }   \
        } else {                                                                  \
            for (int64_t i = 0; i < n; i++) { T x = xs[i * sx]; o[i * so] = (OT)(EXPR); } \
        }                                                                         \
    }

#define DEF_MATH_UNS(sfx, T, LOG2, LOG10, EXPM1, EXP2, ERF, ERFC, ERFINV, SINH, COSH, ASIN, \
                     ACOS, ATAN, ASINH, ACOSH, ATANH, TRUNC, SINC, ISINF, ISFIN, LGAMMA,  \
                     DIGAMMA)                                                     \
    DEF_UN(log2_##sfx, T, T, LOG2(x))                                             \
    DEF_UN(log10_##sfx, T, T, LOG10(x))                                           \
    DEF_UN(expm1_##sfx, T, T, EXPM1(x))                                           \
    DEF_UN(exp2_##sfx, T, T, EXP2(x))                                             \
    DEF_UN(erf_##sfx, T, T, ERF(x))                                               \
    DEF_UN(erfc_##sfx, T, T, ERFC(x))                                             \
    DEF_UN(erfinv_##sfx, T, T, ERFINV(x))                                         \
    DEF_UN(sinh_##sfx, T, T, SINH(x))                                             \
    DEF_UN(cosh_##sfx, T, T, COSH(x))                                             \
    DEF_UN(asin_##sfx, T, T, ASIN(x))                                             \
    DEF_UN(acos_##sfx, T, T, ACOS(x))                                             \
    DEF_UN(atan_##sfx, T, T, ATAN(x))                                             \
    DEF_UN(asinh_##sfx, T, T, ASINH(x))                                           \
    DEF_UN(acosh_##sfx, T, T, ACOSH(x))                                           \
    DEF_UN(atanh_##sfx, T, T, ATANH(x))                                           \
    DEF_UN(trunc_##sfx, T, T, TRUNC(x))                                           \
    DEF_UN(frac_##sfx, T, T, x - TRUNC(x))                                        \
    DEF_UN(square_##sfx, T, T, x * x)                                             \
    DEF_UN(sinc_##sfx, T, T, SINC(x))                                             \
    DEF_UN(deg2rad_##sfx, T, T, x * (T)(PI_D / 180))                              \
    DEF_UN(rad2deg_##sfx, T, T, x * (T)(180 / PI_D))                              \
    DEF_UN(lgamma_##sfx, T, T, LGAMMA(x))                                         \
    DEF_UN(digamma_##sfx, T, T, DIGAMMA(x))                                       \
    DEF_UN(isinf_##sfx, uint8_t, T, ISINF(x))                                     \
    DEF_UN(isfinite_##sfx, uint8_t, T, ISFIN(x))                                \
    DEF_UN(isposinf_##sfx, uint8_t, T, x == (T)INFINITY)                          \
    DEF_UN(isneginf_##sfx, uint8_t, T, x == -(T)INFINITY)

static inline float erfinv_f(float x) { return (float)erfinv_d((double)x); }
#define ISINF_F(x) (fabsf(x) == INFINITY)
#define ISINF_D(x) (fabs(x) == INFINITY)
#define ISFIN_F(x) (fabsf(x) < INFINITY)  /* false for nan too */
#define ISFIN_D(x) (fabs(x) < INFINITY)
DEF_MATH_UNS(f32, float, log2f_v, log10f, expm1f_v, exp2f, erff_v, erfcf_v, erfinv_f, sinhf,
             coshf, asinf, acosf, atanf, asinhf, acoshf, atanhf, truncf, sinc_f, ISINF_F, ISFIN_F, lgamma_f, digamma_f)
DEF_MATH_UNS(f64, double, log2, log10, expm1, exp2, erf, erfc, erfinv_d, sinh, cosh, asin, acos,
             atan, asinh, acosh, atanh, trunc, sinc_d, ISINF_D, ISFIN_D, lgamma_d, digamma_d)

/* integer square wraps through uint64, as PyTorch's (no signed overflow) */
DEF_UN(square_i64, int64_t, int64_t, (int64_t)((uint64_t)x * (uint64_t)x))
DEF_UN(square_i32, int32_t, int32_t, (int32_t)(uint32_t)((uint64_t)(int64_t)x * (uint64_t)(int64_t)x))
DEF_UN(square_u8, uint8_t, uint8_t, (uint8_t)(x * x))

#define FL(name) {name##_f32, name##_f64, NULL, NULL, NULL, NULL}
static const kernel_fn mu_kernels[TN_M_COUNT][TN_DTYPE_COUNT] = {
    [TN_M_LOG2] = FL(log2), [TN_M_LOG10] = FL(log10), [TN_M_EXPM1] = FL(expm1),
    [TN_M_EXP2] = FL(exp2), [TN_M_ERF] = FL(erf), [TN_M_ERFC] = FL(erfc),
    [TN_M_ERFINV] = FL(erfinv), [TN_M_SINH] = FL(sinh), [TN_M_COSH] = FL(cosh),
    [TN_M_ASIN] = FL(asin), [TN_M_ACOS] = FL(acos), [TN_M_ATAN] = FL(atan),
    [TN_M_ASINH] = FL(asinh), [TN_M_ACOSH] = FL(acosh), [TN_M_ATANH] = FL(atanh),
    [TN_M_TRUNC] = FL(trunc), [TN_M_FRAC] = FL(frac),
    [TN_M_SQUARE] = {square_f32, square_f64, square_i64, square_i32, square_u8, NULL},
    [TN_M_SINC] = FL(sinc), [TN_M_DEG2RAD] = FL(deg2rad), [TN_M_RAD2DEG] = FL(rad2deg),
    [TN_M_LGAMMA] = FL(lgamma), [TN_M_DIGAMMA] = FL(digamma),
    [TN_M_ISINF] = FL(isinf), [TN_M_ISFINITE] = FL(isfinite),
    [TN_M_ISPOSINF] = FL(isposinf), [TN_M_ISNEGINF] = FL(isneginf),
};

static const char *const mu_names[] = {
    "log2", "log10", "expm1", "exp2", "erf", "erfc", "erfinv", "sinh", "cosh", "asin",
    "acos", "atan", "asinh", "acosh", "atanh", "trunc", "frac", "square", "sinc",
    "deg2rad", "rad2deg", "lgamma", "digamma", "isinf", "isfinite", "isposinf", "isneginf"};
_Static_assert(sizeof mu_names / sizeof mu_names[0] == TN_M_COUNT, "one name per tn_math_unary_kind");

static const tn_op mu_ops[TN_M_COUNT] = {
    [TN_M_LOG2] = TN_OP_LOG2, [TN_M_LOG10] = TN_OP_LOG10, [TN_M_EXPM1] = TN_OP_EXPM1,
    [TN_M_EXP2] = TN_OP_EXP2, [TN_M_ERF] = TN_OP_ERF, [TN_M_ERFC] = TN_OP_ERFC,
    [TN_M_ERFINV] = TN_OP_ERFINV, [TN_M_SINH] = TN_OP_SINH, [TN_M_COSH] = TN_OP_COSH,
    [TN_M_ASIN] = TN_OP_ASIN, [TN_M_ACOS] = TN_OP_ACOS, [TN_M_ATAN] = TN_OP_ATAN,
    [TN_M_ASINH] = TN_OP_ASINH, [TN_M_ACOSH] = TN_OP_ACOSH, [TN_M_ATANH] = TN_OP_ATANH,
    [TN_M_TRUNC] = TN_OP_TRUNC, [TN_M_FRAC] = TN_OP_FRAC, [TN_M_SQUARE] = TN_OP_SQUARE,
    [TN_M_SINC] = TN_OP_SINC, [TN_M_DEG2RAD] = TN_OP_DEG2RAD, [TN_M_RAD2DEG] = TN_OP_RAD2DEG,
    [TN_M_LGAMMA] = TN_OP_LGAMMA, [TN_M_DIGAMMA] = TN_OP_DIGAMMA,
};

const char *tn_math_unary_name(tn_math_unary_kind k) {
    return (unsigned)k < TN_M_COUNT ? mu_names[k] : "?";
}

static bool mu_is_predicate(tn_math_unary_kind k) { return k >= TN_M_ISINF; }
/* backward needs the output rather than the input */
static bool mu_saves_output(tn_math_unary_kind k) {
    return k == TN_M_EXPM1 || k == TN_M_EXP2 || k == TN_M_ERFINV;
}

/* The dtype the kernel runs in (*kt) and the result's (*ot), or -1 with an
 * error for dtypes PyTorch rejects too. */
static int mu_dtypes(tn_math_unary_kind k, tn_dtype in, tn_dtype *kt, tn_dtype *ot) {
    bool fl = tn_dtype_is_float(in);
    if (mu_is_predicate(k)) {
        *kt = in;
        *ot = TN_BOOL;
        return 0;
    }
    if ((k == TN_M_TRUNC && in == TN_BOOL) || (k == TN_M_FRAC && !fl)) {
        tn_error("%s: not supported for dtype %s", mu_names[k], tn_dtype_name(in));
        return -1;
    }
    if (k == TN_M_TRUNC || fl) *kt = in;                 /* trunc of integers: a copy */
    else if (k == TN_M_SQUARE) *kt = in == TN_BOOL ? TN_INT64 : in;
    else *kt = TN_FLOAT32;   /* float functions of integers compute in float32 */
    *ot = *kt;
    return 0;
}

static void run_iter2(kernel_fn fn, tn_tensor *out, tn_tensor *x, void *ctx) {
    tn_iter it;
    tn_tensor *ops[2] = {out, x};
    tn_iter_init(&it, 2, ops, out->ndim, out->shape);
    tn_iter_run(&it, fn, ctx);
}

static tn_tensor *mu_forward(tn_math_unary_kind k, tn_tensor *a) {
    tn_dtype kt, ot;
    if (mu_dtypes(k, a->dtype, &kt, &ot) < 0) return NULL;
    if (!tn_dtype_is_float(kt)) {
        if (k == TN_M_TRUNC) {
            bool was = tn_set_grad_enabled(false);
            tn_tensor *c = tn_clone(a);
            tn_set_grad_enabled(was);
            return c;
        }
        if (mu_is_predicate(k))  /* integers are always finite */
            return tn_full(TN_BOOL, a->ndim, a->shape, k == TN_M_ISFINITE ? 1 : 0);
    }
    tn_tensor *x = tn_as_dtype(a, kt);
    tn_tensor *out = x ? tn_empty(ot, a->ndim, a->shape) : NULL;
    if (out) run_iter2(mu_kernels[k][kt], out, x, NULL);
    tn_release(x);
    return out;
}

tn_tensor *tn_math_unary(tn_math_unary_kind k, tn_tensor *a) {
    if ((unsigned)k >= TN_M_COUNT) {
        tn_error("math_unary: bad op %d", (int)k);
        return NULL;
    }
    tn_tensor *out = mu_forward(k, a);
    if (!out || mu_is_predicate(k) || !tn_dtype_is_float(out->dtype) || !tn_grad_needed1(a))
        return out;
    tn_node *n = tn_record(mu_ops[k], out, 1, &a);
    if (!n) {
        tn_release(out);
        return NULL;
    }
    n->iarg[0] = k;
    tn_save(n, a);
    if (mu_saves_output(k)) tn_save(n, out);
    return out;
}

/* In place: the result must keep a's dtype.  With history, the op runs out
 * of place on a clone and a takes over the result (elementwise.c's way). */
int tn_math_unary_(tn_math_unary_kind k, tn_tensor *a) {
    if ((unsigned)k >= TN_M_COUNT) {
        tn_error("math_unary: bad op %d", (int)k);
        return -1;
    }
    if (mu_is_predicate(k)) {
        tn_error("%s_: predicates have no in-place form", mu_names[k]);
        return -1;
    }
    if (tn_inplace_check(a, mu_names[k]) < 0) return -1;
    tn_dtype kt, ot;
    if (mu_dtypes(k, a->dtype, &kt, &ot) < 0) return -1;
    if (ot != a->dtype) {
        tn_error("%s_: result type %s can't be cast to the tensor's dtype %s", mu_names[k],
                 tn_dtype_name(ot), tn_dtype_name(a->dtype));
        return -1;
    }
    if (tn_grad_needed1(a)) {
        tn_tensor *c = tn_clone(a), *r = c ? tn_math_unary(k, c) : NULL;
        int rc = r ? tn_rebase_inplace(a, r) : -1;
        tn_release(c);
        tn_release(r);
        return rc;
    }
    if (mu_kernels[k][kt]) run_iter2(mu_kernels[k][kt], a, a, NULL);  /* trunc of ints: nothing */
    tn_bump_version(a);
    return 0;
}

/* ---- fused unary backward: gin = g * f'(x) in one pass ---- */

typedef struct { tn_math_unary_kind k; } mu_grad_ctx;

/* f'(x) of op k in type T; y is the forward output (for mu_saves_output
 * ops).  Inlined with k constant, so each op's loop below is straight-line
 * code; float32 takes the vectorised exp. */
#define DEF_MU_DERIV(sfx, T, EXP, SQRT, SINH, COSH, SIN, COS, DIGAMMA, TRIGAMMA)   \
    NO_TRAP VINLINE static inline T mu_deriv_##sfx(tn_math_unary_kind k, T x, T y) { \
        switch (k) {                                                              \
        case TN_M_LOG2: return (T)1 / (x * (T)LN2_D);                             \
        case TN_M_LOG10: return (T)1 / (x * (T)LN10_D);                           \
        case TN_M_EXPM1: return y + (T)1;                                         \
        case TN_M_EXP2: return y * (T)LN2_D;                                      \
        case TN_M_ERF: return (T)TWO_OVER_SQRTPI * EXP(-x * x);                   \
        case TN_M_ERFC: return -(T)TWO_OVER_SQRTPI * EXP(-x * x);                 \
        case TN_M_ERFINV: return EXP(y * y) / (T)TWO_OVER_SQRTPI;                 \
        case TN_M_SINH: return COSH(x);                                           \
        case TN_M_COSH: return SINH(x);                                           \
        case TN_M_ASIN: return (T)1 / SQRT((T)1 - x * x);                         \
        case TN_M_ACOS: return (T)-1 / SQRT((T)1 - x * x);                        \
        case TN_M_ATAN: return (T)1 / ((T)1 + x * x);                             \
        case TN_M_ASINH: return (T)1 / SQRT(x * x + (T)1);                        \
        case TN_M_ACOSH: return (T)1 / SQRT(x * x - (T)1);                        \
        case TN_M_ATANH: return (T)1 / ((T)1 - x * x);                            \
        case TN_M_FRAC: return (T)1;                                              \
        case TN_M_SQUARE: return (T)2 * x;                                        \
        case TN_M_SINC: {                                                         \
            T px = (T)PI_D * x;                                                   \
            return x == 0 ? (T)0 : (px * COS(px) - SIN(px)) / (px * x);           \
        }                                                                         \
        case TN_M_DEG2RAD: return (T)(PI_D / 180);                                \
        case TN_M_RAD2DEG: return (T)(180 / PI_D);                                \
        case TN_M_LGAMMA: return DIGAMMA(x);                                      \
        case TN_M_DIGAMMA: return TRIGAMMA(x);                                    \
        default: return (T)0;                                                     \
        }                                                                         \
    }
DEF_MU_DERIV(f32, float, tn_exp_f32, sqrtf, sinhf, coshf, sinf, cosf, digamma_f, trigamma_f)
DEF_MU_DERIV(f64, double, exp, sqrt, sinh, cosh, sin, cos, digamma_d, trigamma_d)

/* one loop per op (the switch outside), contiguous case first; trunc's
 * gradient is exactly 0, even where g is inf or nan, as PyTorch's */
#define MU_GRAD_CASE(sfx, T, K)                                                   \
    case K:                                                                       \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {                   \
            for (int64_t i = 0; i < n; i++)                                       \
                o[i] = K == TN_M_TRUNC ? (T)0 : gg[i] * mu_deriv_##sfx(K, xx[i], yy[i]); \
        } else {                                                                  \
            for (int64_t i = 0; i < n; i++)                                       \
                o[i * s[0]] = K == TN_M_TRUNC ? (T)0                              \
                    : gg[i * s[1]] * mu_deriv_##sfx(K, xx[i * s[2]], yy[i * s[3]]); \
        }                                                                         \
        break;
#define DEF_MU_GRAD(sfx, T)                                                       \
    TN_CLONES NO_TRAP static void mu_grad_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) { \
        T *o = (T *)p[0];                                                         \
        const T *gg = (const T *)p[1], *xx = (const T *)p[2], *yy = (const T *)p[3]; \
        switch (((const mu_grad_ctx *)vctx)->k) {                                 \
        MU_GRAD_CASE(sfx, T, TN_M_LOG2) MU_GRAD_CASE(sfx, T, TN_M_LOG10)          \
        MU_GRAD_CASE(sfx, T, TN_M_EXPM1) MU_GRAD_CASE(sfx, T, TN_M_EXP2)          \
        MU_GRAD_CASE(sfx, T, TN_M_ERF) MU_GRAD_CASE(sfx, T, TN_M_ERFC)            \
        MU_GRAD_CASE(sfx, T, TN_M_ERFINV) MU_GRAD_CASE(sfx, T, TN_M_SINH)         \
        MU_GRAD_CASE(sfx, T, TN_M_COSH) MU_GRAD_CASE(sfx, T, TN_M_ASIN)           \
        MU_GRAD_CASE(sfx, T, TN_M_ACOS) MU_GRAD_CASE(sfx, T, TN_M_ATAN)           \
        MU_GRAD_CASE(sfx, T, TN_M_ASINH) MU_GRAD_CASE(sfx, T, TN_M_ACOSH)         \
        MU_GRAD_CASE(sfx, T, TN_M_ATANH) MU_GRAD_CASE(sfx, T, TN_M_TRUNC)         \
        MU_GRAD_CASE(sfx, T, TN_M_FRAC) MU_GRAD_CASE(sfx, T, TN_M_SQUARE)         \
        MU_GRAD_CASE(sfx, T, TN_M_SINC) MU_GRAD_CASE(sfx, T, TN_M_DEG2RAD)        \
        MU_GRAD_CASE(sfx, T, TN_M_RAD2DEG) MU_GRAD_CASE(sfx, T, TN_M_LGAMMA)      \
        MU_GRAD_CASE(sfx, T, TN_M_DIGAMMA)                                        \
        default: break;                                                           \
        }                                                                         \
    }
DEF_MU_GRAD(f32, float)
DEF_MU_GRAD(f64, double)

/* Runs a fused gradient kernel over (gin, g, x, y): gin takes g's shape and
 * dtype; x and y are converted to g's dtype if they differ. */
static tn_tensor *grad_pass(kernel_fn f32, kernel_fn f64, void *ctx, tn_tensor *g, tn_tensor *x,
                            tn_tensor *y) {
    tn_tensor *cx = tn_as_dtype(x, g->dtype), *cy = cx ? tn_as_dtype(y, g->dtype) : NULL;
    tn_tensor *out = cy ? tn_empty(g->dtype, g->ndim, g->shape) : NULL;
    if (out) {
        tn_iter it;
        tn_tensor *ops[4] = {out, g, cx, cy};
        tn_iter_init(&it, 4, ops, out->ndim, out->shape);
        tn_iter_run(&it, g->dtype == TN_FLOAT64 ? f64 : f32, ctx);
    }
    tn_release(cx);
    tn_release(cy);
    return out;
}

int math_unary_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    mu_grad_ctx c = {(tn_math_unary_kind)n->iarg[0]};
    tn_tensor *x = tn_saved(n, 0), *y = mu_saves_output(c.k) ? tn_saved(n, 1) : x;
    if (!x || !y) return -1;
    gin[0] = grad_pass(mu_grad_f32, mu_grad_f64, &c, g, x, y);
    return gin[0] ? 0 : -1;
}

/* ===================== binary kernels ===================== */

#define DEF_BIN(name, OT, T, EXPR)                                                \
    NO_TRAP static void name(void *ctx, int64_t n, char **p, const int64_t *s) {  \
        (void)ctx;                                                                \
        TN_BIN_BODY(OT, T, EXPR)                                                  \
    }

#define DEF_MATH_BINS(sfx, T, ATAN2, HYPOT, FMOD, DIVFLOOR, COPYSIGN, XLOGY, LAE, LAE2) \
    DEF_BIN(atan2_##sfx, T, T, ATAN2(a, b))                                       \
    DEF_BIN(hypot_##sfx, T, T, HYPOT(a, b))                                       \
    DEF_BIN(fmod_##sfx, T, T, FMOD(a, b))                                         \
    DEF_BIN(floordiv_##sfx, T, T, DIVFLOOR(a, b))                                 \
    DEF_BIN(copysign_##sfx, T, T, COPYSIGN(a, b))                                 \
    DEF_BIN(xlogy_##sfx, T, T, XLOGY(a, b))                                       \
    DEF_BIN(logaddexp_##sfx, T, T, LAE(a, b))                                     \
    DEF_BIN(logaddexp2_##sfx, T, T, LAE2(a, b))
DEF_MATH_BINS(f32, float, atan2f, hypotf, fmodf, div_floor_f, copysignf, xlogy_f, logaddexp_f,
              logaddexp2_f)
DEF_MATH_BINS(f64, double, atan2, hypot, fmod, div_floor_d, copysign, xlogy_d, logaddexp_d,
              logaddexp2_d)

#define DEF_INT_MATH_BINS(sfx, T)                                                 \
    DEF_BIN(fmod_##sfx, T, T, (T)ifmod(a, b))                                     \
    DEF_BIN(floordiv_##sfx, T, T, (T)idiv_floor(a, b))
DEF_INT_MATH_BINS(i64, int64_t)
DEF_INT_MATH_BINS(i32, int32_t)
DEF_INT_MATH_BINS(u8, uint8_t)
DEF_BIN(xor_b, uint8_t, uint8_t, (a != 0) != (b != 0))

static const kernel_fn mb_kernels[TN_MB_COUNT][TN_DTYPE_COUNT] = {
    [TN_MB_ATAN2] = FL(atan2), [TN_MB_HYPOT] = FL(hypot),
    [TN_MB_FMOD] = {fmod_f32, fmod_f64, fmod_i64, fmod_i32, fmod_u8, NULL},
    [TN_MB_FLOOR_DIVIDE] = {floordiv_f32, floordiv_f64, floordiv_i64, floordiv_i32, floordiv_u8, NULL},
    [TN_MB_LOGICAL_XOR] = {NULL, NULL, NULL, NULL, NULL, xor_b},
    [TN_MB_COPYSIGN] = FL(copysign), [TN_MB_XLOGY] = FL(xlogy),
    [TN_MB_LOGADDEXP] = FL(logaddexp), [TN_MB_LOGADDEXP2] = FL(logaddexp2),
};

static const char *const mb_names[] = {
    "atan2", "hypot", "fmod", "floor_divide", "logical_xor", "copysign", "xlogy", "logaddexp",
    "logaddexp2"};
_Static_assert(sizeof mb_names / sizeof mb_names[0] == TN_MB_COUNT, "one name per tn_math_binary_kind");

static const tn_op mb_ops[TN_MB_COUNT] = {
    [TN_MB_ATAN2] = TN_OP_ATAN2, [TN_MB_HYPOT] = TN_OP_HYPOT, [TN_MB_FMOD] = TN_OP_FMOD,
    [TN_MB_COPYSIGN] = TN_OP_COPYSIGN, [TN_MB_XLOGY] = TN_OP_XLOGY,
    [TN_MB_LOGADDEXP] = TN_OP_LOGADDEXP, [TN_MB_LOGADDEXP2] = TN_OP_LOGADDEXP2,
};
/* floor_divide is piecewise constant and logical_xor is boolean: PyTorch
 * records no gradient for either. */
static bool mb_differentiable(tn_math_binary_kind k) {
    return k != TN_MB_FLOOR_DIVIDE && k != TN_MB_LOGICAL_XOR;
}

const char *tn_math_binary_name(tn_math_binary_kind k) {
    return (unsigned)k < TN_MB_COUNT ? mb_names[k] : "?";
}

/* The kernel's dtype (*ct) and the result's (*ot), PyTorch's rules. */
static int mb_dtypes(tn_math_binary_kind k, tn_tensor *a, tn_tensor *b, tn_dtype *ct, tn_dtype *ot) {
    if (k == TN_MB_LOGICAL_XOR) {
        *ct = *ot = TN_BOOL;
        return 0;
    }
    tn_dtype rt = tn_result_type(a, b);
    switch (k) {
    case TN_MB_ATAN2: case TN_MB_COPYSIGN: case TN_MB_XLOGY:
        *ct = tn_dtype_is_float(rt) ? rt : TN_FLOAT32;
        break;
    default:  /* hypot and logaddexp need floats; fmod and floor_divide take integers too, not bools */
        if ((k != TN_MB_FMOD && k != TN_MB_FLOOR_DIVIDE && !tn_dtype_is_float(rt)) || rt == TN_BOOL) {
            tn_error("%s: not supported for dtype %s", mb_names[k], tn_dtype_name(rt));
            return -1;
        }
        *ct = rt;
    }
    *ot = *ct;
    return 0;
}

static int check_int_divisor(tn_math_binary_kind k, tn_tensor *b) {
    for (int64_t i = 0; i < b->numel; i++)
        if (tn_get_flat_i64(b, i) == 0) {
            tn_error("%s: integer division by zero", mb_names[k]);
            return -1;
        }
    return 0;
}

/* out = a (op) b with a, b already in the kernel dtype ct. */
static int mb_run(tn_math_binary_kind k, tn_tensor *out, tn_tensor *a, tn_tensor *b, tn_dtype ct) {
    if ((k == TN_MB_FMOD || k == TN_MB_FLOOR_DIVIDE) && tn_dtype_is_int(ct) &&
        check_int_divisor(k, b) < 0)
        return -1;
    tn_iter it;
    tn_tensor *ops[3] = {out, a, b};
    tn_iter_init(&it, 3, ops, out->ndim, out->shape);
    tn_iter_run(&it, mb_kernels[k][ct], NULL);
    return 0;
}

/* Forward without history; *ca_out / *cb_out (when not NULL) receive the
 * converted operands, which backward saves. */
static tn_tensor *mb_forward(tn_math_binary_kind k, tn_tensor *a, tn_tensor *b, tn_tensor **ca_out,
                             tn_tensor **cb_out) {
    tn_dtype ct, ot;
    if (mb_dtypes(k, a, b, &ct, &ot) < 0) return NULL;
    int64_t shape[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, shape, mb_names[k]);
    if (nd < 0) return NULL;
    tn_tensor *ca = tn_as_dtype(a, ct), *cb = ca ? tn_as_dtype(b, ct) : NULL;
    tn_tensor *out = cb ? tn_empty(ot, nd, shape) : NULL;
    if (out && mb_run(k, out, ca, cb, ct) < 0) {
        tn_release(out);
        out = NULL;
    }
    if (out && ca_out) {
        *ca_out = ca;
        *cb_out = cb;
    } else {
        tn_release(ca);
        tn_release(cb);
    }
    return out;
}

tn_tensor *tn_math_binary(tn_math_binary_kind k, tn_tensor *a, tn_tensor *b) {
    if ((unsigned)k >= TN_MB_COUNT) {
        tn_error("math_binary: bad op %d", (int)k);
        return NULL;
    }
    bool rec = mb_differentiable(k) && tn_grad_needed2(a, b);
    tn_tensor *ca = NULL, *cb = NULL;
    tn_tensor *out = mb_forward(k, a, b, rec ? &ca : NULL, rec ? &cb : NULL);
    if (!out || !rec || !tn_dtype_is_float(out->dtype)) {
        tn_release(ca);
        tn_release(cb);
        return out;
    }
    tn_node *n = tn_record(mb_ops[k], out, 2, (tn_tensor *[]){a, b});
    if (n) {
        n->iarg[0] = k;
        tn_save(n, ca);
        tn_save(n, cb);
    } else {
        tn_release(out);
        out = NULL;
    }
    tn_release(ca);
    tn_release(cb);
    return out;
}

int tn_math_binary_(tn_math_binary_kind k, tn_tensor *a, tn_tensor *b) {
    if ((unsigned)k >= TN_MB_COUNT) {
        tn_error("math_binary: bad op %d", (int)k);
        return -1;
    }
    const char *name = mb_names[k];
    if (tn_inplace_check(a, name) < 0) return -1;
    tn_dtype ct, ot;
    if (mb_dtypes(k, a, b, &ct, &ot) < 0) return -1;
    if (tn_promote(ot, a->dtype) != a->dtype) {
        tn_error("%s_: result type %s can't be cast to the tensor's dtype %s", name,
                 tn_dtype_name(ot), tn_dtype_name(a->dtype));
        return -1;
    }
    int64_t shape[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, shape, name);
    if (nd < 0) return -1;
    if (nd != a->ndim || memcmp(shape, a->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        char s1[128], s2[128];
        tn_error("%s_: shape %s cannot be broadcast into the tensor's shape %s", name,
                 tn_shape_str(b->shape, b->ndim, s1, sizeof s1),
                 tn_shape_str(a->shape, a->ndim, s2, sizeof s2));
        return -1;
    }
    if (mb_differentiable(k) && tn_grad_needed2(a, b)) {
        tn_tensor *c = tn_clone(a), *r = c ? tn_math_binary(k, c, b) : NULL;
        int rc = r ? tn_rebase_inplace(a, r) : -1;
        tn_release(c);
        tn_release(r);
        return rc;
    }
    int rc;
    if (ct == a->dtype) {  /* the kernel writes into a directly */
        tn_tensor *cb = tn_as_dtype(b, ct);
        rc = cb ? mb_run(k, a, a, cb, ct) : -1;
        tn_release(cb);
        if (rc == 0) tn_bump_version(a);
    } else {  /* e.g. logical_xor_ into a float tensor: compute, then copy */
        tn_tensor *r = mb_forward(k, a, b, NULL, NULL);
        rc = r ? tn_copy_(a, r) : -1;
        tn_release(r);
    }
    return rc;
}

/* ---- fused binary backward: one pass per input that needs a gradient ---- */

typedef struct { tn_math_binary_kind k; int wrt; } mb_grad_ctx;

/* d(a op b)/da (wrt 0) or /db (wrt 1), times g; PyTorch's conventions at
 * the special points (xlogy: 0 where a == 0 and b <= 0; copysign: 0 at a == 0). */
static inline double mb_grad(tn_math_binary_kind k, int wrt, double g, double a, double b) {
    switch (k) {
    case TN_MB_ATAN2: {
        double r = a * a + b * b;
        return wrt == 0 ? g * b / r : -g * a / r;
    }
    case TN_MB_HYPOT: return g * (wrt == 0 ? a : b) / hypot(a, b);
    case TN_MB_FMOD: return wrt == 0 ? g : -g * trunc(a / b);
    case TN_MB_COPYSIGN:
        if (wrt == 1 || a == 0) return 0.0;
        return g * copysign(1.0, a) * copysign(1.0, b);
    case TN_MB_XLOGY:
        if (wrt == 1) return g * a / b;
        if (a == 0 && b <= 0) return 0.0;
        return xlogy_d(g, b);
    case TN_MB_LOGADDEXP: return g / (1 + exp(wrt == 0 ? b - a : a - b));
    case TN_MB_LOGADDEXP2: return g / (1 + exp2(wrt == 0 ? b - a : a - b));
    default: return 0.0;
    }
}

#define MB_GRAD_LOOP(T)                                                           \
    do {                                                                          \
        T *o = (T *)p[0];                                                         \
        const T *gg = (const T *)p[1], *aa = (const T *)p[2], *bb = (const T *)p[3]; \
        for (int64_t i = 0; i < n; i++)                                           \
            o[i * s[0]] = (T)mb_grad(c->k, c->wrt, (double)gg[i * s[1]], (double)aa[i * s[2]], \
                                     (double)bb[i * s[3]]);                       \
    } while (0)
static void mb_grad_f32(void *vctx, int64_t n, char **p, const int64_t *s) {
    const mb_grad_ctx *c = vctx;
    MB_GRAD_LOOP(float);
}
static void mb_grad_f64(void *vctx, int64_t n, char **p, const int64_t *s) {
    const mb_grad_ctx *c = vctx;
    MB_GRAD_LOOP(double);
}

int math_binary_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(n, 0), *b = tn_saved(n, 1);
    if (!a || !b) return -1;
    for (int i = 0; i < 2; i++) {
        if (!n->edges[i].fn && !n->edges[i].leaf) continue;
        mb_grad_ctx c = {(tn_math_binary_kind)n->iarg[0], i};
        gin[i] = grad_pass(mb_grad_f32, mb_grad_f64, &c, g, a, b);
        if (!gin[i]) return -1;
    }
    return 0;
}

/* ===================== logit ===================== */

typedef struct { double eps; } logit_ctx;

#define DEF_LOGIT(sfx, T, LOG)                                                    \
    static void logit_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) {  \
        double eps = ((const logit_ctx *)vctx)->eps;                              \
        T lo = (T)eps, hi = (T)(1 - eps);                                         \
        T *o = (T *)p[0];                                                         \
        const T *xs = (const T *)p[1];                                            \
        for (int64_t i = 0; i < n; i++) {                                         \
            T x = xs[i * s[1]];                                                   \
            if (eps >= 0) x = x < lo ? lo : (x > hi ? hi : x);                    \
            o[i * s[0]] = LOG(x / ((T)1 - x));                                    \
        }                                                                         \
    }
DEF_LOGIT(f32, float, logf)
DEF_LOGIT(f64, double, log)

static tn_tensor *logit_forward(tn_tensor *a, double eps) {
    tn_dtype kt = tn_dtype_is_float(a->dtype) ? a->dtype : TN_FLOAT32;
    tn_tensor *x = tn_as_dtype(a, kt);
    tn_tensor *out = x ? tn_empty(kt, a->ndim, a->shape) : NULL;
    logit_ctx c = {eps};
    if (out) run_iter2(kt == TN_FLOAT64 ? logit_f64 : logit_f32, out, x, &c);
    tn_release(x);
    return out;
}

tn_tensor *tn_logit(tn_tensor *a, double eps) {
    if (eps > 0.5) {
        tn_error("logit: eps must be at most 0.5, got %g", eps);
        return NULL;
    }
    tn_tensor *out = logit_forward(a, eps);
    if (out && tn_grad_needed1(a)) {
        tn_node *n = tn_record(TN_OP_LOGIT, out, 1, &a);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        tn_save(n, a);
        n->farg[0] = eps;
    }
    return out;
}

int tn_logit_(tn_tensor *a, double eps) {
    if (tn_inplace_check(a, "logit") < 0) return -1;
    if (!tn_dtype_is_float(a->dtype)) {
        tn_error("logit_: result type float32 can't be cast to the tensor's dtype %s",
                 tn_dtype_name(a->dtype));
        return -1;
    }
    tn_tensor *r = tn_logit(a, eps);
    if (!r) return -1;
    int rc = tn_rebase_inplace(a, r);
    tn_release(r);
    if (rc == 0 && !a->grad_fn) tn_bump_version(a);
    return rc;
}

/* outside [eps, 1 - eps] the clamped input is constant: gradient 0; with no
 * eps, outside [0, 1] it is nan (PyTorch's rule) */
#define LOGIT_GRAD_LOOP(T)                                                        \
    do {                                                                          \
        double eps = ((const logit_ctx *)vctx)->eps;                              \
        T *o = (T *)p[0];                                                         \
        const T *gg = (const T *)p[1], *xx = (const T *)p[2];                     \
        for (int64_t i = 0; i < n; i++) {                                         \
            double x = (double)xx[i * s[2]], g = (double)gg[i * s[1]], r;         \
            if (eps >= 0) r = (x < eps || x > 1 - eps) ? 0.0 : g / (x * (1 - x)); \
            else r = (x < 0 || x > 1) ? NAN : g / (x * (1 - x));                  \
            o[i * s[0]] = (T)r;                                                   \
        }                                                                         \
    } while (0)
static void logit_grad_f32(void *vctx, int64_t n, char **p, const int64_t *s) { LOGIT_GRAD_LOOP(float); }
static void logit_grad_f64(void *vctx, int64_t n, char **p, const int64_t *s) { LOGIT_GRAD_LOOP(double); }

int logit_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0);
    if (!x) return -1;
    logit_ctx c = {n->farg[0]};
    gin[0] = grad_pass(logit_grad_f32, logit_grad_f64, &c, g, x, x);
    return gin[0] ? 0 : -1;
}

/* ===================== nan_to_num ===================== */

typedef struct { double nan, posinf, neginf; } n2n_ctx;

#define DEF_N2N(sfx, T)                                                           \
    static void n2n_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) {    \
        const n2n_ctx *c = vctx;                                                  \
        T vn = (T)c->nan, vp = (T)c->posinf, vm = (T)c->neginf;                   \
        T *o = (T *)p[0];                                                         \
        const T *xs = (const T *)p[1];                                            \
        for (int64_t i = 0; i < n; i++) {                                         \
            T x = xs[i * s[1]];                                                   \
            o[i * s[0]] = x != x ? vn : x == (T)INFINITY ? vp : x == -(T)INFINITY ? vm : x; \
        }                                                                         \
    }
DEF_N2N(f32, float)
DEF_N2N(f64, double)

static n2n_ctx n2n_values(tn_dtype dt, double nan, const double *posinf, const double *neginf) {
    double big = dt == TN_FLOAT64 ? DBL_MAX : FLT_MAX;
    n2n_ctx c = {nan, posinf ? *posinf : big, neginf ? *neginf : -big};
    return c;
}

tn_tensor *tn_nan_to_num(tn_tensor *a, double nan, const double *posinf, const double *neginf) {
    if (!tn_dtype_is_float(a->dtype)) {  /* integers hold no nan or inf: a copy */
        bool was = tn_set_grad_enabled(false);
        tn_tensor *c = tn_clone(a);
        tn_set_grad_enabled(was);
        return c;
    }
    tn_tensor *out = tn_empty(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    n2n_ctx c = n2n_values(a->dtype, nan, posinf, neginf);
    run_iter2(a->dtype == TN_FLOAT64 ? n2n_f64 : n2n_f32, out, a, &c);
    if (tn_grad_needed1(a)) {
        tn_node *n = tn_record(TN_OP_NAN_TO_NUM, out, 1, &a);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        tn_save(n, a);
    }
    return out;
}

int tn_nan_to_num_(tn_tensor *a, double nan, const double *posinf, const double *neginf) {
    if (tn_inplace_check(a, "nan_to_num") < 0) return -1;
    if (!tn_dtype_is_float(a->dtype)) return 0;
    if (tn_grad_needed1(a)) {
        tn_tensor *c = tn_clone(a), *r = c ? tn_nan_to_num(c, nan, posinf, neginf) : NULL;
        int rc = r ? tn_rebase_inplace(a, r) : -1;
        tn_release(c);
        tn_release(r);
        return rc;
    }
    n2n_ctx c = n2n_values(a->dtype, nan, posinf, neginf);
    run_iter2(a->dtype == TN_FLOAT64 ? n2n_f64 : n2n_f32, a, a, &c);
    tn_bump_version(a);
    return 0;
}

/* the gradient passes where x was finite, as PyTorch's grad * isfinite(x) */
#define N2N_GRAD_LOOP(T)                                                          \
    do {                                                                          \
        (void)vctx;                                                               \
        T *o = (T *)p[0];                                                         \
        const T *gg = (const T *)p[1], *xx = (const T *)p[2];                     \
        for (int64_t i = 0; i < n; i++) {                                         \
            T x = xx[i * s[2]];                                                   \
            bool fin = x == x && x != (T)INFINITY && x != -(T)INFINITY;             \
            o[i * s[0]] = fin ? gg[i * s[1]] : (T)0;                              \
        }                                                                         \
    } while (0)
static void n2n_grad_f32(void *vctx, int64_t n, char **p, const int64_t *s) { N2N_GRAD_LOOP(float); }
static void n2n_grad_f64(void *vctx, int64_t n, char **p, const int64_t *s) { N2N_GRAD_LOOP(double); }

int nan_to_num_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0);
    if (!x) return -1;
    gin[0] = grad_pass(n2n_grad_f32, n2n_grad_f64, NULL, g, x, x);
    return gin[0] ? 0 : -1;
}

/* ===================== lerp ===================== */

/* PyTorch's two-sided form: exact at both ends (w = 0 gives a, w = 1 gives b). */
#define DEF_LERP(sfx, T, FABS)                                                    \
    static void lerp_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) {   \
        (void)vctx;                                                               \
        T *o = (T *)p[0];                                                         \
        const T *as = (const T *)p[1], *bs = (const T *)p[2], *ws = (const T *)p[3]; \
        for (int64_t i = 0; i < n; i++) {                                         \
            T a = as[i * s[1]], b = bs[i * s[2]], w = ws[i * s[3]], d = b - a;    \
            o[i * s[0]] = FABS(w) < (T)0.5 ? a + w * d : b - d * ((T)1 - w);     \
        }                                                                         \
    }
DEF_LERP(f32, float, fabsf)
DEF_LERP(f64, double, fabs)

tn_tensor *tn_lerp(tn_tensor *a, tn_tensor *b, tn_tensor *w) {
    if (!tn_dtype_is_float(a->dtype)) {
        tn_error("lerp: expected a float tensor, got %s", tn_dtype_name(a->dtype));
        return NULL;
    }
    if (b->dtype != a->dtype) {
        tn_error("lerp: expected end of dtype %s, got %s", tn_dtype_name(a->dtype),
                 tn_dtype_name(b->dtype));
        return NULL;
    }
    if (w->dtype != a->dtype && !w->is_wrapped_number) {
        tn_error("lerp: expected weight of dtype %s, got %s", tn_dtype_name(a->dtype),
                 tn_dtype_name(w->dtype));
        return NULL;
    }
    int64_t s1[TN_MAX_DIMS], shape[TN_MAX_DIMS];
    int n1 = tn_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, s1, "lerp");
    if (n1 < 0) return NULL;
    int nd = tn_broadcast_shapes(s1, n1, w->shape, w->ndim, shape, "lerp");
    if (nd < 0) return NULL;
    tn_tensor *cw = tn_as_dtype(w, a->dtype);
    tn_tensor *out = cw ? tn_empty(a->dtype, nd, shape) : NULL;
    if (out) {
        tn_iter it;
        tn_tensor *ops[4] = {out, a, b, cw};
        tn_iter_init(&it, 4, ops, nd, shape);
        tn_iter_run(&it, a->dtype == TN_FLOAT64 ? lerp_f64 : lerp_f32, NULL);
    }
    tn_tensor *in[3] = {a, b, w};
    if (out && tn_grad_needed(3, in)) {
        tn_node *n = tn_record(TN_OP_LERP, out, 3, in);
        if (n) {
            tn_save(n, a);
            tn_save(n, b);
            tn_save(n, cw);
        } else {
            tn_release(out);
            out = NULL;
        }
    }
    tn_release(cw);
    return out;
}

/* d/da = 1 - w, d/db = w, d/dw = b - a */
int lerp_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(n, 0), *b = tn_saved(n, 1), *w = tn_saved(n, 2);
    if (!a || !b || !w) return -1;
    if (n->edges[0].fn || n->edges[0].leaf) {
        tn_tensor *one = tn_scalar(w->dtype, 1), *c = one ? tn_sub(one, w) : NULL;
        gin[0] = c ? tn_mul(g, c) : NULL;
        tn_release(one);
        tn_release(c);
        if (!gin[0]) return -1;
    }
    if ((n->edges[1].fn || n->edges[1].leaf) && !(gin[1] = tn_mul(g, w))) return -1;
    if (n->edges[2].fn || n->edges[2].leaf) {
        tn_tensor *d = tn_sub(b, a);
        gin[2] = d ? tn_mul(g, d) : NULL;
        tn_release(d);
        if (!gin[2]) return -1;
    }
    return 0;
}
