/*
 * pool.c: max and average pooling (1-d and 2-d) and adaptive average
 * pooling, with their backward rules, following PyTorch: stride defaults to
 * the kernel, padding at most half the kernel, ceil_mode, count_include_pad,
 * NaN propagating through max pooling.  Max pooling saves the argmax (flat
 * index within each input plane) for backward, which scatters the gradient
 * there; average pooling saves nothing but the geometry.  1-d pooling is the
 * 2-d kernel on planes of height 1.  The typed kernels are in pool_impl.h.
 */
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t planes;            /* N*C independent planes */
    int64_t H, W, OH, OW;
    int64_t kh, kw, sh, sw, ph, pw;
    bool count_include_pad;
} pool_geom;

/* One parallel pass over planes (the kernels cast x and y to their type). */
typedef struct {
    const pool_geom *g;
    const void *x;       /* (planes, H, W) input or, for backward, gy (planes, OH, OW) */
    void *y;             /* (planes, OH, OW) output or, for backward, dx (planes, H, W) */
    int64_t *idx;        /* max pooling: (planes, OH, OW) argmax, flat within the plane */
} pool_job;

/* The common 2x2, stride 2, unpadded max pooling, which has fast kernels. */
static inline bool pool_is_2x2(const pool_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
           2 * g->OH <= g->H && 2 * g->OW <= g->W;
}

static inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
static inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
    return ((i + 1) * in + out - 1) / out;
}

/* T: element type; IT: the integer of its size (vector comparison masks);
 * PVB: vector bytes (AVX: 32; a build without -march, e.g. the sanitizer's:
 * SSE2's 16); EVEN_LANES / ODD_LANES: shuffle masks picking the even / odd
 * elements of two concatenated vectors. */
#ifdef __AVX__
#define PVB 32
#define EVEN_F32 {0, 2, 4, 6, 8, 10, 12, 14}
#define ODD_F32 {1, 3, 5, 7, 9, 11, 13, 15}
#define EVEN_F64 {0, 2, 4, 6}
#define ODD_F64 {1, 3, 5, 7}
#else
#define PVB 16
#define EVEN_F32 {0, 2, 4, 6}
#define ODD_F32 {1, 3, 5, 7}
#define EVEN_F64 {0, 2}
#define ODD_F64 {1, 3}
#endif

#define T float
#define IT int32_t
#define S(name) name##_f32
#define EVEN_LANES EVEN_F32
#define ODD_LANES ODD_F32
#include "pool_impl.h"
#undef T
#undef IT
#undef S
#undef EVEN_LANES
#undef ODD_LANES

#define T double
#define IT int64_t
#define S(name) name##_f64
#define EVEN_LANES EVEN_F64
#define ODD_LANES ODD_F64
#include "pool_impl.h"
#undef T
#undef IT
#undef S
#undef EVEN_LANES
#undef ODD_LANES

typedef enum { MAX1, MAX2, AVG1, AVG2, ADAPTIVE2 } pool_kind;
static const char *const kind_names[] = {"max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
                                         "adaptive_avg_pool2d"};
static const nn_op kind_ops[] = {NN_OP_MAX_POOL1D, NN_OP_MAX_POOL2D, NN_OP_AVG_POOL1D,
                                 NN_OP_AVG_POOL2D, NN_OP_ADAPTIVE_AVG_POOL2D};

typedef struct {
    pool_geom g;
    pool_kind kind;
} pool_ctx;

static bool is_max(pool_kind k) { return k == MAX1 || k == MAX2; }
static bool is_1d(pool_kind k) { return k == MAX1 || k == AVG1; }

/* PyTorch's pooling output size. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
    int64_t num = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
    if (num < 0) return 0;
    int64_t out = num / s + 1;
    /* in ceil mode the last window must start inside the input or left padding */
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

/* Parallel chunks of about 32K input elements. */
static int64_t plane_grain(const pool_geom *g) {
    int64_t per = g->H * g->W > g->OH * g->OW ? g->H * g->W : g->OH * g->OW;
    return per >= 32768 ? 1 : 32768 / (per > 0 ? per : 1);
}

/* Validates and fills the geometry; k/s/p are {h, w} (1-d: index 1). */
static int pool_setup(pool_kind kind, tn_tensor *x, const int64_t k[2], const int64_t s[2],
                      const int64_t p[2], bool ceil_mode, bool cip, const int64_t osz[2],
                      pool_geom *g) {
    const char *name = kind_names[kind];
    int sdims = is_1d(kind) ? 1 : 2;
    char buf[128];
    if (!x) {
        tn_error("%s: input is required", name);
        return -1;
    }
    if (x->ndim != sdims + 1 && x->ndim != sdims + 2) {
        tn_error("%s: expected a %d-D %s or %d-D %s input, got shape %s", name, sdims + 1,
                 sdims == 1 ? "(C,L)" : "(C,H,W)", sdims + 2, sdims == 1 ? "(N,C,L)" : "(N,C,H,W)",
                 tn_shape_str(x->shape, x->ndim, buf, sizeof buf));
        return -1;
    }
    if (!tn_dtype_is_float(x->dtype)) {
        tn_error("%s: input must be float32 or float64, got %s", name, tn_dtype_name(x->dtype));
        return -1;
    }
    int nd = x->ndim;
    *g = (pool_geom){.planes = 1, .count_include_pad = cip};
    for (int i = 0; i < nd - sdims; i++) g->planes *= x->shape[i];
    g->H = sdims == 2 ? x->shape[nd - 2] : 1;
    g->W = x->shape[nd - 1];
    if (kind == ADAPTIVE2) {
        if (!osz || osz[0] < 1 || osz[1] < 1) {
            tn_error("%s: output size must be positive, got %lldx%lld", name,
                     osz ? (long long)osz[0] : 0LL, osz ? (long long)osz[1] : 0LL);
            return -1;
        }
        if (g->H < 1 || g->W < 1) {
            tn_error("%s: input of shape %s has an empty spatial dimension", name,
                     tn_shape_str(x->shape, nd, buf, sizeof buf));
            return -1;
        }
        g->OH = osz[0], g->OW = osz[1];
        return 0;
    }
    for (int i = 2 - sdims; i < 2; i++) {
        if (k[i] > ((int64_t)1 << 24) || s[i] > ((int64_t)1 << 24)) {
            tn_error("%s: kernel size or stride too large (at most %lld)", name, 1LL << 24);
            return -1;
        }
        if (k[i] < 1 || s[i] < 1 || p[i] < 0) {
            tn_error("%s: kernel size and stride must be positive and padding non-negative (got "
                     "kernel %lld, stride %lld, padding %lld)", name, (long long)k[i],
                     (long long)s[i], (long long)p[i]);
            return -1;
        }
        if (p[i] > k[i] / 2) {
            tn_error("%s: padding (%lld) should be at most half of the kernel size (%lld)", name,
                     (long long)p[i], (long long)k[i]);
            return -1;
        }
    }
    if (sdims == 2) g->kh = k[0], g->sh = s[0], g->ph = p[0];
    else g->kh = 1, g->sh = 1, g->ph = 0;
    g->kw = k[1], g->sw = s[1], g->pw = p[1];
    g->OH = out_size(g->H, g->kh, g->sh, g->ph, ceil_mode);
    g->OW = out_size(g->W, g->kw, g->sw, g->pw, ceil_mode);
    if (g->OH < 1 || g->OW < 1) {
        if (sdims == 1)
            tn_error("%s: input length %lld (padding %lld) is too small for kernel size %lld",
                     name, (long long)g->W, (long long)g->pw, (long long)g->kw);
        else
            tn_error("%s: input size %lldx%lld (padding %lldx%lld) is too small for kernel size "
                     "%lldx%lld", name, (long long)g->H, (long long)g->W, (long long)g->ph,
                     (long long)g->pw, (long long)g->kh, (long long)g->kw);
        return -1;
    }
    return 0;
}

static tn_range_fn forward_fn(pool_kind kind, tn_dtype dt) {
    bool f = dt == TN_FLOAT32;
    if (is_max(kind)) return f ? max_fwd_range_f32 : max_fwd_range_f64;
    if (kind == ADAPTIVE2) return f ? adaptive_fwd_range_f32 : adaptive_fwd_range_f64;
    return f ? avg_fwd_range_f32 : avg_fwd_range_f64;
}

static tn_range_fn backward_fn(pool_kind kind, tn_dtype dt) {
    bool f = dt == TN_FLOAT32;
    if (is_max(kind)) return f ? max_bwd_range_f32 : max_bwd_range_f64;
    if (kind == ADAPTIVE2) return f ? adaptive_bwd_range_f32 : adaptive_bwd_range_f64;
    return f ? avg_bwd_range_f32 : avg_bwd_range_f64;
}

static void run_planes(pool_kind kind, bool backward, const pool_geom *g, tn_tensor *in,
                       tn_tensor *out, tn_tensor *idx) {
    pool_job c = {g, tn_data(in), tn_data(out), idx ? tn_data(idx) : NULL};
    tn_dtype dt = in->dtype;
    tn_parallel_for(g->planes, plane_grain(g), backward ? backward_fn(kind, dt) : forward_fn(kind, dt),
                    &c);
}

static tn_tensor *pool_forward(pool_kind kind, tn_tensor *x, const int64_t k[2], const int64_t s[2],
                               const int64_t p[2], bool ceil_mode, bool cip, const int64_t osz[2],
                               tn_tensor **indices) {
    pool_geom g;
    if (pool_setup(kind, x, k, s, p, ceil_mode, cip, osz, &g) < 0) return NULL;
    int64_t shape[TN_MAX_DIMS];
    int nd = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)nd);
    if (!is_1d(kind)) shape[nd - 2] = g.OH;
    shape[nd - 1] = g.OW;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *xc = tn_contiguous(x);
    tn_set_grad_enabled(was);
    if (!xc) return NULL;
    tn_tensor *y = tn_empty(x->dtype, nd, shape);
    tn_tensor *idx = y && is_max(kind) ? tn_empty(TN_INT64, nd, shape) : NULL;
    if (!y || (is_max(kind) && !idx)) goto fail;
    run_planes(kind, false, &g, xc, y, idx);
    if (tn_interrupted()) {
        tn_error("interrupted");
        goto fail;
    }
    if (tn_grad_needed1(x)) {
        pool_ctx *ctx = malloc(sizeof *ctx);
        tn_node *n = ctx ? nn_record(kind_ops[kind], y, 1, &x) : NULL;
        if (!n || (idx && tn_save(n, idx) < 0)) {
            if (!ctx) tn_error("%s: out of memory", kind_names[kind]);
            free(ctx);
            goto fail;
        }
        ctx->g = g;
        ctx->kind = kind;
        n->ctx = ctx;
        n->ctx_free = free;
    }
    tn_release(xc);
    if (indices) *indices = idx;
    else tn_release(idx);
    return y;
fail:
    tn_release(xc);
    tn_release(y);
    tn_release(idx);
    return NULL;
}

static int pool_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    pool_ctx *pc = n->ctx;
    tn_tensor *idx = NULL;
    if (is_max(pc ? pc->kind : MAX2) && !(idx = tn_saved(n, 0))) return -1;
    if (!pc) {
        tn_error("backward: the graph of '%s' was already freed", n->name);
        return -1;
    }
    if (!nn_edge_needed(n, 0)) return 0;
    tn_tensor *gc = tn_contiguous(g);
    if (gc && gc->dtype != n->edges[0].dtype) {
        tn_tensor *t = tn_to(gc, n->edges[0].dtype);
        tn_release(gc);
        gc = t;
    }
    if (!gc) return -1;
    /* the 2x2 max-pooling backward writes every element itself */
    bool full = is_max(pc->kind) && pool_is_2x2(&pc->g);
    tn_tensor *dx = full ? tn_empty(gc->dtype, n->edges[0].ndim, n->edges[0].shape)
                         : tn_zeros(gc->dtype, n->edges[0].ndim, n->edges[0].shape);
    if (dx) run_planes(pc->kind, true, &pc->g, gc, dx, idx);
    tn_release(gc);
    gin[0] = dx;
    return dx ? 0 : -1;
}

int max_pool1d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return pool_backward(n, g, gin); }
int max_pool2d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return pool_backward(n, g, gin); }
int avg_pool1d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return pool_backward(n, g, gin); }
int avg_pool2d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return pool_backward(n, g, gin); }
int adaptive_avg_pool2d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return pool_backward(n, g, gin);
}

/* ---------- public entry points ---------- */

/* stride = kernel when not given; -1 when the kernel is missing. */
static int stride_or_kernel(const char *name, int64_t out[2], const int64_t *s, const int64_t *k) {
    if (!k) {
        tn_error("%s: kernel size is required", name);
        return -1;
    }
    out[0] = s ? s[0] : k[0];
    out[1] = s ? s[1] : k[1];
    return 0;
}

tn_tensor *nn_max_pool1d(tn_tensor *x, int64_t kernel, int64_t stride, int64_t padding,
                         bool ceil_mode) {
    int64_t k[2] = {1, kernel}, s[2] = {1, stride ? stride : kernel}, p[2] = {0, padding};
    return pool_forward(MAX1, x, k, s, p, ceil_mode, false, NULL, NULL);
}

tn_tensor *nn_max_pool2d(tn_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], bool ceil_mode) {
    int64_t s[2], p[2] = {padding ? padding[0] : 0, padding ? padding[1] : 0};
    if (stride_or_kernel("max_pool2d", s, stride, kernel) < 0) return NULL;
    return pool_forward(MAX2, x, kernel, s, p, ceil_mode, false, NULL, NULL);
}

int nn_max_pool2d_with_indices(tn_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                               const int64_t padding[2], bool ceil_mode, tn_tensor **out,
                               tn_tensor **indices) {
    int64_t s[2], p[2] = {padding ? padding[0] : 0, padding ? padding[1] : 0};
    *out = NULL;
    if (stride_or_kernel("max_pool2d", s, stride, kernel) < 0) return -1;
    *out = pool_forward(MAX2, x, kernel, s, p, ceil_mode, false, NULL, indices);
    return *out ? 0 : -1;
}

tn_tensor *nn_avg_pool1d(tn_tensor *x, int64_t kernel, int64_t stride, int64_t padding,
                         bool ceil_mode, bool count_include_pad) {
    int64_t k[2] = {1, kernel}, s[2] = {1, stride ? stride : kernel}, p[2] = {0, padding};
    return pool_forward(AVG1, x, k, s, p, ceil_mode, count_include_pad, NULL, NULL);
}

tn_tensor *nn_avg_pool2d(tn_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], bool ceil_mode, bool count_include_pad) {
    int64_t s[2], p[2] = {padding ? padding[0] : 0, padding ? padding[1] : 0};
    if (stride_or_kernel("avg_pool2d", s, stride, kernel) < 0) return NULL;
    return pool_forward(AVG2, x, kernel, s, p, ceil_mode, count_include_pad, NULL, NULL);
}

tn_tensor *nn_adaptive_avg_pool2d(tn_tensor *x, const int64_t out_size[2]) {
    return pool_forward(ADAPTIVE2, x, NULL, NULL, NULL, false, false, out_size, NULL);
}
