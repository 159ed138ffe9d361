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

/* ---------- sums ----------
 * In double with 8 independent accumulators: one accumulator is a chain of
 * dependent adds (4 cycles each), and the compiler may not reorder a
 * floating-point sum by itself.  The 8 lanes vectorise. */
#define DEF_SUMS(T, sfx)                                                                      \
    static double sum_##sfx(const T *restrict p, int64_t n) {                                 \
        double a[8] = {0}, s = 0;                                                             \
        int64_t i = 0;                                                                        \
        for (; i + 8 <= n; i += 8)                                                            \
            for (int j = 0; j < 8; j++) a[j] += p[i + j];                                     \
        for (; i < n; i++) s += p[i];                                                         \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;         \
    }                                                                                         \
    /* sum (p - mean)^2 */                                                                    \
    static double sqdev_##sfx(const T *restrict p, int64_t n, double mean) {                  \
        double a[8] = {0}, s = 0;                                                             \
        int64_t i = 0;                                                                        \
        for (; i + 8 <= n; i += 8)                                                            \
            for (int j = 0; j < 8; j++) {                                                     \
                double d = p[i + j] - mean;                                                   \
                a[j] += d * d;                                                                \
            }                                                                                 \
        for (; i < n; i++) s += (p[i] - mean) * (p[i] - mean);                                \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;         \
    }                                                                                         \
    /* *sg += sum g, *sgx += sum g * (x - mean) */                                            \
    static void gsums_##sfx(const T *restrict g, const T *restrict x, int64_t n, double mean, \
                            double *sg, double *sgx) {                                        \
        double a[8] = {0}, b[8] = {0}, s = 0, t = 0;                                          \
        int64_t i = 0;                                                                        \
        for (; i + 8 <= n; i += 8)                                                            \
            for (int j = 0; j < 8; j++) {                                                     \
                a[j] += g[i + j];                                                             \
                b[j] += g[i + j] * (x[i + j] - mean);                                         \
            }                                                                                 \
        for (; i < n; i++) {                                                                  \
            s += g[i];                                                                        \
            t += g[i] * (x[i] - mean);                                                        \
        }                                                                                     \
        *sg += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;         \
        *sgx += ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7])) + t;        \
    }
DEF_SUMS(float, f32)
DEF_SUMS(double, f64)

/* x, y, g, gx are contiguous (N, C, S) with S the product of the trailing
 * dims.  With S > 1 work is split over channels, each channel's N runs of S
 * contiguous elements reduced by one thread.  With S = 1 ((N, C), after a
 * Linear layer) a channel's values are C apart, so the "column" kernels walk
 * rows instead, vectorised over channels. */
typedef struct {
    const void *x, *g;
    void *y, *gx;
    int64_t N, C, S;
    double *mean, *invstd;     /* (C) */
    double *var;               /* (C) biased batch variance (forward, training) */
    const double *w, *b;       /* (C) weight and bias (1 and 0 when absent) */
    double *gw, *gb;           /* (C) outputs of backward */
    void *ka, *kb;             /* (C) per-channel coefficients in the data dtype */
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
            double s = 0, ss = 0;                                                             \
            for (int64_t n = 0; n < c->N; n++) s += sum_##sfx(x + (n * c->C + ch) * c->S, c->S); \
            double mean = s / M;                                                              \
            for (int64_t n = 0; n < c->N; n++)                                                \
                ss += sqdev_##sfx(x + (n * c->C + ch) * c->S, c->S, mean);                    \
            c->mean[ch] = mean;                                                               \
            c->var[ch] = ss / M;                                                              \
        }                                                                                     \
    }                                                                                         \
    /* the same for S = 1, over rows (serial, vectorised over channels) */                    \
    static void bn_stats_cols_##sfx(bn_ctx *c) {                                              \
        const T *x = c->x;                                                                    \
        int64_t C = c->C;                                                                     \
        double *restrict m = c->mean, *restrict v = c->var;                                   \
        for (int64_t ch = 0; ch < C; ch++) m[ch] = v[ch] = 0;                                 \
        for (int64_t n = 0; n < c->N; n++) {                                                  \
            const T *restrict r = x + n * C;                                                  \
            for (int64_t ch = 0; ch < C; ch++) m[ch] += r[ch];                                \
        }                                                                                     \
        for (int64_t ch = 0; ch < C; ch++) m[ch] /= (double)c->N;                             \
        for (int64_t n = 0; n < c->N; n++) {                                                  \
            const T *restrict r = x + n * C;                                                  \
            for (int64_t ch = 0; ch < C; ch++) v[ch] += (r[ch] - m[ch]) * (r[ch] - m[ch]);    \
        }                                                                                     \
        for (int64_t ch = 0; ch < C; ch++) v[ch] /= (double)c->N;                             \
    }                                                                                         \
    /* y = x * ka + kb per channel (ka = w * invstd, kb = bias - mean * ka).               \
     * S > 1: [lo, hi) counts runs of S elements of one channel (run % C);                    \
     * S = 1: [lo, hi) counts rows of C channels, vectorised over channels. */                \
    static void bn_apply_##sfx(void *vctx, int64_t lo, int64_t hi) {                          \
        bn_ctx *c = vctx;                                                                     \
        const T *restrict ka = c->ka, *restrict kb = c->kb;                                   \
        int64_t S = c->S, C = c->C;                                                           \
        for (int64_t r = lo; r < hi; r++) {                                                   \
            if (S == 1) {                                                                     \
                const T *restrict xr = (const T *)c->x + r * C;                               \
                T *restrict yr = (T *)c->y + r * C;                                           \
                for (int64_t ch = 0; ch < C; ch++) yr[ch] = xr[ch] * ka[ch] + kb[ch];         \
            } else {                                                                          \
                T a = ka[r % C], b = kb[r % C];                                               \
                const T *restrict xr = (const T *)c->x + r * S;                               \
                T *restrict yr = (T *)c->y + r * S;                                           \
                for (int64_t i = 0; i < S; i++) yr[i] = xr[i] * a + b;                        \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    /* per channel: gb = sum g, gw = sum g * xhat */                                          \
    static void bn_gsums_##sfx(void *vctx, int64_t lo, int64_t hi) {                          \
        bn_ctx *c = vctx;                                                                     \
        const T *x = c->x, *g = c->g;                                                         \
        for (int64_t ch = lo; ch < hi; ch++) {                                                \
            double sg = 0, sgx = 0;                                                           \
            for (int64_t n = 0; n < c->N; n++) {                                              \
                int64_t off = (n * c->C + ch) * c->S;                                         \
                gsums_##sfx(g + off, x + off, c->S, c->mean[ch], &sg, &sgx);                  \
            }                                                                                 \
            c->gb[ch] = sg;                                                                   \
            c->gw[ch] = sgx * c->invstd[ch];                                                  \
        }                                                                                     \
    }                                                                                         \
    static void bn_gsums_cols_##sfx(bn_ctx *c) {                                              \
        const T *x = c->x, *g = c->g;                                                         \
        int64_t C = c->C;                                                                     \
        double *restrict sg = c->gb, *restrict sgx = c->gw;                                   \
        const double *restrict m = c->mean;                                                   \
        for (int64_t ch = 0; ch < C; ch++) sg[ch] = sgx[ch] = 0;                              \
        for (int64_t n = 0; n < c->N; n++) {                                                  \
            const T *restrict xr = x + n * C, *restrict gr = g + n * C;                       \
            for (int64_t ch = 0; ch < C; ch++) {                                              \
                sg[ch] += gr[ch];                                                             \
                sgx[ch] += gr[ch] * (xr[ch] - m[ch]);                                         \
            }                                                                                 \
        }                                                                                     \
        for (int64_t ch = 0; ch < C; ch++) sgx[ch] *= c->invstd[ch];                          \
    }                                                                                         \
    /* gx = k g - kx (x - mean) - k0, from                                                    \
     *   gx = w invstd (g - gb/M - xhat gw/M),  xhat = (x - mean) invstd                      \
     * with k = w invstd, kx = k invstd gw/M, k0 = k gb/M (kx = k0 = 0 with running           \
     * statistics): ka holds k, kb holds kx, k0 and the mean (3 rows of C).                   \
     * Runs and rows as in bn_apply. */                                                       \
    static void bn_dx_##sfx(void *vctx, int64_t lo, int64_t hi) {                             \
        bn_ctx *c = vctx;                                                                     \
        int64_t S = c->S, C = c->C;                                                           \
        const T *restrict k = c->ka, *restrict kx = c->kb;                                    \
        const T *restrict k0 = kx + C, *restrict m = kx + 2 * C;                              \
        for (int64_t r = lo; r < hi; r++) {                                                   \
            if (S == 1) {                                                                     \
                const T *restrict xr = (const T *)c->x + r * C, *restrict gr = (const T *)c->g + r * C; \
                T *restrict o = (T *)c->gx + r * C;                                           \
                for (int64_t ch = 0; ch < C; ch++)                                            \
                    o[ch] = k[ch] * gr[ch] - kx[ch] * (xr[ch] - m[ch]) - k0[ch];              \
            } else {                                                                          \
                int64_t ch = r % C;                                                           \
                T a = k[ch], b = kx[ch], z = k0[ch], mm = m[ch];                              \
                const T *restrict xr = (const T *)c->x + r * S, *restrict gr = (const T *)c->g + r * S; \
                T *restrict o = (T *)c->gx + r * S;                                           \
                for (int64_t i = 0; i < S; i++) o[i] = a * gr[i] - b * (xr[i] - mm) - z;      \
            }                                                                                 \
        }                                                                                     \
    }
DEF_BN(float, f32)
DEF_BN(double, f64)

static int64_t grain_for(int64_t per_item) {
    int64_t g = NORM_GRAIN / (per_item > 0 ? per_item : 1);
    return g < 1 ? 1 : g;
}

/* Runs the elementwise pass fn (bn_apply / bn_dx) over runs or rows. */
static void bn_elementwise(bn_ctx *c, tn_range_fn fn) {
    if (c->S == 1) tn_parallel_for(c->N, grain_for(c->C), fn, c);
    else tn_parallel_for(c->N * c->C, grain_for(c->S), fn, c);
}

/* Stores v into element i of the coefficient array k (the data dtype). */
static inline void kset(tn_tensor *k, int64_t i, double v) {
    if (k->dtype == TN_FLOAT32) ((float *)tn_data(k))[i] = (float)v;
    else ((double *)tn_data(k))[i] = v;
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
    /* stats rows: mean, invstd, biased var; k rows: scale, shift */
    tn_tensor *stats = out ? tn_empty(TN_FLOAT64, 2, (int64_t[]){3, C}) : NULL;
    tn_tensor *k = stats ? tn_empty(x->dtype, 2, (int64_t[]){2, C}) : NULL;
    double *w = k ? load_doubles(weight, C, 1) : NULL;
    double *b = w ? load_doubles(bias, C, 0) : NULL;
    if (!b) {
        free(w);
        goto fail;
    }
    double *st = tn_data(stats);
    bool f32 = x->dtype == TN_FLOAT32;
    bn_ctx c = {.x = tn_data(xc), .y = tn_data(out), .N = N, .C = C, .S = S, .mean = st,
                .invstd = st + C, .var = st + 2 * C, .w = w, .b = b, .eps = eps,
                .ka = tn_data(k), .kb = (char *)tn_data(k) + (size_t)C * tn_dtype_size(x->dtype),
                .batch_stats = batch_stats};
    if (batch_stats) {
        if (S == 1) {
            if (f32) bn_stats_cols_f32(&c);
            else bn_stats_cols_f64(&c);
        } else {
            tn_parallel_for(C, grain_for(N * S), f32 ? bn_stats_f32 : bn_stats_f64, &c);
        }
        for (int64_t ch = 0; ch < C; ch++) c.invstd[ch] = 1 / sqrt(c.var[ch] + eps);
        if (training && running_mean && N * S > 0) { /* an empty batch leaves them alone */
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
    for (int64_t ch = 0; ch < C; ch++) {
        double a = w[ch] * c.invstd[ch];
        kset(k, ch, a);
        kset(k, C + ch, b[ch] - c.mean[ch] * a);
    }
    bn_elementwise(&c, f32 ? bn_apply_f32 : bn_apply_f64);
    free(w);
    free(b);
    tn_release(k);
    k = NULL;
    if (tn_grad_needed(3, (tn_tensor *[]){x, weight, bias})) {
        tn_node *n = nn_record(NN_OP_BATCH_NORM, out, 3, (tn_tensor *[]){x, weight, bias});
        if (!n) goto fail;
        n->iarg[0] = batch_stats;
        tn_save(n, xc);
        tn_save(n, stats);
        if (weight) tn_save(n, weight);
    }
    tn_release(stats);
    tn_release(xc);
    return out;
fail:
    tn_release(k);
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
    bool f32 = x->dtype == TN_FLOAT32, need_x = nn_edge_needed(n, 0);
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *gx = gc && need_x ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *gw = gc && nn_edge_needed(n, 1) ? tn_empty(x->dtype, 1, &C) : NULL;
    tn_tensor *gb = gc && nn_edge_needed(n, 2) ? tn_empty(x->dtype, 1, &C) : NULL;
    tn_tensor *k = gc ? tn_empty(x->dtype, 2, (int64_t[]){4, C}) : NULL;
    double *w = k ? load_doubles(weight, C, 1) : NULL;
    double *sums = w ? malloc(sizeof(double) * 2 * (size_t)(C > 0 ? C : 1)) : NULL;
    if (!sums || (need_x && !gx) || (nn_edge_needed(n, 1) && !gw) || (nn_edge_needed(n, 2) && !gb)) {
        if (w && !sums) tn_error("out of memory");
        free(w);
        tn_release(k);
        tn_release(gc);
        tn_release(gx);
        tn_release(gw);
        tn_release(gb);
        return -1;
    }
    double *st = tn_data(stats);
    size_t es = tn_dtype_size(x->dtype);
    bn_ctx c = {.x = tn_data(x), .g = tn_data(gc), .gx = gx ? tn_data(gx) : NULL,
                .N = N, .C = C, .S = S, .mean = st, .invstd = st + C, .w = w,
                .gw = sums, .gb = sums + C, .ka = tn_data(k), .kb = (char *)tn_data(k) + (size_t)C * es,
                .batch_stats = n->iarg[0] != 0};
    /* the sums are needed for the weight/bias gradients and, with batch
     * statistics, for the input gradient */
    if (gw || gb || c.batch_stats) {
        if (S == 1) {
            if (f32) bn_gsums_cols_f32(&c);
            else bn_gsums_cols_f64(&c);
        } else {
            tn_parallel_for(C, grain_for(N * S), f32 ? bn_gsums_f32 : bn_gsums_f64, &c);
        }
    }
    if (gx) {
        double M = (double)(N * S);
        for (int64_t ch = 0; ch < C; ch++) {
            double kk = w[ch] * c.invstd[ch];
            kset(k, ch, kk);
            kset(k, C + ch, c.batch_stats ? kk * c.invstd[ch] * c.gw[ch] / M : 0);
            kset(k, 2 * C + ch, c.batch_stats ? kk * c.gb[ch] / M : 0);
            kset(k, 3 * C + ch, c.mean[ch]);
        }
        bn_elementwise(&c, f32 ? bn_dx_f32 : bn_dx_f64);
    }
    for (int64_t ch = 0; ch < C; ch++) {
        if (gw) tn_store(gw->dtype, tn_data(gw), ch, c.gw[ch]);
        if (gb) tn_store(gb->dtype, tn_data(gb), ch, c.gb[ch]);
    }
    free(w);
    free(sums);
    tn_release(k);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}

/* ======================= layer norm ======================= */

/* x, y, g, gx contiguous (R, D): R rows normalised over D features.  The
 * elementwise loops run in the data dtype with per-row coefficients folded
 * in (as bn_apply); the row sums in double. */
typedef struct {
    const void *x, *g;
    void *y, *gx;
    int64_t R, D;
    double *mean, *rstd;       /* (R) */
    const void *w, *b;         /* (D) weight and bias in the data dtype (ones / zeros if absent) */
    double eps;
} ln_ctx;

#define DEF_LN(T, sfx)                                                                        \
    /* *a = sum g w, *b = sum g w (x - mean), in 8 lanes (see DEF_SUMS) */                    \
    static void ln_dots_##sfx(const T *restrict g, const T *restrict x, const T *restrict w,  \
                              int64_t D, double mean, double *a, double *b) {                 \
        double la[8] = {0}, lb[8] = {0}, s = 0, t = 0;                                        \
        int64_t j = 0;                                                                        \
        for (; j + 8 <= D; j += 8)                                                            \
            for (int l = 0; l < 8; l++) {                                                     \
                double gw = (double)g[j + l] * w[j + l];                                      \
                la[l] += gw;                                                                  \
                lb[l] += gw * (x[j + l] - mean);                                              \
            }                                                                                 \
        for (; j < D; j++) {                                                                  \
            double gw = (double)g[j] * w[j];                                                  \
            s += gw;                                                                          \
            t += gw * (x[j] - mean);                                                          \
        }                                                                                     \
        *a = ((la[0] + la[1]) + (la[2] + la[3])) + ((la[4] + la[5]) + (la[6] + la[7])) + s;   \
        *b = ((lb[0] + lb[1]) + (lb[2] + lb[3])) + ((lb[4] + lb[5]) + (lb[6] + lb[7])) + t;   \
    }                                                                                         \
    /* y = (x * rstd - mean * rstd) * w + b */                                                \
    __attribute__((noinline)) static void ln_row_##sfx(const T *restrict x, T *restrict y,    \
                                                       const T *restrict w, const T *restrict b, \
                                                       int64_t D, T a, T c0) {                \
        for (int64_t j = 0; j < D; j++) y[j] = (x[j] * a + c0) * w[j] + b[j];                 \
    }                                                                                         \
    static void ln_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                        \
        ln_ctx *c = vctx;                                                                     \
        int64_t D = c->D;                                                                     \
        for (int64_t r = lo; r < hi; r++) {                                                   \
            const T *x = (const T *)c->x + r * D;                                             \
            double mean = sum_##sfx(x, D) / (double)D;                                        \
            double rstd = 1 / sqrt(sqdev_##sfx(x, D, mean) / (double)D + c->eps);             \
            c->mean[r] = mean;                                                                \
            c->rstd[r] = rstd;                                                                \
            ln_row_##sfx(x, (T *)c->y + r * D, c->w, c->b, D, (T)rstd, (T)(-mean * rstd));    \
        }                                                                                     \
    }                                                                                         \
    /* gx = rstd (g w - mean(g w) - xhat mean(g w xhat)), xhat = (x - mean) rstd,             \
     * as gx = k1 g w - k2 - k3 (x - mean) with per-row k1 = rstd,                            \
     * k2 = rstd sum(g w) / D, k3 = rstd^3 sum(g w (x - mean)) / D */                         \
    __attribute__((noinline)) static void ln_dx_row_##sfx(const T *restrict x, const T *restrict g, \
                                                          const T *restrict w, T *restrict gx, \
                                                          int64_t D, T k1, T k2, T k3, T m) { \
        for (int64_t j = 0; j < D; j++) gx[j] = k1 * g[j] * w[j] - k2 - k3 * (x[j] - m);      \
    }                                                                                         \
    static void ln_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        ln_ctx *c = vctx;                                                                     \
        int64_t D = c->D;                                                                     \
        for (int64_t r = lo; r < hi; r++) {                                                   \
            const T *x = (const T *)c->x + r * D, *g = (const T *)c->g + r * D;               \
            double mean = c->mean[r], rstd = c->rstd[r], a, bsum;                             \
            ln_dots_##sfx(g, x, c->w, D, mean, &a, &bsum);                                    \
            ln_dx_row_##sfx(x, g, c->w, (T *)c->gx + r * D, D, (T)rstd, (T)(rstd * a / (double)D), \
                            (T)(rstd * rstd * rstd * bsum / (double)D), (T)mean);             \
        }                                                                                     \
    }                                                                                         \
    /* weight and bias gradients: sums over rows, serial so the order is fixed */             \
    __attribute__((noinline)) static void ln_param_row_##sfx(const T *restrict x, const T *restrict g, \
                                                             double *restrict gw, double *restrict gb, \
                                                             int64_t D, double mean, double rstd) { \
        if (gw)                                                                               \
            for (int64_t j = 0; j < D; j++) gw[j] += g[j] * ((x[j] - mean) * rstd);           \
        if (gb)                                                                               \
            for (int64_t j = 0; j < D; j++) gb[j] += g[j];                                    \
    }                                                                                         \
    static void ln_param_grads_##sfx(const ln_ctx *c, double *gw, double *gb) {               \
        int64_t D = c->D;                                                                     \
        for (int64_t r = 0; r < c->R; r++)                                                    \
            ln_param_row_##sfx((const T *)c->x + r * D, (const T *)c->g + r * D, gw, gb, D,   \
                               c->mean[r], c->rstd[r]);                                       \
    }
DEF_LN(float, f32)
DEF_LN(double, f64)

/* The weight (or bias) as a contiguous tensor of the data dtype: t itself,
 * or ones (zeros) of D elements when absent.  New reference. */
static tn_tensor *param_or(tn_tensor *t, tn_dtype dt, int64_t D, double dflt) {
    return t ? tn_contiguous(t) : tn_full(dt, 1, &D, dflt);
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
    tn_tensor *w = stats ? param_or(weight, x->dtype, D, 1) : NULL;
    tn_tensor *b = w ? param_or(bias, x->dtype, D, 0) : NULL;
    if (!b) goto fail;
    double *st = tn_data(stats);
    ln_ctx c = {.x = tn_data(xc), .y = tn_data(out), .R = R, .D = D, .mean = st, .rstd = st + R,
                .w = tn_data(w), .b = tn_data(b), .eps = eps};
    tn_parallel_for(R, grain_for(D), x->dtype == TN_FLOAT32 ? ln_forward_f32 : ln_forward_f64, &c);
    if (tn_grad_needed(3, (tn_tensor *[]){x, weight, bias})) {
        tn_node *n = nn_record(NN_OP_LAYER_NORM, out, 3, (tn_tensor *[]){x, weight, bias});
        if (!n) goto fail;
        n->iarg[0] = D;
        tn_save(n, xc);
        tn_save(n, stats);
        tn_save(n, w);
    }
    tn_release(w);
    tn_release(b);
    tn_release(stats);
    tn_release(xc);
    return out;
fail:
    tn_release(b);
    tn_release(w);
    tn_release(stats);
    tn_release(out);
    tn_release(xc);
    return NULL;
}

/* gin: x, weight, bias.  Saved: x (contiguous), stats (2, R), weight
 * (contiguous, ones when absent). */
int layer_norm_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *stats = tn_saved(n, 1), *w = tn_saved(n, 2);
    if (!x || !stats || !w) return -1;
    int64_t D = n->iarg[0], R = stats->shape[1];
    bool f32 = x->dtype == TN_FLOAT32;
    tn_tensor *gc = tn_contiguous(g);
    double *sums = gc ? calloc(2 * (size_t)(D > 0 ? D : 1), sizeof(double)) : NULL;
    tn_tensor *gx = sums && nn_edge_needed(n, 0) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *gw = sums && nn_edge_needed(n, 1) ? tn_empty(x->dtype, n->edges[1].ndim, n->edges[1].shape) : NULL;
    tn_tensor *gb = sums && nn_edge_needed(n, 2) ? tn_empty(x->dtype, n->edges[2].ndim, n->edges[2].shape) : NULL;
    if (!sums || (nn_edge_needed(n, 0) && !gx) || (nn_edge_needed(n, 1) && !gw) ||
        (nn_edge_needed(n, 2) && !gb)) {
        if (gc && !sums) tn_error("out of memory");
        free(sums);
        tn_release(gc);
        tn_release(gx);
        tn_release(gw);
        tn_release(gb);
        return -1;
    }
    double *st = tn_data(stats);
    ln_ctx c = {.x = tn_data(x), .g = tn_data(gc), .gx = gx ? tn_data(gx) : NULL, .R = R, .D = D,
                .mean = st, .rstd = st + R, .w = tn_data(w)};
    if (gx) tn_parallel_for(R, grain_for(D), f32 ? ln_backward_f32 : ln_backward_f64, &c);
    if (gw || gb) {
        if (f32) ln_param_grads_f32(&c, gw ? sums : NULL, gb ? sums + D : NULL);
        else ln_param_grads_f64(&c, gw ? sums : NULL, gb ? sums + D : NULL);
        for (int64_t j = 0; j < D; j++) {
            if (gw) tn_store(gw->dtype, tn_data(gw), j, sums[j]);
            if (gb) tn_store(gb->dtype, tn_data(gb), j, sums[D + j]);
        }
    }
    free(sums);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}
