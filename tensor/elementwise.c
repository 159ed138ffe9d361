/*
 * elementwise.c: unary and binary elementwise ops (arithmetic, math
 * functions, activations, comparisons, logical ops, where, masked_fill,
 * clamp, dtype conversion, copies and fills) with their backward rules.
 *
 * How a binary op runs: find the result dtype (PyTorch promotion), convert
 * any operand whose dtype differs (cheap for the 0-dim tensors that wrapped
 * Lua numbers become), broadcast, and run a kernel typed on one dtype over
 * the iterator (iter.c).  Kernels are generated per (op, dtype) by macros
 * with special cases for the contiguous and scalar-operand loops, which the
 * compiler vectorises.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

typedef void (*kernel_fn)(void *ctx, int64_t n, char **p, const int64_t *s);

/* ===================== binary kernels ===================== */

#define DEF_BIN(name, OT, T, EXPR)                                                \
    static void name(void *ctx, int64_t n, char **p, const int64_t *s) {          \
        (void)ctx;                                                                \
        TN_BIN_BODY(OT, T, EXPR)                                                  \
    }

/* Integer arithmetic wraps (through uint64) instead of overflowing (UB). */
#define IWRAP(T, e) ((T)(uint64_t)(e))
#define U(v) ((uint64_t)(int64_t)(v))

static inline double fmod_py(double a, double b) {
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
static inline int64_t imod_py(int64_t a, int64_t b) {
    if (b == -1) return 0;  /* INT64_MIN % -1 is UB */
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
static inline int64_t ipow(int64_t a, int64_t b) {
    if (b < 0) return a == 1 ? 1 : a == -1 ? (b & 1 ? -1 : 1) : 0;
    uint64_t r = 1, base = (uint64_t)a;
    while (b) {
        if (b & 1) r *= base;
        base *= base;
        b >>= 1;
    }
    return (int64_t)r;
}
#define FMAX(a, b) ((a) != (a) ? (a) : (b) != (b) ? (b) : (a) > (b) ? (a) : (b))
#define FMIN(a, b) ((a) != (a) ? (a) : (b) != (b) ? (b) : (a) < (b) ? (a) : (b))

/* float types */
#define DEF_FLOAT_BINS(sfx, T, POW, FMOD)                                         \
    DEF_BIN(add_##sfx, T, T, a + b)                                               \
    DEF_BIN(sub_##sfx, T, T, a - b)                                               \
    DEF_BIN(mul_##sfx, T, T, a * b)                                               \
    DEF_BIN(div_##sfx, T, T, a / b)                                               \
    DEF_BIN(pow_##sfx, T, T, POW(a, b))                                           \
    DEF_BIN(mod_##sfx, T, T, FMOD(a, b))                                          \
    DEF_BIN(max_##sfx, T, T, FMAX(a, b))                                          \
    DEF_BIN(min_##sfx, T, T, FMIN(a, b))
static inline float fmodf_py(float a, float b) { return (float)fmod_py(a, b); }
DEF_FLOAT_BINS(f32, float, powf, fmodf_py)
DEF_FLOAT_BINS(f64, double, pow, fmod_py)

/* integer types */
#define DEF_INT_BINS(sfx, T)                                                      \
    DEF_BIN(add_##sfx, T, T, IWRAP(T, U(a) + U(b)))                               \
    DEF_BIN(sub_##sfx, T, T, IWRAP(T, U(a) - U(b)))                               \
    DEF_BIN(mul_##sfx, T, T, IWRAP(T, U(a) * U(b)))                               \
    DEF_BIN(pow_##sfx, T, T, IWRAP(T, ipow(a, b)))                                \
    DEF_BIN(mod_##sfx, T, T, IWRAP(T, imod_py(a, b)))                             \
    DEF_BIN(max_##sfx, T, T, a > b ? a : b)                                       \
    DEF_BIN(min_##sfx, T, T, a < b ? a : b)
DEF_INT_BINS(i64, int64_t)
DEF_INT_BINS(i32, int32_t)
DEF_INT_BINS(u8, uint8_t)
/* bool: add is or, mul is and (as PyTorch) */
DEF_BIN(add_b, uint8_t, uint8_t, a | b)
DEF_BIN(mul_b, uint8_t, uint8_t, a & b)
DEF_BIN(max_b, uint8_t, uint8_t, a | b)
DEF_BIN(min_b, uint8_t, uint8_t, a & b)

/* comparisons: bool output */
#define DEF_CMPS(sfx, T)                                                          \
    DEF_BIN(eq_##sfx, uint8_t, T, a == b)                                         \
    DEF_BIN(ne_##sfx, uint8_t, T, a != b)                                         \
    DEF_BIN(lt_##sfx, uint8_t, T, a < b)                                          \
    DEF_BIN(le_##sfx, uint8_t, T, a <= b)                                         \
    DEF_BIN(gt_##sfx, uint8_t, T, a > b)                                          \
    DEF_BIN(ge_##sfx, uint8_t, T, a >= b)
DEF_CMPS(f32, float)
DEF_CMPS(f64, double)
DEF_CMPS(i64, int64_t)
DEF_CMPS(i32, int32_t)
DEF_CMPS(u8, uint8_t)
DEF_BIN(and_b, uint8_t, uint8_t, a && b)
DEF_BIN(or_b, uint8_t, uint8_t, a || b)

#define ROW6(name) {name##_f32, name##_f64, name##_i64, name##_i32, name##_u8, NULL}
#define CMPROW(name) {name##_f32, name##_f64, name##_i64, name##_i32, name##_u8, name##_u8}
static const kernel_fn bin_kernels[TN_B_COUNT][TN_DTYPE_COUNT] = {
    [TN_B_ADD] = {add_f32, add_f64, add_i64, add_i32, add_u8, add_b},
    [TN_B_SUB] = ROW6(sub),
    [TN_B_MUL] = {mul_f32, mul_f64, mul_i64, mul_i32, mul_u8, mul_b},
    [TN_B_DIV] = {div_f32, div_f64, NULL, NULL, NULL, NULL},
    [TN_B_POW] = ROW6(pow),
    [TN_B_MOD] = ROW6(mod),
    [TN_B_MAXIMUM] = {max_f32, max_f64, max_i64, max_i32, max_u8, max_b},
    [TN_B_MINIMUM] = {min_f32, min_f64, min_i64, min_i32, min_u8, min_b},
    [TN_B_EQ] = CMPROW(eq), [TN_B_NE] = CMPROW(ne), [TN_B_LT] = CMPROW(lt),
    [TN_B_LE] = CMPROW(le), [TN_B_GT] = CMPROW(gt), [TN_B_GE] = CMPROW(ge),
    [TN_B_AND] = {NULL, NULL, NULL, NULL, NULL, and_b},
    [TN_B_OR] = {NULL, NULL, NULL, NULL, NULL, or_b},
};

static const char *const bin_names[TN_B_COUNT] = {
    "add", "sub", "mul", "div", "pow", "remainder", "maximum", "minimum",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"};

static bool is_comparison(tn_binary_kind k) { return k >= TN_B_EQ && k <= TN_B_GE; }
static bool is_logical(tn_binary_kind k) { return k == TN_B_AND || k == TN_B_OR; }

/* The dtype the kernel computes in. */
static tn_dtype compute_dtype(tn_binary_kind k, tn_tensor *a, tn_tensor *b) {
    if (is_logical(k)) return TN_BOOL;
    tn_dtype ct = tn_result_type(a, b);
    if (k == TN_B_DIV && !tn_dtype_is_float(ct)) ct = TN_FLOAT32;
    if (k == TN_B_SUB && ct == TN_BOOL) ct = TN_BOOL;  /* rejected below */
    if ((k == TN_B_POW || k == TN_B_MOD) && ct == TN_BOOL) ct = TN_INT64;
    return ct;
}

/* Returns a tensor with dtype dt (new reference): t itself or a converted copy. */
static tn_tensor *as_dtype(tn_tensor *t, tn_dtype dt) {
    if (t->dtype == dt) return tn_retain(t);
    bool was = tn_set_grad_enabled(false);
    tn_tensor *r = tn_to(t, dt);
    tn_set_grad_enabled(was);
    return r;
}

static int check_int_mod(tn_tensor *b) {
    for (int64_t i = 0; i < b->numel; i++)
        if (tn_get_flat_i64(b, i) == 0) {
            tn_error("remainder: integer division by zero");
            return -1;
        }
    return 0;
}

/* Runs kernel k over out = a (op) b, all already in their kernel dtypes. */
static int run_binary(tn_binary_kind k, tn_tensor *out, tn_tensor *a, tn_tensor *b, tn_dtype ct) {
    kernel_fn fn = bin_kernels[k][ct];
    if (!fn) {
        tn_error("%s: not supported for dtype %s", bin_names[k], tn_dtype_name(ct));
        return -1;
    }
    if (k == TN_B_MOD && tn_dtype_is_int(ct) && check_int_mod(b) < 0) return -1;
    /* As PyTorch: an integer base to a negative number exponent has no integer
     * answer, so it is an error rather than a silent 0 (tensor exponents keep
     * the elementwise rule, as there). */
    if (k == TN_B_POW && tn_dtype_is_int(ct) && b->is_wrapped_number && b->ndim == 0 &&
        tn_item(b) < 0) {
        tn_error("pow: integers to negative integer powers are not allowed (exponent %g)",
                 tn_item(b));
        return -1;
    }
    tn_iter it;
    tn_tensor *ops[3] = {out, a, b};
    tn_iter_init(&it, 3, ops, out->ndim, out->shape);
    tn_iter_run(&it, fn, NULL);
    return 0;
}

static tn_tensor *binary_forward(tn_binary_kind k, tn_tensor *a, tn_tensor *b) {
    tn_dtype ct = compute_dtype(k, a, b);
    int64_t shape[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, shape, bin_names[k]);
    if (nd < 0) return NULL;
    tn_tensor *ca = as_dtype(a, ct), *cb = ca ? as_dtype(b, ct) : NULL;
    tn_tensor *out = cb ? tn_empty(is_comparison(k) || is_logical(k) ? TN_BOOL : ct, nd, shape) : NULL;
    if (out && run_binary(k, out, ca, cb, ct) < 0) {
        tn_release(out);
        out = NULL;
    }
    tn_release(ca);
    tn_release(cb);
    return out;
}

static const tn_op bin_ops[TN_B_COUNT] = {
    [TN_B_ADD] = TN_OP_ADD, [TN_B_SUB] = TN_OP_SUB, [TN_B_MUL] = TN_OP_MUL,
    [TN_B_DIV] = TN_OP_DIV, [TN_B_POW] = TN_OP_POW, [TN_B_MAXIMUM] = TN_OP_MAXIMUM,
    [TN_B_MINIMUM] = TN_OP_MINIMUM,
};
static bool bin_differentiable(tn_binary_kind k) { return k <= TN_B_MINIMUM && k != TN_B_MOD; }

tn_tensor *tn_binary(tn_binary_kind k, tn_tensor *a, tn_tensor *b) {
    tn_tensor *out = binary_forward(k, a, b);
    if (!out || !bin_differentiable(k) || !tn_grad_needed2(a, b)) return out;
    if (!tn_dtype_is_float(out->dtype)) return out;
    tn_node *n = tn_record(bin_ops[k], out, 2, (tn_tensor *[]){a, b});
    if (!n) {
        tn_release(out);
        return NULL;
    }
    switch (k) {
    case TN_B_MUL: case TN_B_POW: case TN_B_MAXIMUM: case TN_B_MINIMUM:
        tn_save(n, a);
        tn_save(n, b);
        if (k == TN_B_POW) tn_save(n, out);
        break;
    case TN_B_DIV:
        tn_save(n, b);
        tn_save(n, out);
        break;
    default: break;
    }
    return out;
}

tn_tensor *tn_add(tn_tensor *a, tn_tensor *b) { return tn_binary(TN_B_ADD, a, b); }
tn_tensor *tn_sub(tn_tensor *a, tn_tensor *b) { return tn_binary(TN_B_SUB, a, b); }
tn_tensor *tn_mul(tn_tensor *a, tn_tensor *b) { return tn_binary(TN_B_MUL, a, b); }
tn_tensor *tn_div(tn_tensor *a, tn_tensor *b) { return tn_binary(TN_B_DIV, a, b); }

static tn_tensor *with_number(tn_binary_kind k, tn_tensor *a, double v) {
    tn_tensor *s = tn_wrap_number(v, false);
    if (!s) return NULL;
    tn_tensor *r = tn_binary(k, a, s);
    tn_release(s);
    return r;
}
tn_tensor *tn_add_scalar(tn_tensor *a, double v) { return with_number(TN_B_ADD, a, v); }
tn_tensor *tn_mul_scalar(tn_tensor *a, double v) { return with_number(TN_B_MUL, a, v); }
tn_tensor *tn_pow_scalar(tn_tensor *a, double v) { return with_number(TN_B_POW, a, v); }

/* Replaces t's contents with r's (same shape) and takes over r's history:
 * how in-place ops stay correct under autograd. */
static int rebase_inplace(tn_tensor *t, tn_tensor *r) {
    bool was = tn_set_grad_enabled(false);
    int rc = tn_copy_(t, r);
    tn_set_grad_enabled(was);
    if (rc < 0) return -1;
    if (r->grad_fn) {
        if (t->grad_fn) tn_node_release(t->grad_fn);
        t->grad_fn = tn_node_retain(r->grad_fn);
        t->requires_grad = true;
    }
    return 0;
}

int tn_binary_(tn_binary_kind k, tn_tensor *a, tn_tensor *b) {
    if (tn_inplace_check(a, bin_names[k]) < 0) return -1;
    tn_dtype ct = compute_dtype(k, a, b);
    if (is_comparison(k) || is_logical(k)) ct = TN_BOOL;
    if (tn_promote(ct, a->dtype) != a->dtype && !(ct == TN_BOOL && a->dtype == TN_BOOL)) {
        tn_error("%s_: result type %s can't be cast to the tensor's dtype %s", bin_names[k],
                 tn_dtype_name(ct), tn_dtype_name(a->dtype));
        return -1;
    }
    int64_t shape[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, shape, bin_names[k]);
    if (nd < 0) return -1;
    if (nd != a->ndim || memcmp(shape, a->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        char s1[128], s2[128];
        tn_error("%s_: shape %s cannot be broadcast into the tensor's shape %s", bin_names[k],
                 tn_shape_str(b->shape, b->ndim, s1, sizeof s1),
                 tn_shape_str(a->shape, a->ndim, s2, sizeof s2));
        return -1;
    }
    if (tn_grad_needed2(a, b) && bin_differentiable(k)) {
        /* history: compute out of place from a clone, then take it over */
        tn_tensor *c = tn_clone(a), *r = c ? tn_binary(k, c, b) : NULL;
        int rc = r ? rebase_inplace(a, r) : -1;
        tn_release(c);
        tn_release(r);
        return rc;
    }
    tn_dtype kt = is_comparison(k) ? tn_result_type(a, b) : a->dtype;
    if (k == TN_B_DIV && !tn_dtype_is_float(kt)) kt = TN_FLOAT32;
    tn_tensor *cb = as_dtype(b, kt);
    if (!cb) return -1;
    int rc;
    if (kt == a->dtype) {
        rc = run_binary(k, a, a, cb, kt);
    } else {  /* comparisons of other dtypes into a bool tensor */
        tn_tensor *r = binary_forward(k, a, b);
        rc = r ? tn_copy_(a, r) : -1;
        tn_release(r);
    }
    tn_release(cb);
    if (rc == 0) tn_bump_version(a);
    return rc;
}

/* ===================== unary kernels ===================== */

#define UN_BODY(OT, T, EXPR)                                                      \
    OT *o = (OT *)p[0];                                                           \
    const T *xs = (const T *)p[1];                                                \
    int64_t so = s[0], sx = s[1];                                                 \
    if (so == 1 && sx == 1) {                                                     \
        for (int64_t i = 0; i < n; i++) { T x = xs[i]; o[i] = (OT)(EXPR); }       \
    } else {                                                                      \
        for (int64_t i = 0; i < n; i++) { T x = xs[i * sx]; o[i * so] = (OT)(EXPR); } \
    }
/* Unary kernels are compiled twice, for AVX2 (the build's baseline) and
 * AVX-512 (x86-64-v4), picked at load time: the transcendental ones (exp,
 * sigmoid, tanh through tn_exp_f32) are compute-bound and run 1.8x faster
 * with 16 lanes on the machines that have them. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define TN_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define TN_CLONES
#endif
#define DEF_UN(name, OT, T, EXPR)                                                 \
    TN_CLONES static void name(void *ctx, int64_t n, char **p, const int64_t *s) { \
        (void)ctx;                                                                \
        UN_BODY(OT, T, EXPR)                                                      \
    }

static inline double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752)); }
/* float32 erf, branch-free (Abramowitz & Stegun 7.1.26 on |x|, absolute
 * error below 1.5e-7, about float32's resolution): libm's double erf was 12%
 * of a GPT training step. */
static inline float erf_f(float x) {
    float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float r = 1.0f - poly * tn_exp_f32(-a * a);
    return copysignf(r, x);
}
static inline float gelu_f(float x) { return 0.5f * x * (1.0f + erf_f(x * 0.70710678f)); }
static inline float gelu_deriv_f(float x) {
    return 0.5f * (1.0f + erf_f(x * 0.70710678f)) + x * 0.39894228f * tn_exp_f32(-0.5f * x * x);
}
static inline double gelu_deriv_d(double x) {
    return 0.5 * (1.0 + erf(x * 0.70710678118654752)) + x * 0.3989422804014327 * exp(-0.5 * x * x);
}
static inline double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }
static inline double sigmoid_d(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}
/* float32 sigmoid through the branch-free exp: vectorises, and
 * 1 / (1 + e^-x) is accurate for every x (e^-x overflowing to inf gives 0) */
NO_TRAP static inline float sigmoid_f(float x) { return 1.0f / (1.0f + tn_exp_f32(-x)); }
/* float32 tanh from the same exp (glibc's tanhf is a scalar call, ~30 ns an
 * element here): (1 - e) / (1 + e) with e = exp(-2|x|), and the odd series
 * near 0 where 1 - e would cancel; within ~2e-7 relative. */
NO_TRAP static inline float tanh_f(float x) {
    float a = fabsf(x), e = tn_exp_f32(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = a * a, small = a * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
    float r = a < 0.0625f ? small : big;
    return x != x ? x : copysignf(r, x);
}
#define SIGN(x) ((x) > 0 ? 1 : (x) < 0 ? -1 : (x))

#define DEF_FLOAT_UNS(sfx, T, EXP, LOG, LOG1P, SQRT, SIN, COS, TANH, SIGM, FLOOR, CEIL, RINT, FABS) \
    DEF_UN(neg_##sfx, T, T, -x)                                                   \
    DEF_UN(abs_##sfx, T, T, FABS(x))                                              \
    DEF_UN(exp_##sfx, T, T, EXP(x))                                               \
    DEF_UN(log_##sfx, T, T, LOG(x))                                               \
    DEF_UN(log1p_##sfx, T, T, LOG1P(x))                                           \
    DEF_UN(sqrt_##sfx, T, T, SQRT(x))                                             \
    DEF_UN(rsqrt_##sfx, T, T, (T)1 / SQRT(x))                                     \
    DEF_UN(sin_##sfx, T, T, SIN(x))                                               \
    DEF_UN(cos_##sfx, T, T, COS(x))                                               \
    DEF_UN(tanh_##sfx, T, T, TANH(x))                                             \
    DEF_UN(sigmoid_##sfx, T, T, SIGM(x))                                          \
    DEF_UN(relu_##sfx, T, T, x > 0 ? x : (x != x ? x : 0))                        \
    DEF_UN(gelu_##sfx, T, T, GELU(x))                                             \
    DEF_UN(silu_##sfx, T, T, x * SIGM(x))                                         \
    DEF_UN(softplus_##sfx, T, T, softplus_d(x))                                   \
    DEF_UN(floor_##sfx, T, T, FLOOR(x))                                           \
    DEF_UN(ceil_##sfx, T, T, CEIL(x))                                             \
    DEF_UN(round_##sfx, T, T, RINT(x))                                            \
    DEF_UN(sign_##sfx, T, T, SIGN(x))                                             \
    DEF_UN(recip_##sfx, T, T, (T)1 / x)                                           \
    DEF_UN(not_##sfx, uint8_t, T, x == 0)                                         \
    DEF_UN(isnan_##sfx, uint8_t, T, x != x)                                       \
    DEF_UN(gelud_##sfx, T, T, GELUD(x))
#define GELU gelu_f
#define GELUD gelu_deriv_f
DEF_FLOAT_UNS(f32, float, tn_exp_f32, logf, log1pf, sqrtf, sinf, cosf, tanh_f, sigmoid_f, floorf, ceilf, rintf, fabsf)
#undef GELU
#undef GELUD
#define GELU gelu_d
#define GELUD gelu_deriv_d
DEF_FLOAT_UNS(f64, double, exp, log, log1p, sqrt, sin, cos, tanh, sigmoid_d, floor, ceil, rint, fabs)

static inline int is_neg_i(int64_t v) { return v < 0; }  /* no type-limits warning for uint8 */
#define DEF_INT_UNS(sfx, T)                                                       \
    DEF_UN(neg_##sfx, T, T, IWRAP(T, 0 - U(x)))                                   \
    DEF_UN(abs_##sfx, T, T, is_neg_i(x) ? IWRAP(T, 0 - U(x)) : x)                  \
    DEF_UN(relu_##sfx, T, T, x > 0 ? x : 0)                                       \
    DEF_UN(id_##sfx, T, T, x)                                                     \
    DEF_UN(sign_##sfx, T, T, (x > 0) - is_neg_i(x))                               \
    DEF_UN(not_##sfx, uint8_t, T, x == 0)                                         \
    DEF_UN(isnan_##sfx, uint8_t, T, 0 * x)
DEF_INT_UNS(i64, int64_t)
DEF_INT_UNS(i32, int32_t)
DEF_INT_UNS(u8, uint8_t)

#define FLOATS(name) {name##_f32, name##_f64, NULL, NULL, NULL, NULL}
#define ALLNUM(name) {name##_f32, name##_f64, name##_i64, name##_i32, name##_u8, NULL}
#define INTID {floor_f32, floor_f64, id_i64, id_i32, id_u8, NULL}
#define TN_U_GELU_DERIV TN_U_COUNT  /* internal: gelu'(x), used by gelu_backward */
static const kernel_fn un_kernels[TN_U_COUNT + 1][TN_DTYPE_COUNT] = {
    [TN_U_NEG] = ALLNUM(neg),
    [TN_U_ABS] = ALLNUM(abs),
    [TN_U_EXP] = FLOATS(exp),
    [TN_U_LOG] = FLOATS(log),
    [TN_U_LOG1P] = FLOATS(log1p),
    [TN_U_SQRT] = FLOATS(sqrt),
    [TN_U_RSQRT] = FLOATS(rsqrt),
    [TN_U_SIN] = FLOATS(sin),
    [TN_U_COS] = FLOATS(cos),
    [TN_U_TANH] = FLOATS(tanh),
    [TN_U_SIGMOID] = FLOATS(sigmoid),
    [TN_U_RELU] = ALLNUM(relu),
    [TN_U_GELU] = FLOATS(gelu),
    [TN_U_SILU] = FLOATS(silu),
    [TN_U_SOFTPLUS] = FLOATS(softplus),
    [TN_U_FLOOR] = INTID,
    [TN_U_CEIL] = {ceil_f32, ceil_f64, id_i64, id_i32, id_u8, NULL},
    [TN_U_ROUND] = {round_f32, round_f64, id_i64, id_i32, id_u8, NULL},
    [TN_U_SIGN] = ALLNUM(sign),
    [TN_U_RECIPROCAL] = FLOATS(recip),
    [TN_U_LOGICAL_NOT] = {not_f32, not_f64, not_i64, not_i32, not_u8, not_u8},
    [TN_U_ISNAN] = {isnan_f32, isnan_f64, isnan_i64, isnan_i32, isnan_u8, isnan_u8},
    [TN_U_GELU_DERIV] = FLOATS(gelud),
};

static const char *const un_names[TN_U_COUNT + 1] = {
    "neg", "abs", "exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tanh",
    "sigmoid", "relu", "gelu", "silu", "softplus", "floor", "ceil", "round", "sign",
    "reciprocal", "logical_not", "isnan", "gelu_deriv"};

static const tn_op un_ops[TN_U_COUNT] = {
    [TN_U_NEG] = TN_OP_NEG, [TN_U_ABS] = TN_OP_ABS, [TN_U_EXP] = TN_OP_EXP,
    [TN_U_LOG] = TN_OP_LOG, [TN_U_LOG1P] = TN_OP_LOG1P, [TN_U_SQRT] = TN_OP_SQRT,
    [TN_U_RSQRT] = TN_OP_RSQRT, [TN_U_SIN] = TN_OP_SIN, [TN_U_COS] = TN_OP_COS,
    [TN_U_TANH] = TN_OP_TANH, [TN_U_SIGMOID] = TN_OP_SIGMOID, [TN_U_RELU] = TN_OP_RELU,
    [TN_U_GELU] = TN_OP_GELU, [TN_U_SILU] = TN_OP_SILU, [TN_U_SOFTPLUS] = TN_OP_SOFTPLUS,
    [TN_U_RECIPROCAL] = TN_OP_RECIPROCAL,
};
static bool un_differentiable(int k) {
    return k < TN_U_COUNT && k != TN_U_FLOOR && k != TN_U_CEIL && k != TN_U_ROUND &&
           k != TN_U_SIGN && k != TN_U_LOGICAL_NOT && k != TN_U_ISNAN;
}
/* Ops whose backward needs the output rather than the input. */
static bool un_saves_output(int k) {
    return k == TN_U_EXP || k == TN_U_SQRT || k == TN_U_RSQRT || k == TN_U_TANH ||
           k == TN_U_SIGMOID || k == TN_U_RECIPROCAL;
}

static tn_dtype unary_dtype(int k, tn_dtype in) {
    if (k == TN_U_LOGICAL_NOT || k == TN_U_ISNAN) return TN_BOOL;
    if (un_kernels[k][in]) return in;
    if (in == TN_BOOL && (k == TN_U_RELU || k == TN_U_ABS || k == TN_U_FLOOR || k == TN_U_CEIL ||
                          k == TN_U_ROUND))
        return TN_BOOL;
    return TN_FLOAT32;  /* math on integers computes in float32, as PyTorch */
}

static int run_unary(int k, tn_tensor *out, tn_tensor *x) {
    kernel_fn fn = un_kernels[k][x->dtype];
    if (!fn) {
        tn_error("%s: not supported for dtype %s", un_names[k], tn_dtype_name(x->dtype));
        return -1;
    }
    tn_iter it;
    tn_tensor *ops[2] = {out, x};
    tn_iter_init(&it, 2, ops, out->ndim, out->shape);
    tn_iter_run(&it, fn, NULL);
    return 0;
}

static tn_tensor *unary_forward(int k, tn_tensor *a) {
    tn_dtype ot = unary_dtype(k, a->dtype);
    if (ot == TN_BOOL && a->dtype == TN_BOOL && k != TN_U_LOGICAL_NOT && k != TN_U_ISNAN)
        return tn_clone(a);
    tn_dtype kt = ot == TN_BOOL ? a->dtype : ot;
    if (k == TN_U_NEG && a->dtype == TN_BOOL) {
        tn_error("neg: not supported for bool tensors; use logical_not");
        return NULL;
    }
    tn_tensor *x = as_dtype(a, kt);
    tn_tensor *out = x ? tn_empty(ot, a->ndim, a->shape) : NULL;
    if (out && run_unary(k, out, x) < 0) {
        tn_release(out);
        out = NULL;
    }
    tn_release(x);
    return out;
}

tn_tensor *tn_unary(tn_unary_kind k, tn_tensor *a) {
    if ((unsigned)k >= TN_U_COUNT) {
        tn_error("unary: bad op %d", (int)k);
        return NULL;
    }
    tn_tensor *out = unary_forward(k, a);
    if (!out || !un_differentiable(k) || !tn_grad_needed1(a) || !tn_dtype_is_float(out->dtype))
        return out;
    tn_node *n = tn_record(un_ops[k], out, 1, &a);
    if (!n) {
        tn_release(out);
        return NULL;
    }
    tn_save(n, un_saves_output(k) ? out : a);
    return out;
}

int tn_unary_(tn_unary_kind k, tn_tensor *a) {
    if (tn_inplace_check(a, un_names[k]) < 0) return -1;
    if (unary_dtype(k, a->dtype) != a->dtype) {
        tn_error("%s_: result type %s can't be cast to the tensor's dtype %s", un_names[k],
                 tn_dtype_name(unary_dtype(k, a->dtype)), tn_dtype_name(a->dtype));
        return -1;
    }
    if (tn_grad_needed1(a) && un_differentiable(k)) {
        tn_tensor *c = tn_clone(a), *r = c ? tn_unary(k, c) : NULL;
        int rc = r ? rebase_inplace(a, r) : -1;
        tn_release(c);
        tn_release(r);
        return rc;
    }
    int rc = run_unary(k, a, a);
    if (rc == 0) tn_bump_version(a);
    return rc;
}

/* ===================== parameterised elementwise ops ===================== */

typedef struct { double lo, hi; } range_ctx;

#define DEF_CLAMP(sfx, T)                                                         \
    static void clamp_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) {  \
        range_ctx *c = vctx;                                                      \
        T *o = (T *)p[0];                                                         \
        const T *xs = (const T *)p[1];                                            \
        for (int64_t i = 0; i < n; i++) {                                         \
            double x = (double)xs[i * s[1]];                                      \
            if (x != x) { o[i * s[0]] = xs[i * s[1]]; continue; }                 \
            if (c->lo == c->lo && x < c->lo) x = c->lo;                           \
            if (c->hi == c->hi && x > c->hi) x = c->hi;                           \
            o[i * s[0]] = (T)x;                                                   \
        }                                                                         \
    }
DEF_CLAMP(f32, float)
DEF_CLAMP(f64, double)
DEF_CLAMP(i64, int64_t)
DEF_CLAMP(i32, int32_t)
DEF_CLAMP(u8, uint8_t)
static const kernel_fn clamp_kernels[TN_DTYPE_COUNT] = {clamp_f32, clamp_f64, clamp_i64,
                                                        clamp_i32, clamp_u8, NULL};

#define DEF_LEAKY(sfx, T)                                                         \
    static void leaky_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) {  \
        T slope = (T)((range_ctx *)vctx)->lo;                                     \
        T *o = (T *)p[0];                                                         \
        const T *xs = (const T *)p[1];                                            \
        for (int64_t i = 0; i < n; i++) {                                         \
            T x = xs[i * s[1]];                                                   \
            o[i * s[0]] = x > 0 ? x : x * slope;                                  \
        }                                                                         \
    }
DEF_LEAKY(f32, float)
DEF_LEAKY(f64, double)

static tn_tensor *param_unary(const char *op, kernel_fn fn, tn_tensor *x, range_ctx *c) {
    if (!fn) {
        tn_error("%s: not supported for dtype %s", op, tn_dtype_name(x->dtype));
        return NULL;
    }
    tn_tensor *out = tn_empty(x->dtype, x->ndim, x->shape);
    if (!out) return NULL;
    tn_iter it;
    tn_tensor *ops[2] = {out, x};
    tn_iter_init(&it, 2, ops, out->ndim, out->shape);
    tn_iter_run(&it, fn, c);
    return out;
}

tn_tensor *tn_clamp(tn_tensor *a, double lo, double hi) {
    range_ctx c = {lo, hi};
    tn_tensor *out = param_unary("clamp", clamp_kernels[a->dtype], a, &c);
    if (out && tn_grad_needed1(a)) {
        tn_node *n = tn_record(TN_OP_CLAMP, out, 1, &a);
        if (!n) { tn_release(out); return NULL; }
        tn_save(n, a);
        n->farg[0] = lo;
        n->farg[1] = hi;
    }
    return out;
}

int tn_clamp_(tn_tensor *a, double lo, double hi) {
    if (tn_inplace_check(a, "clamp") < 0) return -1;
    tn_tensor *r = tn_clamp(a, lo, hi);
    if (!r) return -1;
    int rc = rebase_inplace(a, r);
    tn_release(r);
    if (rc == 0 && !a->grad_fn) tn_bump_version(a);
    return rc;
}

tn_tensor *tn_leaky_relu(tn_tensor *a, double slope) {
    range_ctx c = {slope, 0};
    tn_tensor *x = tn_dtype_is_float(a->dtype) ? tn_retain(a) : as_dtype(a, TN_FLOAT32);
    if (!x) return NULL;
    tn_tensor *out = param_unary("leaky_relu", a->dtype == TN_FLOAT64 ? leaky_f64 : leaky_f32, x, &c);
    tn_release(x);
    if (out && tn_grad_needed1(a)) {
        tn_node *n = tn_record(TN_OP_LEAKY_RELU, out, 1, &a);
        if (!n) { tn_release(out); return NULL; }
        tn_save(n, a);
        n->farg[0] = slope;
    }
    return out;
}

/* where(cond, a, b): select per element; cond is any dtype (nonzero = true). */
typedef struct { size_t esize; } where_ctx;
#define WHERE_LOOP(T)                                                             \
    for (int64_t i = 0; i < n; i++)                                               \
        ((T *)p[0])[i * s[0]] = ((const uint8_t *)p[1])[i * s[1]] ? ((const T *)p[2])[i * s[2]] \
                                                                   : ((const T *)p[3])[i * s[3]];
static void where_kernel(void *vctx, int64_t n, char **p, const int64_t *s) {
    size_t es = ((where_ctx *)vctx)->esize;
    /* typed loops for the common sizes (relu's backward runs through here) */
    if (es == 4) { WHERE_LOOP(uint32_t) return; }
    if (es == 8) { WHERE_LOOP(uint64_t) return; }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *c = (const uint8_t *)p[1] + i * s[1];
        const char *src = *c ? p[2] + i * s[2] * (int64_t)es : p[3] + i * s[3] * (int64_t)es;
        memcpy(p[0] + i * s[0] * (int64_t)es, src, es);
    }
}

tn_tensor *tn_where(tn_tensor *cond, tn_tensor *a, tn_tensor *b) {
    int64_t s1[TN_MAX_DIMS], shape[TN_MAX_DIMS];
    int n1 = tn_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, s1, "where");
    if (n1 < 0) return NULL;
    int nd = tn_broadcast_shapes(cond->shape, cond->ndim, s1, n1, shape, "where");
    if (nd < 0) return NULL;
    tn_dtype ct = tn_result_type(a, b);
    tn_tensor *cc = as_dtype(cond, TN_BOOL);
    tn_tensor *ca = cc ? as_dtype(a, ct) : NULL, *cb = ca ? as_dtype(b, ct) : NULL;
    tn_tensor *out = cb ? tn_empty(ct, nd, shape) : NULL;
    if (out) {
        where_ctx wc = {tn_dtype_size(ct)};
        tn_iter it;
        tn_tensor *ops[4] = {out, cc, ca, cb};
        tn_iter_init(&it, 4, ops, nd, shape);
        tn_iter_run(&it, where_kernel, &wc);
    }
    if (out && tn_dtype_is_float(ct) && tn_grad_needed2(a, b)) {
        tn_node *n = tn_record(TN_OP_WHERE, out, 2, (tn_tensor *[]){a, b});
        if (!n) {
            tn_release(out);
            out = NULL;
        } else {
            tn_save(n, cc);
        }
    }
    tn_release(cc);
    tn_release(ca);
    tn_release(cb);
    return out;
}

tn_tensor *tn_masked_fill(tn_tensor *a, tn_tensor *mask, double v) {
    if (mask->dtype != TN_BOOL) {
        tn_error("masked_fill: mask must be a bool tensor, got %s", tn_dtype_name(mask->dtype));
        return NULL;
    }
    tn_tensor *val = tn_scalar(a->dtype, v);
    if (!val) return NULL;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *out = tn_where(mask, val, a);
    tn_set_grad_enabled(was);
    tn_release(val);
    if (out && !tn_same_shape(out, a)) {
        char s1[128], s2[128];
        tn_error("masked_fill: mask of shape %s does not broadcast to the tensor's shape %s",
                 tn_shape_str(mask->shape, mask->ndim, s1, sizeof s1),
                 tn_shape_str(a->shape, a->ndim, s2, sizeof s2));
        tn_release(out);
        return NULL;
    }
    if (out && tn_grad_needed1(a)) {
        tn_node *n = tn_record(TN_OP_MASKED_FILL, out, 1, &a);
        if (!n) { tn_release(out); return NULL; }
        tn_save(n, mask);
    }
    return out;
}

/* ===================== conversion, copy, fill ===================== */

#define DEF_CAST(name, OT, T)                                                     \
    static void name(void *ctx, int64_t n, char **p, const int64_t *s) {          \
        (void)ctx;                                                                \
        OT *o = (OT *)p[0];                                                       \
        const T *x = (const T *)p[1];                                             \
        for (int64_t i = 0; i < n; i++) o[i * s[0]] = (OT)x[i * s[1]];            \
    }
/* float -> integer casts go through tn_store's saturation (no UB on NaN) */
static void cast_generic(void *ctx, int64_t n, char **p, const int64_t *s) {
    const tn_dtype *dts = ctx;  /* {out, in} */
    size_t eo = tn_dtype_size(dts[0]), ei = tn_dtype_size(dts[1]);
    for (int64_t i = 0; i < n; i++)
        tn_store(dts[0], p[0] + i * s[0] * (int64_t)eo, 0, tn_load(dts[1], p[1] + i * s[1] * (int64_t)ei, 0));
}
DEF_CAST(cast_f32_f64, float, double)
DEF_CAST(cast_f64_f32, double, float)
DEF_CAST(cast_f32_i64, float, int64_t)
DEF_CAST(cast_f64_i64, double, int64_t)
DEF_CAST(cast_f32_u8, float, uint8_t)
DEF_CAST(cast_f64_u8, double, uint8_t)
DEF_CAST(cast_i64_i32, int64_t, int32_t)
DEF_CAST(cast_i64_u8, int64_t, uint8_t)
DEF_CAST(cast_f32_i32, float, int32_t)

static void copy_kernel(void *ctx, int64_t n, char **p, const int64_t *s) {
    size_t es = *(const size_t *)ctx;
    if (s[0] == 1 && s[1] == 1) {
        memcpy(p[0], p[1], (size_t)n * es);
        return;
    }
    switch (es) {
    case 8: for (int64_t i = 0; i < n; i++) ((uint64_t *)p[0])[i * s[0]] = ((const uint64_t *)p[1])[i * s[1]]; break;
    case 4: for (int64_t i = 0; i < n; i++) ((uint32_t *)p[0])[i * s[0]] = ((const uint32_t *)p[1])[i * s[1]]; break;
    default: for (int64_t i = 0; i < n; i++) p[0][i * s[0]] = p[1][i * s[1]]; break;
    }
}

/* dst[...] = src, broadcasting src, converting dtype.  No autograd. */
static int copy_raw(tn_tensor *dst, tn_tensor *src) {
    int64_t shape[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(dst->shape, dst->ndim, src->shape, src->ndim, shape, "copy_");
    if (nd < 0) return -1;
    if (nd != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        char s1[128], s2[128];
        tn_error("copy_: source of shape %s does not broadcast to shape %s",
                 tn_shape_str(src->shape, src->ndim, s1, sizeof s1),
                 tn_shape_str(dst->shape, dst->ndim, s2, sizeof s2));
        return -1;
    }
    tn_iter it;
    tn_tensor *ops[2] = {dst, src};
    tn_iter_init(&it, 2, ops, dst->ndim, dst->shape);
    if (dst->dtype == src->dtype) {
        size_t es = tn_dtype_size(dst->dtype);
        tn_iter_run(&it, copy_kernel, &es);
        return 0;
    }
    kernel_fn fn = NULL;
    tn_dtype o = dst->dtype, i = src->dtype;
    if (o == TN_FLOAT32 && i == TN_FLOAT64) fn = cast_f32_f64;
    else if (o == TN_FLOAT64 && i == TN_FLOAT32) fn = cast_f64_f32;
    else if (o == TN_FLOAT32 && i == TN_INT64) fn = cast_f32_i64;
    else if (o == TN_FLOAT64 && i == TN_INT64) fn = cast_f64_i64;
    else if (o == TN_FLOAT32 && (i == TN_UINT8 || i == TN_BOOL)) fn = cast_f32_u8;
    else if (o == TN_FLOAT64 && (i == TN_UINT8 || i == TN_BOOL)) fn = cast_f64_u8;
    else if (o == TN_INT64 && i == TN_INT32) fn = cast_i64_i32;
    else if (o == TN_INT64 && (i == TN_UINT8 || i == TN_BOOL)) fn = cast_i64_u8;
    else if (o == TN_FLOAT32 && i == TN_INT32) fn = cast_f32_i32;
    tn_dtype dts[2] = {o, i};
    tn_iter_run(&it, fn ? fn : cast_generic, dts);
    return 0;
}

int tn_copy_(tn_tensor *dst, tn_tensor *src) {
    if (tn_inplace_check(dst, "copy_") < 0) return -1;
    if (tn_grad_needed1(src) && tn_dtype_is_float(dst->dtype)) {
        /* copying a tensor with history: dst takes over src's history */
        tn_tensor *r = tn_to(src, dst->dtype);
        if (!r) return -1;
        tn_tensor *e = tn_same_shape(r, dst) ? tn_retain(r) : tn_expand(r, dst->ndim, dst->shape);
        tn_release(r);
        if (!e) return -1;
        int rc = copy_raw(dst, e);
        if (rc == 0 && e->grad_fn) {
            if (dst->grad_fn) tn_node_release(dst->grad_fn);
            dst->grad_fn = tn_node_retain(e->grad_fn);
            dst->requires_grad = true;
        }
        tn_release(e);
        if (rc == 0) tn_bump_version(dst);
        return rc;
    }
    int rc = copy_raw(dst, src);
    if (rc == 0) tn_bump_version(dst);
    return rc;
}

tn_tensor *tn_to(tn_tensor *t, tn_dtype dt) {
    if (t->dtype == dt) return tn_retain(t);
    tn_tensor *out = tn_empty(dt, t->ndim, t->shape);
    if (!out) return NULL;
    copy_raw(out, t);
    if (tn_dtype_is_float(dt) && tn_dtype_is_float(t->dtype) && tn_grad_needed1(t)) {
        if (!tn_record(TN_OP_TO, out, 1, &t)) {
            tn_release(out);
            return NULL;
        }
    }
    return out;
}

tn_tensor *tn_clone(tn_tensor *t) {
    tn_tensor *out = tn_empty(t->dtype, t->ndim, t->shape);
    if (!out) return NULL;
    copy_raw(out, t);
    if (tn_grad_needed1(t) && !tn_record(TN_OP_CLONE, out, 1, &t)) {
        tn_release(out);
        return NULL;
    }
    return out;
}

tn_tensor *tn_contiguous(tn_tensor *t) {
    return tn_is_contiguous(t) ? tn_retain(t) : tn_clone(t);
}

#define DEF_FILL(sfx, T)                                                          \
    static void fill_##sfx(void *vctx, int64_t n, char **p, const int64_t *s) {   \
        T v = *(const T *)vctx;                                                   \
        T *o = (T *)p[0];                                                         \
        if (s[0] == 1) for (int64_t i = 0; i < n; i++) o[i] = v;                  \
        else for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;                     \
    }
DEF_FILL(8, uint64_t)
DEF_FILL(4, uint32_t)
DEF_FILL(1, uint8_t)

int tn_fill_(tn_tensor *t, double v) {
    if (tn_inplace_check(t, "fill_") < 0) return -1;
    union { uint64_t u8; uint32_t u4; uint8_t u1; char raw[8]; } val = {0};
    tn_store(t->dtype, val.raw, 0, v);
    tn_iter it;
    tn_iter_init(&it, 1, &t, t->ndim, t->shape);
    size_t es = tn_dtype_size(t->dtype);
    tn_iter_run(&it, es == 8 ? fill_8 : es == 4 ? fill_4 : fill_1, val.raw);
    tn_bump_version(t);
    return 0;
}

int tn_zero_(tn_tensor *t) { return tn_fill_(t, 0); }

/* ===================== backward rules ===================== */
/* Each receives g (the output's gradient) and fills gin[]; the engine sums
 * broadcast gradients down to each input's shape. */

#define SAVED(i) tn_saved(n, i)
#define CHECK(x) do { if (!(x)) return -1; } while (0)

int add_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    (void)n;
    gin[0] = tn_retain(g);
    gin[1] = tn_retain(g);
    return 0;
}

int sub_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    (void)n;
    gin[0] = tn_retain(g);
    gin[1] = tn_unary(TN_U_NEG, g);
    return gin[1] ? 0 : -1;
}

int mul_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = SAVED(0), *b = SAVED(1);
    CHECK(a && b);
    if (n->edges[0].fn || n->edges[0].leaf) CHECK(gin[0] = tn_mul(g, b));
    if (n->edges[1].fn || n->edges[1].leaf) CHECK(gin[1] = tn_mul(g, a));
    return 0;
}

int div_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *b = SAVED(0), *out = SAVED(1);
    CHECK(b && out);
    CHECK(gin[0] = tn_div(g, b));
    if (n->edges[1].fn || n->edges[1].leaf) {
        /* d(a/b)/db = -out / b */
        tn_tensor *t = tn_div(out, b);
        tn_tensor *u = t ? tn_mul(g, t) : NULL;
        tn_release(t);
        CHECK(u);
        gin[1] = tn_unary(TN_U_NEG, u);
        tn_release(u);
        CHECK(gin[1]);
    }
    return 0;
}

int pow_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = SAVED(0), *b = SAVED(1), *out = SAVED(2);
    CHECK(a && b && out);
    if (n->edges[0].fn || n->edges[0].leaf) {
        /* b * a^(b-1) */
        tn_tensor *bm1 = tn_add_scalar(b, -1.0);
        tn_tensor *p = bm1 ? tn_binary(TN_B_POW, a, bm1) : NULL;
        tn_tensor *q = p ? tn_mul(p, b) : NULL;
        gin[0] = q ? tn_mul(g, q) : NULL;
        tn_release(bm1);
        tn_release(p);
        tn_release(q);
        CHECK(gin[0]);
    }
    if (n->edges[1].fn || n->edges[1].leaf) {
        /* out * log(a), 0 where a == 0 (PyTorch's convention) */
        tn_tensor *la = tn_unary(TN_U_LOG, a);
        tn_tensor *zero = tn_scalar(la ? la->dtype : TN_FLOAT32, 0);
        tn_tensor *isz = tn_binary(TN_B_EQ, a, zero);
        tn_tensor *safe = la && isz ? tn_where(isz, zero, la) : NULL;
        tn_tensor *t = safe ? tn_mul(out, safe) : NULL;
        gin[1] = t ? tn_mul(g, t) : NULL;
        tn_release(la); tn_release(zero); tn_release(isz); tn_release(safe); tn_release(t);
        CHECK(gin[1]);
    }
    return 0;
}

/* maximum/minimum: the gradient goes to the selected input, split on ties. */
static int minmax_backward(tn_node *n, tn_tensor *g, tn_tensor **gin, tn_binary_kind pick) {
    tn_tensor *a = SAVED(0), *b = SAVED(1);
    CHECK(a && b);
    tn_tensor *wa = tn_binary(pick, a, b), *tie = tn_binary(TN_B_EQ, a, b);
    tn_tensor *fa = wa ? tn_to(wa, g->dtype) : NULL, *ft = tie ? tn_to(tie, g->dtype) : NULL;
    tn_tensor *half = ft ? tn_mul_scalar(ft, 0.5) : NULL;
    tn_tensor *ka = fa && half ? tn_add(fa, half) : NULL;  /* weight of a */
    tn_tensor *one = tn_scalar(g->dtype, 1);
    tn_tensor *kb = ka ? tn_sub(one, ka) : NULL;         /* b wins: 1, tie: 0.5 */
    gin[0] = ka ? tn_mul(g, ka) : NULL;
    gin[1] = kb ? tn_mul(g, kb) : NULL;
    tn_release(wa); tn_release(tie); tn_release(fa); tn_release(ft); tn_release(half);
    tn_release(ka); tn_release(one); tn_release(kb);
    return gin[0] && gin[1] ? 0 : -1;
}
int maximum_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return minmax_backward(n, g, gin, TN_B_GT); }
int minimum_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return minmax_backward(n, g, gin, TN_B_LT); }

int neg_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    (void)n;
    return (gin[0] = tn_unary(TN_U_NEG, g)) ? 0 : -1;
}

/* gin = g * f(saved) where f is one unary op */
static int chain_unary(tn_node *n, tn_tensor *g, tn_tensor **gin, int k) {
    tn_tensor *x = SAVED(0);
    CHECK(x);
    tn_tensor *d = unary_forward(k, x);
    CHECK(d);
    gin[0] = tn_mul(g, d);
    tn_release(d);
    return gin[0] ? 0 : -1;
}
int abs_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return chain_unary(n, g, gin, TN_U_SIGN); }
int exp_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *out = SAVED(0);
    CHECK(out);
    return (gin[0] = tn_mul(g, out)) ? 0 : -1;
}
int log_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = SAVED(0);
    CHECK(x);
    return (gin[0] = tn_div(g, x)) ? 0 : -1;
}
int log1p_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = SAVED(0);
    CHECK(x);
    tn_tensor *x1 = tn_add_scalar(x, 1.0);
    CHECK(x1);
    gin[0] = tn_div(g, x1);
    tn_release(x1);
    return gin[0] ? 0 : -1;
}
int sqrt_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *out = SAVED(0);
    CHECK(out);
    tn_tensor *t = tn_mul_scalar(out, 2.0);
    CHECK(t);
    gin[0] = tn_div(g, t);
    tn_release(t);
    return gin[0] ? 0 : -1;
}
int rsqrt_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *out = SAVED(0);
    CHECK(out);
    tn_tensor *c = tn_pow_scalar(out, 3.0), *d = c ? tn_mul_scalar(c, -0.5) : NULL;
    gin[0] = d ? tn_mul(g, d) : NULL;
    tn_release(c);
    tn_release(d);
    return gin[0] ? 0 : -1;
}
int sin_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return chain_unary(n, g, gin, TN_U_COS); }
int cos_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    CHECK(chain_unary(n, g, gin, TN_U_SIN) == 0);
    tn_tensor *t = tn_unary(TN_U_NEG, gin[0]);
    tn_release(gin[0]);
    gin[0] = t;
    return t ? 0 : -1;
}
int tanh_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *out = SAVED(0);
    CHECK(out);
    tn_tensor *sq = tn_mul(out, out), *one = tn_scalar(out->dtype, 1);
    tn_tensor *d = sq && one ? tn_sub(one, sq) : NULL;
    gin[0] = d ? tn_mul(g, d) : NULL;
    tn_release(sq); tn_release(one); tn_release(d);
    return gin[0] ? 0 : -1;
}
int sigmoid_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *out = SAVED(0);
    CHECK(out);
    tn_tensor *one = tn_scalar(out->dtype, 1);
    tn_tensor *c = one ? tn_sub(one, out) : NULL, *d = c ? tn_mul(out, c) : NULL;
    gin[0] = d ? tn_mul(g, d) : NULL;
    tn_release(one); tn_release(c); tn_release(d);
    return gin[0] ? 0 : -1;
}
/* relu's backward as one typed pass: gin = x > 0 ? g : 0 (it runs on every
 * hidden activation of every step, so it gets its own vectorised loop). */
#define RELU_GRAD_LOOP(T)                                                         \
    do {                                                                          \
        T *o = (T *)p[0];                                                         \
        const T *gg = (const T *)p[1], *xx = (const T *)p[2];                     \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1)                                  \
            for (int64_t i = 0; i < n; i++) o[i] = xx[i] > 0 ? gg[i] : (T)0;      \
        else                                                                      \
            for (int64_t i = 0; i < n; i++)                                       \
                o[i * s[0]] = xx[i * s[2]] > 0 ? gg[i * s[1]] : (T)0;             \
    } while (0)
static void relu_grad_f32(void *ctx, int64_t n, char **p, const int64_t *s) { (void)ctx; RELU_GRAD_LOOP(float); }
static void relu_grad_f64(void *ctx, int64_t n, char **p, const int64_t *s) { (void)ctx; RELU_GRAD_LOOP(double); }

int relu_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = SAVED(0);
    CHECK(x);
    if (x->dtype != g->dtype || !tn_same_shape(x, g)) {
        tn_error("relu backward: gradient %s does not match the input", tn_dtype_name(g->dtype));
        return -1;
    }
    tn_tensor *out = tn_empty(g->dtype, g->ndim, g->shape);
    CHECK(out);
    tn_iter it;
    tn_tensor *ops[3] = {out, g, x};
    tn_iter_init(&it, 3, ops, out->ndim, out->shape);
    tn_iter_run(&it, g->dtype == TN_FLOAT64 ? relu_grad_f64 : relu_grad_f32, NULL);
    gin[0] = out;
    return 0;
}
int gelu_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return chain_unary(n, g, gin, TN_U_GELU_DERIV);
}
int silu_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    /* s * (1 + x * (1 - s)) */
    tn_tensor *x = SAVED(0);
    CHECK(x);
    tn_tensor *s = unary_forward(TN_U_SIGMOID, x), *one = tn_scalar(x->dtype, 1);
    tn_tensor *c = s ? tn_sub(one, s) : NULL, *d = c ? tn_mul(x, c) : NULL;
    tn_tensor *e = d ? tn_add(one, d) : NULL, *f = e ? tn_mul(s, e) : NULL;
    gin[0] = f ? tn_mul(g, f) : NULL;
    tn_release(s); tn_release(one); tn_release(c); tn_release(d); tn_release(e); tn_release(f);
    return gin[0] ? 0 : -1;
}
int softplus_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return chain_unary(n, g, gin, TN_U_SIGMOID);
}
int reciprocal_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *out = SAVED(0);
    CHECK(out);
    tn_tensor *sq = tn_mul(out, out), *d = sq ? tn_unary(TN_U_NEG, sq) : NULL;
    gin[0] = d ? tn_mul(g, d) : NULL;
    tn_release(sq);
    tn_release(d);
    return gin[0] ? 0 : -1;
}
int leaky_relu_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = SAVED(0);
    CHECK(x);
    tn_tensor *zero = tn_scalar(x->dtype, 0), *sl = tn_scalar(g->dtype, n->farg[0]);
    tn_tensor *m = zero ? tn_binary(TN_B_GT, x, zero) : NULL;
    tn_tensor *gs = sl ? tn_mul(g, sl) : NULL;
    gin[0] = m && gs ? tn_where(m, g, gs) : NULL;
    tn_release(zero); tn_release(sl); tn_release(m); tn_release(gs);
    return gin[0] ? 0 : -1;
}
int clamp_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    /* gradient passes where lo <= x <= hi */
    tn_tensor *x = SAVED(0);
    CHECK(x);
    double lo = n->farg[0], hi = n->farg[1];
    tn_tensor *zero = tn_scalar(g->dtype, 0);
    tn_tensor *keep = tn_ones(TN_BOOL, x->ndim, x->shape);
    if (keep && lo == lo) {
        tn_tensor *l = tn_scalar(x->dtype, lo), *m = l ? tn_binary(TN_B_GE, x, l) : NULL;
        if (m) tn_binary_(TN_B_AND, keep, m);
        tn_release(l);
        tn_release(m);
    }
    if (keep && hi == hi) {
        tn_tensor *h = tn_scalar(x->dtype, hi), *m = h ? tn_binary(TN_B_LE, x, h) : NULL;
        if (m) tn_binary_(TN_B_AND, keep, m);
        tn_release(h);
        tn_release(m);
    }
    gin[0] = keep && zero ? tn_where(keep, g, zero) : NULL;
    tn_release(zero);
    tn_release(keep);
    return gin[0] ? 0 : -1;
}
int where_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *c = SAVED(0);
    CHECK(c);
    tn_tensor *zero = tn_scalar(g->dtype, 0);
    CHECK(zero);
    gin[0] = tn_where(c, g, zero);
    gin[1] = tn_where(c, zero, g);
    tn_release(zero);
    return gin[0] && gin[1] ? 0 : -1;
}
int masked_fill_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *m = SAVED(0);
    CHECK(m);
    tn_tensor *zero = tn_scalar(g->dtype, 0);
    gin[0] = zero ? tn_where(m, zero, g) : NULL;
    tn_release(zero);
    return gin[0] ? 0 : -1;
}
int to_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return (gin[0] = tn_to(g, n->edges[0].dtype)) ? 0 : -1;
}
int clone_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    (void)n;
    gin[0] = tn_retain(g);
    return 0;
}

/* ===================== shared with elementwise_math.c ===================== */

tn_tensor *tn_as_dtype(tn_tensor *t, tn_dtype dt) { return as_dtype(t, dt); }
int tn_rebase_inplace(tn_tensor *t, tn_tensor *r) { return rebase_inplace(t, r); }
