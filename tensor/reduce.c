/*
 * reduce.c: reductions (sum mean prod amax amin all any logsumexp norm var
 * std), max/min/argmax/argmin along a dim, and tn_sum_to (the autograd
 * engine's "undo broadcasting"), with the backward rules beside their
 * forwards.  (cumsum, softmax and log_softmax live in sort.c.)
 *
 * How a reduction runs: the input's dims are split into kept dims (in their
 * original order, so output element o is simply out[o] of a fresh contiguous
 * tensor) and reduced dims (sorted by stride so the innermost has the smallest
 * stride); adjacent dims that step contiguously are merged.  Then one of two
 * loops runs:
 *   - row mode (the reduced dims are innermost, e.g. sum over the last dim):
 *     each output element folds a run of input elements with an 8-lane
 *     accumulator that the compiler vectorises;
 *   - column mode (a kept dim is innermost, e.g. sum over dim 0 of (N, C) or
 *     dim 1 of (B, N, C)): a block of outputs is accumulated element-wise
 *     while walking the reduced elements, again a vectorised loop.
 * float32 accumulates in double.  Work is split into items whose boundaries
 * depend only on the shapes (a long reduction is cut into fixed chunks whose
 * partials are combined in order), so results have the same bits whatever
 * the thread count.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===================== geometry ===================== */

/* A reduction of t over the dims in a bitmask.  Kept dims are in original
 * order, reduced dims sorted by decreasing stride; size-1 dims dropped and
 * contiguous neighbours merged.  Strides are in elements. */
typedef struct {
    int nk, nr;
    int64_t ksize[TN_MAX_DIMS], kin[TN_MAX_DIMS];
    int64_t rsize[TN_MAX_DIMS], rin[TN_MAX_DIMS];
    int64_t nout, R;   /* output elements; input elements per output */
} rgeom;

static void geom_init(rgeom *g, const tn_tensor *t, uint32_t mask) {
    memset(g, 0, sizeof *g);
    g->nout = 1;
    g->R = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t sz = t->shape[d], st = t->stride[d];
        if (mask & (1u << d)) {
            g->R *= sz;
            if (sz == 1) continue;
            g->rsize[g->nr] = sz;
            g->rin[g->nr++] = st;
        } else {
            g->nout *= sz;
            if (sz == 1) continue;
            if (g->nk > 0 && g->kin[g->nk - 1] == st * sz) {
                g->ksize[g->nk - 1] *= sz;
                g->kin[g->nk - 1] = st;
            } else {
                g->ksize[g->nk] = sz;
                g->kin[g->nk++] = st;
            }
        }
    }
    /* reduced dims: order does not change the result's meaning, only the
     * memory walk; put the smallest stride innermost (stable insertion sort) */
    for (int i = 1; i < g->nr; i++)
        for (int j = i; j > 0 && g->rin[j - 1] < g->rin[j]; j--) {
            int64_t a = g->rin[j], b = g->rsize[j];
            g->rin[j] = g->rin[j - 1];
            g->rsize[j] = g->rsize[j - 1];
            g->rin[j - 1] = a;
            g->rsize[j - 1] = b;
        }
    int nr = 0;
    for (int i = 0; i < g->nr; i++) {
        if (nr > 0 && g->rin[nr - 1] == g->rin[i] * g->rsize[i]) {
            g->rsize[nr - 1] *= g->rsize[i];
            g->rin[nr - 1] = g->rin[i];
        } else {
            g->rsize[nr] = g->rsize[i];
            g->rin[nr++] = g->rin[i];
        }
    }
    g->nr = nr;
    if (g->nr == 0) {  /* nothing to fold: one element per output */
        g->nr = 1;
        g->rsize[0] = 1;
        g->rin[0] = INT64_MAX;
    }
}

/* Input offset (elements) of output element o. */
static int64_t kept_offset(const rgeom *g, int64_t o) {
    int64_t off = 0;
    for (int d = g->nk - 1; d >= 0; d--) {
        off += (o % g->ksize[d]) * g->kin[d];
        o /= g->ksize[d];
    }
    return off;
}

/* Output shape of reducing t over `mask`: reduced dims in `keepmask` stay as
 * size 1, other reduced dims disappear.  Returns ndim. */
static int reduced_shape(const tn_tensor *t, uint32_t mask, uint32_t keepmask, int64_t *shape) {
    int nd = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (!(mask & (1u << d))) shape[nd++] = t->shape[d];
        else if (keepmask & (1u << d)) shape[nd++] = 1;
    }
    return nd;
}

static uint32_t all_mask(int ndim) { return ndim >= 32 ? 0xffffffffu : ((1u << ndim) - 1u); }

/* Turns a list of dims into a bitmask (ndims == 0: all dims).  -1 on error. */
static int64_t dims_mask(const tn_tensor *t, const int *dims, int ndims, const char *op) {
    if (ndims == 0) return all_mask(t->ndim);
    if (ndims < 0 || ndims > TN_MAX_DIMS) {
        tn_error("%s: bad number of dims (%d)", op, ndims);
        return -1;
    }
    uint32_t m = 0;
    for (int i = 0; i < ndims; i++) {
        int d = tn_wrap_dim(dims[i], t->ndim, op);
        if (d < 0) return -1;
        if (m & (1u << d)) {
            tn_error("%s: dim %d appears multiple times in the list of dims", op, d + 1);
            return -1;
        }
        m |= 1u << d;
    }
    if (t->ndim == 0) m = 0;
    return m;
}

/* ===================== kernels ===================== */

/* Fold kinds.  Each has an identity, a step (fold one element) and a combine
 * (merge two partials). */
enum { K_SUM, K_PROD, K_MAX, K_MIN, K_ANY, K_ALL, K_SUMSQ, K_SUMABS, K_MAXABS, K_COUNT };
/* kernel classes: the element type and its accumulator */
enum { C_F32, C_F64, C_I64, C_COUNT };

#define LANES 8
/* Unrolling the lane loops fully before vectorisation keeps the lanes in
 * vector registers (otherwise GCC vectorises the lane loop itself and keeps
 * the accumulators in memory, 1.5x slower). */
#define UNROLL _Pragma("GCC unroll 32")
#define COL_TILE_MAX 32   /* column kernel: rows this narrow are folded in register tiles */

/* float steps (accumulator double); NaN propagates through max/min */
#define F_SUM(a, v) ((a) + (v))
#define F_PROD(a, v) ((a) * (v))
#define F_MAX(a, v) ((((v) > (a)) | ((v) != (v))) ? (v) : (a))   /* | not ||: branch-free */
#define F_MIN(a, v) ((((v) < (a)) | ((v) != (v))) ? (v) : (a))
#define F_ANY(a, v) ((v) != 0 ? 1.0 : (a))
#define F_ALL(a, v) ((v) == 0 ? 0.0 : (a))
#define F_SUMSQ(a, v) ((a) + (v) * (v))
#define F_SUMABS(a, v) ((a) + fabs(v))
#define F_ABS(v) ((v) < 0 ? -(v) : (v))
#define F_MAXABS(a, v) F_MAX(a, F_ABS(v))
/* integer steps (accumulator int64; sums and products wrap like PyTorch's) */
#define I_SUM(a, v) ((int64_t)((uint64_t)(a) + (uint64_t)(v)))
#define I_PROD(a, v) ((int64_t)((uint64_t)(a) * (uint64_t)(v)))
#define I_MAX(a, v) ((v) > (a) ? (v) : (a))
#define I_MIN(a, v) ((v) < (a) ? (v) : (a))
#define I_ANY(a, v) ((a) | ((v) != 0))
#define I_ALL(a, v) ((a) & ((v) != 0))

/* row kernel: *acc = COMB(*acc, fold of x[0], x[s], ... x[(n-1)s]) */
typedef void (*row_fn)(const void *x, int64_t n, int64_t s, void *acc);
/* column kernel: acc[k] = STEP(acc[k], x[r*rs + k*s]) for k < n, r < rows */
typedef void (*col_fn)(const void *x, int64_t n, int64_t s, void *acc, int64_t rows, int64_t rs);

#define DEF_ROW(name, T, A, INIT, STEP, COMB) DEF_ROWL(name, T, A, A, 16, UNROLL, INIT, STEP, COMB)
#define DEF_ROWS(name, T, A, INIT, STEP, COMB) DEF_ROWL(name, T, A, A, 16, , INIT, STEP, COMB)
/* L: the lane type (float lanes for float32 max/min: exact, twice as wide);
 * NL lanes: several vector registers of independent chains, so the loop runs
 * at load speed instead of waiting on one add's latency.  U: UNROLL for
 * arithmetic steps; selects (max, min, any, all) vectorise better when GCC
 * vectorises the lane loop itself (measured: 2-4x either way). */
#define DEF_ROWL(name, T, A, L, NL, U, INIT, STEP, COMB)                           \
    static void name(const void *px, int64_t n, int64_t s, void *pacc) {           \
        const T *x = px;                                                           \
        L lane[NL];                                                                \
        U for (int j = 0; j < NL; j++) lane[j] = INIT;                               \
        int64_t i = 0;                                                             \
        if (s == 1) {                                                              \
            for (; i + NL <= n; i += NL)                                           \
                U for (int j = 0; j < NL; j++) {                                     \
                    L v = (L)x[i + j];                                             \
                    lane[j] = STEP(lane[j], v);                                    \
                }                                                                  \
        } else {                                                                   \
            for (; i + NL <= n; i += NL)                                           \
                U for (int j = 0; j < NL; j++) {                                     \
                    L v = (L)x[(i + j) * s];                                       \
                    lane[j] = STEP(lane[j], v);                                    \
                }                                                                  \
        }                                                                          \
        U for (int w = NL / 2; w > 0; w /= 2) /* halving tree: vector ops */         \
            U for (int j = 0; j < w; j++) lane[j] = COMB(lane[j], lane[j + w]);      \
        L r = lane[0];                                                             \
        for (; i < n; i++) {                                                       \
            L v = (L)x[i * s];                                                     \
            r = STEP(r, v);                                                        \
        }                                                                          \
        *(A *)pacc = COMB(*(A *)pacc, (A)r);                                       \
    }

#define DEF_COL(name, T, A, STEP)                                                  \
    static void name(const void *px, int64_t n, int64_t s, void *pacc, int64_t rows, \
                     int64_t rs) {                                                 \
        A *restrict acc = pacc;                                                    \
        int64_t i0 = 0;                                                            \
        if (s == 1 && n <= COL_TILE_MAX) {                                         \
            /* narrow rows: 16 outputs at a time stay in registers while all   \
             * rows stream by (same order of folding, so the same bits) */     \
            for (; i0 + 2 * LANES <= n; i0 += 2 * LANES) {                         \
                A t0[LANES], t1[LANES];                                            \
                UNROLL for (int j = 0; j < LANES; j++) {                                  \
                    t0[j] = acc[i0 + j];                                           \
                    t1[j] = acc[i0 + LANES + j];                                   \
                }                                                                  \
                for (int64_t r = 0; r < rows; r++) {                               \
                    const T *restrict x = (const T *)px + r * rs + i0;             \
                    UNROLL for (int j = 0; j < LANES; j++) t0[j] = STEP(t0[j], (A)x[j]);  \
                    UNROLL for (int j = 0; j < LANES; j++) t1[j] = STEP(t1[j], (A)x[LANES + j]); \
                }                                                                  \
                UNROLL for (int j = 0; j < LANES; j++) {                                  \
                    acc[i0 + j] = t0[j];                                           \
                    acc[i0 + LANES + j] = t1[j];                                   \
                }                                                                  \
            }                                                                      \
            if (i0 == n) return;                                                   \
        }                                                                          \
        for (int64_t r = 0; r < rows; r++) {                                       \
            const T *restrict x = (const T *)px + r * rs;                          \
            int64_t i = i0;                                                        \
            if (s == 1) {                                                          \
                for (; i + LANES <= n; i += LANES)                                 \
                    UNROLL for (int j = 0; j < LANES; j++) {                              \
                        A v = (A)x[i + j];                                         \
                        acc[i + j] = STEP(acc[i + j], v);                          \
                    }                                                              \
            }                                                                      \
            for (; i < n; i++) {                                                   \
                A v = (A)x[i * s];                                                 \
                acc[i] = STEP(acc[i], v);                                          \
            }                                                                      \
        }                                                                          \
    }

#define DEF_FKIND(kind, ROW, INIT, STEP, COMB)                                     \
    ROW(row_##kind##_f32, float, double, INIT, STEP, COMB)                         \
    ROW(row_##kind##_f64, double, double, INIT, STEP, COMB)                        \
    DEF_COL(col_##kind##_f32, float, double, STEP)                                 \
    DEF_COL(col_##kind##_f64, double, double, STEP)
#define DEF_IKIND(kind, ROW, INIT, STEP)                                           \
    ROW(row_##kind##_i64, int64_t, int64_t, INIT, STEP, STEP)                      \
    DEF_COL(col_##kind##_i64, int64_t, int64_t, STEP)

DEF_FKIND(sum, DEF_ROW, 0.0, F_SUM, F_SUM)
DEF_FKIND(prod, DEF_ROW, 1.0, F_PROD, F_PROD)
#define DEF_FKIND_FL(kind, INIT, STEP, COMB)                                       \
    DEF_ROWL(row_##kind##_f32, float, double, float, 16, , INIT, STEP, COMB)       \
    DEF_ROWS(row_##kind##_f64, double, double, INIT, STEP, COMB)                   \
    DEF_COL(col_##kind##_f32, float, double, STEP)                                 \
    DEF_COL(col_##kind##_f64, double, double, STEP)
DEF_FKIND_FL(max, -INFINITY, F_MAX, F_MAX)
DEF_FKIND_FL(min, INFINITY, F_MIN, F_MIN)
DEF_FKIND(any, DEF_ROWS, 0.0, F_ANY, F_ANY)
DEF_FKIND(all, DEF_ROWS, 1.0, F_ALL, F_ALL)
DEF_FKIND(sumsq, DEF_ROW, 0.0, F_SUMSQ, F_SUM)
DEF_FKIND(sumabs, DEF_ROW, 0.0, F_SUMABS, F_SUM)
DEF_FKIND_FL(maxabs, 0.0f, F_MAXABS, F_MAX)
DEF_IKIND(sum, DEF_ROW, 0, I_SUM)
DEF_IKIND(prod, DEF_ROW, 1, I_PROD)
DEF_IKIND(max, DEF_ROWS, INT64_MIN, I_MAX)
DEF_IKIND(min, DEF_ROWS, INT64_MAX, I_MIN)
DEF_IKIND(any, DEF_ROWS, 0, I_ANY)
DEF_IKIND(all, DEF_ROWS, 1, I_ALL)

#define FROW(k) {row_##k##_f32, row_##k##_f64, row_##k##_i64}
#define FROWF(k) {row_##k##_f32, row_##k##_f64, NULL}
#define FCOL(k) {col_##k##_f32, col_##k##_f64, col_##k##_i64}
#define FCOLF(k) {col_##k##_f32, col_##k##_f64, NULL}
static const row_fn row_fns[K_COUNT][C_COUNT] = {
    FROW(sum), FROW(prod), FROW(max), FROW(min), FROW(any), FROW(all),
    FROWF(sumsq), FROWF(sumabs), FROWF(maxabs)};
static const col_fn col_fns[K_COUNT][C_COUNT] = {
    FCOL(sum), FCOL(prod), FCOL(max), FCOL(min), FCOL(any), FCOL(all),
    FCOLF(sumsq), FCOLF(sumabs), FCOLF(maxabs)};

static double init_d(int k) {
    switch (k) {
    case K_PROD: case K_ALL: return 1.0;
    case K_MAX: return -INFINITY;
    case K_MIN: return INFINITY;
    default: return 0.0;
    }
}
static int64_t init_i(int k) {
    switch (k) {
    case K_PROD: case K_ALL: return 1;
    case K_MAX: return INT64_MIN;
    case K_MIN: return INT64_MAX;
    default: return 0;
    }
}
static double comb_d(int k, double a, double v) {
    switch (k) {
    case K_PROD: return F_PROD(a, v);
    case K_MAX: case K_MAXABS: return F_MAX(a, v);
    case K_MIN: return F_MIN(a, v);
    case K_ANY: return F_ANY(a, v);
    case K_ALL: return F_ALL(a, v);
    default: return F_SUM(a, v);
    }
}
static int64_t comb_i(int k, int64_t a, int64_t v) {
    switch (k) {
    case K_PROD: return I_PROD(a, v);
    case K_MAX: return I_MAX(a, v);
    case K_MIN: return I_MIN(a, v);
    case K_ANY: return I_ANY(a, v);
    case K_ALL: return I_ALL(a, v);
    default: return I_SUM(a, v);
    }
}

/* ===================== the driver ===================== */

#define ROW_CHUNK 16384   /* reduced elements per partial in row mode */
#define COL_BLOCK 4096    /* outputs per item in column mode (a 32 KB accumulator) */
#define COL_WORK (1 << 20) /* column mode: elements per item before R is chunked */
#define COL_MAX_CHUNKS 64  /* column mode: at most this many partials per output */

typedef struct {
    rgeom g;
    int kind, cls;
    const char *base;
    size_t es;
    row_fn rf;
    col_fn cf;
    int64_t nchunks;      /* partials per output (chunks of the reduced elements) */
    int64_t chunk;        /* reduced elements per chunk */
    int64_t nkb;          /* column mode: blocks per kept-inner run */
    void *part;           /* double or int64: nout * nchunks partials */
    int64_t ostride, cstride;  /* partial (o, chunk) at part[o*ostride + chunk*cstride] */
} rctx;

static void set_init(const rctx *c, void *acc, int64_t n) {
    if (c->cls == C_I64) {
        int64_t v = init_i(c->kind);
        for (int64_t i = 0; i < n; i++) ((int64_t *)acc)[i] = v;
    } else {
        double v = init_d(c->kind);
        for (int64_t i = 0; i < n; i++) ((double *)acc)[i] = v;
    }
}

/* Folds the reduced elements [lo, hi) (row-major over the reduced dims) of
 * the run starting at `base` into acc: the row kernel (col == false) folds
 * them into one value, the column kernel into kn values with stride sk. */
static void fold_range(const rctx *c, const char *base, int64_t lo, int64_t hi, void *acc,
                       bool col, int64_t kn, int64_t sk) {
    const rgeom *g = &c->g;
    int last = g->nr - 1;
    int64_t idx[TN_MAX_DIMS], rem = lo;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % g->rsize[d];
        rem /= g->rsize[d];
    }
    while (lo < hi) {
        int64_t n = g->rsize[last] - idx[last];
        if (n > hi - lo) n = hi - lo;
        int64_t off = 0;
        for (int d = 0; d < last; d++) off += idx[d] * g->rin[d];
        off += idx[last] * g->rin[last];
        const char *p = base + off * (int64_t)c->es;
        if (col) c->cf(p, kn, sk, acc, n, n > 1 ? g->rin[last] : 0);
        else c->rf(p, n, g->rin[last], acc);
        lo += n;
        idx[last] += n;
        for (int d = last; d > 0 && idx[d] >= g->rsize[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

static void row_items(void *vc, int64_t lo, int64_t hi) {
    const rctx *c = vc;
    const rgeom *g = &c->g;
    size_t asz = c->cls == C_I64 ? sizeof(int64_t) : sizeof(double);
    if (tn_interrupted()) return;   /* reduce_raw reports it */
    if (c->nchunks == 1 && g->nr == 1) {
        /* one run per output (short rows): step the kept index instead of
         * recomputing each offset, and call the kernel directly */
        int64_t idx[TN_MAX_DIMS], rem = lo, off = 0;
        for (int d = g->nk - 1; d >= 0; d--) {
            idx[d] = rem % g->ksize[d];
            rem /= g->ksize[d];
            off += idx[d] * g->kin[d];
        }
        for (int64_t o = lo; o < hi; o++) {
            char *acc = (char *)c->part + o * (int64_t)asz;
            set_init(c, acc, 1);
            c->rf(c->base + off * (int64_t)c->es, g->R, g->rin[0], acc);
            for (int d = g->nk - 1; d >= 0; d--) {
                if (++idx[d] < g->ksize[d]) {
                    off += g->kin[d];
                    break;
                }
                off -= (idx[d] - 1) * g->kin[d];
                idx[d] = 0;
            }
        }
        return;
    }
    for (int64_t w = lo; w < hi; w++) {
        int64_t o = w / c->nchunks, ch = w % c->nchunks;
        int64_t a = ch * c->chunk, b = a + c->chunk < c->g.R ? a + c->chunk : c->g.R;
        char *acc = (char *)c->part + w * (int64_t)asz;
        set_init(c, acc, 1);
        fold_range(c, c->base + kept_offset(&c->g, o) * (int64_t)c->es, a, b, acc, false, 0, 0);
    }
}

/* item w = (outer kept index q, block b of the inner kept dim, chunk ch) */
static void col_items(void *vc, int64_t lo, int64_t hi) {
    const rctx *c = vc;
    const rgeom *g = &c->g;
    int64_t K = g->ksize[g->nk - 1], sk = g->kin[g->nk - 1];
    size_t asz = c->cls == C_I64 ? sizeof(int64_t) : sizeof(double);
    if (tn_interrupted()) return;   /* reduce_raw reports it */
    for (int64_t w = lo; w < hi; w++) {
        int64_t ch = w % c->nchunks, qb = w / c->nchunks;
        int64_t q = qb / c->nkb, b = qb % c->nkb;
        int64_t k0 = b * COL_BLOCK, kn = K - k0 < COL_BLOCK ? K - k0 : COL_BLOCK;
        int64_t o = q * K + k0;
        int64_t a = ch * c->chunk, e = a + c->chunk < g->R ? a + c->chunk : g->R;
        char *acc = (char *)c->part + (o + ch * c->cstride) * (int64_t)asz;
        set_init(c, acc, kn);
        fold_range(c, c->base + kept_offset(g, o) * (int64_t)c->es, a, e, acc, true, kn, sk);
    }
}

enum { P_NONE, P_SCALE, P_SQRT };

/* Writes the partials (combined in chunk order) into out, applying post. */
static void finalize(const rctx *c, tn_tensor *out, int post, double scale) {
    int64_t nout = c->g.nout, nc = c->nchunks, cs = c->cstride;
    void *o = tn_data(out);
    for (int64_t i = 0; i < nout; i++) {
        if (c->cls == C_I64) {
            const int64_t *p = (const int64_t *)c->part + i * c->ostride;
            int64_t a = p[0];
            for (int64_t j = 1; j < nc; j++) a = comb_i(c->kind, a, p[j * cs]);
            switch (out->dtype) {
            case TN_INT64: ((int64_t *)o)[i] = a; break;
            case TN_INT32: ((int32_t *)o)[i] = (int32_t)a; break;
            case TN_UINT8: ((uint8_t *)o)[i] = (uint8_t)a; break;
            case TN_BOOL: ((uint8_t *)o)[i] = a != 0; break;
            default: tn_store(out->dtype, o, i, post == P_SCALE ? (double)a * scale : (double)a);
            }
        } else {
            const double *p = (const double *)c->part + i * c->ostride;
            double a = p[0];
            for (int64_t j = 1; j < nc; j++) a = comb_d(c->kind, a, p[j * cs]);
            if (post == P_SCALE) a *= scale;
            else if (post == P_SQRT) a = sqrt(a);
            switch (out->dtype) {
            case TN_FLOAT32: ((float *)o)[i] = (float)a; break;
            case TN_FLOAT64: ((double *)o)[i] = a; break;
            case TN_BOOL: ((uint8_t *)o)[i] = a != 0; break;
            default: tn_store(out->dtype, o, i, a);
            }
        }
    }
}

/* Reduces t (any dtype, any strides) over `mask` with fold `kind`; the result
 * has dtype out_dt and the reduced_shape() of (mask, keepmask).  No autograd. */
static tn_tensor *reduce_raw(int kind, tn_tensor *t, uint32_t mask, uint32_t keepmask,
                             tn_dtype out_dt, int post, double scale) {
    int64_t shape[TN_MAX_DIMS];
    int nd = reduced_shape(t, mask, keepmask, shape);
    tn_tensor *src;
    int cls;
    if (t->dtype == TN_FLOAT32) cls = C_F32;
    else if (t->dtype == TN_FLOAT64) cls = C_F64;
    else cls = C_I64;
    if (cls == C_I64 && t->dtype != TN_INT64) {
        bool was = tn_set_grad_enabled(false);
        src = tn_to(t, TN_INT64);
        tn_set_grad_enabled(was);
        if (!src) return NULL;
    } else {
        src = tn_retain(t);
    }
    tn_tensor *out = tn_empty(out_dt, nd, shape);
    if (!out) {
        tn_release(src);
        return NULL;
    }
    rctx c = {.kind = kind, .cls = cls, .base = tn_data(src), .es = tn_dtype_size(src->dtype)};
    geom_init(&c.g, src, mask);
    c.rf = row_fns[kind][cls];
    c.cf = col_fns[kind][cls];
    if (!c.rf) {
        tn_error("reduce: not supported for dtype %s", tn_dtype_name(t->dtype));
        goto fail;
    }
    if (c.g.nout == 0) goto done;
    const rgeom *g = &c.g;
    bool col = g->nk > 0 && g->R > 0 && g->ksize[g->nk - 1] >= LANES &&
               g->kin[g->nk - 1] < g->rin[g->nr - 1];
    /* chunk boundaries depend only on the shapes: same bits on any thread count */
    int64_t K = col ? g->ksize[g->nk - 1] : 1, kb = K < COL_BLOCK ? K : COL_BLOCK;
    c.chunk = col ? (COL_WORK / kb > 0 ? COL_WORK / kb : 1) : ROW_CHUNK;
    if (col && g->R > c.chunk * COL_MAX_CHUNKS)   /* bound the partials' memory */
        c.chunk = (g->R + COL_MAX_CHUNKS - 1) / COL_MAX_CHUNKS;
    c.nchunks = g->R == 0 ? 1 : (g->R + c.chunk - 1) / c.chunk;
    c.ostride = col ? 1 : c.nchunks;
    c.cstride = col ? g->nout : 1;
    size_t asz = cls == C_I64 ? sizeof(int64_t) : sizeof(double);
    c.part = malloc(asz * (size_t)(g->nout * c.nchunks));
    if (!c.part) {
        tn_error("reduce: out of memory");
        goto fail;
    }
    if (g->R == 0) {
        set_init(&c, c.part, g->nout);
    } else if (col) {
        c.nkb = (K + COL_BLOCK - 1) / COL_BLOCK;
        int64_t items = g->nout / K * c.nkb * c.nchunks;
        int64_t cost = (g->R < c.chunk ? g->R : c.chunk) * kb;
        tn_parallel_for(items, cost >= TN_GRAIN ? 1 : TN_GRAIN / cost, col_items, &c);
    } else {
        int64_t cost = g->R < ROW_CHUNK ? g->R : ROW_CHUNK;
        tn_parallel_for(g->nout * c.nchunks, cost >= TN_GRAIN ? 1 : TN_GRAIN / cost, row_items, &c);
    }
    if (tn_interrupted()) {   /* Ctrl-C: the partials are incomplete */
        free(c.part);
        tn_error("interrupted");
        goto fail;
    }
    finalize(&c, out, post, scale);
    free(c.part);
done:
    tn_release(src);
    return out;
fail:
    tn_release(src);
    tn_release(out);
    return NULL;
}

/* ===================== reductions: public entry points ===================== */

/* Reduction nodes keep iarg[0] = reduced-dims mask and iarg[1] = the reduced
 * dims kept as size 1 in the output (keepdim), so backward can broadcast the
 * output's gradient back over the input's shape. */

/* x, shaped like the node's output, as a stride-0 broadcast view over the
 * node's input shape (no copy). */
static tn_tensor *expand_back(tn_tensor *x, const tn_node *n) {
    const tn_edge *e = &n->edges[0];
    uint32_t mask = (uint32_t)n->iarg[0], keep = (uint32_t)n->iarg[1];
    int64_t stride[TN_MAX_DIMS];
    int xd = 0;
    for (int d = 0; d < e->ndim; d++) {
        if (mask & (1u << d)) {
            stride[d] = 0;
            if (keep & (1u << d)) xd++;
        } else {
            stride[d] = xd < x->ndim ? x->stride[xd] : 0;
            xd++;
        }
    }
    if (xd != x->ndim) {
        char b1[128], b2[128];
        tn_error("backward of '%s': gradient of shape %s does not fit input shape %s", n->name,
                 tn_shape_str(x->shape, x->ndim, b1, sizeof b1),
                 tn_shape_str(e->shape, e->ndim, b2, sizeof b2));
        return NULL;
    }
    return tn_alias(x, e->ndim, e->shape, stride, x->offset);
}

/* Elements folded into each output when reducing shape over mask. */
static int64_t reduced_count(const int64_t *shape, int ndim, uint32_t mask) {
    int64_t r = 1;
    for (int d = 0; d < ndim; d++)
        if (mask & (1u << d)) r *= shape[d];
    return r;
}

/* Records node `op` for out = reduction of t when t needs grad.  Saves t and
 * out when asked.  Returns out, or NULL (out released) on failure. */
static tn_tensor *record_reduce(tn_op op, tn_tensor *out, tn_tensor *t, uint32_t mask,
                                uint32_t keep, bool save_in, bool save_out, double p) {
    if (!out || !tn_grad_needed1(t) || !tn_dtype_is_float(out->dtype)) return out;
    tn_node *n = tn_record(op, out, 1, &t);
    if (!n) {
        tn_release(out);
        return NULL;
    }
    n->iarg[0] = mask;
    n->iarg[1] = keep;
    n->farg[0] = p;
    if (save_in) tn_save(n, t);
    if (save_out) tn_save(n, out);
    return out;
}

static const char *const reduce_names[TN_R_COUNT] = {
    "sum", "mean", "prod", "max", "min", "all", "any", "logsumexp", "norm"};

static int require_float(const tn_tensor *t, const char *op) {
    if (tn_dtype_is_float(t->dtype)) return 0;
    tn_error("%s: expected a floating point tensor, got %s (convert it first, e.g. t:float())", op,
             tn_dtype_name(t->dtype));
    return -1;
}

static tn_tensor *logsumexp_mask(tn_tensor *t, uint32_t mask, uint32_t keep);
static tn_tensor *norm_mask(tn_tensor *t, double p, uint32_t mask, uint32_t keep);

static tn_tensor *reduce_mask(tn_reduce_kind k, tn_tensor *t, uint32_t mask, uint32_t keep) {
    const char *op = reduce_names[k];
    bool isf = tn_dtype_is_float(t->dtype);
    int64_t R = reduced_count(t->shape, t->ndim, mask);
    tn_tensor *out;
    switch (k) {
    case TN_R_SUM:
        out = reduce_raw(K_SUM, t, mask, keep, isf ? t->dtype : TN_INT64, P_NONE, 1);
        return record_reduce(TN_OP_SUM, out, t, mask, keep, false, false, 0);
    case TN_R_MEAN:
        if (require_float(t, op) < 0) return NULL;
        out = reduce_raw(K_SUM, t, mask, keep, t->dtype, P_SCALE, 1.0 / (double)R);
        return record_reduce(TN_OP_MEAN, out, t, mask, keep, false, false, 0);
    case TN_R_PROD:
        out = reduce_raw(K_PROD, t, mask, keep, isf ? t->dtype : TN_INT64, P_NONE, 1);
        return record_reduce(TN_OP_PROD, out, t, mask, keep, true, false, 0);
    case TN_R_MAX:
    case TN_R_MIN:
        if (R == 0 && reduced_count(t->shape, t->ndim, ~mask) > 0) {  /* some output has no value */
            char b[128];
            tn_error("%s: cannot reduce over an empty dim (input shape %s); the result would "
                     "have no value", op, tn_shape_str(t->shape, t->ndim, b, sizeof b));
            return NULL;
        }
        out = reduce_raw(k == TN_R_MAX ? K_MAX : K_MIN, t, mask, keep, t->dtype, P_NONE, 1);
        return record_reduce(k == TN_R_MAX ? TN_OP_AMAX : TN_OP_AMIN, out, t, mask, keep, true,
                             true, 0);
    case TN_R_ALL:
    case TN_R_ANY:
        return reduce_raw(k == TN_R_ALL ? K_ALL : K_ANY, t, mask, keep, TN_BOOL, P_NONE, 1);
    case TN_R_LOGSUMEXP: return logsumexp_mask(t, mask, keep);
    case TN_R_NORM: return norm_mask(t, 2.0, mask, keep);
    default:
        tn_error("reduce: unknown reduction kind %d", (int)k);
        return NULL;
    }
}

tn_tensor *tn_reduce(tn_reduce_kind k, tn_tensor *t, const int *dims, int ndims, bool keepdim) {
    if (!t) {
        tn_error("reduce: NULL tensor");
        return NULL;
    }
    if ((int)k < 0 || k >= TN_R_COUNT) {
        tn_error("reduce: unknown reduction kind %d", (int)k);
        return NULL;
    }
    if (ndims > 0 && !dims) {
        tn_error("%s: NULL list of %d dims", reduce_names[k], ndims);
        return NULL;
    }
    int64_t m = dims_mask(t, dims, ndims, reduce_names[k]);
    if (m < 0) return NULL;
    return reduce_mask(k, t, (uint32_t)m, keepdim ? (uint32_t)m : 0);
}

/* One dim (or TN_ALL_DIMS) as a mask; -1 on error. */
static int64_t one_dim_mask(const tn_tensor *t, int dim, const char *op) {
    if (dim == TN_ALL_DIMS) return all_mask(t->ndim);
    int d = tn_wrap_dim(dim, t->ndim, op);
    if (d < 0) return -1;
    return t->ndim == 0 ? 0 : (int64_t)(1u << d);
}

static tn_tensor *reduce_dim(tn_reduce_kind k, tn_tensor *t, int dim, bool keepdim) {
    int64_t m = one_dim_mask(t, dim, reduce_names[k]);
    if (m < 0) return NULL;
    return reduce_mask(k, t, (uint32_t)m, keepdim ? (uint32_t)m : 0);
}

tn_tensor *tn_sum(tn_tensor *t, int dim, bool keepdim) { return reduce_dim(TN_R_SUM, t, dim, keepdim); }
tn_tensor *tn_mean(tn_tensor *t, int dim, bool keepdim) { return reduce_dim(TN_R_MEAN, t, dim, keepdim); }

/* var = sum((x - mean)^2) / max(0, N - correction), built from recorded ops
 * so it needs no backward rule of its own. */
tn_tensor *tn_var(tn_tensor *t, int dim, bool keepdim, int correction) {
    if (require_float(t, "var") < 0) return NULL;
    int64_t m = one_dim_mask(t, dim, "var");
    if (m < 0) return NULL;
    uint32_t mask = (uint32_t)m, keep = keepdim ? mask : 0;
    int64_t R = reduced_count(t->shape, t->ndim, mask), N = R - correction;
    double inv = 1.0 / (double)(N > 0 ? N : 0);
    if (!tn_grad_needed1(t)) {
        /* no history needed: mean, deviations, sum of squares (three passes) */
        tn_tensor *mu = reduce_raw(K_SUM, t, mask, mask, t->dtype, P_SCALE, 1.0 / (double)R);
        tn_tensor *d = mu ? tn_sub(t, mu) : NULL;
        tn_tensor *out = d ? reduce_raw(K_SUMSQ, d, mask, keep, t->dtype, P_SCALE, inv) : NULL;
        tn_release(mu);
        tn_release(d);
        return out;
    }
    tn_tensor *mu = reduce_mask(TN_R_MEAN, t, mask, mask);
    tn_tensor *d = mu ? tn_sub(t, mu) : NULL;
    tn_tensor *sq = d ? tn_mul(d, d) : NULL;
    tn_tensor *s = sq ? reduce_mask(TN_R_SUM, sq, mask, keep) : NULL;
    tn_tensor *out = s ? tn_mul_scalar(s, inv) : NULL;
    tn_release(mu);
    tn_release(d);
    tn_release(sq);
    tn_release(s);
    return out;
}

tn_tensor *tn_std(tn_tensor *t, int dim, bool keepdim, int correction) {
    tn_tensor *v = tn_var(t, dim, keepdim, correction);
    if (!v) return NULL;
    tn_tensor *out = tn_unary(TN_U_SQRT, v);
    tn_release(v);
    return out;
}

tn_tensor *tn_norm(tn_tensor *t, double p, int dim, bool keepdim) {
    int64_t m = one_dim_mask(t, dim, "norm");
    if (m < 0) return NULL;
    return norm_mask(t, p, (uint32_t)m, keepdim ? (uint32_t)m : 0);
}

/* The contiguous tensor `c` (keepdim shape) viewed with the (mask, keep)
 * output shape: dropping size-1 dims does not move any element. */
static tn_tensor *as_out_shape(tn_tensor *c, const tn_tensor *t, uint32_t mask, uint32_t keep) {
    int64_t shape[TN_MAX_DIMS], stride[TN_MAX_DIMS];
    int nd = reduced_shape(t, mask, keep, shape);
    int64_t st = 1;
    for (int d = nd - 1; d >= 0; d--) {
        stride[d] = st;
        st *= shape[d];
    }
    return tn_alias(c, nd, shape, stride, c->offset);
}

/* logsumexp = m + log(sum(exp(x - m))) with m the max (0 where infinite), so
 * large inputs cannot overflow.  One dim or all dims run fused in one kernel
 * (sort.c); other lists of dims are composed from reductions. */
static tn_tensor *logsumexp_mask(tn_tensor *t, uint32_t mask, uint32_t keep) {
    tn_tensor *x = tn_dtype_is_float(t->dtype) ? tn_retain(t) : tn_to(t, TN_FLOAT32);
    if (!x) return NULL;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *out = NULL, *m = NULL, *d = NULL, *e = NULL, *s = NULL, *l = NULL, *mv = NULL;
    if (reduced_count(x->shape, x->ndim, mask) == 0) {
        int64_t shape[TN_MAX_DIMS];
        int nd = reduced_shape(x, mask, keep, shape);
        out = tn_full(x->dtype, nd, shape, -INFINITY);
        goto done;
    }
    if (x->ndim == 0 || __builtin_popcount(mask) == 1) {  /* one dim: fused (sort.c) */
        int dim1 = x->ndim == 0 ? 0 : __builtin_ctz(mask);
        out = tn_logsumexp_dim_raw(x, dim1, (keep & mask) != 0);
        goto done;
    }
    if (mask == all_mask(x->ndim)) {  /* everything: fused over the flattened tensor */
        tn_tensor *c = tn_contiguous(x);
        tn_tensor *flat = c ? tn_alias(c, 1, &c->numel, (int64_t[]){1}, c->offset) : NULL;
        tn_tensor *r = flat ? tn_logsumexp_dim_raw(flat, 0, false) : NULL;
        int64_t shape[TN_MAX_DIMS], zs[TN_MAX_DIMS] = {0};
        int nd = reduced_shape(x, mask, keep, shape);
        out = r ? tn_alias(r, nd, shape, zs, r->offset) : NULL;   /* 0-dim or (1, 1, ...) */
        tn_release(c);
        tn_release(flat);
        tn_release(r);
        goto done;
    }
    /* other lists of dims: composite */
    m = reduce_raw(K_MAX, x, mask, mask, x->dtype, P_NONE, 1);
    if (!m) goto done;
    for (int64_t i = 0; i < m->numel; i++) {
        double v = tn_load(m->dtype, m->storage->data, i);
        if (isinf(v)) tn_store(m->dtype, m->storage->data, i, 0.0);
    }
    d = tn_sub(x, m);
    e = d ? tn_unary(TN_U_EXP, d) : NULL;
    s = e ? reduce_raw(K_SUM, e, mask, keep, x->dtype, P_NONE, 1) : NULL;
    l = s ? tn_unary(TN_U_LOG, s) : NULL;
    mv = l ? as_out_shape(m, x, mask, keep) : NULL;
    out = mv ? tn_add(l, mv) : NULL;
done:
    tn_set_grad_enabled(was);
    tn_release(m); tn_release(d); tn_release(e); tn_release(s); tn_release(l); tn_release(mv);
    out = record_reduce(TN_OP_LOGSUMEXP, out, x, mask, keep, true, true, 0);
    tn_release(x);
    return out;
}

/* p-norm: 2 (sqrt of the sum of squares), 1, inf, -inf, 0 (count of
 * non-zeros) and any other p as (sum |x|^p)^(1/p). */
static tn_tensor *norm_mask(tn_tensor *t, double p, uint32_t mask, uint32_t keep) {
    if (require_float(t, "norm") < 0) return NULL;
    if (p != p) {
        tn_error("norm: p must be a number, got nan");
        return NULL;
    }
    tn_tensor *out = NULL;
    bool was = tn_set_grad_enabled(false);
    if (p == 2) {
        out = reduce_raw(K_SUMSQ, t, mask, keep, t->dtype, P_SQRT, 1);
    } else if (p == 1) {
        out = reduce_raw(K_SUMABS, t, mask, keep, t->dtype, P_NONE, 1);
    } else if (p == INFINITY) {
        out = reduce_raw(K_MAXABS, t, mask, keep, t->dtype, P_NONE, 1);
    } else if (p == 0) {
        tn_tensor *z = tn_scalar(t->dtype, 0), *nz = z ? tn_binary(TN_B_NE, t, z) : NULL;
        out = nz ? reduce_raw(K_SUM, nz, mask, keep, t->dtype, P_NONE, 1) : NULL;
        tn_release(z);
        tn_release(nz);
    } else {
        tn_tensor *a = tn_unary(TN_U_ABS, t);
        if (p == -INFINITY) {
            out = a ? reduce_raw(K_MIN, a, mask, keep, t->dtype, P_NONE, 1) : NULL;
        } else {
            tn_tensor *q = a ? tn_pow_scalar(a, p) : NULL;
            tn_tensor *s = q ? reduce_raw(K_SUM, q, mask, keep, t->dtype, P_NONE, 1) : NULL;
            out = s ? tn_pow_scalar(s, 1.0 / p) : NULL;
            tn_release(q);
            tn_release(s);
        }
        tn_release(a);
    }
    tn_set_grad_enabled(was);
    return record_reduce(TN_OP_NORM, out, t, mask, keep, true, true, p);
}

/* Sums t down to `shape` (the reverse of broadcasting): leading dims and
 * dims where shape has 1 are summed. */
tn_tensor *tn_sum_to(tn_tensor *t, int ndim, const int64_t *shape) {
    char b1[128], b2[128];
    int lead = t->ndim - ndim;
    bool ok = ndim >= 0 && lead >= 0;
    uint32_t mask = 0, keep = 0;
    for (int i = 0; ok && i < ndim; i++) {
        int64_t have = t->shape[lead + i];
        if (shape[i] == have) continue;
        if (shape[i] != 1) ok = false;
        mask |= 1u << (lead + i);
        keep |= 1u << (lead + i);
    }
    if (!ok) {
        tn_error("sum_to: shape %s cannot be summed to shape %s (it does not broadcast to it)",
                 tn_shape_str(t->shape, t->ndim, b1, sizeof b1),
                 tn_shape_str(shape, ndim > 0 ? ndim : 0, b2, sizeof b2));
        return NULL;
    }
    for (int d = 0; d < lead; d++) mask |= 1u << d;
    if (mask == 0) return tn_retain(t);
    tn_dtype dt = tn_dtype_is_float(t->dtype) ? t->dtype : TN_INT64;
    tn_tensor *out = reduce_raw(K_SUM, t, mask, keep, dt, P_NONE, 1);
    return record_reduce(TN_OP_SUM, out, t, mask, keep, false, false, 0);
}

/* ---------- backward rules of the reductions ---------- */

#define CHECK(x) do { if (!(x)) return -1; } while (0)

int sum_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    gin[0] = expand_back(g, n);
    /* it shares g's storage: marked as a view so the engine copies it before
     * accumulating into it in place */
    if (gin[0]) gin[0]->is_view = true;
    return gin[0] ? 0 : -1;
}

int mean_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    const tn_edge *e = &n->edges[0];
    int64_t R = reduced_count(e->shape, e->ndim, (uint32_t)n->iarg[0]);
    tn_tensor *ge = expand_back(g, n);
    CHECK(ge);
    gin[0] = tn_mul_scalar(ge, 1.0 / (double)R);
    tn_release(ge);
    return gin[0] ? 0 : -1;
}

/* d prod / d x_i = product of the other elements of x_i's slice, computed
 * from the non-zero product and the zero count so zeros are exact. */
int prod_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0);
    CHECK(x);
    tn_tensor *xc = tn_contiguous(x), *ge = expand_back(g, n);
    tn_tensor *gc = ge ? tn_contiguous(ge) : NULL;
    tn_tensor *out = xc && gc ? tn_empty(g->dtype, x->ndim, x->shape) : NULL;
    if (out) {
        /* xc, gc and out share one contiguous geometry */
        rgeom geo;
        geom_init(&geo, xc, (uint32_t)n->iarg[0]);
        const void *px = tn_data(xc), *pg = tn_data(gc);
        void *po = tn_data(out);
        int64_t idx[TN_MAX_DIMS];
        for (int64_t o = 0; o < geo.nout && geo.R > 0; o++) {
            int64_t base = kept_offset(&geo, o);
            double p = 1;
            int64_t zeros = 0, zpos = 0;
            for (int pass = 0; pass < 2; pass++) {
                memset(idx, 0, sizeof idx);
                int64_t off = 0;
                for (int64_t r = 0; r < geo.R; r++) {
                    double v = tn_load(xc->dtype, px, base + off);
                    if (pass == 0) {
                        if (v == 0) { zeros++; zpos = r; } else p *= v;
                    } else {
                        double d = zeros == 0 ? p / v : (zeros == 1 && r == zpos ? p : 0.0);
                        tn_store(out->dtype, po, base + off, d * tn_load(gc->dtype, pg, base + off));
                    }
                    for (int dd = geo.nr - 1; dd >= 0; dd--) {
                        if (++idx[dd] < geo.rsize[dd]) { off += geo.rin[dd]; break; }
                        off -= (idx[dd] - 1) * geo.rin[dd];
                        idx[dd] = 0;
                    }
                }
            }
        }
    }
    tn_release(xc);
    tn_release(ge);
    tn_release(gc);
    gin[0] = out;
    return out ? 0 : -1;
}

/* amax/amin: the gradient is split evenly among the elements equal to the
 * result (as PyTorch's amax). */
static int amaxmin_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *out = tn_saved(n, 1);
    CHECK(x && out);
    uint32_t mask = (uint32_t)n->iarg[0], keep = (uint32_t)n->iarg[1];
    tn_tensor *oe = expand_back(out, n), *ge = expand_back(g, n);
    tn_tensor *eq = oe && ge ? tn_binary(TN_B_EQ, x, oe) : NULL;
    tn_tensor *w = eq ? tn_to(eq, g->dtype) : NULL;
    tn_tensor *cnt = w ? reduce_raw(K_SUM, w, mask, keep, g->dtype, P_NONE, 1) : NULL;
    tn_tensor *ce = cnt ? expand_back(cnt, n) : NULL;
    tn_tensor *gw = ce ? tn_mul(ge, w) : NULL;
    gin[0] = gw ? tn_div(gw, ce) : NULL;
    tn_release(oe); tn_release(ge); tn_release(eq); tn_release(w);
    tn_release(cnt); tn_release(ce); tn_release(gw);
    return gin[0] ? 0 : -1;
}
int amax_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return amaxmin_backward(n, g, gin); }
int amin_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return amaxmin_backward(n, g, gin); }

/* d logsumexp / dx = exp(x - out) (the softmax over the reduced dims). */
int logsumexp_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *out = tn_saved(n, 1);
    CHECK(x && out);
    tn_tensor *oe = expand_back(out, n), *ge = expand_back(g, n);
    tn_tensor *d = oe && ge ? tn_sub(x, oe) : NULL;
    tn_tensor *e = d ? tn_unary(TN_U_EXP, d) : NULL;
    gin[0] = e ? tn_mul(ge, e) : NULL;
    tn_release(oe); tn_release(ge); tn_release(d); tn_release(e);
    return gin[0] ? 0 : -1;
}

/* p = 2: x / norm; 1: sign(x); +-inf: sign(x) split among the elements whose
 * |x| equals the norm; 0: nothing; else sign(x) |x|^(p-1) / norm^(p-1).
 * Where the norm is 0 the gradient is 0 (PyTorch's subgradient). */
int norm_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *out = tn_saved(n, 1);
    CHECK(x && out);
    double p = n->farg[0];
    uint32_t mask = (uint32_t)n->iarg[0], keep = (uint32_t)n->iarg[1];
    if (p == 0) return (gin[0] = tn_zeros(x->dtype, x->ndim, x->shape)) ? 0 : -1;
    tn_tensor *oe = expand_back(out, n), *ge = expand_back(g, n);
    tn_tensor *sg = tn_unary(TN_U_SIGN, x), *zero = tn_scalar(x->dtype, 0);
    tn_tensor *dir = NULL;   /* d norm / d x */
    if (!oe || !ge || !sg || !zero) goto done;
    if (p == 1) {
        dir = tn_retain(sg);
    } else if (isinf(p)) {
        tn_tensor *a = tn_unary(TN_U_ABS, x), *eq = a ? tn_binary(TN_B_EQ, a, oe) : NULL;
        tn_tensor *w = eq ? tn_to(eq, x->dtype) : NULL;
        tn_tensor *cnt = w ? reduce_raw(K_SUM, w, mask, keep, x->dtype, P_NONE, 1) : NULL;
        tn_tensor *ce = cnt ? expand_back(cnt, n) : NULL;
        tn_tensor *sw = ce ? tn_mul(sg, w) : NULL;
        dir = sw ? tn_div(sw, ce) : NULL;
        tn_release(a); tn_release(eq); tn_release(w); tn_release(cnt); tn_release(ce); tn_release(sw);
    } else {
        tn_tensor *num, *den;
        if (p == 2) {
            num = tn_retain(x);
            den = tn_retain(oe);
        } else {
            tn_tensor *a = tn_unary(TN_U_ABS, x), *ap = a ? tn_pow_scalar(a, p - 1) : NULL;
            num = ap ? tn_mul(sg, ap) : NULL;
            den = tn_pow_scalar(oe, p - 1);
            tn_release(a);
            tn_release(ap);
        }
        tn_tensor *q = num && den ? tn_div(num, den) : NULL;
        tn_tensor *isz = tn_binary(TN_B_EQ, oe, zero);
        dir = q && isz ? tn_where(isz, zero, q) : NULL;
        tn_release(num); tn_release(den); tn_release(q); tn_release(isz);
    }
    if (dir) gin[0] = tn_mul(ge, dir);
done:
    tn_release(oe); tn_release(ge); tn_release(sg); tn_release(zero); tn_release(dir);
    return gin[0] ? 0 : -1;
}

/* ===================== max / min / argmax / argmin along a dim ===================== */

/* Index of the first max (GT) or min (LT) of x[0], x[s], ... x[(n-1)s],
 * n >= 1.  A NaN wins (first NaN), so NaN propagates as in PyTorch. */
#define DEF_ARG(name, T, CMP, ISNAN)                                               \
    static int64_t name(const void *px, int64_t n, int64_t s) {                    \
        const T *x = px;                                                           \
        T best = x[0];                                                             \
        if (ISNAN(best)) return 0;                                                 \
        int64_t bi = 0;                                                            \
        for (int64_t i = 1; i < n; i++) {                                          \
            T v = x[i * s];                                                        \
            if (ISNAN(v)) return i;                                                \
            if (v CMP best) {                                                      \
                best = v;                                                          \
                bi = i;                                                            \
            }                                                                      \
        }                                                                          \
        return bi;                                                                 \
    }
#define FNAN(v) ((v) != (v))
#define INAN(v) 0
/* floats, contiguous: the max (min) value first with the vectorised row
 * kernel, then the first element equal to it (or the first NaN when it is
 * NaN), found a block at a time with vector compares */
#define ARG_BLOCK 32
#define DEF_ARGF(name, T, CMP, ROWFOLD, INIT)                                      \
    DEF_ARG(name##_scalar, T, CMP, FNAN)                                           \
    static int64_t name(const void *px, int64_t n, int64_t s) {                    \
        if (s != 1) return name##_scalar(px, n, s);                                \
        const T *x = px;                                                           \
        double m = INIT;                                                           \
        ROWFOLD(x, n, 1, &m);                                                      \
        T mt = (T)m;                                                               \
        bool isn = m != m;                                                         \
        int64_t i = 0;                                                             \
        for (; i + ARG_BLOCK <= n; i += ARG_BLOCK) {                               \
            int hit = 0;                                                           \
            if (isn) for (int j = 0; j < ARG_BLOCK; j++) hit |= x[i + j] != x[i + j]; \
            else for (int j = 0; j < ARG_BLOCK; j++) hit |= x[i + j] == mt;       \
            if (hit) break;                                                        \
        }                                                                          \
        for (; i < n; i++)                                                         \
            if (isn ? x[i] != x[i] : x[i] == mt) return i;                         \
        return 0;                                                                  \
    }
DEF_ARGF(argmax_f32, float, >, row_max_f32, -INFINITY)
DEF_ARGF(argmin_f32, float, <, row_min_f32, INFINITY)
DEF_ARGF(argmax_f64, double, >, row_max_f64, -INFINITY)
DEF_ARGF(argmin_f64, double, <, row_min_f64, INFINITY)
DEF_ARG(argmax_i64, int64_t, >, INAN)
DEF_ARG(argmin_i64, int64_t, <, INAN)
DEF_ARG(argmax_i32, int32_t, >, INAN)
DEF_ARG(argmin_i32, int32_t, <, INAN)
DEF_ARG(argmax_u8, uint8_t, >, INAN)
DEF_ARG(argmin_u8, uint8_t, <, INAN)

typedef int64_t (*arg_fn)(const void *x, int64_t n, int64_t s);
static const arg_fn arg_fns[2][TN_DTYPE_COUNT] = {
    {argmax_f32, argmax_f64, argmax_i64, argmax_i32, argmax_u8, argmax_u8},
    {argmin_f32, argmin_f64, argmin_i64, argmin_i32, argmin_u8, argmin_u8}};

typedef struct {
    rgeom g;
    arg_fn fn;
    const char *base;
    size_t es;
    int64_t *idx;       /* out: nout indices */
    char *vals;         /* out (or NULL): nout values, contiguous, t's dtype */
} argctx;

static void arg_items(void *vc, int64_t lo, int64_t hi) {
    const argctx *c = vc;
    int64_t s = c->g.rin[0], R = c->g.R;
    for (int64_t o = lo; o < hi; o++) {
        const char *p = c->base + kept_offset(&c->g, o) * (int64_t)c->es;
        int64_t i = c->fn(p, R, s);
        c->idx[o] = i;
        if (c->vals) memcpy(c->vals + o * (int64_t)c->es, p + (i ? i * s : 0) * (int64_t)c->es, c->es);
    }
}

/* Max/min of t along dim d (0-based, wrapped): indices and optionally values. */
static int arg_reduce(tn_tensor *t, int d, bool keepdim, int which, tn_tensor **values,
                      tn_tensor **indices, const char *op) {
    uint32_t mask = t->ndim == 0 ? 0 : 1u << d;
    int64_t R = t->ndim == 0 ? 1 : t->shape[d];
    int64_t shape[TN_MAX_DIMS];
    int nd = reduced_shape(t, mask, keepdim ? mask : 0, shape);
    if (R == 0) {
        char b[128];
        tn_error("%s: cannot reduce over dim %d of size 0 (input shape %s)", op, d + 1,
                 tn_shape_str(t->shape, t->ndim, b, sizeof b));
        return -1;
    }
    tn_tensor *ix = tn_empty(TN_INT64, nd, shape);
    tn_tensor *v = ix && values ? tn_empty(t->dtype, nd, shape) : NULL;
    if (!ix || (values && !v)) {
        tn_release(ix);
        return -1;
    }
    argctx c = {.fn = arg_fns[which][t->dtype], .base = tn_data(t), .es = tn_dtype_size(t->dtype),
                .idx = tn_data(ix), .vals = v ? tn_data(v) : NULL};
    geom_init(&c.g, t, mask);
    if (c.g.R == 1) c.g.rin[0] = 0;
    tn_parallel_for(c.g.nout, R >= TN_GRAIN ? 1 : TN_GRAIN / R, arg_items, &c);
    *indices = ix;
    if (values) *values = v;
    return 0;
}

static int minmax_dim(tn_tensor *t, int dim, bool keepdim, int which, tn_tensor **values,
                      tn_tensor **indices) {
    const char *op = which ? "min" : "max";
    if (!values || !indices) {
        tn_error("%s: values and indices outputs are required", op);
        return -1;
    }
    *values = *indices = NULL;
    int d = tn_wrap_dim(dim, t->ndim, op);
    if (d < 0 || arg_reduce(t, d, keepdim, which, values, indices, op) < 0) return -1;
    if (tn_grad_needed1(t) && tn_dtype_is_float(t->dtype)) {
        tn_node *n = tn_record(which ? TN_OP_MIN_DIM : TN_OP_MAX_DIM, *values, 1, &t);
        if (!n) {
            tn_release(*values);
            tn_release(*indices);
            *values = *indices = NULL;
            return -1;
        }
        uint32_t mask = t->ndim == 0 ? 0 : 1u << d;
        n->iarg[0] = mask;
        n->iarg[1] = keepdim ? mask : 0;
        tn_save(n, *indices);
    }
    return 0;
}

int tn_max_dim(tn_tensor *t, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices) {
    return minmax_dim(t, dim, keepdim, 0, values, indices);
}
int tn_min_dim(tn_tensor *t, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices) {
    return minmax_dim(t, dim, keepdim, 1, values, indices);
}

static tn_tensor *argminmax(tn_tensor *t, int dim, bool keepdim, int which) {
    const char *op = which ? "argmin" : "argmax";
    tn_tensor *ix = NULL;
    if (dim != TN_ALL_DIMS) {
        int d = tn_wrap_dim(dim, t->ndim, op);
        if (d < 0 || arg_reduce(t, d, keepdim, which, NULL, &ix, op) < 0) return NULL;
        return ix;
    }
    /* over everything: an index into the flattened (row-major) tensor */
    tn_tensor *c = tn_contiguous(t);
    if (!c) return NULL;
    tn_tensor *flat = tn_alias(c, 1, &c->numel, (int64_t[]){1}, c->offset);
    tn_release(c);
    if (!flat) return NULL;
    int rc = arg_reduce(flat, 0, false, which, NULL, &ix, op);
    tn_release(flat);
    if (rc < 0) return NULL;
    if (keepdim && t->ndim > 0) {  /* shape (1, 1, ...) */
        int64_t ones[TN_MAX_DIMS], zs[TN_MAX_DIMS] = {0};
        for (int i = 0; i < t->ndim; i++) ones[i] = 1;
        tn_tensor *k = tn_alias(ix, t->ndim, ones, zs, ix->offset);
        tn_release(ix);
        ix = k;
    }
    return ix;
}

tn_tensor *tn_argmax(tn_tensor *t, int dim, bool keepdim) { return argminmax(t, dim, keepdim, 0); }
tn_tensor *tn_argmin(tn_tensor *t, int dim, bool keepdim) { return argminmax(t, dim, keepdim, 1); }

/* The gradient goes to the selected element of each slice. */
static int pick_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *ix = tn_saved(n, 0);
    CHECK(ix);
    const tn_edge *e = &n->edges[0];
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *out = gc ? tn_zeros(g->dtype, e->ndim, e->shape) : NULL;
    if (out) {
        rgeom geo;   /* geometry of the (contiguous) input-shaped gradient */
        geom_init(&geo, out, (uint32_t)n->iarg[0]);
        int64_t s = geo.R == 1 ? 0 : geo.rin[0];
        const int64_t *pi = tn_data(ix);
        for (int64_t o = 0; o < geo.nout; o++) {
            int64_t off = kept_offset(&geo, o) + pi[o] * s;
            if (g->dtype == TN_FLOAT32) ((float *)tn_data(out))[off] = ((const float *)tn_data(gc))[o];
            else tn_store(out->dtype, tn_data(out), off, tn_load(gc->dtype, tn_data(gc), o));
        }
    }
    tn_release(gc);
    gin[0] = out;
    return out ? 0 : -1;
}
int max_dim_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return pick_backward(n, g, gin); }
int min_dim_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return pick_backward(n, g, gin); }
