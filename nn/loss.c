/*
 * loss.c: loss functions with PyTorch's semantics: fused log_softmax +
 * cross-entropy (class indices or class probabilities, label smoothing,
 * ignore_index), nll_loss, binary cross-entropy on probabilities and on
 * logits, and mse / l1 / smooth_l1 as composites of tensor ops.
 *
 * Why fused: log_softmax followed by a gather would store a (N, C) tensor of
 * log-probabilities and run three passes; the fused kernel computes each
 * row's log-sum-exp once, keeps only that (N floats) for backward, and its
 * gradient softmax - target is formed directly, without exp(log(.)) round
 * trips.  Sums run in double; reductions are split into fixed chunks whose
 * partial sums are added in order, so the loss does not depend on the thread
 * count.  Class indices are 0-based here; error messages show them 1-based
 * as the user wrote them ("cross_entropy: target 11 is out of range for 10
 * classes").
 *
 * Layout: logits are viewed as (N, C, S) where S is the product of the dims
 * after the class dim (1 for (N, C)); a "position" is one (n, s) pair, with
 * its C logits at stride S.
 */
#include "nn/nn.h"
#include "nn/vexp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per chunk of a reduction (also the parallel grain). */
#define LOSS_CHUNK 8192

int nn_reduction_from_name(const char *name, const char *op) {
    if (name && strcmp(name, "mean") == 0) return NN_REDUCE_MEAN;
    if (name && strcmp(name, "sum") == 0) return NN_REDUCE_SUM;
    if (name && strcmp(name, "none") == 0) return NN_REDUCE_NONE;
    tn_error("%s: unknown reduction '%s' (expected 'mean', 'sum' or 'none')", op ? op : "loss",
             name ? name : "(null)");
    return -1;
}

static int check_reduction(const char *op, nn_reduction red) {
    if (red != NN_REDUCE_NONE && red != NN_REDUCE_MEAN && red != NN_REDUCE_SUM) {
        tn_error("%s: bad reduction %d", op, (int)red);
        return -1;
    }
    return 0;
}

/* ---------- deterministic chunked sums ---------- */

/* fn computes [lo, hi) and returns its partial sum. */
typedef double (*chunk_fn)(void *ctx, int64_t lo, int64_t hi);
typedef struct {
    chunk_fn fn;
    void *ctx;
    double *partial;
    int64_t n, chunk;
} chunked_ctx;

static void chunked_run(void *vctx, int64_t lo, int64_t hi) {
    chunked_ctx *c = vctx;
    for (int64_t k = lo; k < hi; k++) {
        int64_t a = k * c->chunk, b = a + c->chunk < c->n ? a + c->chunk : c->n;
        c->partial[k] = c->fn(c->ctx, a, b);
    }
}

/* Runs fn over [0, n) in chunks of `chunk` (in parallel) and adds the partial
 * sums in chunk order into *sum.  0 or -1. */
static int chunked_sum(int64_t n, int64_t chunk, chunk_fn fn, void *ctx, double *sum) {
    *sum = 0;
    if (n <= 0) return 0;
    if (chunk < 1) chunk = 1;
    int64_t nchunks = (n + chunk - 1) / chunk;
    double one, *partial = nchunks == 1 ? &one : malloc(sizeof(double) * (size_t)nchunks);
    if (!partial) {
        tn_error("out of memory");
        return -1;
    }
    chunked_ctx c = {fn, ctx, partial, n, chunk};
    tn_parallel_for(nchunks, 1, chunked_run, &c);
    for (int64_t k = 0; k < nchunks; k++) *sum += partial[k];
    if (partial != &one) free(partial);
    return 0;
}

/* The scalar (0-dim) result of a reduced loss, in dtype dt. */
static tn_tensor *reduced_result(tn_dtype dt, nn_reduction red, double sum, double count) {
    return tn_scalar(dt, red == NN_REDUCE_MEAN ? sum / count : sum);
}

/* The per-element upstream gradient: g[i] for NONE, else one scalar (already
 * divided by the count for MEAN). */
typedef struct {
    const void *g;       /* contiguous, the loss dtype; NULL when reduced */
    double scalar;
} upstream;

static int make_upstream(tn_tensor *g, nn_reduction red, double count, tn_tensor **gc, upstream *u) {
    *gc = NULL;
    u->g = NULL;
    u->scalar = 0;
    if (red == NN_REDUCE_NONE) {
        *gc = tn_contiguous(g);
        if (!*gc) return -1;
        u->g = tn_data(*gc);
    } else {
        u->scalar = tn_item(g) / (red == NN_REDUCE_MEAN ? count : 1);
    }
    return 0;
}

#define UP(T, u, i) ((u)->g ? (double)((const T *)(u)->g)[i] : (u)->scalar)

/* ======================= class losses ======================= */

typedef struct {
    int64_t N, C, S, P;          /* P = N * S positions */
    int out_ndim;                /* the per-position loss shape (NONE) */
    int64_t out_shape[TN_MAX_DIMS];
} cls_geom;

/* Validates logits x against target: sets *prob when target holds class
 * probabilities (x's shape, float) rather than indices. */
static int class_geometry(const char *op, tn_tensor *x, tn_tensor *target, bool allow_prob,
                          cls_geom *g, bool *prob) {
    char s1[128], s2[128], s3[128];
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64) {
        tn_error("%s: input must be float32 or float64, got %s", op, tn_dtype_name(x->dtype));
        return -1;
    }
    if (x->ndim == 0) {
        tn_error("%s: input must have a class dim: (C), (N, C) or (N, C, d1, ...), got a 0-dim tensor", op);
        return -1;
    }
    memset(g, 0, sizeof *g);
    if (x->ndim == 1) {
        g->N = 1;
        g->C = x->shape[0];
        g->S = 1;
        g->out_ndim = 0;
    } else {
        g->N = x->shape[0];
        g->C = x->shape[1];
        g->S = 1;
        for (int i = 2; i < x->ndim; i++) g->S *= x->shape[i];
        g->out_ndim = x->ndim - 1;
        g->out_shape[0] = g->N;
        for (int i = 2; i < x->ndim; i++) g->out_shape[i - 1] = x->shape[i];
    }
    g->P = g->N * g->S;
    *prob = false;
    if (tn_dtype_is_float(target->dtype) && allow_prob && tn_same_shape(target, x)) {
        *prob = true;
        return 0;
    }
    bool idx_shape = target->ndim == g->out_ndim &&
                     memcmp(target->shape, g->out_shape, sizeof(int64_t) * (size_t)g->out_ndim) == 0;
    if (idx_shape && (target->dtype == TN_INT64 || target->dtype == TN_INT32)) return 0;
    if (idx_shape || (tn_same_shape(target, x) && !tn_dtype_is_float(target->dtype))) {
        tn_error("%s: class-index targets must be int64 (or int32), got %s%s", op,
                 tn_dtype_name(target->dtype),
                 allow_prob ? "; class probabilities need a float target of the input's shape" : "");
        return -1;
    }
    if (allow_prob)
        tn_error("%s: target of shape %s does not match input of shape %s (expected class indices "
                 "of shape %s or class probabilities of shape %s)", op,
                 tn_shape_str(target->shape, target->ndim, s1, sizeof s1),
                 tn_shape_str(x->shape, x->ndim, s2, sizeof s2),
                 tn_shape_str(g->out_shape, g->out_ndim, s3, sizeof s3), s2);
    else
        tn_error("%s: target of shape %s does not match input of shape %s (expected class indices "
                 "of shape %s)", op, tn_shape_str(target->shape, target->ndim, s1, sizeof s1),
                 tn_shape_str(x->shape, x->ndim, s2, sizeof s2),
                 tn_shape_str(g->out_shape, g->out_ndim, s3, sizeof s3));
    return -1;
}

/* Contiguous int64 copy of class-index targets, all checked against C;
 * *count receives the number not ignored.  New reference or NULL. */
static tn_tensor *checked_targets(const char *op, tn_tensor *target, int64_t C, int64_t ignore_index,
                                  int64_t *count) {
    tn_tensor *t;
    if (target->dtype == TN_INT64) {
        t = tn_contiguous(target);
    } else {
        bool was = tn_set_grad_enabled(false);
        t = tn_to(target, TN_INT64);
        tn_set_grad_enabled(was);
    }
    if (!t) return NULL;
    const int64_t *p = tn_data(t);
    int64_t n = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        if (p[i] == ignore_index) continue;
        if (p[i] < 0 || p[i] >= C) {
            tn_error("%s: target %lld is out of range for %lld classes", op, (long long)p[i] + 1,
                     (long long)C);
            tn_release(t);
            return NULL;
        }
        n++;
    }
    *count = n;
    return t;
}

/* Float data converted to dtype dt, contiguous (new reference), without
 * recording (the edge to the original is recorded by the loss). */
static tn_tensor *as_contiguous(tn_tensor *t, tn_dtype dt) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *c = t->dtype == dt ? tn_contiguous(t) : tn_to(t, dt);
    if (c && !tn_is_contiguous(c)) {
        tn_tensor *cc = tn_contiguous(c);
        tn_release(c);
        c = cc;
    }
    tn_set_grad_enabled(was);
    return c;
}

/* ---------- cross entropy ---------- */

typedef struct {
    cls_geom geo;
    const void *x;            /* logits (N, C, S) */
    const int64_t *tidx;      /* (P) class indices, or NULL */
    const void *tprob;        /* (N, C, S) probabilities, or NULL */
    double *lse;              /* (P) log-sum-exp per position */
    void *out;                /* (P) per-position loss for NONE, or NULL */
    int64_t ignore;
    double eps;               /* label smoothing */
    /* backward */
    upstream up;
    void *gx, *gt;            /* gradients of logits / probabilities, or NULL */
} ce_ctx;

#define DEF_CE(T, sfx)                                                                        \
    static double ce_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                      \
        ce_ctx *c = vctx;                                                                     \
        int64_t C = c->geo.C, S = c->geo.S;                                                   \
        const T *x = c->x, *q = c->tprob;                                                     \
        double eps = c->eps, partial = 0;                                                     \
        for (int64_t p = lo; p < hi; p++) {                                                   \
            int64_t base = (p / S) * C * S + p % S;                                           \
            const T *xp = x + base;                                                           \
            double m = -INFINITY, s = 0, loss;                                                \
            for (int64_t k = 0; k < C; k++) m = xp[k * S] > m ? xp[k * S] : m;                \
            if (isinf(m) && m < 0) m = 0; /* all -inf: lse = -inf */                         \
            for (int64_t k = 0; k < C; k++) s += exp(xp[k * S] - m);                          \
            double lse = m + log(s);                                                          \
            c->lse[p] = lse;                                                                  \
            if (c->tidx) {                                                                    \
                int64_t t = c->tidx[p];                                                       \
                if (t == c->ignore) {                                                         \
                    loss = 0;                                                                 \
                } else {                                                                      \
                    loss = (1 - eps) * (lse - xp[t * S]);                                     \
                    if (eps > 0) {                                                            \
                        double sx = 0;                                                        \
                        for (int64_t k = 0; k < C; k++) sx += xp[k * S];                      \
                        loss += eps / (double)C * ((double)C * lse - sx);                     \
                    }                                                                         \
                }                                                                             \
            } else {                                                                          \
                const T *qp = q + base;                                                       \
                loss = 0;                                                                     \
                for (int64_t k = 0; k < C; k++) {                                             \
                    double w = (1 - eps) * qp[k * S] + eps / (double)C;                       \
                    loss += w * (lse - xp[k * S]);                                            \
                }                                                                             \
            }                                                                                 \
            if (c->out) ((T *)c->out)[p] = (T)loss;                                           \
            partial += loss;                                                                  \
        }                                                                                     \
        return partial;                                                                       \
    }                                                                                         \
    /* d logits_k = g * (softmax_k * sum(w) - w_k), w the smoothed target        \
     * distribution; d prob_k = g * (1 - eps) * (lse - x_k) */                                \
    static void ce_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        ce_ctx *c = vctx;                                                                     \
        int64_t C = c->geo.C, S = c->geo.S;                                                   \
        const T *x = c->x, *q = c->tprob;                                                     \
        T *gx = c->gx, *gt = c->gt;                                                           \
        double eps = c->eps, u = eps / (double)C;                                             \
        for (int64_t p = lo; p < hi; p++) {                                                   \
            int64_t base = (p / S) * C * S + p % S;                                           \
            const T *xp = x + base;                                                           \
            double g = UP(T, &c->up, p), lse = c->lse[p];                                     \
            if (c->tidx) {                                                                    \
                int64_t t = c->tidx[p];                                                       \
                T *gp = gx + base;                                                            \
                if (t == c->ignore) {                                                         \
                    for (int64_t k = 0; k < C; k++) gp[k * S] = 0;                            \
                    continue;                                                                 \
                }                                                                             \
                for (int64_t k = 0; k < C; k++)                                               \
                    gp[k * S] = (T)(g * (exp(xp[k * S] - lse) - u - (k == t ? 1 - eps : 0))); \
            } else {                                                                          \
                const T *qp = q + base;                                                       \
                if (gx) {                                                                     \
                    double sw = 0;                                                            \
                    for (int64_t k = 0; k < C; k++) sw += (1 - eps) * qp[k * S] + u;          \
                    for (int64_t k = 0; k < C; k++)                                           \
                        gx[base + k * S] =                                                    \
                            (T)(g * (exp(xp[k * S] - lse) * sw - ((1 - eps) * qp[k * S] + u))); \
                }                                                                             \
                if (gt)                                                                       \
                    for (int64_t k = 0; k < C; k++)                                           \
                        gt[base + k * S] = (T)(g * (1 - eps) * (lse - xp[k * S]));            \
            }                                                                                 \
        }                                                                                     \
    }
DEF_CE(float, f32)
DEF_CE(double, f64)

/* The common case, float32 (N, C) logits with class indices: each row's C
 * logits are contiguous, so max, exp-sum and gradient run as vectorised row
 * loops (vexp.h) instead of libm calls per element. */
static double ce_rows_forward_f32(void *vctx, int64_t lo, int64_t hi) {
    ce_ctx *c = vctx;
    int64_t C = c->geo.C;
    double eps = c->eps, partial = 0;
    for (int64_t p = lo; p < hi; p++) {
        const float *xp = (const float *)c->x + p * C;
        float m = row_max_f32(xp, C);
        double lse = (double)m + log(vexpsum_f32(xp, C, m)), loss = 0;
        c->lse[p] = lse;
        int64_t t = c->tidx[p];
        if (t != c->ignore) {
            loss = (1 - eps) * (lse - xp[t]);
            if (eps > 0) loss += eps / (double)C * ((double)C * lse - vsum_f32(xp, C));
        }
        if (c->out) ((float *)c->out)[p] = (float)loss;
        partial += loss;
    }
    return partial;
}

/* gx = g * (exp(x - lse) - eps/C), then gx[t] -= g * (1 - eps) */
__attribute__((noinline)) static void ce_row_grad_f32(const float *restrict x, float *restrict gx,
                                                      int64_t C, float lse, float g, float u) {
    for (int64_t k = 0; k < C; k++) gx[k] = g * (vexpf_neg(x[k] - lse) - u);
}

static void ce_rows_backward_f32(void *vctx, int64_t lo, int64_t hi) {
    ce_ctx *c = vctx;
    int64_t C = c->geo.C;
    double eps = c->eps;
    for (int64_t p = lo; p < hi; p++) {
        float *gp = (float *)c->gx + p * C;
        int64_t t = c->tidx[p];
        if (t == c->ignore) {
            memset(gp, 0, sizeof(float) * (size_t)C);
            continue;
        }
        double g = UP(float, &c->up, p);
        /* lse >= every logit (rounding to float is monotonic), so x - lse <= 0 */
        ce_row_grad_f32((const float *)c->x + p * C, gp, C, (float)c->lse[p], (float)g,
                        (float)(eps / (double)C));
        gp[t] -= (float)(g * (1 - eps));
    }
}

static int64_t positions_grain(int64_t C) {
    int64_t g = LOSS_CHUNK / (C > 0 ? C : 1);
    return g < 1 ? 1 : g;
}

tn_tensor *nn_cross_entropy(tn_tensor *logits, tn_tensor *target, nn_reduction red,
                            double label_smoothing, int64_t ignore_index) {
    const char *op = "cross_entropy";
    cls_geom geo;
    bool prob;
    if (check_reduction(op, red) < 0 || class_geometry(op, logits, target, true, &geo, &prob) < 0)
        return NULL;
    if (!(label_smoothing >= 0 && label_smoothing <= 1)) {
        tn_error("%s: label_smoothing must be between 0 and 1, got %g", op, label_smoothing);
        return NULL;
    }
    int64_t count = geo.P;
    tn_tensor *xc = as_contiguous(logits, logits->dtype);
    tn_tensor *tc = !xc ? NULL
                    : prob ? as_contiguous(target, logits->dtype)
                           : checked_targets(op, target, geo.C, ignore_index, &count);
    tn_tensor *lse = tc ? tn_empty(TN_FLOAT64, 1, &geo.P) : NULL;
    tn_tensor *out = lse && red == NN_REDUCE_NONE ? tn_empty(logits->dtype, geo.out_ndim, geo.out_shape) : NULL;
    if (!lse || (red == NN_REDUCE_NONE && !out)) goto fail;
    ce_ctx c = {.geo = geo, .x = tn_data(xc), .tidx = prob ? NULL : tn_data(tc),
                .tprob = prob ? tn_data(tc) : NULL, .lse = tn_data(lse),
                .out = out ? tn_data(out) : NULL, .ignore = ignore_index, .eps = label_smoothing};
    double sum;
    bool rows = logits->dtype == TN_FLOAT32 && geo.S == 1 && !prob;
    chunk_fn fwd = rows ? ce_rows_forward_f32 : logits->dtype == TN_FLOAT32 ? ce_forward_f32 : ce_forward_f64;
    if (chunked_sum(geo.P, positions_grain(geo.C), fwd, &c, &sum) < 0)
        goto fail;
    if (!out) out = reduced_result(logits->dtype, red, sum, (double)count);
    if (!out) goto fail;
    if (tn_grad_needed2(logits, target)) {
        tn_node *n = nn_record(NN_OP_CROSS_ENTROPY, out, 2, (tn_tensor *[]){logits, target});
        if (!n) goto fail;
        n->iarg[0] = prob;
        n->iarg[1] = ignore_index;
        n->iarg[2] = red;
        n->iarg[3] = count;
        n->farg[0] = label_smoothing;
        tn_save(n, xc);
        tn_save(n, tc);
        tn_save(n, lse);
    }
    tn_release(xc);
    tn_release(tc);
    tn_release(lse);
    return out;
fail:
    tn_release(out);
    tn_release(lse);
    tn_release(tc);
    tn_release(xc);
    return NULL;
}

/* gin: logits, target (probabilities only).  Saved: logits, target, lse. */
int cross_entropy_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *t = tn_saved(n, 1), *lse = tn_saved(n, 2);
    if (!x || !t || !lse) return -1;
    bool prob = n->iarg[0] != 0;
    nn_reduction red = (nn_reduction)n->iarg[2];
    cls_geom geo;
    bool p2;
    if (class_geometry("cross_entropy", x, t, true, &geo, &p2) < 0) return -1;
    tn_tensor *gc;
    ce_ctx c = {.geo = geo, .x = tn_data(x), .tidx = prob ? NULL : tn_data(t),
                .tprob = prob ? tn_data(t) : NULL, .lse = tn_data(lse), .ignore = n->iarg[1],
                .eps = n->farg[0]};
    if (make_upstream(g, red, (double)n->iarg[3], &gc, &c.up) < 0) return -1;
    tn_tensor *gx = nn_edge_needed(n, 0) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *gt = prob && nn_edge_needed(n, 1) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    if ((nn_edge_needed(n, 0) && !gx) || (prob && nn_edge_needed(n, 1) && !gt)) {
        tn_release(gx);
        tn_release(gt);
        tn_release(gc);
        return -1;
    }
    c.gx = gx ? tn_data(gx) : NULL;
    c.gt = gt ? tn_data(gt) : NULL;
    bool rows = x->dtype == TN_FLOAT32 && geo.S == 1 && !prob;
    tn_range_fn bwd = rows ? ce_rows_backward_f32 : x->dtype == TN_FLOAT32 ? ce_backward_f32 : ce_backward_f64;
    if (gx || gt) tn_parallel_for(geo.P, positions_grain(geo.C), bwd, &c);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gt;
    return 0;
}

/* ---------- nll loss ---------- */

typedef struct {
    cls_geom geo;
    const void *x;           /* log-probabilities (N, C, S) */
    const int64_t *t;        /* (P) */
    void *out;               /* (P) for NONE */
    int64_t ignore;
    upstream up;
    void *gx;
} nll_ctx;

#define DEF_NLL(T, sfx)                                                                       \
    static double nll_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                     \
        nll_ctx *c = vctx;                                                                    \
        int64_t C = c->geo.C, S = c->geo.S;                                                   \
        double partial = 0;                                                                   \
        for (int64_t p = lo; p < hi; p++) {                                                   \
            int64_t t = c->t[p];                                                              \
            double loss = t == c->ignore ? 0 : -(double)((const T *)c->x)[(p / S) * C * S + t * S + p % S]; \
            if (c->out) ((T *)c->out)[p] = (T)loss;                                           \
            partial += loss;                                                                  \
        }                                                                                     \
        return partial;                                                                       \
    }                                                                                         \
    /* gx is zero-filled; only the target's entry gets -g */                                  \
    static void nll_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                      \
        nll_ctx *c = vctx;                                                                    \
        int64_t C = c->geo.C, S = c->geo.S;                                                   \
        for (int64_t p = lo; p < hi; p++) {                                                   \
            int64_t t = c->t[p];                                                              \
            if (t == c->ignore) continue;                                                     \
            ((T *)c->gx)[(p / S) * C * S + t * S + p % S] = (T)(-UP(T, &c->up, p));           \
        }                                                                                     \
    }
DEF_NLL(float, f32)
DEF_NLL(double, f64)

tn_tensor *nn_nll_loss(tn_tensor *logp, tn_tensor *target, nn_reduction red, int64_t ignore_index) {
    const char *op = "nll_loss";
    cls_geom geo;
    bool prob;
    if (check_reduction(op, red) < 0 || class_geometry(op, logp, target, false, &geo, &prob) < 0)
        return NULL;
    int64_t count = 0;
    tn_tensor *xc = as_contiguous(logp, logp->dtype);
    tn_tensor *tc = xc ? checked_targets(op, target, geo.C, ignore_index, &count) : NULL;
    tn_tensor *out = tc && red == NN_REDUCE_NONE ? tn_empty(logp->dtype, geo.out_ndim, geo.out_shape) : NULL;
    if (!tc || (red == NN_REDUCE_NONE && !out)) goto fail;
    nll_ctx c = {.geo = geo, .x = tn_data(xc), .t = tn_data(tc), .out = out ? tn_data(out) : NULL,
                 .ignore = ignore_index};
    double sum;
    if (chunked_sum(geo.P, LOSS_CHUNK, logp->dtype == TN_FLOAT32 ? nll_forward_f32 : nll_forward_f64, &c,
                    &sum) < 0)
        goto fail;
    if (!out) out = reduced_result(logp->dtype, red, sum, (double)count);
    if (!out) goto fail;
    if (tn_grad_needed1(logp)) {
        tn_node *n = nn_record(NN_OP_NLL_LOSS, out, 2, (tn_tensor *[]){logp, target});
        if (!n) goto fail;
        n->iarg[1] = ignore_index;
        n->iarg[2] = red;
        n->iarg[3] = count;
        tn_save(n, tc);
    }
    tn_release(xc);
    tn_release(tc);
    return out;
fail:
    tn_release(out);
    tn_release(tc);
    tn_release(xc);
    return NULL;
}

/* gin: logp.  Saved: targets (int64). */
int nll_loss_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    if (!nn_edge_needed(n, 0)) return 0;
    tn_tensor *t = tn_saved(n, 0);
    if (!t) return -1;
    tn_edge *e = &n->edges[0];
    cls_geom geo = {0};
    geo.N = e->ndim == 1 ? 1 : e->shape[0];
    geo.C = e->ndim == 1 ? e->shape[0] : e->shape[1];
    geo.S = 1;
    for (int i = 2; i < e->ndim; i++) geo.S *= e->shape[i];
    geo.P = geo.N * geo.S;
    tn_tensor *gc;
    nll_ctx c = {.geo = geo, .t = tn_data(t), .ignore = n->iarg[1]};
    if (make_upstream(g, (nn_reduction)n->iarg[2], (double)n->iarg[3], &gc, &c.up) < 0) return -1;
    tn_tensor *gx = tn_zeros(e->dtype, e->ndim, e->shape);
    if (!gx) {
        tn_release(gc);
        return -1;
    }
    c.gx = tn_data(gx);
    tn_parallel_for(geo.P, LOSS_CHUNK, e->dtype == TN_FLOAT32 ? nll_backward_f32 : nll_backward_f64, &c);
    tn_release(gc);
    gin[0] = gx;
    return 0;
}

/* ======================= binary cross-entropy ======================= */

typedef struct {
    const void *x, *y;       /* input (probabilities or logits) and target, contiguous */
    void *out;               /* per-element loss for NONE */
    upstream up;
    void *gx, *gy;
} bce_ctx;

static inline double clamped_log(double v) {
    double l = log(v);
    return l < -100 ? -100 : l;
}

/* log(1 + exp(-|x|)) + max(-x, 0) = -log(sigmoid(x)), stably */
static inline double neg_log_sigmoid(double x) {
    return log1p(exp(-fabs(x))) + (x < 0 ? -x : 0);
}

#define DEF_BCE(T, sfx)                                                                       \
    /* PyTorch: (y - 1) * max(log(1 - p), -100) - y * max(log(p), -100) */                    \
    static double bce_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                     \
        bce_ctx *c = vctx;                                                                    \
        const T *x = c->x, *y = c->y;                                                         \
        double partial = 0;                                                                   \
        for (int64_t i = lo; i < hi; i++) {                                                   \
            double l = (y[i] - 1.0) * clamped_log(1.0 - x[i]) - y[i] * clamped_log(x[i]);     \
            if (c->out) ((T *)c->out)[i] = (T)l;                                              \
            partial += l;                                                                     \
        }                                                                                     \
        return partial;                                                                       \
    }                                                                                         \
    /* dp = g * (p - y) / max(p * (1 - p), 1e-12);                                            \
     * dy = g * (max(log(1 - p), -100) - max(log(p), -100)), the derivative of the clamped    \
     * forward (PyTorch 1.13 leaves this log unclamped: +-inf at p = 0 or 1) */               \
    static void bce_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                      \
        bce_ctx *c = vctx;                                                                    \
        const T *x = c->x, *y = c->y;                                                         \
        T *gx = c->gx, *gy = c->gy;                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                   \
            double g = UP(T, &c->up, i), p = x[i], d = p * (1 - p);                           \
            if (gx) gx[i] = (T)(g * (p - y[i]) / (d > 1e-12 ? d : 1e-12));                    \
            if (gy) gy[i] = (T)(g * (clamped_log(1 - p) - clamped_log(p)));                   \
        }                                                                                     \
    }                                                                                         \
    /* stable: (1 - y) * x - log(sigmoid(x)) = max(x, 0) - x*y + log1p(exp(-|x|)) */          \
    static double bcel_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                    \
        bce_ctx *c = vctx;                                                                    \
        const T *x = c->x, *y = c->y;                                                         \
        double partial = 0;                                                                   \
        for (int64_t i = lo; i < hi; i++) {                                                   \
            double l = (1.0 - y[i]) * x[i] + neg_log_sigmoid(x[i]);                           \
            if (c->out) ((T *)c->out)[i] = (T)l;                                              \
            partial += l;                                                                     \
        }                                                                                     \
        return partial;                                                                       \
    }                                                                                         \
    /* dx = g * (sigmoid(x) - y); dy = -g * x */                                              \
    static void bcel_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                     \
        bce_ctx *c = vctx;                                                                    \
        const T *x = c->x, *y = c->y;                                                         \
        T *gx = c->gx, *gy = c->gy;                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                   \
            double g = UP(T, &c->up, i), xi = x[i];                                           \
            double s = xi >= 0 ? 1 / (1 + exp(-xi)) : exp(xi) / (1 + exp(xi));               \
            if (gx) gx[i] = (T)(g * (s - y[i]));                                              \
            if (gy) gy[i] = (T)(-g * xi);                                                     \
        }                                                                                     \
    }
DEF_BCE(float, f32)
DEF_BCE(double, f64)

static tn_tensor *bce_common(const char *op, tn_tensor *x, tn_tensor *target, nn_reduction red,
                             bool logits) {
    char s1[128], s2[128];
    if (check_reduction(op, red) < 0) return NULL;
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64) {
        tn_error("%s: input must be float32 or float64, got %s", op, tn_dtype_name(x->dtype));
        return NULL;
    }
    if (!tn_same_shape(x, target)) {
        tn_error("%s: target of shape %s must have the input's shape %s", op,
                 tn_shape_str(target->shape, target->ndim, s1, sizeof s1),
                 tn_shape_str(x->shape, x->ndim, s2, sizeof s2));
        return NULL;
    }
    tn_tensor *xc = as_contiguous(x, x->dtype);
    tn_tensor *yc = xc ? as_contiguous(target, x->dtype) : NULL;
    tn_tensor *out = NULL;
    if (!yc) goto fail;
    if (!logits)
        for (int64_t i = 0; i < xc->numel; i++) {
            double p = tn_get_flat(xc, i);
            if (!(p >= 0 && p <= 1)) {
                tn_error("%s: input values must be probabilities between 0 and 1, got %g at "
                         "element %lld (use binary_cross_entropy_with_logits on raw scores)",
                         op, p, (long long)i + 1);
                goto fail;
            }
        }
    if (red == NN_REDUCE_NONE && !(out = tn_empty(x->dtype, x->ndim, x->shape))) goto fail;
    bce_ctx c = {.x = tn_data(xc), .y = tn_data(yc), .out = out ? tn_data(out) : NULL};
    bool f32 = x->dtype == TN_FLOAT32;
    chunk_fn fn = logits ? (f32 ? bcel_forward_f32 : bcel_forward_f64) : (f32 ? bce_forward_f32 : bce_forward_f64);
    double sum;
    if (chunked_sum(x->numel, LOSS_CHUNK, fn, &c, &sum) < 0) goto fail;
    if (!out) out = reduced_result(x->dtype, red, sum, (double)x->numel);
    if (!out) goto fail;
    if (tn_grad_needed2(x, target)) {
        tn_node *n = nn_record(logits ? NN_OP_BCE_WITH_LOGITS : NN_OP_BCE, out, 2, (tn_tensor *[]){x, target});
        if (!n) goto fail;
        n->iarg[2] = red;
        tn_save(n, xc);
        tn_save(n, yc);
    }
    tn_release(xc);
    tn_release(yc);
    return out;
fail:
    tn_release(out);
    tn_release(yc);
    tn_release(xc);
    return NULL;
}

tn_tensor *nn_binary_cross_entropy(tn_tensor *p, tn_tensor *target, nn_reduction red) {
    return bce_common("binary_cross_entropy", p, target, red, false);
}

tn_tensor *nn_binary_cross_entropy_with_logits(tn_tensor *x, tn_tensor *target, nn_reduction red) {
    return bce_common("binary_cross_entropy_with_logits", x, target, red, true);
}

static int bce_backward_common(tn_node *n, tn_tensor *g, tn_tensor **gin, bool logits) {
    tn_tensor *x = tn_saved(n, 0), *y = tn_saved(n, 1);
    if (!x || !y) return -1;
    tn_tensor *gc;
    bce_ctx c = {.x = tn_data(x), .y = tn_data(y)};
    if (make_upstream(g, (nn_reduction)n->iarg[2], (double)x->numel, &gc, &c.up) < 0) return -1;
    tn_tensor *gx = nn_edge_needed(n, 0) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    tn_tensor *gy = nn_edge_needed(n, 1) ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    if ((nn_edge_needed(n, 0) && !gx) || (nn_edge_needed(n, 1) && !gy)) {
        tn_release(gx);
        tn_release(gy);
        tn_release(gc);
        return -1;
    }
    c.gx = gx ? tn_data(gx) : NULL;
    c.gy = gy ? tn_data(gy) : NULL;
    bool f32 = x->dtype == TN_FLOAT32;
    tn_range_fn fn = logits ? (f32 ? bcel_backward_f32 : bcel_backward_f64) : (f32 ? bce_backward_f32 : bce_backward_f64);
    tn_parallel_for(x->numel, LOSS_CHUNK, fn, &c);
    tn_release(gc);
    gin[0] = gx;
    gin[1] = gy;
    return 0;
}

int binary_cross_entropy_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return bce_backward_common(n, g, gin, false);
}

int bce_with_logits_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return bce_backward_common(n, g, gin, true);
}

/* ======================= composite losses ======================= */

/* Applies the reduction to the elementwise loss l (consumed). */
static tn_tensor *reduce_loss(tn_tensor *l, nn_reduction red) {
    if (!l || red == NN_REDUCE_NONE) return l;
    tn_tensor *r = red == NN_REDUCE_MEAN ? tn_mean(l, TN_ALL_DIMS, false) : tn_sum(l, TN_ALL_DIMS, false);
    tn_release(l);
    return r;
}

static tn_tensor *difference(const char *op, tn_tensor *a, tn_tensor *b, nn_reduction red) {
    if (check_reduction(op, red) < 0) return NULL;
    if (!tn_dtype_is_float(a->dtype) && !tn_dtype_is_float(b->dtype)) {
        tn_error("%s: needs float inputs, got %s and %s", op, tn_dtype_name(a->dtype), tn_dtype_name(b->dtype));
        return NULL;
    }
    return tn_sub(a, b);
}

tn_tensor *nn_mse_loss(tn_tensor *a, tn_tensor *b, nn_reduction red) {
    tn_tensor *d = difference("mse_loss", a, b, red);
    if (!d) return NULL;
    tn_tensor *sq = tn_mul(d, d);
    tn_release(d);
    return reduce_loss(sq, red);
}

tn_tensor *nn_l1_loss(tn_tensor *a, tn_tensor *b, nn_reduction red) {
    tn_tensor *d = difference("l1_loss", a, b, red);
    if (!d) return NULL;
    tn_tensor *ad = tn_unary(TN_U_ABS, d);
    tn_release(d);
    return reduce_loss(ad, red);
}

/* |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta  (beta = 0: l1) */
tn_tensor *nn_smooth_l1_loss(tn_tensor *a, tn_tensor *b, nn_reduction red, double beta) {
    if (!(beta >= 0)) {
        tn_error("smooth_l1_loss: beta must be >= 0, got %g", beta);
        return NULL;
    }
    if (beta == 0) return nn_l1_loss(a, b, red);
    tn_tensor *d = difference("smooth_l1_loss", a, b, red);
    if (!d) return NULL;
    tn_tensor *ad = tn_unary(TN_U_ABS, d);
    tn_tensor *bt = tn_wrap_number(beta, false);
    tn_tensor *inside = ad && bt ? tn_binary(TN_B_LT, ad, bt) : NULL;
    tn_tensor *sq = inside ? tn_mul(d, d) : NULL;
    tn_tensor *quad = sq ? tn_mul_scalar(sq, 0.5 / beta) : NULL;
    tn_tensor *lin = quad ? tn_add_scalar(ad, -0.5 * beta) : NULL;
    tn_tensor *l = lin ? tn_where(inside, quad, lin) : NULL;
    tn_release(d);
    tn_release(ad);
    tn_release(bt);
    tn_release(inside);
    tn_release(sq);
    tn_release(quad);
    tn_release(lin);
    return reduce_loss(l, red);
}
