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
 *  The direct stride-1 kernels are in conv_direct.h.
 */

#define VL ((int64_t)(VB_BASE / sizeof(T)))   /* lanes per native vector */
typedef T S(vec) __attribute__((vector_size(VB_BASE)));

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
                    /* rows are short (OW of a few to tens): inline loops beat libc calls */
                    for (int64_t ox = 0; ox < lo; ox++) r[ox] = 0;
                    if (g->sw == 1)
                        for (int64_t ox = lo; ox < hi; ox++) r[ox] = xr[ox];
                    else
                        for (int64_t ox = lo; ox < hi; ox++) r[ox] = xr[ox * g->sw];
                    for (int64_t ox = hi; ox < g->OW; ox++) r[ox] = 0;
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
        if (tn_interrupted()) { scratch_free(col); tn_error("interrupted"); return -1; }
        S(par_im2col)(g, x + n0 * g->C * g->HW, m, col);
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->O, (int)(m * g->P), (int)g->K, 1,
             w, (int)g->K, col, (int)(m * g->P), 0, y, (int)(m * g->P));
        S(scatter_small)(g, y, m, b, out + n0 * g->O * g->P);
    }
    scratch_free(col);
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
        if (tn_interrupted()) { scratch_free(col); tn_error("interrupted"); return -1; }
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
    scratch_free(col);
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
        if (tn_interrupted()) { scratch_free(col); tn_error("interrupted"); return -1; }
        S(gather_small)(g, x + n0 * g->O * g->P, m, xm);
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g->K, (int)ld, (int)g->O, 1, w, (int)g->K,
             xm, (int)ld, 0, col, (int)ld);
        S(par_col2im)(g, col, m, out + n0 * g->C * g->HW);
    }
    scratch_free(col);
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
        if (tn_interrupted()) { scratch_free(col); tn_error("interrupted"); return -1; }
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
    scratch_free(col);
    return 0;
}

#undef VL
