/*
 * conv_direct.h: the direct stride-1 convolution kernels, included by
 * conv.c once per (dtype, vector width) with T, S(name), VB (vector bytes:
 * 32 for AVX2, 64 for AVX-512), TGT (a target attribute or nothing), OBMAX
 * (output channels per forward tile) and WOB / WKB (channels x taps per
 * weight-gradient tile) defined.  Not a public header.
 *
 * The idea: copy each input plane once into a zero-padded plane of width
 * Wp; then output q = oy*Wp + ox is the dot product of the weights with the
 * planes at fixed offsets off[k] = c*plane + ky*dh*Wp + kx*dw.  Taking q
 * over the whole "extended" range [0, OH*Wp) (the columns ox >= OW are
 * junk, dropped when the tile is copied out) turns every inner loop into
 * one contiguous vector loop without bounds checks or an im2col copy.
 *
 *  - forward tile: ob output channels x qv vectors of q held in registers
 *    (OBMAX x 2, or 4 x 4 for layers with few channels); per tap, qv loads
 *    of the plane and ob broadcasts of the (K, O) transposed weights feed
 *    ob*qv FMAs.
 *  - weight-gradient tile: ob channels x kb taps of vector partial sums over
 *    q (the output gradient widened to Wp with zero junk columns), summed
 *    across lanes at the end; long planes go one image at a time (data in
 *    L1), short planes batch several images per tile (long loops).
 *  - the input gradient of a stride-1 convolution is itself a stride-1
 *    convolution of the output gradient with the flipped, transposed
 *    weights (conv.c builds that geometry and calls the forward).
 *
 * Tile widths are compile-time constants (always_inline + unroll pragmas),
 * so the accumulators live in registers.
 */

#define NV ((int64_t)(VB / (int)sizeof(T)))   /* lanes */
typedef T S(dvec) __attribute__((vector_size(VB)));
#define AI static inline __attribute__((always_inline)) TGT

AI S(dvec) S(dload)(const T *p) {
    S(dvec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
AI void S(dstore)(T *p, S(dvec) v) { memcpy(p, &v, sizeof v); }
AI S(dvec) S(dsplat)(T x) {
    S(dvec) v;
    for (int i = 0; i < (int)NV; i++) v[i] = x;   /* one broadcast (0 + x would add) */
    return v;
}
AI T S(dhsum)(S(dvec) v) {   /* pairwise: halves added as vectors */
    T t[NV];
    memcpy(t, &v, sizeof v);
#pragma GCC unroll 8
    for (int w = (int)NV / 2; w >= 1; w /= 2)
#pragma GCC unroll 16
        for (int i = 0; i < w; i++) t[i] += t[i + w];
    return t[0];
}
/* Pins a value in a register: without it the compiler folds the load into
 * every FMA that uses it, multiplying the loads of a load-bound loop. */
#define IN_REG(v) __asm__("" : "+v"(v))

/* ext[j][q0 .. q0+qv*NV) = bias[j] + sum_k wt[k][j] * src[off[k] + q], j < ob.
 * wt is the (K, ldw) transposed weight at column o0; src is pad + q0.
 * ob*qv accumulators: OBMAX x 2 for wide layers, up to 4 x 4 when there are
 * few output channels (enough independent FMA chains either way). */
AI void S(fwd_tile)(const int ob, const int qv, const T *wt, int64_t ldw, int64_t K,
                    const int64_t *off, const T *src, const T *bias, T *ext, int64_t ldext) {
    S(dvec) a[OBMAX][4];
#pragma GCC unroll 16
    for (int j = 0; j < ob; j++)
#pragma GCC unroll 4
        for (int v = 0; v < qv; v++) a[j][v] = S(dsplat)(bias ? bias[j] : 0);
    for (int64_t k = 0; k < K; k++) {
        const T *sk = src + off[k], *wk = wt + k * ldw;
        S(dvec) sv[4];
#pragma GCC unroll 4
        for (int v = 0; v < qv; v++) {
            sv[v] = S(dload)(sk + v * NV);
            IN_REG(sv[v]);
        }
#pragma GCC unroll 16
        for (int j = 0; j < ob; j++) {
            S(dvec) wv = S(dsplat)(wk[j]);
            IN_REG(wv);
#pragma GCC unroll 4
            for (int v = 0; v < qv; v++) a[j][v] += wv * sv[v];
        }
    }
#pragma GCC unroll 16
    for (int j = 0; j < ob; j++)
#pragma GCC unroll 4
        for (int v = 0; v < qv; v++) S(dstore)(ext + j * ldext + v * NV, a[j][v]);
}

/* q-vectors per forward tile: 4 when no tile has more than 4 channels and
 * there are registers for 16 accumulators (32 vector registers). */
static inline int S(fwd_qv)(int64_t O) { return O < OBMAX && OBMAX >= 8 ? 4 : 2; }

/* One image: out (O, OH, OW) from the padded planes; ext is (OBMAX, Qr) scratch. */
TGT static void S(dfwd_image)(const conv_geom *g, const direct_plan *d, const T *wt, const T *b,
                              const T *pad, T *ext, T *out) {
    const int64_t O = g->O, K = g->K, Qr = d->Qr, *off = d->off;
    const int qv = S(fwd_qv)(O);
    for (int64_t o0 = 0; o0 < O;) {
        int64_t r = O - o0;
        int ob = r >= OBMAX ? OBMAX : r >= 4 ? 4 : r >= 2 ? 2 : 1;
        const T *w0 = wt + o0, *b0 = b ? b + o0 : NULL;
        for (int64_t q0 = 0; q0 < Qr; q0 += qv * NV) {
            const T *src = pad + q0;
            T *e = ext + q0;
            if (ob == OBMAX) S(fwd_tile)(OBMAX, 2, w0, O, K, off, src, b0, e, Qr);
            else if (qv == 4 && ob == 4) S(fwd_tile)(4, 4, w0, O, K, off, src, b0, e, Qr);
            else if (qv == 4 && ob == 2) S(fwd_tile)(2, 4, w0, O, K, off, src, b0, e, Qr);
            else if (qv == 4) S(fwd_tile)(1, 4, w0, O, K, off, src, b0, e, Qr);
            else if (ob == 4) S(fwd_tile)(4, 2, w0, O, K, off, src, b0, e, Qr);
            else if (ob == 2) S(fwd_tile)(2, 2, w0, O, K, off, src, b0, e, Qr);
            else S(fwd_tile)(1, 2, w0, O, K, off, src, b0, e, Qr);
        }
        for (int j = 0; j < ob; j++)   /* drop the junk columns */
            for (int64_t oy = 0; oy < g->OH; oy++) {
                const T *es = ext + j * Qr + oy * d->Wp;
                T *o = out + ((o0 + j) * g->OH + oy) * g->OW;
                for (int64_t ox = 0; ox < g->OW; ox++) o[ox] = es[ox];
            }
        o0 += ob;
    }
}

/* ---- weight gradient, one image at a time (long planes) ----
 * dwv[j][i] += lanes of sum_q gt[j][q] * pad[off[i] + q], j < ob, i < kb.
 * The partial sums stay vectors (dwv holds one vector per weight) and are
 * summed across lanes once per chunk.  Each block of output channels is
 * widened just before its tiles, so the tiles read from L1. */
AI void S(wgrad_tile_v)(const int ob, const int kb, const T *gt, int64_t ldg, const T *pad,
                      const int64_t *off, int64_t Qr, S(dvec) *dwv, int64_t K) {
    S(dvec) acc[WOB][WKB];
#pragma GCC unroll 16
    for (int j = 0; j < ob; j++)
#pragma GCC unroll 16
        for (int i = 0; i < kb; i++) acc[j][i] = S(dsplat)(0);
    for (int64_t q = 0; q < Qr; q += NV) {
        S(dvec) x[WKB];
#pragma GCC unroll 16
        for (int i = 0; i < kb; i++) {
            x[i] = S(dload)(pad + off[i] + q);
            IN_REG(x[i]);
        }
#pragma GCC unroll 16
        for (int j = 0; j < ob; j++) {
            S(dvec) gv = S(dload)(gt + j * ldg + q);
            IN_REG(gv);
#pragma GCC unroll 16
            for (int i = 0; i < kb; i++) acc[j][i] += gv * x[i];
        }
    }
#pragma GCC unroll 16
    for (int j = 0; j < ob; j++)
#pragma GCC unroll 16
        for (int i = 0; i < kb; i++) dwv[j * K + i] += acc[j][i];
}

/* One image: dwv (O,K vectors) += gy (*) pad, db (O) += sum gy.  gt is
 * (WOB, Qr) scratch. */
TGT static void S(dwgrad_image_v)(const conv_geom *g, const direct_plan *d, const T *gy,
                                const T *pad, T *gt, S(dvec) *dwv, T *db) {
    const int64_t O = g->O, K = g->K, Qr = d->Qr, Wp = d->Wp;
    for (int64_t o0 = 0; o0 < O;) {
        int ob = O - o0 >= WOB ? WOB : O - o0 >= 2 ? 2 : 1;   /* 2: more FMA chains in tails */
        /* widen the gradient rows of these channels to Wp, zeros in the junk */
        for (int j = 0; j < ob; j++) {
            const T *src = gy + (o0 + j) * g->P;
            T *dst = gt + j * Qr;
            for (int64_t oy = 0; oy < g->OH; oy++) {
                for (int64_t ox = 0; ox < g->OW; ox++) dst[oy * Wp + ox] = src[oy * g->OW + ox];
                for (int64_t ox = g->OW; ox < Wp; ox++) dst[oy * Wp + ox] = 0;
            }
            for (int64_t q = d->Q; q < Qr; q++) dst[q] = 0;
            if (db) {
                S(dvec) acc = S(dsplat)(0);
                for (int64_t q = 0; q < Qr; q += NV) acc += S(dload)(dst + q);
                db[o0 + j] += S(dhsum)(acc);
            }
        }
        if (dwv) {
            S(dvec) *dwo = dwv + o0 * K;
            int64_t k0 = 0;
            if (ob == WOB) {
                for (; k0 + WKB <= K; k0 += WKB)
                    S(wgrad_tile_v)(WOB, WKB, gt, Qr, pad, d->off + k0, Qr, dwo + k0, K);
                for (; k0 < K; k0++) S(wgrad_tile_v)(WOB, 1, gt, Qr, pad, d->off + k0, Qr, dwo + k0, K);
            } else if (ob == 2) {
                for (; k0 + WKB <= K; k0 += WKB)
                    S(wgrad_tile_v)(2, WKB, gt, Qr, pad, d->off + k0, Qr, dwo + k0, K);
                for (; k0 < K; k0++) S(wgrad_tile_v)(2, 1, gt, Qr, pad, d->off + k0, Qr, dwo + k0, K);
            } else {
                for (; k0 + WKB <= K; k0 += WKB)
                    S(wgrad_tile_v)(1, WKB, gt, Qr, pad, d->off + k0, Qr, dwo + k0, K);
                for (; k0 < K; k0++) S(wgrad_tile_v)(1, 1, gt, Qr, pad, d->off + k0, Qr, dwo + k0, K);
            }
        }
        o0 += ob;
    }
}

/* ---- weight gradient, images batched (short planes) ----
 * dw[j][i] += sum over m images and q of gt[j][q] * pad[off[i] + q], j < ob,
 * i < kb.  Image t's planes are at pad + t*pstride and its widened
 * gradient rows at gt + t*gstride.  Running the tile over several images
 * before its horizontal sums keeps the loops long: planes are short (a
 * LeNet plane is 9 vectors) and the epilogue would cost as much as the
 * tile. */
AI void S(wgrad_tile)(const int ob, const int kb, const T *gt, int64_t ldg, int64_t gstride,
                      const T *pad, int64_t pstride, int64_t m, const int64_t *off, int64_t Qr,
                      T *dw, int64_t K) {
    S(dvec) acc[WOB][WKB];
#pragma GCC unroll 16
    for (int j = 0; j < ob; j++)
#pragma GCC unroll 16
        for (int i = 0; i < kb; i++) acc[j][i] = S(dsplat)(0);
    for (int64_t t = 0; t < m; t++) {
        const T *gn = gt + t * gstride, *pn = pad + t * pstride;
        for (int64_t q = 0; q < Qr; q += NV) {
            S(dvec) x[WKB];
#pragma GCC unroll 16
            for (int i = 0; i < kb; i++) {
                x[i] = S(dload)(pn + off[i] + q);
                IN_REG(x[i]);
            }
#pragma GCC unroll 16
            for (int j = 0; j < ob; j++) {
                S(dvec) gv = S(dload)(gn + j * ldg + q);
                IN_REG(gv);
#pragma GCC unroll 16
                for (int i = 0; i < kb; i++) acc[j][i] += gv * x[i];
            }
        }
    }
    for (int j = 0; j < ob; j++)
        for (int i = 0; i < kb; i++) dw[j * K + i] += S(dhsum)(acc[j][i]);
}

AI T S(dsum)(const T *p, int64_t n) {
    S(dvec) a = S(dsplat)(0);
    int64_t i = 0;
    for (; i + NV <= n; i += NV) a += S(dload)(p + i);
    T s = S(dhsum)(a);
    for (; i < n; i++) s += p[i];
    return s;
}

/* Output-gradient channels o0 .. o0+ob of one image widened to Wp columns
 * (zeros in the junk and past Q): gt (ob, Qr); db[o] += their sums. */
TGT static void S(widen_grad)(const conv_geom *g, const direct_plan *d, const T *gy, int64_t o0,
                              int ob, T *gt, T *db) {
    const int64_t Qr = d->Qr, Wp = d->Wp;
    for (int64_t o = o0; o < o0 + ob; o++) {
        const T *src = gy + o * g->P;
        T *dst = gt + (o - o0) * Qr;
        for (int64_t oy = 0; oy < g->OH; oy++) {
            for (int64_t ox = 0; ox < g->OW; ox++) dst[oy * Wp + ox] = src[oy * g->OW + ox];
            for (int64_t ox = g->OW; ox < Wp; ox++) dst[oy * Wp + ox] = 0;
        }
        for (int64_t q = d->Q; q < Qr; q++) dst[q] = 0;
        if (db) db[o] += S(dsum)(src, g->P);
    }
}

/* m images: dw (O,K) += gy (*) pad, db (O) += sum gy.  Per block of output
 * channels, the m images' widened gradient rows (gt: m x (WOB, Qr), small
 * enough for L1) meet all their padded planes (pad: m x (C, plane)). */
TGT static void S(dwgrad_images)(const conv_geom *g, const direct_plan *d, const T *gy,
                                 const T *pad, int64_t m, T *gt, T *dw, T *db) {
    const int64_t O = g->O, K = g->K, Qr = d->Qr, ps = g->C * d->plane;
    for (int64_t o0 = 0; o0 < O;) {
        int ob = O - o0 >= WOB ? WOB : O - o0 >= 2 ? 2 : 1;   /* 2: more FMA chains in tails */
        int64_t gs = ob * Qr;
        for (int64_t t = 0; t < m; t++)
            S(widen_grad)(g, d, gy + t * O * g->P, o0, ob, gt + t * gs, db);
        T *dwo = dw + o0 * K;
        int64_t k0 = 0;
        if (ob == WOB) {
            for (; k0 + WKB <= K; k0 += WKB)
                S(wgrad_tile)(WOB, WKB, gt, Qr, gs, pad, ps, m, d->off + k0, Qr, dwo + k0, K);
            for (; k0 < K; k0++)
                S(wgrad_tile)(WOB, 1, gt, Qr, gs, pad, ps, m, d->off + k0, Qr, dwo + k0, K);
        } else if (ob == 2) {
            for (; k0 + WKB <= K; k0 += WKB)
                S(wgrad_tile)(2, WKB, gt, Qr, gs, pad, ps, m, d->off + k0, Qr, dwo + k0, K);
            for (; k0 < K; k0++)
                S(wgrad_tile)(2, 1, gt, Qr, gs, pad, ps, m, d->off + k0, Qr, dwo + k0, K);
        } else {
            for (; k0 + WKB <= K; k0 += WKB)
                S(wgrad_tile)(1, WKB, gt, Qr, gs, pad, ps, m, d->off + k0, Qr, dwo + k0, K);
            for (; k0 < K; k0++)
                S(wgrad_tile)(1, 1, gt, Qr, gs, pad, ps, m, d->off + k0, Qr, dwo + k0, K);
        }
        o0 += ob;
    }
}

/* Copies image x (C,H,W) into the zero-padded planes pad (C, plane). */
static void S(dpad_image)(const conv_geom *g, const direct_plan *d, const T *x, T *pad) {
    memset(pad, 0, sizeof(T) * (size_t)(g->C * d->plane));
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t iy = 0; iy < g->H; iy++) {
            const T *src = x + (c * g->H + iy) * g->W;
            T *dst = pad + c * d->plane + (iy + g->ph) * d->Wp + g->pw;
            for (int64_t ix = 0; ix < g->W; ix++) dst[ix] = src[ix];
        }
}

typedef struct {
    const conv_geom *g;
    const direct_plan *d;
    const T *x, *wt, *b, *gy;
    T *out;
    T *partial;        /* per chunk: dw (O*K) then db (O); or NULL */
    int64_t grain;
    bool need_w, need_b;
    int failed;        /* a chunk could not allocate its scratch */
} S(dctx);

TGT static void S(dfwd_range)(void *p, int64_t lo, int64_t hi) {
    S(dctx) *c = p;
    const conv_geom *g = c->g;
    const direct_plan *d = c->d;
    T *pad = scratch_alloc(sizeof(T) * (size_t)(g->C * d->plane + OBMAX * d->Qr));
    if (!pad) { c->failed = 1; return; }
    for (int64_t n = lo; n < hi && !tn_interrupted(); n++) {
        S(dpad_image)(g, d, c->x + n * g->C * g->HW, pad);
        S(dfwd_image)(g, d, c->wt, c->b, pad, pad + g->C * d->plane, c->out + n * g->O * g->P);
    }
    scratch_free(pad);
}

/* Images per weight-gradient batch: their padded planes (about 512 KB)
 * stay in L2 while every tile sweeps them. */
static int64_t S(wgrad_batch)(const conv_geom *g, const direct_plan *d) {
    int64_t per = g->C * d->plane + WOB * d->Qr;
    return per >= ((int64_t)1 << 17) ? 1 : ((int64_t)1 << 17) / per;
}

TGT static void S(dwgrad_range)(void *p, int64_t lo, int64_t hi) {
    S(dctx) *c = p;
    const conv_geom *g = c->g;
    const direct_plan *d = c->d;
    int64_t mb = S(wgrad_batch)(g, d), ps = g->C * d->plane;
    T *buf = scratch_alloc(sizeof(T) * (size_t)(mb * (ps + WOB * d->Qr)));
    if (!buf) { c->failed = 1; return; }
    T *pad = buf, *gt = buf + mb * ps;
    int64_t stride = g->O * g->K + g->O;
    T *dw = c->partial + (lo / c->grain) * stride, *db = c->need_b ? dw + g->O * g->K : NULL;
    memset(dw, 0, sizeof(T) * (size_t)stride);
    for (int64_t n0 = lo; n0 < hi && !tn_interrupted(); n0 += mb) {
        int64_t m = hi - n0 < mb ? hi - n0 : mb;
        const T *gy = c->gy + n0 * g->O * g->P;
        if (c->need_w) {
            for (int64_t t = 0; t < m; t++)
                S(dpad_image)(g, d, c->x + (n0 + t) * g->C * g->HW, pad + t * ps);
            S(dwgrad_images)(g, d, gy, pad, m, gt, dw, db);
        } else if (db) {
            for (int64_t t = 0; t < m; t++)
                for (int64_t o = 0; o < g->O; o++) db[o] += S(dsum)(gy + (t * g->O + o) * g->P, g->P);
        }
    }
    scratch_free(buf);
}

TGT static void S(dwgrad_range_v)(void *p, int64_t lo, int64_t hi) {
    S(dctx) *c = p;
    const conv_geom *g = c->g;
    const direct_plan *d = c->d;
    /* scratch: the chunk's vector partial sums (O*K vectors, first: the
     * allocation is 64-byte aligned), the padded planes, the gradient tile */
    int64_t nw = c->need_w ? g->O * g->K : 0;
    T *buf = scratch_alloc(sizeof(T) * (size_t)(nw * NV + g->C * d->plane + WOB * d->Qr));
    if (!buf) { c->failed = 1; return; }
    S(dvec) *dwv = c->need_w ? (S(dvec) *)(void *)buf : NULL;
    T *pad = buf + nw * NV, *gt = pad + g->C * d->plane;
    for (int64_t i = 0; i < nw; i++) dwv[i] = S(dsplat)(0);
    int64_t stride = g->O * g->K + g->O;
    T *dw = c->partial + (lo / c->grain) * stride, *db = c->need_b ? dw + g->O * g->K : NULL;
    memset(dw, 0, sizeof(T) * (size_t)stride);
    for (int64_t n = lo; n < hi && !tn_interrupted(); n++) {
        if (c->need_w) S(dpad_image)(g, d, c->x + n * g->C * g->HW, pad);
        S(dwgrad_image_v)(g, d, c->gy + n * g->O * g->P, pad, gt, dwv, db);
    }
    for (int64_t i = 0; i < nw; i++) dw[i] = S(dhsum)(dwv[i]);
    scratch_free(buf);
}

/* out (N,O,OH,OW) = conv(x, w) + b, stride 1.  w is (O, K). */
static int S(conv_fwd_direct)(const conv_geom *g, const T *x, const T *w, const T *b, T *out) {
    direct_plan d;
    if (direct_plan_init(&d, g, S(fwd_qv)(g->O) * NV) < 0) return -1;
    T *wt = scratch_alloc(sizeof(T) * (size_t)(g->K * g->O));   /* (K, O) */
    if (!wt) { free(d.off); return -1; }
    for (int64_t o = 0; o < g->O; o++)
        for (int64_t k = 0; k < g->K; k++) wt[k * g->O + o] = w[o * g->K + k];
    S(dctx) c = {.g = g, .d = &d, .x = x, .wt = wt, .b = b, .out = out};
    tn_parallel_for(g->N, direct_grain(g, &d), S(dfwd_range), &c);
    free(d.off);
    scratch_free(wt);
    if (c.failed) { tn_error("convolution: out of memory"); return -1; }
    if (tn_interrupted()) { tn_error("interrupted"); return -1; }
    return 0;
}

/* dw (O,K) += sum over images, db (O) += sum gy; either may be NULL. */
static int S(conv_wgrad_direct)(const conv_geom *g, const T *x, const T *gy, T *dw, T *db) {
    direct_plan d;
    if (direct_plan_init(&d, g, NV) < 0) return -1;   /* q in single vectors: less rounding */
    /* Chunks of a fixed number of images (independent of the thread count)
     * accumulate private partial gradients, summed in chunk order after. */
    int64_t grain = direct_grain(g, &d) * 4;   /* fewer, longer chunks: fewer partials */
    int64_t nchunks = (g->N + grain - 1) / grain, stride = g->O * g->K + g->O;
    T *partial = scratch_alloc(sizeof(T) * (size_t)(nchunks * stride));
    if (!partial) { free(d.off); return -1; }
    S(dctx) c = {.g = g, .d = &d, .x = x, .gy = gy, .partial = partial, .grain = grain,
                 .need_w = dw != NULL, .need_b = db != NULL};
    /* long planes: one image at a time from L1; short ones: batched so the
     * tiles' loops are long (measured on the CNN's and LeNet's layers) */
    tn_parallel_for(g->N, grain, d.Qr >= 256 ? S(dwgrad_range_v) : S(dwgrad_range), &c);
    free(d.off);
    if (c.failed || tn_interrupted()) {
        scratch_free(partial);
        tn_error(c.failed ? "convolution: out of memory" : "interrupted");
        return -1;
    }
    for (int64_t ch = 0; ch < nchunks; ch++) {
        const T *pw = partial + ch * stride;
        if (dw)
            for (int64_t i = 0; i < g->O * g->K; i++) dw[i] += pw[i];
        if (db)
            for (int64_t o = 0; o < g->O; o++) db[o] += pw[g->O * g->K + o];
    }
    scratch_free(partial);
    return 0;
}

/* dx (N,C,H,W) of a stride-1 convolution: the stride-1 convolution of gy
 * with the weights flipped in space and transposed to (C, O, kh, kw),
 * padded by (k-1)*d - p (the caller checks that this is not negative). */
static int S(conv_dgrad_direct)(const conv_geom *g, const T *w, const T *gy, T *dx) {
    conv_geom t = *g;
    t.C = g->O, t.H = g->OH, t.W = g->OW;
    t.O = g->C, t.OH = g->H, t.OW = g->W;
    t.ph = (g->kh - 1) * g->dh - g->ph;
    t.pw = (g->kw - 1) * g->dw - g->pw;
    t.K = t.C * g->kh * g->kw;
    t.P = t.OH * t.OW;
    t.HW = t.H * t.W;
    T *wf = scratch_alloc(sizeof(T) * (size_t)(g->O * g->K));   /* (C, O, kh, kw) */
    if (!wf) return -1;
    for (int64_t o = 0; o < g->O; o++)
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t ky = 0; ky < g->kh; ky++)
                for (int64_t kx = 0; kx < g->kw; kx++)
                    wf[((c * g->O + o) * g->kh + ky) * g->kw + kx] =
                        w[((o * g->C + c) * g->kh + (g->kh - 1 - ky)) * g->kw + (g->kw - 1 - kx)];
    int rc = S(conv_fwd_direct)(&t, gy, wf, NULL, dx);
    scratch_free(wf);
    return rc;
}

#undef NV
#undef AI
#undef IN_REG
