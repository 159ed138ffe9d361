/*
 * activation.c: the pointwise activations of nn that run in hot loops, each
 * a forward kernel with its backward beside it, PyTorch's formulas (and its
 * choices at the kinks):
 *
 *   elu          x > 0 ? scale*x : scale*alpha*(exp(x*input_scale) - 1)
 *                (SELU and CELU are ELU with fixed scale / input_scale)
 *   hardtanh     clamp(x, min, max); gradient 1 strictly inside (ReLU6 = hardtanh(0, 6))
 *   hardsigmoid  clamp(x/6 + 1/2, 0, 1)
 *   hardswish    x * hardsigmoid(x)
 *   mish         x * tanh(softplus(x))
 *   log_sigmoid  -softplus(-x) = min(x, 0) - log1p(exp(-|x|)), stable for any x
 *   prelu        x > 0 ? x : w[c]*x, one learnable slope per channel (dim 2)
 *
 * Inputs are float32 or float64 of any strides (non-contiguous ones are
 * copied); outputs are contiguous and of the input's dtype.  The elementwise
 * activations share one backward rule (act_backward), which reads the kind
 * from the node's op code and the parameters from n->farg; it keeps the
 * contiguous input, not the output, since every derivative here is simplest
 * in x.  Loops run in parallel over fixed chunks.
 */
#include "nn/nn.h"
#include "nn/vexp.h"

#include <math.h>
#include <string.h>

#define ACT_GRAIN 16384

typedef struct {
    int kind;                 /* NN_OP_ELU ... NN_OP_LOG_SIGMOID */
    double p0, p1, p2;        /* elu: alpha, scale, input_scale; hardtanh: min, max */
    const void *x;            /* contiguous input */
    void *out;                /* forward: the result */
    const void *g;            /* backward: contiguous upstream gradient */
    void *gx;                 /* backward: the input gradient */
} act_ctx;

/* ---- per-dtype helpers ----
 * float32 goes through vexp.h's branch-free exp (libm's expf/log1pf are one
 * call per element and stop the loops from vectorising; these were 10x
 * slower than the selects around them); float64 keeps libm.  Every f32
 * helper takes the exp of a non-positive argument only, so nothing overflows. */

/* exp(t) for t <= 0 */
static inline float exp_nonpos_f32(float t) { return vexpf_neg(t); }
static inline double exp_nonpos_f64(double t) { return exp(t); }

/* expm1(t) for t <= 0: near 0, e^t - 1 would cancel down to the exp's
 * absolute error (1e-7), so |t| < 1/4 takes the Taylor series (to t^7,
 * within 1e-8 relative) */
static inline float expm1_nonpos_f32(float t) {
    float p = t * (1.0f / 7) + 1.0f;
    p = p * t * (1.0f / 6) + 1.0f;
    p = p * t * (1.0f / 5) + 1.0f;
    p = p * t * (1.0f / 4) + 1.0f;
    p = p * t * (1.0f / 3) + 1.0f;
    p = p * t * (1.0f / 2) + 1.0f;
    p = p * t;
    return t > -0.25f ? p : vexpf_neg(t) - 1.0f;
}
static inline double expm1_nonpos_f64(double t) { return expm1(t); }

/* log1p(e) for e in [0, 1] as 2 atanh(e / (2 + e)): s <= 1/3, so the odd
 * series to s^15 is within 2e-9 relative, and small e loses nothing */
static inline float log1p_unit_f32(float e) {
    float s = e / (2.0f + e), z = s * s;
    float p = 1.0f / 15;
    p = p * z + 1.0f / 13;
    p = p * z + 1.0f / 11;
    p = p * z + 1.0f / 9;
    p = p * z + 1.0f / 7;
    p = p * z + 1.0f / 5;
    p = p * z + 1.0f / 3;
    p = p * z + 1.0f;
    return 2.0f * s * p;
}
static inline double log1p_unit_f64(double e) { return log1p(e); }

/* log(sigmoid(v)) = min(v, 0) - log1p(exp(-|v|)) */
static inline float log_sigmoid_f32(float v) {
    float a = fabsf(v);
    /* beyond 87 the exp clamps at e^-87; the true term is below float's resolution of v */
    float tail = a > 87 ? 0 : log1p_unit_f32(exp_nonpos_f32(-a));
    float r = (v < 0 ? v : 0) - tail;
    return v != v ? v : r;
}
static inline double log_sigmoid_f64(double v) { return (v < 0 ? v : 0) - log1p(exp(-fabs(v))); }

/* sigmoid(v) from u = exp(-|v|) */
#define SIGMOID_FROM_U(v, u) ((v) >= 0 ? 1 / (1 + (u)) : (u) / (1 + (u)))

/* tanh(softplus(v)) = n / (n + 2) with n = e^v (e^v + 2); for v > 0 the
 * same divided by e^2v, in u = exp(-|v|): (1 + 2u) / (1 + 2u + 2u^2) */
#define TANH_SOFTPLUS_FROM_U(v, u) \
    ((v) <= 0 ? (u) * ((u) + 2) / ((u) * ((u) + 2) + 2) : (1 + 2 * (u)) / (1 + 2 * (u) + 2 * (u) * (u)))
/* 1 - tanh(softplus(v)), without the cancellation of 1 - t when t is near 1:
 * 2 / (n + 2), or 2u^2 / (1 + 2u + 2u^2) for v > 0 */
#define ONE_MINUS_TANH_SOFTPLUS_FROM_U(v, u) \
    ((v) <= 0 ? 2 / ((u) * ((u) + 2) + 2) : 2 * (u) * (u) / (1 + 2 * (u) + 2 * (u) * (u)))

#define DEF_ACT(T, sfx)                                                                          \
    static void act_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                          \
        act_ctx *c = vctx;                                                                       \
        const T *x = c->x;                                                                       \
        T *o = c->out;                                                                           \
        switch (c->kind) {                                                                       \
        case NN_OP_ELU: {                                                                        \
            T sa = (T)(c->p0 * c->p1), scale = (T)c->p1, is = (T)c->p2;                          \
            if (is > 0) { /* the usual case: exp of non-positive values, branch-free */          \
                for (int64_t i = lo; i < hi; i++) {                                              \
                    T v = x[i], t = v * is;                                                      \
                    T em1 = expm1_nonpos_##sfx(t < 0 ? t : 0);                                   \
                    o[i] = v != v ? v : v > 0 ? scale * v : sa * em1;                            \
                }                                                                                \
            } else {                                                                             \
                for (int64_t i = lo; i < hi; i++) {                                              \
                    T v = x[i];                                                                  \
                    o[i] = v > 0 ? scale * v : (T)(sa * (exp((double)(v * is)) - 1));            \
                }                                                                                \
            }                                                                                    \
            break;                                                                               \
        }                                                                                        \
        case NN_OP_HARDTANH: {                                                                   \
            T mn = (T)c->p0, mx = (T)c->p1;                                                      \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = x[i];                                                                      \
                o[i] = v != v ? v : v < mn ? mn : v > mx ? mx : v;                               \
            }                                                                                    \
            break;                                                                               \
        }                                                                                        \
        case NN_OP_HARDSIGMOID:                                                                  \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = x[i];                                                                      \
                o[i] = v != v ? v : v <= -3 ? 0 : v >= 3 ? 1 : v / 6 + (T)0.5;                   \
            }                                                                                    \
            break;                                                                               \
        case NN_OP_HARDSWISH:                                                                    \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = x[i];                                                                      \
                o[i] = v != v ? v : v <= -3 ? 0 : v >= 3 ? v : v * (v + 3) / 6;                  \
            }                                                                                    \
            break;                                                                               \
        case NN_OP_MISH:                                                                         \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = x[i], u = exp_nonpos_##sfx(-(v < 0 ? -v : v));                             \
                o[i] = v * TANH_SOFTPLUS_FROM_U(v, u);                                           \
            }                                                                                    \
            break;                                                                               \
        case NN_OP_LOG_SIGMOID:                                                                  \
            for (int64_t i = lo; i < hi; i++) o[i] = log_sigmoid_##sfx(x[i]);                    \
            break;                                                                               \
        default:                                                                                 \
            break;                                                                               \
        }                                                                                        \
    }                                                                                            \
    static void act_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                         \
        act_ctx *c = vctx;                                                                       \
        const T *x = c->x, *g = c->g;                                                            \
        T *gx = c->gx;                                                                           \
        switch (c->kind) {                                                                       \
        case NN_OP_ELU: {                                                                        \
            /* x <= 0: d/dx scale*alpha*(exp(x*is) - 1) = scale*alpha*is*exp(x*is) */            \
            T is = (T)c->p2, neg = (T)(c->p0 * c->p1 * c->p2), scale = (T)c->p1;                 \
            if (is > 0) {                                                                        \
                for (int64_t i = lo; i < hi; i++) {                                              \
                    T v = x[i], t = v * is;                                                      \
                    T e = exp_nonpos_##sfx(t < 0 ? t : 0);                                       \
                    gx[i] = v > 0 ? g[i] * scale : g[i] * neg * e;                               \
                }                                                                                \
            } else {                                                                             \
                for (int64_t i = lo; i < hi; i++) {                                              \
                    T v = x[i];                                                                  \
                    gx[i] = v > 0 ? g[i] * scale : (T)(g[i] * neg * exp((double)(v * is)));      \
                }                                                                                \
            }                                                                                    \
            break;                                                                               \
        }                                                                                        \
        case NN_OP_HARDTANH: {                                                                   \
            T mn = (T)c->p0, mx = (T)c->p1;                                                      \
            for (int64_t i = lo; i < hi; i++) gx[i] = x[i] > mn && x[i] < mx ? g[i] : 0;         \
            break;                                                                               \
        }                                                                                        \
        case NN_OP_HARDSIGMOID:                                                                  \
            for (int64_t i = lo; i < hi; i++) gx[i] = x[i] > -3 && x[i] < 3 ? g[i] / 6 : 0;      \
            break;                                                                               \
        case NN_OP_HARDSWISH:                                                                    \
            /* PyTorch's kinks: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above */                     \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = x[i];                                                                      \
                gx[i] = v < -3 ? 0 : v <= 3 ? g[i] * (v / 3 + (T)0.5) : g[i];                    \
            }                                                                                    \
            break;                                                                               \
        case NN_OP_MISH:                                                                         \
            /* t = tanh(softplus(x)): d/dx x t = t + x sigmoid(x) (1 - t^2) */                   \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = x[i], u = exp_nonpos_##sfx(-(v < 0 ? -v : v));                             \
                T t = TANH_SOFTPLUS_FROM_U(v, u), sg = SIGMOID_FROM_U(v, u);                     \
                T omt = ONE_MINUS_TANH_SOFTPLUS_FROM_U(v, u); /* 1 - t^2 = (1 - t)(1 + t) */     \
                gx[i] = g[i] * (t + v * sg * omt * (1 + t));                                     \
            }                                                                                    \
            break;                                                                               \
        case NN_OP_LOG_SIGMOID:                                                                  \
            /* d/dx log(sigmoid(x)) = sigmoid(-x) */                                             \
            for (int64_t i = lo; i < hi; i++) {                                                  \
                T v = -x[i], u = exp_nonpos_##sfx(-(v < 0 ? -v : v));                            \
                gx[i] = g[i] * SIGMOID_FROM_U(v, u);                                             \
            }                                                                                    \
            break;                                                                               \
        default:                                                                                 \
            break;                                                                               \
        }                                                                                        \
    }
DEF_ACT(float, f32)
DEF_ACT(double, f64)

static int check_float(const char *op, tn_tensor *x) {
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64) {
        tn_error("%s: input must be float32 or float64, got %s", op, tn_dtype_name(x->dtype));
        return -1;
    }
    return 0;
}

/* A contiguous copy (or x itself) without recording: the edge to x itself is
 * recorded by the activation.  New reference. */
static tn_tensor *contiguous_raw(tn_tensor *x) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *c = tn_contiguous(x);
    tn_set_grad_enabled(was);
    return c;
}

static tn_tensor *act_forward(nn_op kind, tn_tensor *x, double p0, double p1, double p2) {
    const char *op = nn_op_names[kind];
    if (check_float(op, x) < 0) return NULL;
    tn_tensor *xc = contiguous_raw(x);
    tn_tensor *out = xc ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    if (!out) {
        tn_release(xc);
        return NULL;
    }
    act_ctx c = {.kind = (int)kind, .p0 = p0, .p1 = p1, .p2 = p2, .x = tn_data(xc), .out = tn_data(out)};
    tn_parallel_for(x->numel, ACT_GRAIN, x->dtype == TN_FLOAT32 ? act_forward_f32 : act_forward_f64, &c);
    if (tn_grad_needed1(x)) {
        tn_node *n = nn_record(kind, out, 1, &x);
        if (!n) {
            tn_release(out);
            tn_release(xc);
            return NULL;
        }
        n->farg[0] = p0;
        n->farg[1] = p1;
        n->farg[2] = p2;
        tn_save(n, xc);
    }
    tn_release(xc);
    return out;
}

/* the shared backward of the elementwise activations */
int act_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0);
    if (!x) return -1;
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *gx = gc ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    if (!gx) {
        tn_release(gc);
        return -1;
    }
    act_ctx c = {.kind = n->op - NN_OP_BASE, .p0 = n->farg[0], .p1 = n->farg[1], .p2 = n->farg[2],
                 .x = tn_data(x), .g = tn_data(gc), .gx = tn_data(gx)};
    tn_parallel_for(x->numel, ACT_GRAIN, x->dtype == TN_FLOAT32 ? act_backward_f32 : act_backward_f64, &c);
    tn_release(gc);
    gin[0] = gx;
    return 0;
}

tn_tensor *nn_elu(tn_tensor *x, double alpha, double scale, double input_scale) {
    return act_forward(NN_OP_ELU, x, alpha, scale, input_scale);
}

tn_tensor *nn_hardtanh(tn_tensor *x, double min_val, double max_val) {
    if (!(min_val <= max_val)) {
        tn_error("hardtanh: min_val (%g) must not be greater than max_val (%g)", min_val, max_val);
        return NULL;
    }
    return act_forward(NN_OP_HARDTANH, x, min_val, max_val, 0);
}

tn_tensor *nn_hardsigmoid(tn_tensor *x) { return act_forward(NN_OP_HARDSIGMOID, x, 0, 0, 0); }
tn_tensor *nn_hardswish(tn_tensor *x) { return act_forward(NN_OP_HARDSWISH, x, 0, 0, 0); }
tn_tensor *nn_mish(tn_tensor *x) { return act_forward(NN_OP_MISH, x, 0, 0, 0); }
tn_tensor *nn_log_sigmoid(tn_tensor *x) { return act_forward(NN_OP_LOG_SIGMOID, x, 0, 0, 0); }

/* ---------- prelu ---------- */

typedef struct {
    const void *x, *w, *g;
    void *out, *gx, *gwe;     /* gwe: per-element slope gradient g*x where x <= 0, (N, C, inner) */
    int64_t C, inner;         /* channel of element i: (i / inner) % C; C = 1: one slope */
} prelu_ctx;

#define DEF_PRELU(T, sfx)                                                                        \
    static void prelu_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                        \
        prelu_ctx *c = vctx;                                                                     \
        const T *x = c->x, *w = c->w;                                                            \
        T *o = c->out;                                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                      \
            T a = w[(i / c->inner) % c->C];                                                      \
            o[i] = x[i] > 0 ? x[i] : a * x[i];                                                   \
        }                                                                                        \
    }                                                                                            \
    static void prelu_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        prelu_ctx *c = vctx;                                                                     \
        const T *x = c->x, *w = c->w, *g = c->g;                                                 \
        T *gx = c->gx, *gwe = c->gwe;                                                            \
        for (int64_t i = lo; i < hi; i++) {                                                      \
            bool pos = x[i] > 0;                                                                 \
            if (gx) gx[i] = pos ? g[i] : w[(i / c->inner) % c->C] * g[i];                        \
            if (gwe) gwe[i] = pos ? 0 : g[i] * x[i];                                             \
        }                                                                                        \
    }
DEF_PRELU(float, f32)
DEF_PRELU(double, f64)

/* channel count and inner size of x for a weight of w_numel slopes */
static int prelu_geometry(tn_tensor *x, int64_t w_numel, int64_t *C, int64_t *inner) {
    *C = 1;
    *inner = x->numel > 0 ? x->numel : 1;
    if (w_numel == 1) return 0;
    if (x->ndim < 2 || x->shape[1] != w_numel) {
        char s[128];
        tn_error("prelu: weight has %lld slopes but input of shape %s has %s (one slope, or one per "
                 "channel of dim 2)", (long long)w_numel, tn_shape_str(x->shape, x->ndim, s, sizeof s),
                 x->ndim < 2 ? "no channel dim" : "another channel count");
        return -1;
    }
    *C = w_numel;
    *inner = 1;
    for (int i = 2; i < x->ndim; i++) *inner *= x->shape[i];
    return 0;
}

tn_tensor *nn_prelu(tn_tensor *x, tn_tensor *w) {
    if (check_float("prelu", x) < 0) return NULL;
    if (w->dtype != x->dtype) {
        tn_error("prelu: weight is %s but input is %s", tn_dtype_name(w->dtype), tn_dtype_name(x->dtype));
        return NULL;
    }
    if (w->ndim > 1) {
        char s[128];
        tn_error("prelu: weight must be 1-D (num_parameters), got shape %s",
                 tn_shape_str(w->shape, w->ndim, s, sizeof s));
        return NULL;
    }
    int64_t C, inner;
    if (prelu_geometry(x, w->numel, &C, &inner) < 0) return NULL;
    tn_tensor *xc = contiguous_raw(x);
    tn_tensor *wc = xc ? contiguous_raw(w) : NULL;
    tn_tensor *out = wc ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    if (!out) goto fail;
    prelu_ctx c = {.x = tn_data(xc), .w = tn_data(wc), .out = tn_data(out), .C = C, .inner = inner};
    tn_parallel_for(x->numel, ACT_GRAIN, x->dtype == TN_FLOAT32 ? prelu_forward_f32 : prelu_forward_f64, &c);
    if (tn_grad_needed2(x, w)) {
        tn_node *n = nn_record(NN_OP_PRELU, out, 2, (tn_tensor *[]){x, w});
        if (!n) goto fail;
        tn_save(n, xc);
        tn_save(n, wc);
    }
    tn_release(xc);
    tn_release(wc);
    return out;
fail:
    tn_release(out);
    tn_release(wc);
    tn_release(xc);
    return NULL;
}

int prelu_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *w = tn_saved(n, 1);
    if (!x || !w) return -1;
    int64_t C, inner;
    if (prelu_geometry(x, w->numel, &C, &inner) < 0) return -1;
    bool need_x = nn_edge_needed(n, 0), need_w = nn_edge_needed(n, 1);
    tn_tensor *gc = tn_contiguous(g), *gx = NULL, *gwe = NULL, *gw = NULL;
    if (!gc) return -1;
    if (need_x && !(gx = tn_empty(x->dtype, x->ndim, x->shape))) goto fail;
    if (need_w && !(gwe = tn_empty(x->dtype, x->ndim, x->shape))) goto fail;
    prelu_ctx c = {.x = tn_data(x), .w = tn_data(w), .g = tn_data(gc), .gx = gx ? tn_data(gx) : NULL,
                   .gwe = gwe ? tn_data(gwe) : NULL, .C = C, .inner = inner};
    tn_parallel_for(x->numel, ACT_GRAIN, x->dtype == TN_FLOAT32 ? prelu_backward_f32 : prelu_backward_f64, &c);
    if (gwe) {
        /* per-channel sums of the (outer, C, inner) contributions */
        int64_t shape3[3] = {x->numel / (C * inner > 0 ? C * inner : 1), C, inner};
        if (x->numel == 0) shape3[0] = 0;
        tn_tensor *v = tn_view(gwe, 3, shape3);
        tn_tensor *s = v ? tn_reduce(TN_R_SUM, v, (const int[]){0, 2}, 2, false) : NULL;
        tn_release(v);
        if (!s) goto fail;
        gw = tn_view(s, w->ndim, w->shape);
        tn_release(s);
        if (!gw) goto fail;
    }
    tn_release(gwe);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gw;
    return 0;
fail:
    tn_release(gx);
    tn_release(gwe);
    tn_release(gc);
    return -1;
}
