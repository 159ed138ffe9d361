/*
 * norm.c: batch normalization and layer normalization, forward and backward.
 *
 * Both normalise groups of elements to zero mean and unit variance, then
 * scale and shift by learned per-feature weight and bias: batch norm groups
 * by channel (dim 1) over the batch and spatial dims, layer norm by row over
 * the last k dims.  Statistics are accumulated in double whatever the data
 * dtype (a float32 sum of 10^6 values loses digits), with two passes (mean,
 * then squared deviations) rather than E[x^2] - E[x]^2, which cancels badly.
 * Forward keeps what backward needs, as llm.c does: the input, and the mean
 * and 1/std per group in a small float64 tensor.  The backward rules are the
 * closed forms (the gradient through the batch statistics folded in), one
 * pass per group.  Work is split over channels / rows; each group is
 * reduced inside one chunk, so results do not depend on the thread count.
 */
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per parallel chunk (each is a few flops). */
#define NORM_GRAIN 32768

/* ---------- shared helpers ---------- */

static int check_float_input(const char *op, tn_tensor *x) {
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64) {
        tn_error("%s: input must be float32 or float64, got %s", op, tn_dtype_name(x->dtype));
        return -1;
    }
    return 0;
}

/* t (may be NULL) must have shape `shape` (nd dims); same dtype as the input
 * unless any_dtype. */
static int check_param(const char *op, const char *what, tn_tensor *t, int nd, const int64_t *shape,
                       tn_dtype dt, bool any_dtype) {
    if (!t) return 0;
    char s1[128], s2[128];
    if (t->ndim != nd || memcmp(t->shape, shape, sizeof(int64_t) * (size_t)nd) != 0) {
        tn_error("%s: %s has shape %s, expected %s", op, what,
                 tn_shape_str(t->shape, t->ndim, s1, sizeof s1), tn_shape_str(shape, nd, s2, sizeof s2));
        return -1;
    }
    if (!any_dtype && t->dtype != dt) {
        tn_error("%s: %s is %s but the input is %s", op, what, tn_dtype_name(t->dtype), tn_dtype_name(dt));
        return -1;
    }
    if (any_dtype && !tn_dtype_is_float(t->dtype)) {
        tn_error("%s: %s must be a float tensor, got %s", op, what, tn_dtype_name(t->dtype));
        return -1;
    }
    return 0;
}

/* The values of t (n elements, any strides) as a malloc'd double array; all
 * `dflt` when t is NULL.  NULL on out of memory (error set). */
static double *load_doubles(tn_tensor *t, int64_t n, double dflt) {
    double *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    if (!v) {
        tn_error("out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) v[i] = t ? tn_get_flat(t, i) : dflt;
    return v;
}

/* Writes v[i] into element i of the 1-D tensor t (any stride and dtype). */
static void store_1d(tn_tensor *t, int64_t i, double v) {
    tn_store(t->dtype, tn_data(t), i * t->stride[0], v);
}

/* ======================= batch norm ======================= */

/* x, y, g, gx are contiguous (N, C, S) with S the product of the trailing
 * dims; work is split over channels. */
typedef struct {
    const void *x, *g;
    void *y, *gx;
    int64_t N, C, S;
    double *mean, *invstd;     /* (C) */
    double *var;               /* (C) biased batch variance (forward, training) */
    const double *w, *b;       /* (C) weight and bias (1 and 0 when absent) */
    double *gw, *gb;           /* (C) outputs of backward */
    double eps;
    bool batch_stats;          /* normalised with the batch's statistics */
} bn_ctx;

#define DEF_BN(T, sfx)                                                                        \
    /* mean and biased variance of channels [lo, hi) */                                       \
    static void bn_stats_##sfx(void *vctx, int64_t lo, int64_t hi) {                          \
        bn_ctx *c = vctx;                                                                     \
        const T *x = c->x;                                                                    \
        double M = (double)(c->N * c->S);                                                     \
        for (int64_t ch = lo; ch < hi; ch++) {                                                \
            double s = 0;                                                                     \
            for (int64_t n = 0; n < c->N; n++) {                                              \
                const T *p = x + (n * c->C + ch) * c->S;                                      \
                for (int64_t i = 0; i < c->S; i++) s += p[i];                                 \
            }                                                                                 \
            double mean = s / M, ss = 0;                                                      \
            for (int64_t n = 0; n < c->N; n++) {                                              \
                const T *p = x + (n * c->C + ch) * c->S;                                      \
                for (int64_t i = 0; i < c->S; i++) {                                          \
                    double d = p[i] - mean;                                                   \
                    ss += d * d;                                                              \
                }                                                                             \
            }                                                                                 \
            c->mean[ch] = mean;                                                               \
            c->var[ch] = ss / M;                                                              \
            c->invstd[ch] = 1 / sqrt(ss / M + c->eps);                                        \
        }                                                                                     \
    }                                                                                         \
    /* y = x * a + (b - mean * a) with a = w * invstd */                                      \
    static void bn_apply_##sfx(void *vctx, int64_t lo, int64_t hi) {                          \
        bn_ctx *c = vctx;                                                                     \
        const T *x = c->x;                                                                    \
        T *y = c->y;                                                                          \
        for (int64_t ch = lo; ch < hi; ch++) {                                                \
            double a = c->w[ch] * c->invstd[ch];                                              \
            T fa = (T)a, fb = (T)(c->b[ch] - c->mean[ch] * a);                                \
            for (int64_t n = 0; n < c->N; n++) {                                              \
                int64_t off = (n * c->C + ch) * c->S;                                         \
                for (int64_t i = 0; i < c->S; i++) y[off + i] = x[off + i] * fa + fb;         \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    /* per channel: gb = sum g, gw = sum g * xhat, and                                        \
     *   batch stats: gx = w * invstd * (g - gb/M - xhat * gw/M)                              \
     *   running stats: gx = w * invstd * g */                                                \
    static void bn_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        bn_ctx *c = vctx;                                                                     \
        const T *x = c->x, *g = c->g;                                                         \
        T *gx = c->gx;                                                                        \
        double M = (double)(c->N * c->S);                                                     \
        for (int64_t ch = lo; ch < hi; ch++) {                                                \
            double mean = c->mean[ch], is = c->invstd[ch], sg = 0, sgx = 0;                   \
            for (int64_t n = 0; n < c->N; n++) {                                              \
                int64_t off = (n * c->C + ch) * c->S;                                         \
                for (int64_t i = 0; i < c->S; i++) {                                          \
                    sg += g[off + i];                                                         \
                    sgx += g[off + i] * (x[off + i] - mean);                                  \
                }                                                                             \
            }                                                                                 \
            sgx *= is; /* sum g * xhat */                                                     \
            if (c->gw) c->gw[ch] = sgx;                                                       \
            if (c->gb) c->gb[ch] = sg;                                                        \
            if (!gx) continue;                                                                \
            double k = c->w[ch] * is;                                                         \
            for (int64_t n = 0; n < c->N; n++) {                                              \
                int64_t off = (n * c->C + ch) * c->S;                                         \
                if (c->batch_stats) {                                                         \
                    double mg = sg / M, mx = sgx / M;                                         \
                    for (int64_t i = 0; i < c->S; i++) {                                      \
                        double xh = (x[off + i] - mean) * is;                                 \
                        gx[off + i] = (T)(k * (g[off + i] - mg - xh * mx));                   \
                    }                                                                         \
                } else {                                                                      \
                    for (int64_t i = 0; i < c->S; i++) gx[off + i] = (T)(k * g[off + i]);     \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }
DEF_BN(float, f32)
DEF_BN(double, f64)

static int64_t channel_grain(int64_t per_channel) {
    int64_t g = NORM_GRAIN / (per_channel > 0 ? per_channel : 1);
    return g < 1 ? 1 : g;
}

tn_tensor *nn_batch_norm(tn_tensor *x, tn_tensor *running_mean, tn_tensor *running_var,
                         tn_tensor *weight, tn_tensor *bias, bool training, double momentum,
                         double eps) {
    const char *op = "batch_norm";
    char s1[128];
    if (check_float_input(op, x) < 0) return NULL;
    if (x->ndim < 2) {
        tn_error("%s: input must have at least 2 dims (N, C, ...), got shape %s", op,
                 tn_shape_str(x->shape, x->ndim, s1, sizeof s1));
        return NULL;
    }
    if ((running_mean == NULL) != (running_var == NULL)) {
        tn_error("%s: running_mean and running_var must be given together", op);
        return NULL;
    }
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) {
        tn_error("%s: invalid eps %g or momentum %g", op, eps, momentum);
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], S = 1;
    for (int i = 2; i < x->ndim; i++) S *= x->shape[i];
    if (check_param(op, "weight", weight, 1, &C, x->dtype, false) < 0 ||
        check_param(op, "bias", bias, 1, &C, x->dtype, false) < 0 ||
        check_param(op, "running_mean", running_mean, 1, &C, x->dtype, true) < 0 ||
        check_param(op, "running_var", running_var, 1, &C, x->dtype, true) < 0)
        return NULL;
    bool batch_stats = training || !running_mean;
    if (batch_stats && N * S <= 1 && x->numel > 0) {
        tn_error("%s: expected more than 1 value per channel when training, got input of shape %s",
                 op, tn_shape_str(x->shape, x->ndim, s1, sizeof s1));
        return NULL;
    }
    tn_tensor *xc = tn_contiguous(x);
    tn_tensor *out = xc ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    /* stats rows: mean, invstd, biased var */
    tn_tensor *stats = out ? tn_empty(TN_FLOAT64, 2, (int64_t[]){3, C}) : NULL;
    double *w = stats ? load_doubles(weight, C, 1) : NULL;
    double *b = w ? load_doubles(bias, C, 0) : NULL;
    if (!b) goto fail;
    double *st = tn_data(stats);
    bn_ctx c = {.x = tn_data(xc), .y = tn_data(out), .N = N, .C = C, .S = S,
                .mean = st, .invstd = st + C, .var = st + 2 * C, .w = w, .b = b, .eps = eps,
                .batch_stats = batch_stats};
    bool f32 = x->dtype == TN_FLOAT32;
    int64_t grain = channel_grain(N * S);
    if (batch_stats) {
        tn_parallel_for(C, grain, f32 ? bn_stats_f32 : bn_stats_f64, &c);
        if (training && running_mean) {
            double M = (double)(N * S);
            for (int64_t ch = 0; ch < C; ch++) {
                double rm = tn_get_flat(running_mean, ch), rv = tn_get_flat(running_var, ch);
                store_1d(running_mean, ch, (1 - momentum) * rm + momentum * c.mean[ch]);
                store_1d(running_var, ch, (1 - momentum) * rv + momentum * c.var[ch] * M / (M - 1));
            }
            tn_bump_version(running_mean);
            tn_bump_version(running_var);
        }
    } else {
        for (int64_t ch = 0; ch < C; ch++) {
            c.mean[ch] = tn_get_flat(running_mean, ch);
            c.invstd[ch] = 1 / sqrt(tn_get_flat(running_var, ch) + eps);
        }
    }
    tn_parallel_for(C, grain, f32 ? bn_apply_f32 : bn_apply_f64, &c);
    free(w);
    free(b);
    if (tn_grad_needed(3, (tn_tensor *[]){x, weight, bias})) {
        tn_node *n = nn_record(NN_OP_BATCH_NORM, out, 3, (tn_tensor *[]){x, weight, bias});
        if (!n) goto fail_after;
        n->iarg[0] = batch_stats;
        tn_save(n, xc);
        tn_save(n, stats);
        if (weight) tn_save(n, weight);
    }
    tn_release(stats);
    tn_release(xc);
    return out;
fail:
    free(w);
fail_after:
    tn_release(stats);
    tn_release(out);
    tn_release(xc);
    return NULL;
}

/* gin: x, weight, bias.  Saved: x (contiguous), stats (3, C), [weight]. */
int batch_norm_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *stats = tn_saved(n, 1);
    tn_tensor *weight = n->nsaved > 2 ? tn_saved(n, 2) : NULL;
    if (!x || !stats || (n->nsaved > 2 && !weight)) return -1;
    int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C > 0 ? N * C : 1);
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *gx = gc && nn_edge_needed(n, 0) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *gw = gc && nn_edge_needed(n, 1) ? tn_empty(x->dtype, 1, &C) : NULL;
    tn_tensor *gb = gc && nn_edge_needed(n, 2) ? tn_empty(x->dtype, 1, &C) : NULL;
    double *w = gc ? load_doubles(weight, C, 1) : NULL;
    double *sums = w ? malloc(sizeof(double) * 2 * (size_t)(C > 0 ? C : 1)) : NULL;
    if (!sums || (nn_edge_needed(n, 0) && !gx) || (nn_edge_needed(n, 1) && !gw) ||
        (nn_edge_needed(n, 2) && !gb)) {
        if (w && !sums) tn_error("out of memory");
        free(w);
        tn_release(gc);
        tn_release(gx);
        tn_release(gw);
        tn_release(gb);
        return -1;
    }
    double *st = tn_data(stats);
    bn_ctx c = {.x = tn_data(x), .g = tn_data(gc), .gx = gx ? tn_data(gx) : NULL,
                .N = N, .C = C, .S = S, .mean = st, .invstd = st + C, .w = w,
                .gw = sums, .gb = sums + C, .batch_stats = n->iarg[0] != 0};
    tn_parallel_for(C, channel_grain(N * S), x->dtype == TN_FLOAT32 ? bn_backward_f32 : bn_backward_f64, &c);
    for (int64_t ch = 0; ch < C; ch++) {
        if (gw) tn_store(gw->dtype, tn_data(gw), ch, sums[ch]);
        if (gb) tn_store(gb->dtype, tn_data(gb), ch, sums[C + ch]);
    }
    free(w);
    free(sums);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}

/* ======================= layer norm ======================= */

/* x, y, g, gx contiguous (R, D): R rows normalised over D features. */
typedef struct {
    const void *x, *g;
    void *y, *gx;
    int64_t R, D;
    double *mean, *rstd;       /* (R) */
    const double *w, *b;       /* (D), 1 and 0 when absent */
    double eps;
} ln_ctx;

#define DEF_LN(T, sfx)                                                                        \
    static void ln_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                        \
        ln_ctx *c = vctx;                                                                     \
        int64_t D = c->D;                                                                     \
        for (int64_t r = lo; r < hi; r++) {                                                   \
            const T *x = (const T *)c->x + r * D;                                             \
            T *y = (T *)c->y + r * D;                                                         \
            double s = 0, ss = 0;                                                             \
            for (int64_t j = 0; j < D; j++) s += x[j];                                        \
            double mean = s / (double)D;                                                      \
            for (int64_t j = 0; j < D; j++) {                                                 \
                double d = x[j] - mean;                                                       \
                ss += d * d;                                                                  \
            }                                                                                 \
            double rstd = 1 / sqrt(ss / (double)D + c->eps);                                  \
            c->mean[r] = mean;                                                                \
            c->rstd[r] = rstd;                                                                \
            for (int64_t j = 0; j < D; j++)                                                   \
                y[j] = (T)((x[j] - mean) * rstd * c->w[j] + c->b[j]);                         \
        }                                                                                     \
    }                                                                                         \
    /* gx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), with gw = g * w */               \
    static void ln_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        ln_ctx *c = vctx;                                                                     \
        int64_t D = c->D;                                                                     \
        for (int64_t r = lo; r < hi; r++) {                                                   \
            const T *x = (const T *)c->x + r * D, *g = (const T *)c->g + r * D;               \
            T *gx = (T *)c->gx + r * D;                                                       \
            double mean = c->mean[r], rstd = c->rstd[r], a = 0, bsum = 0;                     \
            for (int64_t j = 0; j < D; j++) {                                                 \
                double gw = g[j] * c->w[j];                                                   \
                a += gw;                                                                      \
                bsum += gw * (x[j] - mean) * rstd;                                            \
            }                                                                                 \
            a /= (double)D;                                                                   \
            bsum /= (double)D;                                                                \
            for (int64_t j = 0; j < D; j++) {                                                 \
                double xh = (x[j] - mean) * rstd;                                             \
                gx[j] = (T)(rstd * (g[j] * c->w[j] - a - xh * bsum));                         \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    /* weight and bias gradients: sums over rows, serial so the order is fixed */             \
    static void ln_param_grads_##sfx(const ln_ctx *c, double *gw, double *gb) {               \
        int64_t D = c->D;                                                                     \
        for (int64_t r = 0; r < c->R; r++) {                                                  \
            const T *x = (const T *)c->x + r * D, *g = (const T *)c->g + r * D;               \
            double mean = c->mean[r], rstd = c->rstd[r];                                      \
            if (gw)                                                                           \
                for (int64_t j = 0; j < D; j++) gw[j] += g[j] * ((x[j] - mean) * rstd);       \
            if (gb)                                                                           \
                for (int64_t j = 0; j < D; j++) gb[j] += g[j];                                \
        }                                                                                     \
    }
DEF_LN(float, f32)
DEF_LN(double, f64)

static int64_t row_grain(int64_t D) {
    int64_t g = NORM_GRAIN / (D > 0 ? D : 1);
    return g < 1 ? 1 : g;
}

tn_tensor *nn_layer_norm(tn_tensor *x, int k, const int64_t *normalized_shape, tn_tensor *weight,
                         tn_tensor *bias, double eps) {
    const char *op = "layer_norm";
    char s1[128], s2[128];
    if (check_float_input(op, x) < 0) return NULL;
    if (k < 1 || k > x->ndim ||
        memcmp(x->shape + x->ndim - k, normalized_shape, sizeof(int64_t) * (size_t)k) != 0) {
        tn_error("%s: normalized_shape %s does not match the last dims of the input of shape %s", op,
                 tn_shape_str(normalized_shape, k < 0 ? 0 : k > TN_MAX_DIMS ? TN_MAX_DIMS : k, s1, sizeof s1),
                 tn_shape_str(x->shape, x->ndim, s2, sizeof s2));
        return NULL;
    }
    if (!(eps >= 0)) {
        tn_error("%s: invalid eps %g", op, eps);
        return NULL;
    }
    if (check_param(op, "weight", weight, k, normalized_shape, x->dtype, false) < 0 ||
        check_param(op, "bias", bias, k, normalized_shape, x->dtype, false) < 0)
        return NULL;
    int64_t D = 1;
    for (int i = 0; i < k; i++) D *= normalized_shape[i];
    int64_t R = D > 0 ? x->numel / D : 0;
    tn_tensor *xc = tn_contiguous(x);
    tn_tensor *out = xc ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *stats = out ? tn_empty(TN_FLOAT64, 2, (int64_t[]){2, R}) : NULL;
    double *w = stats ? load_doubles(weight, D, 1) : NULL;
    double *b = w ? load_doubles(bias, D, 0) : NULL;
    if (!b) {
        free(w);
        tn_release(stats);
        tn_release(out);
        tn_release(xc);
        return NULL;
    }
    double *st = tn_data(stats);
    ln_ctx c = {.x = tn_data(xc), .y = tn_data(out), .R = R, .D = D, .mean = st, .rstd = st + R,
                .w = w, .b = b, .eps = eps};
    tn_parallel_for(R, row_grain(D), x->dtype == TN_FLOAT32 ? ln_forward_f32 : ln_forward_f64, &c);
    free(w);
    free(b);
    if (tn_grad_needed(3, (tn_tensor *[]){x, weight, bias})) {
        tn_node *n = nn_record(NN_OP_LAYER_NORM, out, 3, (tn_tensor *[]){x, weight, bias});
        if (!n) {
            tn_release(stats);
            tn_release(out);
            tn_release(xc);
            return NULL;
        }
        n->iarg[0] = D;
        tn_save(n, xc);
        tn_save(n, stats);
        if (weight) tn_save(n, weight);
    }
    tn_release(stats);
    tn_release(xc);
    return out;
}

/* gin: x, weight, bias.  Saved: x (contiguous), stats (2, R), [weight]. */
int layer_norm_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *stats = tn_saved(n, 1);
    tn_tensor *weight = n->nsaved > 2 ? tn_saved(n, 2) : NULL;
    if (!x || !stats || (n->nsaved > 2 && !weight)) return -1;
    int64_t D = n->iarg[0], R = stats->shape[1];
    tn_tensor *gc = tn_contiguous(g);
    double *w = gc ? load_doubles(weight, D, 1) : NULL;
    double *sums = w ? calloc(2 * (size_t)(D > 0 ? D : 1), sizeof(double)) : NULL;
    tn_tensor *gx = sums && nn_edge_needed(n, 0) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *gw = sums && nn_edge_needed(n, 1) ? tn_empty(x->dtype, n->edges[1].ndim, n->edges[1].shape) : NULL;
    tn_tensor *gb = sums && nn_edge_needed(n, 2) ? tn_empty(x->dtype, n->edges[2].ndim, n->edges[2].shape) : NULL;
    if (!sums || (nn_edge_needed(n, 0) && !gx) || (nn_edge_needed(n, 1) && !gw) ||
        (nn_edge_needed(n, 2) && !gb)) {
        if (w && !sums) tn_error("out of memory");
        free(w);
        free(sums);
        tn_release(gc);
        tn_release(gx);
        tn_release(gw);
        tn_release(gb);
        return -1;
    }
    double *st = tn_data(stats);
    ln_ctx c = {.x = tn_data(x), .g = tn_data(gc), .gx = gx ? tn_data(gx) : NULL, .R = R, .D = D,
                .mean = st, .rstd = st + R, .w = w};
    bool f32 = x->dtype == TN_FLOAT32;
    if (gx) tn_parallel_for(R, row_grain(D), f32 ? ln_backward_f32 : ln_backward_f64, &c);
    if (gw || gb) {
        if (f32) ln_param_grads_f32(&c, gw ? sums : NULL, gb ? sums + D : NULL);
        else ln_param_grads_f64(&c, gw ? sums : NULL, gb ? sums + D : NULL);
        for (int64_t j = 0; j < D; j++) {
            if (gw) tn_store(gw->dtype, tn_data(gw), j, sums[j]);
            if (gb) tn_store(gb->dtype, tn_data(gb), j, sums[D + j]);
        }
    }
    free(w);
    free(sums);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}
