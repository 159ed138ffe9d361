/*
 * conv_impl.h: the typed convolution kernels, included by conv.c once per
 * floating dtype with T (the element type), S(name) (a dtype-suffixed name)
 * and GEMM (cblas_sgemm or cblas_dgemm) defined.  Not a public header.
 *
 * Two algorithms:
 *
 *  - im2col + GEMM (any stride, padding, dilation).  A chunk of m images is
 *    unfolded into one column matrix col (K, m*P), K = C*kh*kw, P = OH*OW,
 *    so a whole chunk is one large GEMM that OpenBLAS runs on all threads;
 *    the unfolding / folding loops run in parallel over images with
 *    OpenBLAS idle, so the two pools never nest.  Transposed convolution is
 *    the same three products with the roles swapped (its forward is conv's
 *    input gradient, its input gradient is conv's forward).
 *
 *  - direct (stride 1, small K, e.g. the 1-channel first layer with 9
 *    weights per output channel, where a GEMM with K = 9 wastes its work).
 *    The input plane is copied once into a zero-padded plane of width Wp;
 *    then every output is a dot product of the weights with the plane at
 *    fixed offsets off[k] = c*plane + ky*dh*Wp + kx*dw from q = oy*Wp + ox.
 *    Computing q over the whole "extended" range [0, OH*Wp) (the columns
 *    ox >= OW are junk, dropped when copying out) makes every inner loop one
 *    long contiguous vector loop with no bounds checks.  Register blocking:
 *    4 output channels x 2 vectors of q per step (8 independent FMA chains).
 *    The weight gradient is the same dot products taken the other way, with
 *    the output gradient widened to Wp by zero columns.
 */

#define VL ((int64_t)(32 / sizeof(T)))   /* lanes per 256-bit vector */
typedef T S(vec) __attribute__((vector_size(32)));

static inline S(vec) S(load)(const T *p) {
    S(vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void S(store)(T *p, S(vec) v) { memcpy(p, &v, sizeof v); }
static inline T S(hsum)(S(vec) v) {
    T s = 0;
    for (int64_t i = 0; i < VL; i++) s += v[i];
    return s;
}
static inline S(vec) S(splat)(T x) {
    S(vec) v;
    for (int64_t i = 0; i < VL; i++) v[i] = x;
    return v;
}

/* Sum of n contiguous values, 4 vector accumulators (the compiler does not
 * reassociate float sums by itself). */
static T S(sum)(const T *p, int64_t n) {
    S(vec) a0 = S(splat)(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) {
        a0 += S(load)(p + i);
        a1 += S(load)(p + i + VL);
        a2 += S(load)(p + i + 2 * VL);
        a3 += S(load)(p + i + 3 * VL);
    }
    T s = S(hsum)((a0 + a1) + (a2 + a3));
    for (; i < n; i++) s += p[i];
    return s;
}

/* ======================= im2col / col2im ======================= */

/* col (K, ld): column p = oy*OW + ox of row k = (c*kh + ky)*kw + kx holds
 * x[c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw], 0 outside.  x is (C,H,W). */
static void S(im2col)(const conv_geom *g, const T *x, T *col, int64_t ld) {
    for (int64_t kx = 0; kx < g->kw; kx++) {
        int64_t lo, hi, base = kx * g->dw - g->pw;
        valid_range(base, g->sw, g->W, g->OW, &lo, &hi);
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t ky = 0; ky < g->kh; ky++) {
                T *row = col + ((c * g->kh + ky) * g->kw + kx) * ld;
                for (int64_t oy = 0; oy < g->OH; oy++) {
                    T *r = row + oy * g->OW;
                    int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                    if (iy < 0 || iy >= g->H || lo >= hi) {
                        memset(r, 0, sizeof(T) * (size_t)g->OW);
                        continue;
                    }
                    const T *xr = x + (c * g->H + iy) * g->W + base;
                    if (lo > 0) memset(r, 0, sizeof(T) * (size_t)lo);
                    if (g->sw == 1) memcpy(r + lo, xr + lo, sizeof(T) * (size_t)(hi - lo));
                    else
                        for (int64_t ox = lo; ox < hi; ox++) r[ox] = xr[ox * g->sw];
                    if (hi < g->OW) memset(r + hi, 0, sizeof(T) * (size_t)(g->OW - hi));
                }
            }
    }
}

/* The adjoint of im2col: x[c][iy][ix] += col[k][p] over the same mapping. */
static void S(col2im)(const conv_geom *g, const T *col, int64_t ld, T *x) {
    for (int64_t kx = 0; kx < g->kw; kx++) {
        int64_t lo, hi, base = kx * g->dw - g->pw;
        valid_range(base, g->sw, g->W, g->OW, &lo, &hi);
        if (lo >= hi) continue;
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t ky = 0; ky < g->kh; ky++) {
                const T *row = col + ((c * g->kh + ky) * g->kw + kx) * ld;
                for (int64_t oy = 0; oy < g->OH; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ky * g->dh;
                    if (iy < 0 || iy >= g->H) continue;
                    const T *r = row + oy * g->OW;
                    T *xr = x + (c * g->H + iy) * g->W + base;
                    if (g->sw == 1)
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox] += r[ox];
                    else
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox * g->sw] += r[ox];
                }
            }
    }
}

/* ---- parallel helpers over the images of a chunk ---- */
typedef struct {
    const conv_geom *g;
    const T *big;      /* (m, C, H, W) */
    T *col;            /* (K, ld) */
    int64_t ld;
} S(fold_ctx);

static void S(im2col_range)(void *p, int64_t lo, int64_t hi) {
    S(fold_ctx) *c = p;
    for (int64_t j = lo; j < hi; j++)
        S(im2col)(c->g, c->big + j * c->g->C * c->g->HW, c->col + j * c->g->P, c->ld);
}

static void S(col2im_range)(void *p, int64_t lo, int64_t hi) {
    S(fold_ctx) *c = p;
    for (int64_t j = lo; j < hi; j++)
        S(col2im)(c->g, c->col + j * c->g->P, c->ld, (T *)c->big + j * c->g->C * c->g->HW);
}

static void S(par_im2col)(const conv_geom *g, const T *big, int64_t m, T *col) {
    S(fold_ctx) c = {g, big, col, m * g->P};
    tn_parallel_for(m, fold_grain(g), S(im2col_range), &c);
}

static void S(par_col2im)(const conv_geom *g, const T *col, int64_t m, T *big) {
    S(fold_ctx) c = {g, big, (T *)col, m * g->P};
    tn_parallel_for(m, fold_grain(g), S(col2im_range), &c);
}

/* small (m, O, P) -> mat (O, m*P) */
static void S(gather_small)(const conv_geom *g, const T *small, int64_t m, T *mat) {
    for (int64_t j = 0; j < m; j++)
        for (int64_t o = 0; o < g->O; o++)
            memcpy(mat + o * m * g->P + j * g->P, small + (j * g->O + o) * g->P,
                   sizeof(T) * (size_t)g->P);
}

/* mat (O, m*P) -> small (m, O, P), plus bias[o] when given */
static void S(scatter_small)(const conv_geom *g, const T *mat, int64_t m, const T *bias, T *small) {
    for (int64_t j = 0; j < m; j++)
        for (int64_t o = 0; o < g->O; o++) {
            const T *src = mat + o * m * g->P + j * g->P;
            T *dst = small + (j * g->O + o) * g->P;
            T bv = bias ? bias[o] : 0;
            for (int64_t p = 0; p < g->P; p++) dst[p] = src[p] + bv;
        }
}

/* db[c] += sum over images and positions of y (N, nch, plane) */
static void S(bias_grad)(const T *y, int64_t N, int64_t nch, int64_t plane, T *db) {
    for (int64_t c = 0; c < nch; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += S(sum)(y + (n * nch + c) * plane, plane);
        db[c] += (T)s;
    }
}

/* ======================= im2col + GEMM ======================= */

/* Scratch for a chunk: two (max(K,O), m*P) matrices. */
static T *S(chunk_buffers)(const conv_geom *g, int64_t m, T **second) {
    int64_t rows = g->K > g->O ? g->K : g->O;
    T *a = scratch_alloc(sizeof(T) * (size_t)(2 * rows * m * g->P));
    *second = a ? a + rows * m * g->P : NULL;
    return a;
}

/* conv forward: out (N,O,P) = W (O,K) @ im2col(x) + b */
static int S(conv_fwd_gemm)(const conv_geom *g, const T *x, const T *w, const T *b, T *out) {
    int64_t mmax = chunk_images(g);
    T *y, *col = S(chunk_buffers)(g, mmax, &y);
    if (!col) return -1;
    for (int64_t n0 = 0; n0 < g->N; n0 += mmax) {
        int64_t m = g->N - n0 < mmax ? g->N - n0 : mmax;
        if (tn_interrupted()) { free(col); tn_error("interrupted"); return -1; }
        S(par_im2col)(g, x + n0 * g->C * g->HW, m, col);
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->O, (int)(m * g->P), (int)g->K, 1,
             w, (int)g->K, col, (int)(m * g->P), 0, y, (int)(m * g->P));
        S(scatter_small)(g, y, m, b, out + n0 * g->O * g->P);
    }
    free(col);
    return 0;
}

/* conv backward: dx = col2im(W^T @ gy), dw += gy @ im2col(x)^T, db += sum gy */
static int S(conv_bwd_gemm)(const conv_geom *g, const T *x, const T *w, const T *gy, T *dx, T *dw,
                            T *db) {
    if (db) S(bias_grad)(gy, g->N, g->O, g->P, db);
    if (!dx && !dw) return 0;
    int64_t mmax = chunk_images(g);
    T *gm, *col = S(chunk_buffers)(g, mmax, &gm);
    if (!col) return -1;
    for (int64_t n0 = 0; n0 < g->N; n0 += mmax) {
        int64_t m = g->N - n0 < mmax ? g->N - n0 : mmax, ld = m * g->P;
        if (tn_interrupted()) { free(col); tn_error("interrupted"); return -1; }
        S(gather_small)(g, gy + n0 * g->O * g->P, m, gm);
        if (dw) {
            S(par_im2col)(g, x + n0 * g->C * g->HW, m, col);
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->O, (int)g->K, (int)ld, 1, gm,
                 (int)ld, col, (int)ld, 1, dw, (int)g->K);
        }
        if (dx) {
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->K, (int)ld, (int)g->O, 1, w,
                 (int)g->K, gm, (int)ld, 0, col, (int)ld);
            S(par_col2im)(g, col, m, dx + n0 * g->C * g->HW);
        }
    }
    free(col);
    return 0;
}

/* conv_transpose forward: x is the small side (N,O,P), out the big side
 * (N,C,H,W), zeroed by the caller: out = col2im(W^T @ x) + b */
static int S(convt_fwd_gemm)(const conv_geom *g, const T *x, const T *w, const T *b, T *out) {
    int64_t mmax = chunk_images(g);
    T *xm, *col = S(chunk_buffers)(g, mmax, &xm);
    if (!col) return -1;
    for (int64_t n0 = 0; n0 < g->N; n0 += mmax) {
        int64_t m = g->N - n0 < mmax ? g->N - n0 : mmax, ld = m * g->P;
        if (tn_interrupted()) { free(col); tn_error("interrupted"); return -1; }
        S(gather_small)(g, x + n0 * g->O * g->P, m, xm);
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->K, (int)ld, (int)g->O, 1, w, (int)g->K,
             xm, (int)ld, 0, col, (int)ld);
        S(par_col2im)(g, col, m, out + n0 * g->C * g->HW);
    }
    free(col);
    if (b)
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t c = 0; c < g->C; c++) {
                T *o = out + (n * g->C + c) * g->HW, bv = b[c];
                for (int64_t i = 0; i < g->HW; i++) o[i] += bv;
            }
    return 0;
}

/* conv_transpose backward: gy is the big side.  dx = W @ im2col(gy),
 * dw += x @ im2col(gy)^T, db += sum gy */
static int S(convt_bwd_gemm)(const conv_geom *g, const T *x, const T *w, const T *gy, T *dx, T *dw,
                             T *db) {
    if (db) S(bias_grad)(gy, g->N, g->C, g->HW, db);
    if (!dx && !dw) return 0;
    int64_t mmax = chunk_images(g);
    T *mat, *col = S(chunk_buffers)(g, mmax, &mat);
    if (!col) return -1;
    for (int64_t n0 = 0; n0 < g->N; n0 += mmax) {
        int64_t m = g->N - n0 < mmax ? g->N - n0 : mmax, ld = m * g->P;
        if (tn_interrupted()) { free(col); tn_error("interrupted"); return -1; }
        S(par_im2col)(g, gy + n0 * g->C * g->HW, m, col);
        if (dx) {
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->O, (int)ld, (int)g->K, 1, w,
                 (int)g->K, col, (int)ld, 0, mat, (int)ld);
            S(scatter_small)(g, mat, m, NULL, dx + n0 * g->O * g->P);
        }
        if (dw) {
            S(gather_small)(g, x + n0 * g->O * g->P, m, mat);
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->O, (int)g->K, (int)ld, 1, mat,
                 (int)ld, col, (int)ld, 1, dw, (int)g->K);
        }
    }
    free(col);
    return 0;
}

/* ======================= direct (stride 1, small K) ======================= */

/* Copies image x (C,H,W) into the zero-padded planes pad (C, plane). */
static void S(pad_image)(const conv_geom *g, const direct_plan *d, const T *x, T *pad) {
    memset(pad, 0, sizeof(T) * (size_t)(g->C * d->plane));
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t iy = 0; iy < g->H; iy++)
            memcpy(pad + c * d->plane + (iy + g->ph) * d->Wp + g->pw, x + (c * g->H + iy) * g->W,
                   sizeof(T) * (size_t)g->W);
}

/* ext (O, Qr) = bias + sum_k w[o][k] * pad[off[k] + q] */
static void S(direct_fwd_image)(const conv_geom *g, const direct_plan *d, const T *w, const T *b,
                                const T *pad, T *ext) {
    const int64_t K = g->K, Qr = d->Qr, *off = d->off;
    int64_t o0 = 0;
    for (; o0 + 4 <= g->O; o0 += 4) {
        const T *w0 = w + o0 * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        S(vec) b0 = S(splat)(b ? b[o0] : 0), b1 = S(splat)(b ? b[o0 + 1] : 0),
               b2 = S(splat)(b ? b[o0 + 2] : 0), b3 = S(splat)(b ? b[o0 + 3] : 0);
        for (int64_t q = 0; q < Qr; q += 2 * VL) {
            S(vec) a00 = b0, a01 = b0, a10 = b1, a11 = b1, a20 = b2, a21 = b2, a30 = b3, a31 = b3;
            for (int64_t k = 0; k < K; k++) {
                const T *s = pad + off[k] + q;
                S(vec) s0 = S(load)(s), s1 = S(load)(s + VL);
                a00 += w0[k] * s0; a01 += w0[k] * s1;
                a10 += w1[k] * s0; a11 += w1[k] * s1;
                a20 += w2[k] * s0; a21 += w2[k] * s1;
                a30 += w3[k] * s0; a31 += w3[k] * s1;
            }
            T *e = ext + o0 * Qr + q;
            S(store)(e, a00); S(store)(e + VL, a01);
            S(store)(e + Qr, a10); S(store)(e + Qr + VL, a11);
            S(store)(e + 2 * Qr, a20); S(store)(e + 2 * Qr + VL, a21);
            S(store)(e + 3 * Qr, a30); S(store)(e + 3 * Qr + VL, a31);
        }
    }
    for (; o0 < g->O; o0++) {  /* remaining channels one at a time, 4 vectors of q */
        const T *w0 = w + o0 * K;
        S(vec) b0 = S(splat)(b ? b[o0] : 0);
        int64_t q = 0;
        for (; q + 4 * VL <= Qr; q += 4 * VL) {
            S(vec) a0 = b0, a1 = b0, a2 = b0, a3 = b0;
            for (int64_t k = 0; k < K; k++) {
                const T *s = pad + off[k] + q;
                a0 += w0[k] * S(load)(s); a1 += w0[k] * S(load)(s + VL);
                a2 += w0[k] * S(load)(s + 2 * VL); a3 += w0[k] * S(load)(s + 3 * VL);
            }
            T *e = ext + o0 * Qr + q;
            S(store)(e, a0); S(store)(e + VL, a1); S(store)(e + 2 * VL, a2); S(store)(e + 3 * VL, a3);
        }
        for (; q < Qr; q += VL) {
            S(vec) a0 = b0;
            for (int64_t k = 0; k < K; k++) a0 += w0[k] * S(load)(pad + off[k] + q);
            S(store)(ext + o0 * Qr + q, a0);
        }
    }
}

/* dw (O,K) += sum_q gext[o][q] * pad[off[k] + q]; db[o] += sum_q gext[o][q] */
static void S(direct_wgrad_image)(const conv_geom *g, const direct_plan *d, const T *gext,
                                  const T *pad, T *dw, T *db) {
    const int64_t K = g->K, Qr = d->Qr, *off = d->off;
    int64_t o0 = 0;
    for (; o0 + 4 <= g->O; o0 += 4) {
        const T *g0 = gext + o0 * Qr, *g1 = g0 + Qr, *g2 = g1 + Qr, *g3 = g2 + Qr;
        int64_t k = 0;
        for (; k + 2 <= K; k += 2) {  /* two taps x four channels: 8 chains */
            const T *s0 = pad + off[k], *s1 = pad + off[k + 1];
            S(vec) z = S(splat)(0), a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z,
                   a31 = z;
            for (int64_t q = 0; q < Qr; q += VL) {
                S(vec) x0 = S(load)(s0 + q), x1 = S(load)(s1 + q);
                S(vec) v0 = S(load)(g0 + q), v1 = S(load)(g1 + q), v2 = S(load)(g2 + q),
                       v3 = S(load)(g3 + q);
                a00 += v0 * x0; a01 += v0 * x1;
                a10 += v1 * x0; a11 += v1 * x1;
                a20 += v2 * x0; a21 += v2 * x1;
                a30 += v3 * x0; a31 += v3 * x1;
            }
            T *dk = dw + o0 * K + k;
            dk[0] += S(hsum)(a00); dk[1] += S(hsum)(a01);
            dk[K] += S(hsum)(a10); dk[K + 1] += S(hsum)(a11);
            dk[2 * K] += S(hsum)(a20); dk[2 * K + 1] += S(hsum)(a21);
            dk[3 * K] += S(hsum)(a30); dk[3 * K + 1] += S(hsum)(a31);
        }
        for (; k < K; k++) {
            const T *s0 = pad + off[k];
            S(vec) z = S(splat)(0), a0 = z, a1 = z, a2 = z, a3 = z;
            for (int64_t q = 0; q < Qr; q += VL) {
                S(vec) x0 = S(load)(s0 + q);
                a0 += S(load)(g0 + q) * x0; a1 += S(load)(g1 + q) * x0;
                a2 += S(load)(g2 + q) * x0; a3 += S(load)(g3 + q) * x0;
            }
            dw[o0 * K + k] += S(hsum)(a0); dw[(o0 + 1) * K + k] += S(hsum)(a1);
            dw[(o0 + 2) * K + k] += S(hsum)(a2); dw[(o0 + 3) * K + k] += S(hsum)(a3);
        }
    }
    for (; o0 < g->O; o0++) {
        const T *g0 = gext + o0 * Qr;
        for (int64_t k = 0; k < K; k++) {
            const T *s0 = pad + off[k];
            S(vec) a0 = S(splat)(0), a1 = a0;
            int64_t q = 0;
            for (; q + 2 * VL <= Qr; q += 2 * VL) {
                a0 += S(load)(g0 + q) * S(load)(s0 + q);
                a1 += S(load)(g0 + q + VL) * S(load)(s0 + q + VL);
            }
            for (; q < Qr; q += VL) a0 += S(load)(g0 + q) * S(load)(s0 + q);
            dw[o0 * K + k] += S(hsum)(a0 + a1);
        }
    }
    if (db)
        for (int64_t o = 0; o < g->O; o++) db[o] += S(sum)(gext + o * Qr, Qr);
}

/* dpad[off[k] + q] += sum_o w[o][k] * gext[o][q] (dpad zeroed by the caller) */
static void S(direct_xgrad_image)(const conv_geom *g, const direct_plan *d, const T *w,
                                  const T *gext, T *dpad) {
    const int64_t K = g->K, Qr = d->Qr, *off = d->off;
    for (int64_t k = 0; k < K; k++) {
        T *dst = dpad + off[k];
        for (int64_t q = 0; q < Qr; q += VL) {
            S(vec) a = S(load)(dst + q);
            for (int64_t o = 0; o < g->O; o++) a += w[o * K + k] * S(load)(gext + o * Qr + q);
            S(store)(dst + q, a);
        }
    }
}

typedef struct {
    const conv_geom *g;
    const direct_plan *d;
    const T *x, *w, *b, *gy;
    T *out, *dx;
    T *partial;        /* per chunk: dw (O*K) then db (O) */
    int64_t grain;
    bool need_w, need_b;
    int failed;        /* a chunk could not allocate its scratch */
} S(direct_ctx);

static void S(direct_fwd_range)(void *p, int64_t lo, int64_t hi) {
    S(direct_ctx) *c = p;
    const conv_geom *g = c->g;
    const direct_plan *d = c->d;
    T *pad = scratch_alloc(sizeof(T) * (size_t)(g->C * d->plane + g->O * d->Qr));
    if (!pad) { c->failed = 1; return; }
    T *ext = pad + g->C * d->plane;
    for (int64_t n = lo; n < hi && !tn_interrupted(); n++) {
        S(pad_image)(g, d, c->x + n * g->C * g->HW, pad);
        S(direct_fwd_image)(g, d, c->w, c->b, pad, ext);
        for (int64_t o = 0; o < g->O; o++)   /* drop the junk columns */
            for (int64_t oy = 0; oy < g->OH; oy++)
                memcpy(c->out + ((n * g->O + o) * g->OH + oy) * g->OW, ext + o * d->Qr + oy * d->Wp,
                       sizeof(T) * (size_t)g->OW);
    }
    free(pad);
}

static void S(direct_bwd_range)(void *p, int64_t lo, int64_t hi) {
    S(direct_ctx) *c = p;
    const conv_geom *g = c->g;
    const direct_plan *d = c->d;
    size_t nel = (size_t)(g->C * d->plane * (c->dx ? 2 : 1) + g->O * d->Qr);
    T *pad = scratch_alloc(sizeof(T) * nel);
    if (!pad) { c->failed = 1; return; }
    T *gext = pad + g->C * d->plane, *dpad = c->dx ? gext + g->O * d->Qr : NULL;
    T *dw = c->partial ? c->partial + (lo / c->grain) * (g->O * g->K + g->O) : NULL;
    T *db = dw && c->need_b ? dw + g->O * g->K : NULL;
    if (dw) memset(dw, 0, sizeof(T) * (size_t)(g->O * g->K + g->O));
    for (int64_t n = lo; n < hi && !tn_interrupted(); n++) {
        /* the output gradient widened to Wp columns, zeros in the junk */
        memset(gext, 0, sizeof(T) * (size_t)(g->O * d->Qr));
        for (int64_t o = 0; o < g->O; o++)
            for (int64_t oy = 0; oy < g->OH; oy++)
                memcpy(gext + o * d->Qr + oy * d->Wp, c->gy + ((n * g->O + o) * g->OH + oy) * g->OW,
                       sizeof(T) * (size_t)g->OW);
        if (c->need_w) {
            S(pad_image)(g, d, c->x + n * g->C * g->HW, pad);
            S(direct_wgrad_image)(g, d, gext, pad, dw, db);
        } else if (db) {
            for (int64_t o = 0; o < g->O; o++) db[o] += S(sum)(gext + o * d->Qr, d->Qr);
        }
        if (dpad) {
            memset(dpad, 0, sizeof(T) * (size_t)(g->C * d->plane));
            S(direct_xgrad_image)(g, d, c->w, gext, dpad);
            for (int64_t ch = 0; ch < g->C; ch++)
                for (int64_t iy = 0; iy < g->H; iy++)
                    memcpy(c->dx + ((n * g->C + ch) * g->H + iy) * g->W,
                           dpad + ch * d->plane + (iy + g->ph) * d->Wp + g->pw,
                           sizeof(T) * (size_t)g->W);
        }
    }
    free(pad);
}

static int S(conv_fwd_direct)(const conv_geom *g, const T *x, const T *w, const T *b, T *out) {
    direct_plan d;
    if (direct_plan_init(&d, g, VL * 2) < 0) return -1;
    S(direct_ctx) c = {.g = g, .d = &d, .x = x, .w = w, .b = b, .out = out};
    tn_parallel_for(g->N, 1, S(direct_fwd_range), &c);
    free(d.off);
    if (c.failed) { tn_error("conv2d: out of memory"); return -1; }
    if (tn_interrupted()) { tn_error("interrupted"); return -1; }
    return 0;
}

static int S(conv_bwd_direct)(const conv_geom *g, const T *x, const T *w, const T *gy, T *dx, T *dw,
                              T *db) {
    direct_plan d;
    if (direct_plan_init(&d, g, VL * 2) < 0) return -1;
    /* Chunks of a fixed number of images (independent of the thread count)
     * accumulate private partial gradients, summed in chunk order after. */
    int64_t grain = direct_grain(g, &d);
    int64_t nchunks = (g->N + grain - 1) / grain, stride = g->O * g->K + g->O;
    T *partial = NULL;
    if (dw || db) {
        partial = scratch_alloc(sizeof(T) * (size_t)(nchunks * stride));
        if (!partial) { free(d.off); return -1; }
    }
    S(direct_ctx) c = {.g = g, .d = &d, .x = x, .w = w, .gy = gy, .dx = dx, .partial = partial,
                       .grain = grain, .need_w = dw != NULL, .need_b = db != NULL};
    tn_parallel_for(g->N, grain, S(direct_bwd_range), &c);
    free(d.off);
    if (c.failed || tn_interrupted()) {
        free(partial);
        tn_error(c.failed ? "conv2d: out of memory" : "interrupted");
        return -1;
    }
    for (int64_t ch = 0; partial && ch < nchunks; ch++) {
        const T *pw = partial + ch * stride;
        if (dw)
            for (int64_t i = 0; i < g->O * g->K; i++) dw[i] += pw[i];
        if (db)
            for (int64_t o = 0; o < g->O; o++) db[o] += pw[g->O * g->K + o];
    }
    free(partial);
    return 0;
}

#undef VL
