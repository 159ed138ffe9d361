/*
 * resample.c: nearest and (bi)linear resizing of the last one or two dims,
 * the kernels behind nn.interpolate / nn.Upsample, with PyTorch's sampling
 * positions (upsample_nearest / upsample_bilinear2d on CPU):
 *
 *   scale  = align_corners ? (in - 1) / (out - 1)          (0 when out = 1)
 *          : scale_factor given ? 1 / scale_factor : in / out
 *   nearest        src = min(floor(dst * scale), in - 1)
 *   nearest-exact  src = min(floor((dst + 0.5) * scale), in - 1)
 *   linear         src = align_corners ? dst * scale : max((dst + 0.5) * scale - 0.5, 0),
 *                  i0 = floor(src), i1 = min(i0 + 1, in - 1), weights 1 - l, l (l = src - i0)
 *
 * Positions and weights are computed in the tensor's dtype, as PyTorch does
 * (float32 positions for float32 data), so the two agree to the last bit in
 * the common cases.  Bilinear is the product of the two linear weights,
 * summed in PyTorch's order.
 *
 * Layout: x is viewed as planes (P, H, W) with H = 1 for 1-D resizing; the
 * output is (P, OH, OW) with x's leading dims.  Forward and backward run in
 * parallel over planes; backward scatters each output gradient into its
 * (up to four) sources within one plane, so it is deterministic.  Neither
 * direction needs x in backward (the op is linear in x): the node keeps
 * only the geometry.
 */
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* per output index of one axis: sources and weights (weights unused for nearest) */
typedef struct {
    int64_t *i0, *i1;
    double *l0, *l1;
} axis_map;

typedef struct {
    int mode;               /* NN_RESAMPLE_* */
    int64_t H, W, OH, OW;
    axis_map ah, aw;
    const void *x;          /* forward: (P, H, W) contiguous */
    void *out;              /* forward: (P, OH, OW) */
    const void *g;          /* backward: (P, OH, OW) contiguous */
    void *gx;               /* backward: (P, H, W), zeroed */
} rs_ctx;

static void axis_free(axis_map *a) {
    free(a->i0);
    free(a->i1);
    free(a->l0);
    free(a->l1);
}

/* PyTorch's area_pixel_compute_scale in type T */
#define AXIS_BUILD(T, sfx)                                                                         \
    static void axis_build_##sfx(axis_map *a, int64_t in, int64_t out, int mode, bool align,      \
                                 double scale_factor, bool shortcut) {                           \
        T scale;                                                                                 \
        if (mode == NN_RESAMPLE_LINEAR && align)                                                 \
            scale = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;                                  \
        else                                                                                     \
            scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;                  \
        for (int64_t d = 0; d < out; d++) {                                                      \
            if (mode != NN_RESAMPLE_LINEAR) {                                                    \
                T pos = mode == NN_RESAMPLE_NEAREST_EXACT ? ((T)d + (T)0.5) * scale              \
                                                          : (T)d * scale;                        \
                int64_t s = (int64_t)floor((double)pos);                                         \
                /* PyTorch's 2-d kernel (not its 1-d one) shortcuts nearest for the same         \
                 * size and exact doubling, whatever the scale factor said */                    \
                if (shortcut && mode == NN_RESAMPLE_NEAREST && out == in) s = d;                 \
                if (shortcut && mode == NN_RESAMPLE_NEAREST && out == 2 * in) s = d >> 1;        \
                a->i0[d] = a->i1[d] = s < in - 1 ? s : in - 1;                                   \
                a->l0[d] = 1;                                                                    \
                a->l1[d] = 0;                                                                    \
            } else {                                                                             \
                T src = align ? scale * (T)d : scale * ((T)d + (T)0.5) - (T)0.5;                 \
                if (src < 0) src = 0;                                                            \
                int64_t i0 = (int64_t)src;                                                       \
                if (i0 > in - 1) i0 = in - 1;                                                    \
                T l1 = src - (T)i0;                                                              \
                a->i0[d] = i0;                                                                   \
                a->i1[d] = i0 < in - 1 ? i0 + 1 : i0;                                            \
                a->l1[d] = (double)l1;                                                           \
                a->l0[d] = (double)((T)1 - l1);                                                  \
            }                                                                                    \
        }                                                                                        \
    }
AXIS_BUILD(float, f32)
AXIS_BUILD(double, f64)

static int axis_make(axis_map *a, tn_dtype dt, int64_t in, int64_t out, int mode, bool align, double sf,
                     bool shortcut) {
    size_t n = (size_t)(out > 0 ? out : 1);
    a->i0 = malloc(n * sizeof(int64_t));
    a->i1 = malloc(n * sizeof(int64_t));
    a->l0 = malloc(n * sizeof(double));
    a->l1 = malloc(n * sizeof(double));
    if (!a->i0 || !a->i1 || !a->l0 || !a->l1) {
        axis_free(a);
        memset(a, 0, sizeof *a);
        tn_error("out of memory");
        return -1;
    }
    if (dt == TN_FLOAT32)
        axis_build_f32(a, in, out, mode, align, sf, shortcut);
    else
        axis_build_f64(a, in, out, mode, align, sf, shortcut);
    return 0;
}

#define DEF_RS(T, sfx)                                                                             \
    static void rs_forward_##sfx(void *vctx, int64_t lo, int64_t hi) {                             \
        rs_ctx *c = vctx;                                                                          \
        int64_t H = c->H, W = c->W, OH = c->OH, OW = c->OW;                                        \
        const int64_t *w0 = c->aw.i0, *w1 = c->aw.i1;                                              \
        for (int64_t p = lo; p < hi; p++) {                                                        \
            const T *xp = (const T *)c->x + p * H * W;                                             \
            T *op = (T *)c->out + p * OH * OW;                                                     \
            for (int64_t oy = 0; oy < OH; oy++) {                                                  \
                const T *r0 = xp + c->ah.i0[oy] * W, *r1 = xp + c->ah.i1[oy] * W;                  \
                T *o = op + oy * OW;                                                               \
                if (c->mode != NN_RESAMPLE_LINEAR) {                                               \
                    for (int64_t ox = 0; ox < OW; ox++) o[ox] = r0[w0[ox]];                        \
                } else {                                                                           \
                    T h0 = (T)c->ah.l0[oy], h1 = (T)c->ah.l1[oy];                                  \
                    for (int64_t ox = 0; ox < OW; ox++) {                                          \
                        T a0 = (T)c->aw.l0[ox], a1 = (T)c->aw.l1[ox];                              \
                        o[ox] = h0 * (a0 * r0[w0[ox]] + a1 * r0[w1[ox]]) +                         \
                                h1 * (a0 * r1[w0[ox]] + a1 * r1[w1[ox]]);                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void rs_backward_##sfx(void *vctx, int64_t lo, int64_t hi) {                            \
        rs_ctx *c = vctx;                                                                          \
        int64_t H = c->H, W = c->W, OH = c->OH, OW = c->OW;                                        \
        const int64_t *w0 = c->aw.i0, *w1 = c->aw.i1;                                              \
        for (int64_t p = lo; p < hi; p++) {                                                        \
            T *gp = (T *)c->gx + p * H * W;                                                        \
            const T *go = (const T *)c->g + p * OH * OW;                                           \
            for (int64_t oy = 0; oy < OH; oy++) {                                                  \
                T *r0 = gp + c->ah.i0[oy] * W, *r1 = gp + c->ah.i1[oy] * W;                        \
                const T *g = go + oy * OW;                                                         \
                if (c->mode != NN_RESAMPLE_LINEAR) {                                               \
                    for (int64_t ox = 0; ox < OW; ox++) r0[w0[ox]] += g[ox];                       \
                } else {                                                                           \
                    T h0 = (T)c->ah.l0[oy], h1 = (T)c->ah.l1[oy];                                  \
                    for (int64_t ox = 0; ox < OW; ox++) {                                          \
                        T a0 = (T)c->aw.l0[ox], a1 = (T)c->aw.l1[ox];                              \
                        r0[w0[ox]] += h0 * a0 * g[ox];                                             \
                        r0[w1[ox]] += h0 * a1 * g[ox];                                             \
                        r1[w0[ox]] += h1 * a0 * g[ox];                                             \
                        r1[w1[ox]] += h1 * a1 * g[ox];                                             \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
DEF_RS(float, f32)
DEF_RS(double, f64)

/* planes of at least this many output elements per parallel task */
#define RS_GRAIN_ELEMS 32768

static int64_t plane_grain(int64_t per_plane) {
    int64_t g = RS_GRAIN_ELEMS / (per_plane > 0 ? per_plane : 1);
    return g > 0 ? g : 1;
}

/* geometry of node n or of a call: sets c's sizes and builds its axis maps */
static int rs_setup(rs_ctx *c, tn_dtype dt, int mode, bool align, int nspatial, int64_t H, int64_t W,
                    int64_t OH, int64_t OW, const double scales[2]) {
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->H = H, c->W = W, c->OH = OH, c->OW = OW;
    if (axis_make(&c->ah, dt, H, OH, mode, align, scales[0], nspatial == 2) < 0) return -1;
    if (axis_make(&c->aw, dt, W, OW, mode, align, scales[1], nspatial == 2) < 0) {
        axis_free(&c->ah);
        return -1;
    }
    return 0;
}

static void rs_free(rs_ctx *c) {
    axis_free(&c->ah);
    axis_free(&c->aw);
}

tn_tensor *nn_resample(tn_tensor *x, int nspatial, const int64_t *out_size, int mode, bool align_corners,
                       const double *scales) {
    char s[128];
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64) {
        tn_error("interpolate: input must be float32 or float64, got %s", tn_dtype_name(x->dtype));
        return NULL;
    }
    if (mode != NN_RESAMPLE_NEAREST && mode != NN_RESAMPLE_NEAREST_EXACT && mode != NN_RESAMPLE_LINEAR) {
        tn_error("interpolate: unknown mode %d", mode);
        return NULL;
    }
    if ((nspatial != 1 && nspatial != 2) || x->ndim < nspatial + 1) {
        tn_error("interpolate: cannot resize %d spatial dims of an input of shape %s", nspatial,
                 tn_shape_str(x->shape, x->ndim, s, sizeof s));
        return NULL;
    }
    int64_t OH = nspatial == 2 ? out_size[0] : 1, OW = nspatial == 2 ? out_size[1] : out_size[0];
    int64_t H = nspatial == 2 ? x->shape[x->ndim - 2] : 1, W = x->shape[x->ndim - 1];
    if (OH < 1 || OW < 1 || H < 1 || W < 1) {
        tn_error("interpolate: input %s and output sizes must be non-empty",
                 tn_shape_str(x->shape, x->ndim, s, sizeof s));
        return NULL;
    }
    if (OH > INT64_MAX / OW || OH * OW > (INT64_MAX / 8) / (x->numel / (H * W) + 1)) {
        tn_error("interpolate: output size %lld x %lld is too large", (long long)OH, (long long)OW);
        return NULL;
    }
    int64_t oshape[TN_MAX_DIMS];
    memcpy(oshape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    oshape[x->ndim - 1] = OW;
    if (nspatial == 2) oshape[x->ndim - 2] = OH;
    double sc[2] = {nspatial == 2 ? scales[0] : 0, nspatial == 2 ? scales[1] : scales[0]};
    rs_ctx c;
    if (rs_setup(&c, x->dtype, mode, align_corners, nspatial, H, W, OH, OW, sc) < 0) return NULL;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *xc = tn_contiguous(x);
    tn_set_grad_enabled(was);
    tn_tensor *out = xc ? tn_empty(x->dtype, x->ndim, oshape) : NULL;
    if (!out) {
        tn_release(xc);
        rs_free(&c);
        return NULL;
    }
    int64_t P = x->numel / (H * W);
    c.x = tn_data(xc);
    c.out = tn_data(out);
    tn_parallel_for(P, plane_grain(OH * OW), x->dtype == TN_FLOAT32 ? rs_forward_f32 : rs_forward_f64, &c);
    rs_free(&c);
    tn_release(xc);
    if (tn_grad_needed1(x)) {
        tn_node *n = nn_record(mode == NN_RESAMPLE_LINEAR ? NN_OP_UPSAMPLE_LINEAR : NN_OP_UPSAMPLE_NEAREST, out, 1, &x);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = mode;
        n->iarg[1] = align_corners;
        n->iarg[2] = H, n->iarg[3] = W, n->iarg[4] = OH, n->iarg[5] = OW;
        n->iarg[6] = nspatial;
        n->farg[0] = sc[0], n->farg[1] = sc[1];
    }
    return out;
}

/* shared by upsample_nearest and upsample_linear */
int upsample_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    const tn_edge *e = &n->edges[0];
    rs_ctx c;
    double sc[2] = {n->farg[0], n->farg[1]};
    if (rs_setup(&c, g->dtype, (int)n->iarg[0], n->iarg[1] != 0, (int)n->iarg[6], n->iarg[2], n->iarg[3],
                 n->iarg[4], n->iarg[5], sc) < 0)
        return -1;
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *gx = gc ? tn_zeros(g->dtype, e->ndim, e->shape) : NULL;
    if (!gx) {
        tn_release(gc);
        rs_free(&c);
        return -1;
    }
    c.g = tn_data(gc);
    c.gx = tn_data(gx);
    int64_t P = gx->numel / (c.H * c.W);
    tn_parallel_for(P, plane_grain(c.OH * c.OW), g->dtype == TN_FLOAT32 ? rs_backward_f32 : rs_backward_f64, &c);
    rs_free(&c);
    tn_release(gc);
    gin[0] = gx;
    return 0;
}
