/*
 * pool_impl.h: the typed pooling kernels, included by pool.c once per
 * floating dtype with T and S(name) defined.  Not a public header.
 *
 * Every kernel works on planes: the N*C (H,W) planes of a contiguous input
 * are independent, so loops run in parallel over ranges of planes, and a
 * plane's output (OH,OW) is written by exactly one chunk (deterministic,
 * no atomics).  1-d pooling is the H = 1 case.
 */

/* ---- max pooling ---- */

/* The common 2x2, stride 2, no padding window, vectorised: a vector of
 * outputs takes two vectors of each input row, split into even and odd
 * columns by shuffles; comparisons give lane masks (branch-free, since the
 * argmax of random data is unpredictable).  code is the winner's position
 * in the window (0..3), row-major as PyTorch scans it. */
typedef T S(pvec) __attribute__((vector_size(PVB)));
typedef IT S(pivec) __attribute__((vector_size(PVB)));
#define PVL ((int64_t)(PVB / sizeof(T)))

static inline S(pvec) S(pload)(const T *p) {
    S(pvec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline S(pvec) S(psel)(S(pivec) t, S(pvec) a, S(pvec) b) {  /* t ? a : b */
    return (S(pvec))(((S(pivec))a & t) | ((S(pivec))b & ~t));
}

static void S(max2x2_plane)(const pool_geom *g, const T *x, T *y, int64_t *idx) {
    const S(pivec) ev = EVEN_LANES, od = ODD_LANES, lanes2 = ev;  /* ev is {0, 2, 4, ...} */
    T b0[2 * PVL], b1[2 * PVL];   /* row buffers for narrow planes (tails stay 0) */
    for (int64_t i = 0; i < 2 * PVL; i++) b0[i] = b1[i] = 0;
    for (int64_t oy = 0; oy < g->OH; oy++) {
        const T *r0 = x + 2 * oy * g->W, *r1 = r0 + g->W;
        T *yo = y + oy * g->OW;
        int64_t *io = idx + oy * g->OW, base = 2 * oy * g->W;
        /* full vectors; a ragged end is done by one more vector that
         * overlaps the previous one (recomputing a few outputs).  Planes
         * narrower than a vector copy their two rows into a buffer first. */
        if (g->OW < PVL) {
            memcpy(b0, r0, sizeof(T) * (size_t)(2 * g->OW));
            memcpy(b1, r1, sizeof(T) * (size_t)(2 * g->OW));
            r0 = b0, r1 = b1;
        }
        for (int64_t ox0 = 0; ox0 < g->OW; ox0 += PVL) {
            int64_t ox = ox0 + PVL <= g->OW || g->OW < PVL ? ox0 : g->OW - PVL;
            S(pvec) l0 = S(pload)(r0 + 2 * ox), h0 = S(pload)(r0 + 2 * ox + PVL);
            S(pvec) l1 = S(pload)(r1 + 2 * ox), h1 = S(pload)(r1 + 2 * ox + PVL);
            S(pvec) m = __builtin_shuffle(l0, h0, ev), b = __builtin_shuffle(l0, h0, od);
            S(pvec) c = __builtin_shuffle(l1, h1, ev), d = __builtin_shuffle(l1, h1, od);
            S(pivec) t = (b > m) | (b != b), code = t & 1;
            m = S(psel)(t, b, m);
            t = (c > m) | (c != c);
            m = S(psel)(t, c, m);
            code = (t & 2) | (code & ~t);
            t = (d > m) | (d != d);
            m = S(psel)(t, d, m);
            code = (t & 3) | (code & ~t);
            /* offset in the window pair: column 2*lane + (code & 1), plus W on the second row */
            S(pivec) off = lanes2 + (code & 1) + (-(code >> 1) & (IT)g->W);
            int64_t n = g->OW < PVL ? g->OW : PVL;
            for (int64_t j = 0; j < n; j++) {
                yo[ox + j] = m[j];
                io[ox + j] = base + 2 * ox + (int64_t)off[j];
            }
        }
    }
}

static void S(max_plane)(const pool_geom *g, const T *x, T *y, int64_t *idx) {
    for (int64_t oy = 0; oy < g->OH; oy++) {
        int64_t h0 = oy * g->sh - g->ph, h1 = h0 + g->kh;
        if (h0 < 0) h0 = 0;
        if (h1 > g->H) h1 = g->H;
        for (int64_t ox = 0; ox < g->OW; ox++) {
            int64_t w0 = ox * g->sw - g->pw, w1 = w0 + g->kw;
            if (w0 < 0) w0 = 0;
            if (w1 > g->W) w1 = g->W;
            T m = -(T)INFINITY;
            int64_t mi = h0 * g->W + w0;
            for (int64_t iy = h0; iy < h1; iy++)
                for (int64_t ix = w0; ix < w1; ix++) {
                    T v = x[iy * g->W + ix];
                    if (v > m || v != v) {   /* NaN wins, as PyTorch */
                        m = v;
                        mi = iy * g->W + ix;
                    }
                }
            y[oy * g->OW + ox] = m;
            idx[oy * g->OW + ox] = mi;
        }
    }
}

static void S(max_fwd_range)(void *p, int64_t lo, int64_t hi) {
    const pool_job *c = p;
    const pool_geom *g = c->g;
    bool fast = pool_is_2x2(g);
    for (int64_t pl = lo; pl < hi; pl++) {
        const T *x = (const T *)c->x + pl * g->H * g->W;
        T *y = (T *)c->y + pl * g->OH * g->OW;
        int64_t *idx = c->idx + pl * g->OH * g->OW;
        if (fast) S(max2x2_plane)(g, x, y, idx);
        else S(max_plane)(g, x, y, idx);
    }
}

/* Backward of the 2x2 stride-2 window: windows do not overlap, so every
 * element of dx is written exactly once (g at the argmax, 0 elsewhere, and
 * 0 in an odd last row or column): no zeroing pass, no scattered adds.  A
 * vector of outputs yields two vectors of each row by interleaving. */
static void S(max2x2_bwd_plane)(const pool_geom *g, const T *gy, const int64_t *idx, T *dx) {
    const int64_t W = g->W;
    S(pivec) lo_mask, hi_mask;   /* interleave lanes: {0, P, 1, P+1, ...} of (a, b) */
    for (int64_t j = 0; j < PVL; j++) {
        lo_mask[j] = (IT)(j % 2 ? PVL + j / 2 : j / 2);
        hi_mask[j] = (IT)(j % 2 ? PVL + (PVL + j) / 2 : (PVL + j) / 2);
    }
    for (int64_t oy = 0; oy < g->OH; oy++) {
        const T *go = gy + oy * g->OW;
        const int64_t *io = idx + oy * g->OW, base = 2 * oy * W;
        T *r0 = dx + 2 * oy * W, *r1 = r0 + W;
        int64_t ox0 = 0;
        if (g->OW >= PVL)
            for (; ox0 < g->OW; ox0 += PVL) {
                int64_t ox = ox0 + PVL <= g->OW ? ox0 : g->OW - PVL;
                S(pivec) rel;
                for (int64_t j = 0; j < PVL; j++) rel[j] = (IT)(io[ox + j] - base - 2 * (ox + j));
                S(pvec) gv = S(pload)(go + ox), z = gv - gv;
                S(pvec) a = S(psel)(rel == 0, gv, z), b = S(psel)(rel == 1, gv, z);
                S(pvec) c = S(psel)(rel == (IT)W, gv, z), d = S(psel)(rel == (IT)(W + 1), gv, z);
                S(pvec) v;
                v = __builtin_shuffle(a, b, lo_mask), memcpy(r0 + 2 * ox, &v, sizeof v);
                v = __builtin_shuffle(a, b, hi_mask), memcpy(r0 + 2 * ox + PVL, &v, sizeof v);
                v = __builtin_shuffle(c, d, lo_mask), memcpy(r1 + 2 * ox, &v, sizeof v);
                v = __builtin_shuffle(c, d, hi_mask), memcpy(r1 + 2 * ox + PVL, &v, sizeof v);
            }
        else
            for (int64_t ox = 0; ox < g->OW; ox++) {
                int64_t rel = io[ox] - base - 2 * ox;
                T v = go[ox];
                r0[2 * ox] = rel == 0 ? v : 0;
                r0[2 * ox + 1] = rel == 1 ? v : 0;
                r1[2 * ox] = rel == W ? v : 0;
                r1[2 * ox + 1] = rel == W + 1 ? v : 0;
            }
        for (int64_t ix = 2 * g->OW; ix < W; ix++) r0[ix] = r1[ix] = 0;   /* odd width */
    }
    for (int64_t iy = 2 * g->OH; iy < g->H; iy++)   /* odd height */
        for (int64_t ix = 0; ix < W; ix++) dx[iy * W + ix] = 0;
}

/* dx[idx] += gy; dx zeroed by the caller, except for 2x2 windows (above) */
static void S(max_bwd_range)(void *p, int64_t lo, int64_t hi) {
    const pool_job *c = p;
    const pool_geom *g = c->g;
    int64_t n = g->OH * g->OW;
    for (int64_t pl = lo; pl < hi; pl++) {
        const T *gy = (const T *)c->x + pl * n;
        const int64_t *idx = c->idx + pl * n;
        T *dx = (T *)c->y + pl * g->H * g->W;
        if (pool_is_2x2(g)) S(max2x2_bwd_plane)(g, gy, idx, dx);
        else
            for (int64_t i = 0; i < n; i++) dx[idx[i]] += gy[i];
    }
}

/* ---- average pooling ---- */

/* The window of output (oy, ox) clipped to the input, and its divisor
 * (PyTorch's: with count_include_pad the window clipped to the padded
 * input, else the number of real elements). */
static inline T S(avg_window)(const pool_geom *g, int64_t oy, int64_t ox, int64_t *h0, int64_t *h1,
                              int64_t *w0, int64_t *w1) {
    int64_t hs = oy * g->sh - g->ph, ws = ox * g->sw - g->pw;
    int64_t he = hs + g->kh, we = ws + g->kw;
    if (he > g->H + g->ph) he = g->H + g->ph;
    if (we > g->W + g->pw) we = g->W + g->pw;
    int64_t padded = (he - hs) * (we - ws);
    if (hs < 0) hs = 0;
    if (ws < 0) ws = 0;
    if (he > g->H) he = g->H;
    if (we > g->W) we = g->W;
    *h0 = hs, *h1 = he, *w0 = ws, *w1 = we;
    int64_t cnt = g->count_include_pad ? padded : (he - hs) * (we - ws);
    return cnt > 0 ? (T)1 / (T)cnt : 0;
}

static void S(avg_fwd_range)(void *p, int64_t lo, int64_t hi) {
    const pool_job *c = p;
    const pool_geom *g = c->g;
    for (int64_t pl = lo; pl < hi; pl++) {
        const T *x = (const T *)c->x + pl * g->H * g->W;
        T *y = (T *)c->y + pl * g->OH * g->OW;
        for (int64_t oy = 0; oy < g->OH; oy++)
            for (int64_t ox = 0; ox < g->OW; ox++) {
                int64_t h0, h1, w0, w1;
                T scale = S(avg_window)(g, oy, ox, &h0, &h1, &w0, &w1), s = 0;
                for (int64_t iy = h0; iy < h1; iy++)
                    for (int64_t ix = w0; ix < w1; ix++) s += x[iy * g->W + ix];
                y[oy * g->OW + ox] = s * scale;
            }
    }
}

static void S(avg_bwd_range)(void *p, int64_t lo, int64_t hi) {
    const pool_job *c = p;
    const pool_geom *g = c->g;
    for (int64_t pl = lo; pl < hi; pl++) {
        const T *gy = (const T *)c->x + pl * g->OH * g->OW;
        T *dx = (T *)c->y + pl * g->H * g->W;
        for (int64_t oy = 0; oy < g->OH; oy++)
            for (int64_t ox = 0; ox < g->OW; ox++) {
                int64_t h0, h1, w0, w1;
                T v = gy[oy * g->OW + ox] * S(avg_window)(g, oy, ox, &h0, &h1, &w0, &w1);
                for (int64_t iy = h0; iy < h1; iy++)
                    for (int64_t ix = w0; ix < w1; ix++) dx[iy * g->W + ix] += v;
            }
    }
}

/* ---- adaptive average pooling: window i spans [i*H/OH, ceil((i+1)*H/OH)) ---- */

static void S(adaptive_fwd_range)(void *p, int64_t lo, int64_t hi) {
    const pool_job *c = p;
    const pool_geom *g = c->g;
    for (int64_t pl = lo; pl < hi; pl++) {
        const T *x = (const T *)c->x + pl * g->H * g->W;
        T *y = (T *)c->y + pl * g->OH * g->OW;
        for (int64_t oy = 0; oy < g->OH; oy++) {
            int64_t h0 = adaptive_start(oy, g->H, g->OH), h1 = adaptive_end(oy, g->H, g->OH);
            for (int64_t ox = 0; ox < g->OW; ox++) {
                int64_t w0 = adaptive_start(ox, g->W, g->OW), w1 = adaptive_end(ox, g->W, g->OW);
                T s = 0;
                for (int64_t iy = h0; iy < h1; iy++)
                    for (int64_t ix = w0; ix < w1; ix++) s += x[iy * g->W + ix];
                y[oy * g->OW + ox] = s / (T)((h1 - h0) * (w1 - w0));
            }
        }
    }
}

static void S(adaptive_bwd_range)(void *p, int64_t lo, int64_t hi) {
    const pool_job *c = p;
    const pool_geom *g = c->g;
    for (int64_t pl = lo; pl < hi; pl++) {
        const T *gy = (const T *)c->x + pl * g->OH * g->OW;
        T *dx = (T *)c->y + pl * g->H * g->W;
        for (int64_t oy = 0; oy < g->OH; oy++) {
            int64_t h0 = adaptive_start(oy, g->H, g->OH), h1 = adaptive_end(oy, g->H, g->OH);
            for (int64_t ox = 0; ox < g->OW; ox++) {
                int64_t w0 = adaptive_start(ox, g->W, g->OW), w1 = adaptive_end(ox, g->W, g->OW);
                T v = gy[oy * g->OW + ox] / (T)((h1 - h0) * (w1 - w0));
                for (int64_t iy = h0; iy < h1; iy++)
                    for (int64_t ix = w0; ix < w1; ix++) dx[iy * g->W + ix] += v;
            }
        }
    }
}

#undef PVL
