/*
 * conv.c: conv1d, conv2d and conv_transpose2d (PyTorch semantics, groups =
 * 1) with their backward rules.
 *
 * Every variant is reduced to one 2-D geometry (conv_geom): a "big" side
 * (N,C,H,W) and a "small" side (N,O,OH,OW) tied by a kernel (kh,kw) with
 * stride, padding and dilation.  conv2d maps big -> small, conv1d is conv2d
 * with H = kh = 1, and conv_transpose2d maps small -> big with its weight
 * (Cin, Cout, kh, kw) read as the (O, K) matrix of the same geometry.
 *
 * Two families of typed kernels are instantiated here: im2col + OpenBLAS
 * GEMM (conv_impl.h; any stride, and conv_transpose2d) and direct stride-1
 * kernels (conv_direct.h; forward, weight gradient, and the input gradient
 * as a convolution with flipped weights), for float32 with 256-bit and, on
 * CPUs that have it, 512-bit vectors (chosen at run time: OpenBLAS is held
 * to its AVX2 kernels by OPENBLAS_CORETYPE, our own loops are not), and for
 * float64.  direct_ok() picks per gradient from measured crossovers.
 *
 * Backward computes only what the graph needs: the input gradient of a
 * first layer (whose input is data) is skipped, and so is a frozen weight's.
 */
#include "nn/nn.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t N;
    int64_t C, H, W;     /* big side: conv input / conv_transpose output (N,C,H,W) */
    int64_t O, OH, OW;   /* small side: conv output / conv_transpose input (N,O,OH,OW) */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t K;           /* C*kh*kw: rows of a column matrix, columns of the weight */
    int64_t P;           /* OH*OW */
    int64_t HW;          /* H*W */
} conv_geom;

/* The padded-plane layout of the direct kernel (see conv_impl.h). */
typedef struct {
    int64_t Wp, Hp;      /* padded plane */
    int64_t Q, Qr;       /* extended outputs OH*Wp, rounded up to the vector block */
    int64_t plane;       /* elements per padded plane, with slack for the over-reads */
    int64_t *off;        /* (K) offset of each tap, owned */
} direct_plan;

/* Stride-1 convolutions with at most this many weights per output channel
 * run the direct kernels, the others im2col + GEMM; -1 chooses by measured
 * crossovers (tests/bench/conv_bench.c): with AVX-512 the direct kernels
 * beat OpenBLAS's AVX2 GEMM up to K in the thousands, except on tiny
 * planes where the junk columns and short loops dominate; with 256-bit
 * vectors (and float64) GEMM wins from K ~ 200. */
static int64_t direct_max_k = -1;

int64_t nn_conv_set_direct_max_k(int64_t k) {
    int64_t was = direct_max_k;
    direct_max_k = k;
    return was;
}

/* Elements of column matrix per GEMM chunk (8 MB of float32). */
#define CHUNK_ELEMS ((int64_t)1 << 18)

/* Scratch buffers are tensor storages (64-byte aligned), so they come from
 * the core's cache of freed blocks: a training loop asks for the same sizes
 * every step, and fresh mmaps would page-fault every time.  The owning
 * tensor is kept in the 64 bytes before the returned pointer. */
static void *scratch_alloc(size_t bytes) {
    int64_t n = (int64_t)bytes + 64;
    tn_tensor *t = tn_empty(TN_UINT8, 1, &n);
    if (!t) return NULL;
    char *p = tn_data(t);
    memcpy(p, &t, sizeof t);
    return p + 64;
}

static void scratch_free(void *p) {
    if (!p) return;
    tn_tensor *t;
    memcpy(&t, (char *)p - 64, sizeof t);
    tn_release(t);
}

/* Output columns ox in [lo, hi) read input columns ox*s + base inside [0, W). */
static void valid_range(int64_t base, int64_t s, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
    int64_t l = base >= 0 ? 0 : (-base + s - 1) / s;
    int64_t h = W - 1 - base < 0 ? 0 : (W - 1 - base) / s + 1;
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Images per parallel im2col/col2im chunk: enough work to pay for a wake-up. */
static int64_t fold_grain(const conv_geom *g) {
    int64_t per = g->K * g->P;
    return per >= 32768 ? 1 : 32768 / (per > 0 ? per : 1);
}

/* Images per GEMM chunk. */
static int64_t chunk_images(const conv_geom *g) {
    int64_t rows = g->K > g->O ? g->K : g->O, per = rows * g->P;
    int64_t m = per > 0 ? CHUNK_ELEMS / per : g->N;
    if (m < 1) m = 1;
    if (m > g->N) m = g->N;
    return m;
}

static int direct_plan_init(direct_plan *d, const conv_geom *g, int64_t block) {
    d->Wp = g->W + 2 * g->pw;
    d->Hp = g->H + 2 * g->ph;
    d->Q = g->OH * d->Wp;
    d->Qr = (d->Q + block - 1) / block * block;
    /* the last tap reads up to (kh-1)*dh*Wp + (kw-1)*dw + Qr - 1 = Hp*Wp - 1 +
     * (kw-1)*dw + (Qr - Q) within its plane */
    d->plane = d->Hp * d->Wp + (g->kw - 1) * g->dw + (d->Qr - d->Q);
    d->off = malloc(sizeof(int64_t) * (size_t)g->K);
    if (!d->off) {
        tn_error("convolution: out of memory");
        return -1;
    }
    for (int64_t c = 0, k = 0; c < g->C; c++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++)
                d->off[k++] = c * d->plane + ky * g->dh * d->Wp + kx * g->dw;
    return 0;
}

/* Images per backward chunk of the direct kernel: about 2^20 FMAs each. */
static int64_t direct_grain(const conv_geom *g, const direct_plan *d) {
    int64_t per = g->O * g->K * d->Qr;
    return per >= (1 << 20) ? 1 : (1 << 20) / (per > 0 ? per : 1);
}

/* The widest vectors the build targets (the Makefile's x86-64-v3 has AVX2;
 * a build without -march, e.g. the sanitizer's, gets SSE2's 16 bytes). */
#ifdef __AVX__
#define VB_BASE 32
#else
#define VB_BASE 16
#endif

#define T float
#define S(name) name##_f32
#define GEMM cblas_sgemm
#include "conv_impl.h"
#undef GEMM
#define VB VB_BASE
#define TGT
#define OBMAX 6
#define WOB 4
#define WKB 3
#include "conv_direct.h"
#undef S
/* the same direct kernels with 512-bit vectors, chosen at run time */
#define S(name) name##_f32x
#undef VB
#undef TGT
#undef OBMAX
#define VB 64
#define TGT __attribute__((target("avx512f")))
#define OBMAX 8
#undef WKB
#define WKB 4    /* 32 registers: 4 x 4 weight-gradient tiles */
#include "conv_direct.h"
#undef T
#undef S
#undef VB
#undef TGT
#undef OBMAX
#undef WKB
#define WKB 3

#define T double
#define S(name) name##_f64
#define GEMM cblas_dgemm
#include "conv_impl.h"
#undef GEMM
#define VB VB_BASE
#define TGT
#define OBMAX 6
#include "conv_direct.h"
#undef T
#undef S
#undef VB
#undef TGT
#undef OBMAX
#undef WOB
#undef WKB

/* AVX-512 for the float32 direct kernels: -1 detect, 0 off, 1 on. */
static int avx512_mode = -1;

static bool cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

int nn_conv_set_avx512(int on) {
    int was = avx512_mode;
    avx512_mode = on < 0 ? -1 : on && cpu_has_avx512() ? 1 : 0;
    return was;
}

static bool use_avx512(void) {
    if (avx512_mode < 0) avx512_mode = cpu_has_avx512() ? 1 : 0;
    return avx512_mode == 1;
}

/* ======================= ops ======================= */

typedef enum { CONV1D, CONV2D, CONVT2D } conv_kind;
static const char *const kind_names[] = {"conv1d", "conv2d", "conv_transpose2d"};
static const nn_op kind_ops[] = {NN_OP_CONV1D, NN_OP_CONV2D, NN_OP_CONV_TRANSPOSE2D};

/* What backward needs besides the saved input and weight. */
typedef struct {
    conv_geom g;
    conv_kind kind;
} conv_ctx;

/* Whether a stride-1 convolution with k weights per output channel and
 * planes of `plane` outputs runs the direct kernels. */
static bool direct_ok(tn_dtype dt, int64_t k, int64_t plane) {
    if (direct_max_k >= 0) return k <= direct_max_k;
    if (dt == TN_FLOAT32 && use_avx512()) return k <= 4096 && plane >= 32;
    return k <= 160 && plane >= 32;
}

static bool use_direct(conv_kind kind, const conv_geom *g, tn_dtype dt) {
    return kind != CONVT2D && g->sh == 1 && g->sw == 1 && direct_ok(dt, g->K, g->P);
}

/* The input gradient of a stride-1 convolution is a direct convolution too
 * (O*kh*kw weights per channel) when the padding is at most the dilated
 * kernel's reach. */
static bool use_direct_dgrad(conv_kind kind, const conv_geom *g, tn_dtype dt) {
    return kind != CONVT2D && g->sh == 1 && g->sw == 1 && direct_ok(dt, g->O * g->kh * g->kw, g->P) &&
           g->ph <= (g->kh - 1) * g->dh && g->pw <= (g->kw - 1) * g->dw;
}

/* Parameters as {h, w}; for conv1d only index 1 is used. */
typedef struct {
    int64_t s[2], p[2], op[2], d[2];
} conv_params;

/* Bound on stride, padding, dilation and output_padding: far beyond any
 * real layer, and small enough that no size computation can overflow. */
#define PARAM_MAX ((int64_t)1 << 24)

static int check_params(const char *name, const conv_params *cp, int first) {
    for (int i = first; i < 2; i++) {
        if (cp->s[i] > PARAM_MAX || cp->p[i] > PARAM_MAX || cp->d[i] > PARAM_MAX ||
            cp->op[i] > PARAM_MAX) {
            tn_error("%s: stride, padding or dilation too large (at most %lld)", name,
                     (long long)PARAM_MAX);
            return -1;
        }
        if (cp->s[i] < 1 || cp->d[i] < 1 || cp->p[i] < 0 || cp->op[i] < 0) {
            tn_error("%s: stride and dilation must be positive and padding non-negative "
                     "(got stride %lld, padding %lld, dilation %lld)",
                     name, (long long)cp->s[i], (long long)cp->p[i], (long long)cp->d[i]);
            return -1;
        }
    }
    return 0;
}

/* Validates the arguments and fills the geometry.  Returns 0 or -1. */
static int conv_setup(conv_kind kind, tn_tensor *x, tn_tensor *w, tn_tensor *b,
                      const conv_params *cp, conv_geom *g) {
    const char *name = kind_names[kind];
    int sdims = kind == CONV1D ? 1 : 2;   /* spatial dims */
    char s1[128], s2[128];
    if (!x || !w) {
        tn_error("%s: input and weight are required", name);
        return -1;
    }
    if (x->ndim != sdims + 1 && x->ndim != sdims + 2) {
        tn_error("%s: expected a %d-D %s or %d-D %s input, got shape %s", name, sdims + 1,
                 sdims == 1 ? "(C,L)" : "(C,H,W)", sdims + 2, sdims == 1 ? "(N,C,L)" : "(N,C,H,W)",
                 tn_shape_str(x->shape, x->ndim, s1, sizeof s1));
        return -1;
    }
    if (w->ndim != sdims + 2) {
        tn_error("%s: expected a %d-D weight %s, got shape %s", name, sdims + 2,
                 kind == CONV1D ? "(out_channels, in_channels, k)"
                 : kind == CONV2D ? "(out_channels, in_channels, kh, kw)"
                                  : "(in_channels, out_channels, kh, kw)",
                 tn_shape_str(w->shape, w->ndim, s1, sizeof s1));
        return -1;
    }
    if (!tn_dtype_is_float(x->dtype)) {
        tn_error("%s: input must be float32 or float64, got %s", name, tn_dtype_name(x->dtype));
        return -1;
    }
    if (w->dtype != x->dtype || (b && b->dtype != x->dtype)) {
        tn_error("%s: input is %s but %s is %s (they must have the same dtype)", name,
                 tn_dtype_name(x->dtype), w->dtype != x->dtype ? "weight" : "bias",
                 tn_dtype_name(w->dtype != x->dtype ? w->dtype : b->dtype));
        return -1;
    }
    if (check_params(name, cp, 2 - sdims) < 0) return -1;
    for (int i = 0; i < w->ndim; i++)
        if (w->shape[i] == 0) {
            tn_error("%s: weight of shape %s has a zero-size dimension", name,
                     tn_shape_str(w->shape, w->ndim, s1, sizeof s1));
            return -1;
        }
    bool batched = x->ndim == sdims + 2;
    int cd = batched ? 1 : 0;                  /* channel dim of x */
    int64_t N = batched ? x->shape[0] : 1, C = x->shape[cd];
    int64_t H = sdims == 2 ? x->shape[cd + 1] : 1, W = x->shape[cd + sdims];
    int64_t kh = sdims == 2 ? w->shape[2] : 1, kw = w->shape[1 + sdims];
    int64_t wc = kind == CONVT2D ? w->shape[0] : w->shape[1];
    int64_t cout = kind == CONVT2D ? w->shape[1] : w->shape[0];
    if (C != wc) {
        tn_error("%s: input has %lld channels, weight expects %lld (input %s, weight %s)", name,
                 (long long)C, (long long)wc, tn_shape_str(x->shape, x->ndim, s1, sizeof s1),
                 tn_shape_str(w->shape, w->ndim, s2, sizeof s2));
        return -1;
    }
    if (b && (b->ndim != 1 || b->shape[0] != cout)) {
        tn_error("%s: bias must have shape [%lld], got %s", name, (long long)cout,
                 tn_shape_str(b->shape, b->ndim, s1, sizeof s1));
        return -1;
    }
    *g = (conv_geom){.N = N, .kh = kh, .kw = kw, .sh = cp->s[0], .sw = cp->s[1], .ph = cp->p[0],
                     .pw = cp->p[1], .dh = cp->d[0], .dw = cp->d[1]};
    if (sdims == 1) g->sh = g->dh = 1, g->ph = 0;
    if (kind != CONVT2D) {
        int64_t ekh = g->dh * (kh - 1) + 1, ekw = g->dw * (kw - 1) + 1;
        int64_t Hp = H + 2 * g->ph, Wp = W + 2 * g->pw;
        if (Hp < ekh || Wp < ekw) {
            if (sdims == 1)
                tn_error("%s: kernel size %lld (dilated: %lld) is larger than the padded input "
                         "length %lld", name, (long long)kw, (long long)ekw, (long long)Wp);
            else
                tn_error("%s: kernel size %lldx%lld (dilated: %lldx%lld) is larger than the padded "
                         "input %lldx%lld", name, (long long)kh, (long long)kw, (long long)ekh,
                         (long long)ekw, (long long)Hp, (long long)Wp);
            return -1;
        }
        g->C = C, g->H = H, g->W = W, g->O = cout;
        g->OH = (Hp - ekh) / g->sh + 1;
        g->OW = (Wp - ekw) / g->sw + 1;
    } else {
        for (int i = 0; i < 2; i++)
            if (cp->op[i] >= cp->s[i] && cp->op[i] >= cp->d[i]) {
                tn_error("%s: output_padding (%lld) must be smaller than either stride (%lld) or "
                         "dilation (%lld)", name, (long long)cp->op[i], (long long)cp->s[i],
                         (long long)cp->d[i]);
                return -1;
            }
        int64_t Hb = (H - 1) * g->sh - 2 * g->ph + g->dh * (kh - 1) + cp->op[0] + 1;
        int64_t Wb = (W - 1) * g->sw - 2 * g->pw + g->dw * (kw - 1) + cp->op[1] + 1;
        if (Hb < 1 || Wb < 1 || H < 1 || W < 1) {
            tn_error("%s: the output size %lldx%lld is not positive (input %lldx%lld, padding "
                     "%lldx%lld too large)", name, (long long)Hb, (long long)Wb, (long long)H,
                     (long long)W, (long long)g->ph, (long long)g->pw);
            return -1;
        }
        g->C = cout, g->H = Hb, g->W = Wb, g->O = C, g->OH = H, g->OW = W;
    }
    g->K = g->C * kh * kw;
    g->P = g->OH * g->OW;
    g->HW = g->H * g->W;
    return 0;
}

/* Contiguous copies (new references) without recording history. */
static int contig3(tn_tensor *x, tn_tensor *w, tn_tensor *b, tn_tensor **xc, tn_tensor **wc,
                   tn_tensor **bc) {
    bool was = tn_set_grad_enabled(false);
    *xc = tn_contiguous(x);
    *wc = *xc ? tn_contiguous(w) : NULL;
    *bc = b && *wc ? tn_contiguous(b) : NULL;
    tn_set_grad_enabled(was);
    if (*xc && *wc && (!b || *bc)) return 0;
    tn_release(*xc);
    tn_release(*wc);
    tn_release(*bc);
    return -1;
}

#define PTR(t, T) ((t) ? (T *)tn_data(t) : NULL)

static int run_forward(conv_kind kind, const conv_geom *g, tn_tensor *x, tn_tensor *w, tn_tensor *b,
                       tn_tensor *out) {
    if (g->N == 0) return 0;
    if (x->dtype == TN_FLOAT32) {
        const float *xp = PTR(x, float), *wp = PTR(w, float), *bp = PTR(b, float);
        float *op = PTR(out, float);
        if (kind == CONVT2D) return convt_fwd_gemm_f32(g, xp, wp, bp, op);
        if (!use_direct(kind, g, TN_FLOAT32)) return conv_fwd_gemm_f32(g, xp, wp, bp, op);
        return use_avx512() ? conv_fwd_direct_f32x(g, xp, wp, bp, op)
                            : conv_fwd_direct_f32(g, xp, wp, bp, op);
    }
    const double *xp = PTR(x, double), *wp = PTR(w, double), *bp = PTR(b, double);
    double *op = PTR(out, double);
    if (kind == CONVT2D) return convt_fwd_gemm_f64(g, xp, wp, bp, op);
    if (use_direct(kind, g, TN_FLOAT64)) return conv_fwd_direct_f64(g, xp, wp, bp, op);
    return conv_fwd_gemm_f64(g, xp, wp, bp, op);
}

/* Each gradient goes to the fastest kernel that can compute it; the GEMM
 * pass takes whatever the direct kernels do not. */
#define RUN_BACKWARD(SFX, SFXD, T)                                                             \
    do {                                                                                       \
        const T *xp = PTR(x, T), *wp = PTR(w, T), *gp = PTR(gy, T);                           \
        T *dxp = PTR(dx, T), *dwp = PTR(dw, T), *dbp = PTR(db, T);                            \
        if (kind == CONVT2D) return convt_bwd_gemm_##SFX(g, xp, wp, gp, dxp, dwp, dbp);         \
        bool dir_w = use_direct(kind, g, x->dtype);                                          \
        bool dir_x = dxp && use_direct_dgrad(kind, g, x->dtype);                               \
        T *gdx = dir_x ? NULL : dxp, *gdw = dir_w ? NULL : dwp, *gdb = dir_w ? NULL : dbp;     \
        if ((gdx || gdw || gdb) && conv_bwd_gemm_##SFX(g, xp, wp, gp, gdx, gdw, gdb) < 0)       \
            return -1;                                                                         \
        if (dir_w && (dwp || dbp) && conv_wgrad_direct_##SFXD(g, xp, gp, dwp, dbp) < 0)        \
            return -1;                                                                         \
        if (dir_x && conv_dgrad_direct_##SFXD(g, wp, gp, dxp) < 0) return -1;                  \
        return 0;                                                                              \
    } while (0)

static int run_backward(conv_kind kind, const conv_geom *g, tn_tensor *x, tn_tensor *w,
                        tn_tensor *gy, tn_tensor *dx, tn_tensor *dw, tn_tensor *db) {
    if (g->N == 0) return 0;
    if (x->dtype == TN_FLOAT64) RUN_BACKWARD(f64, f64, double);
    if (use_avx512()) RUN_BACKWARD(f32, f32x, float);
    RUN_BACKWARD(f32, f32, float);
}

static tn_tensor *conv_forward(conv_kind kind, tn_tensor *x, tn_tensor *w, tn_tensor *b,
                               const conv_params *cp) {
    conv_geom g;
    if (conv_setup(kind, x, w, b, cp, &g) < 0) return NULL;
    /* output shape: x's with channels and spatial sizes replaced */
    int64_t shape[TN_MAX_DIMS];
    int nd = x->ndim, cd = nd - (kind == CONV1D ? 2 : 3);
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)nd);
    if (kind == CONVT2D) {
        shape[cd] = g.C, shape[cd + 1] = g.H, shape[cd + 2] = g.W;
    } else {
        shape[cd] = g.O;
        if (kind == CONV1D) shape[cd + 1] = g.OW;
        else shape[cd + 1] = g.OH, shape[cd + 2] = g.OW;
    }
    tn_tensor *xc, *wc, *bc;
    if (contig3(x, w, b, &xc, &wc, &bc) < 0) return NULL;
    tn_tensor *out = kind == CONVT2D ? tn_zeros(x->dtype, nd, shape) : tn_empty(x->dtype, nd, shape);
    if (out && run_forward(kind, &g, xc, wc, bc, out) < 0) {
        tn_release(out);
        out = NULL;
    }
    tn_tensor *inputs[3] = {x, w, b};
    if (out && tn_grad_needed(3, inputs)) {
        conv_ctx *ctx = malloc(sizeof *ctx);
        tn_node *n = ctx ? nn_record(kind_ops[kind], out, 3, inputs) : NULL;
        if (!n || tn_save(n, xc) < 0 || tn_save(n, wc) < 0) {
            if (!ctx) tn_error("%s: out of memory", kind_names[kind]);
            free(ctx);
            tn_release(out);
            out = NULL;
        } else {
            ctx->g = g;
            ctx->kind = kind;
            n->ctx = ctx;
            n->ctx_free = free;
        }
    }
    tn_release(xc);
    tn_release(wc);
    tn_release(bc);
    return out;
}

/* gin[0..2] = gradients of input, weight, bias, for the edges that need them. */
static int conv_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *w = tn_saved(n, 1);
    if (!x || !w) return -1;
    conv_ctx *cc = n->ctx;
    tn_tensor *gc = tn_contiguous(g);
    if (gc && gc->dtype != x->dtype) {
        tn_tensor *t = tn_to(gc, x->dtype);
        tn_release(gc);
        gc = t;
    }
    if (!gc) return -1;
    tn_tensor *d[3] = {NULL, NULL, NULL};
    int rc = 0;
    /* gradients are accumulated into zeros, except an input gradient that
     * the direct kernel writes in full */
    bool dx_full = use_direct_dgrad(cc->kind, &cc->g, x->dtype);
    for (int i = 0; i < 3 && rc == 0; i++)
        if (nn_edge_needed(n, i)) {
            const tn_edge *e = &n->edges[i];
            d[i] = i == 0 && dx_full ? tn_empty(x->dtype, e->ndim, e->shape)
                                     : tn_zeros(x->dtype, e->ndim, e->shape);
            if (!d[i]) rc = -1;
        }
    if (rc == 0) rc = run_backward(cc->kind, &cc->g, x, w, gc, d[0], d[1], d[2]);
    tn_release(gc);
    for (int i = 0; i < 3; i++) {
        if (rc == 0) gin[i] = d[i];
        else tn_release(d[i]);
    }
    return rc;
}

int conv1d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return conv_backward(n, g, gin); }
int conv2d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return conv_backward(n, g, gin); }
int conv_transpose2d_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return conv_backward(n, g, gin);
}

static void pair_or(int64_t out[2], const int64_t *in, int64_t dflt) {
    out[0] = in ? in[0] : dflt;
    out[1] = in ? in[1] : dflt;
}

tn_tensor *nn_conv1d(tn_tensor *x, tn_tensor *w, tn_tensor *b, int64_t stride, int64_t padding,
                     int64_t dilation) {
    conv_params cp = {{1, stride}, {0, padding}, {0, 0}, {1, dilation}};
    return conv_forward(CONV1D, x, w, b, &cp);
}

tn_tensor *nn_conv2d(tn_tensor *x, tn_tensor *w, tn_tensor *b, const int64_t stride[2],
                     const int64_t padding[2], const int64_t dilation[2]) {
    conv_params cp;
    pair_or(cp.s, stride, 1);
    pair_or(cp.p, padding, 0);
    pair_or(cp.op, NULL, 0);
    pair_or(cp.d, dilation, 1);
    return conv_forward(CONV2D, x, w, b, &cp);
}

tn_tensor *nn_conv_transpose2d(tn_tensor *x, tn_tensor *w, tn_tensor *b, const int64_t stride[2],
                               const int64_t padding[2], const int64_t output_padding[2],
                               const int64_t dilation[2]) {
    conv_params cp;
    pair_or(cp.s, stride, 1);
    pair_or(cp.p, padding, 0);
    pair_or(cp.op, output_padding, 0);
    pair_or(cp.d, dilation, 1);
    return conv_forward(CONVT2D, x, w, b, &cp);
}
