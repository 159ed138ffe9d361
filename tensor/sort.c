/*
 * sort.c: the ops that run along one dim of a tensor, line by line: sort and
 * topk (values and 0-based int64 indices), cumsum, softmax and log_softmax,
 * with the backward rules of the last three (listed under "reductions" in
 * ops.def; reduce.c holds the true reductions).
 *
 * sort and topk are stable (equal values keep their original order, as PyTorch's
 * stable sort) and place NaN above every number (last when ascending, first
 * when descending), so results are the same on every run and thread count.
 * Each line along the dim is copied into a key buffer (double for float
 * dtypes, int64 for integer ones, so large int64 values compare exactly),
 * sorted as a permutation by a bottom-up merge sort with an insertion sort
 * for short runs, then written out.  Lines are independent and run in
 * parallel.  Autograd: the values are re-read with tn_gather (a recorded op),
 * so sort and topk need no backward rule of their own.
 *
 * cumsum and softmax see a contiguous tensor as (outer, n, inner) around the
 * dim.  With inner == 1 (the last dim) each line is one contiguous row and
 * every pass over it is a vectorised loop; otherwise a block of inner
 * positions is processed together, vectorised across them.  float32 sums
 * accumulate in double; softmax uses a vectorisable float32 exp.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    /* input lines: line l starts at kept offset, element stride `s` */
    int nk;
    int64_t ksize[TN_MAX_DIMS], kin[TN_MAX_DIMS];
    int64_t s, n;          /* stride and length of the dim */
    int64_t nlines, inner; /* lines; product of the dims after the dim */
    int64_t k;             /* elements written per line (n for sort) */
    bool desc, fkey;       /* descending; keys are doubles (else int64) */
    const char *x;
    size_t es;
    tn_dtype dt;
    char *vals;            /* out: contiguous, dim size k (NULL: skip) */
    int64_t *idx;          /* out: contiguous, dim size k */
    int err;               /* set when scratch allocation failed */
} sortctx;

/* a sorts before b (ascending: smaller first, NaN last; descending: larger
 * first, NaN first).  Equal keys return false, which keeps the sort stable. */
static inline bool before_d(double a, double b, bool desc) {
    if (desc) return (a != a && b == b) || a > b;
    return (a == a && b != b) || a < b;
}
static inline bool before_i(int64_t a, int64_t b, bool desc) { return desc ? a > b : a < b; }

#define RUN 16

/* Sorts the permutation p[0..n) of keys K stably; tmp has room for n. */
#define DEF_MERGESORT(name, KT, BEFORE)                                            \
    static void name(const KT *K, int64_t *p, int64_t *tmp, int64_t n, bool desc) { \
        for (int64_t lo = 0; lo < n; lo += RUN) {                                  \
            int64_t hi = lo + RUN < n ? lo + RUN : n;                              \
            for (int64_t i = lo + 1; i < hi; i++) {                                \
                int64_t v = p[i], j = i;                                           \
                while (j > lo && BEFORE(K[v], K[p[j - 1]], desc)) {                \
                    p[j] = p[j - 1];                                               \
                    j--;                                                           \
                }                                                                  \
                p[j] = v;                                                          \
            }                                                                      \
        }                                                                          \
        int64_t *src = p, *dst = tmp;                                              \
        for (int64_t w = RUN; w < n; w *= 2) {                                     \
            for (int64_t lo = 0; lo < n; lo += 2 * w) {                            \
                int64_t mid = lo + w < n ? lo + w : n;                             \
                int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;                      \
                int64_t a = lo, b = mid, o = lo;                                   \
                while (a < mid && b < hi)                                          \
                    dst[o++] = BEFORE(K[src[b]], K[src[a]], desc) ? src[b++] : src[a++]; \
                while (a < mid) dst[o++] = src[a++];                               \
                while (b < hi) dst[o++] = src[b++];                                \
            }                                                                      \
            int64_t *t = src;                                                      \
            src = dst;                                                             \
            dst = t;                                                               \
        }                                                                          \
        if (src != p) memcpy(p, src, sizeof *p * (size_t)n);                       \
    }
DEF_MERGESORT(sort_keys_d, double, before_d)
DEF_MERGESORT(sort_keys_i, int64_t, before_i)

/* topk with a small k: one pass keeping the best k in order in p[0..k).
 * A new element goes after every equal one, so the result is the prefix of
 * the stable sort. */
#define TOPK_SELECT 64
#define DEF_SELECT(name, KT, BEFORE)                                               \
    static void name(const KT *K, int64_t *p, int64_t n, int64_t k, bool desc) {   \
        int64_t cnt = 0;                                                           \
        for (int64_t j = 0; j < n; j++) {                                          \
            if (cnt == k && !BEFORE(K[j], K[p[k - 1]], desc)) continue;            \
            int64_t pos = cnt < k ? cnt : k - 1;  /* when full the last drops */ \
            while (pos > 0 && BEFORE(K[j], K[p[pos - 1]], desc)) {                 \
                p[pos] = p[pos - 1];                                               \
                pos--;                                                             \
            }                                                                      \
            p[pos] = j;                                                            \
            if (cnt < k) cnt++;                                                    \
        }                                                                          \
    }
DEF_SELECT(select_keys_d, double, before_d)
DEF_SELECT(select_keys_i, int64_t, before_i)

static void sort_lines(void *vc, int64_t lo, int64_t hi) {
    sortctx *c = vc;
    int64_t n = c->n;
    /* scratch for one line, reused across the lines of this range */
    char *buf = malloc((size_t)n * (sizeof(double) + 2 * sizeof(int64_t)) + 1);
    if (!buf) {
        c->err = 1;
        return;
    }
    void *K = buf;
    int64_t *p = (int64_t *)(buf + (size_t)n * sizeof(double));
    int64_t *tmp = p + n;
    for (int64_t l = lo; l < hi && !tn_interrupted(); l++) {
        int64_t off = 0, r = l;
        for (int d = c->nk - 1; d >= 0; d--) {
            off += (r % c->ksize[d]) * c->kin[d];
            r /= c->ksize[d];
        }
        const char *line = c->x + off * (int64_t)c->es;
        int64_t s = c->s;
        double *Kd = K;
        int64_t *Ki = K;
        for (int64_t j = 0; j < n; j++) p[j] = j;
        switch (c->dt) {   /* typed loads: this runs for every element */
        case TN_FLOAT32: for (int64_t j = 0; j < n; j++) Kd[j] = ((const float *)line)[j * s]; break;
        case TN_FLOAT64: for (int64_t j = 0; j < n; j++) Kd[j] = ((const double *)line)[j * s]; break;
        case TN_INT64: for (int64_t j = 0; j < n; j++) Ki[j] = ((const int64_t *)line)[j * s]; break;
        case TN_INT32: for (int64_t j = 0; j < n; j++) Ki[j] = ((const int32_t *)line)[j * s]; break;
        default: for (int64_t j = 0; j < n; j++) Ki[j] = ((const uint8_t *)line)[j * s]; break;
        }
        if (c->k <= TOPK_SELECT && c->k * 4 < n) {
            if (c->fkey) select_keys_d(K, p, n, c->k, c->desc);
            else select_keys_i(K, p, n, c->k, c->desc);
        } else if (c->fkey) {
            sort_keys_d(K, p, tmp, n, c->desc);
        } else {
            sort_keys_i(K, p, tmp, n, c->desc);
        }
        /* output line: contiguous, dim of size k, element j at obase + j*inner */
        int64_t ob = (l / c->inner) * c->k * c->inner + l % c->inner;
        for (int64_t j = 0; j < c->k; j++) {
            int64_t o = ob + j * c->inner;
            c->idx[o] = p[j];
            if (c->vals)
                memcpy(c->vals + o * (int64_t)c->es, line + p[j] * c->s * (int64_t)c->es, c->es);
        }
    }
    free(buf);
}

/* Sorts t along dim d keeping the first k of each line. */
static int sort_common(tn_tensor *t, int dim, int64_t k, bool desc, tn_tensor **values,
                       tn_tensor **indices, const char *op, bool is_topk) {
    if (!t || !values || !indices) {
        tn_error("%s: a tensor and the values and indices outputs are required", op);
        return -1;
    }
    *values = *indices = NULL;
    int d = tn_wrap_dim(dim, t->ndim, op);
    if (d < 0) return -1;
    int64_t n = t->ndim ? t->shape[d] : 1;
    if (is_topk && (k < 0 || k > n)) {
        char b[128];
        tn_error("%s: k (%lld) is out of range for dim %d of size %lld (input shape %s)", op,
                 (long long)k, d + 1, (long long)n, tn_shape_str(t->shape, t->ndim, b, sizeof b));
        return -1;
    }
    int64_t shape[TN_MAX_DIMS];
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    if (t->ndim) shape[d] = k;
    bool grad = tn_grad_needed1(t) && tn_dtype_is_float(t->dtype);
    tn_tensor *ix = tn_empty(TN_INT64, t->ndim, shape);
    tn_tensor *v = ix && !grad ? tn_empty(t->dtype, t->ndim, shape) : NULL;
    if (!ix || (!grad && !v)) {
        tn_release(ix);
        return -1;
    }
    sortctx c = {.s = 0, .n = n, .k = k, .desc = desc, .fkey = tn_dtype_is_float(t->dtype),
                 .x = tn_data(t), .es = tn_dtype_size(t->dtype), .dt = t->dtype,
                 .vals = v ? tn_data(v) : NULL, .idx = tn_data(ix), .nlines = 1, .inner = 1};
    for (int i = 0; i < t->ndim; i++) {
        if (i == d) {
            c.s = t->stride[i];
            continue;
        }
        c.nlines *= t->shape[i];
        if (i > d) c.inner *= t->shape[i];
        c.ksize[c.nk] = t->shape[i];
        c.kin[c.nk++] = t->stride[i];
    }
    if (n > 0 && k > 0) {
        int64_t per = n * 8;
        tn_parallel_for(c.nlines, per >= TN_GRAIN ? 1 : TN_GRAIN / per, sort_lines, &c);
    }
    if (c.err || tn_interrupted()) {
        if (c.err) tn_error("%s: out of memory", op);
        else tn_error("interrupted");
        tn_release(ix);
        tn_release(v);
        return -1;
    }
    if (grad) {  /* values through a recorded gather, for autograd */
        v = t->ndim ? tn_gather(t, d, ix) : tn_clone(t);
        if (!v) {
            tn_release(ix);
            return -1;
        }
    }
    *values = v;
    *indices = ix;
    return 0;
}

int tn_sort(tn_tensor *t, int dim, bool descending, tn_tensor **values, tn_tensor **indices) {
    int64_t n = 1;
    if (t && t->ndim) {
        int d = tn_wrap_dim(dim, t->ndim, "sort");
        if (d < 0) return -1;
        n = t->shape[d];
    }
    return sort_common(t, dim, n, descending, values, indices, "sort", false);
}

int tn_topk(tn_tensor *t, int64_t k, int dim, bool largest, tn_tensor **values, tn_tensor **indices) {
    return sort_common(t, dim, k, largest, values, indices, "topk", true);
}

/* ===================== cumsum, softmax, log_softmax ===================== */

#define LANES 8
#define UNROLL _Pragma("GCC unroll 32")   /* lanes stay in registers (see reduce.c) */
/* NaN-propagating max; | (not ||) keeps it branch-free so it vectorises */
#define F_MAX(a, v) ((((v) > (a)) | ((v) != (v))) ? (v) : (a))
#define F_SUM(a, v) ((a) + (v))
#define I_SUM(a, v) ((int64_t)((uint64_t)(a) + (uint64_t)(v)))
#define CHECK(x) do { if (!(x)) return -1; } while (0)

static int require_float(const tn_tensor *t, const char *op) {
    if (tn_dtype_is_float(t->dtype)) return 0;
    tn_error("%s: expected a floating point tensor, got %s (convert it first, e.g. t:float())", op,
             tn_dtype_name(t->dtype));
    return -1;
}

/* A contiguous tensor seen as (outer, n, inner) around one dim.  Work items
 * are (outer index, block of up to LINE_BLOCK inner positions); element
 * (j, i) of an item is at base + j * inner + i. */
#define LINE_BLOCK 256
typedef struct {
    int64_t outer, n, inner, nib;
    const void *x, *y;   /* inputs (y: second input of backward kernels) */
    void *out;
    int rev;             /* cumsum: from the end (the backward of cumsum) */
} lines;

static void lines_init(lines *L, const tn_tensor *t, int d) {
    memset(L, 0, sizeof *L);
    L->outer = 1;
    L->n = 1;
    L->inner = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (i < d) L->outer *= t->shape[i];
        else if (i == d) L->n = t->shape[i];
        else L->inner *= t->shape[i];
    }
    L->nib = (L->inner + LINE_BLOCK - 1) / LINE_BLOCK;
}

static void lines_run(lines *L, tn_range_fn fn) {
    int64_t items = L->outer * L->nib, per = L->n * (L->inner < LINE_BLOCK ? L->inner : LINE_BLOCK);
    if (items == 0 || per == 0) return;
    tn_parallel_for(items, per >= TN_GRAIN ? 1 : TN_GRAIN / per, fn, L);
}

/* item w -> base offset, first inner index and inner count */
#define LINE_ITEM(L, w, base, ni)                                                  \
    int64_t o_ = (w) / (L)->nib, b_ = (w) % (L)->nib;                              \
    int64_t i0_ = b_ * LINE_BLOCK;                                                 \
    int64_t ni = (L)->inner - i0_ < LINE_BLOCK ? (L)->inner - i0_ : LINE_BLOCK;    \
    int64_t base = o_ * (L)->n * (L)->inner + i0_

/* cumsum: double accumulator for floats, wrapping int64 for integers */
#define DEF_CUMSUM(name, T, A, ADD)                                                \
    static void name(void *vc, int64_t lo, int64_t hi) {                           \
        const lines *L = vc;                                                       \
        const T *x = L->x;                                                         \
        T *y = L->out;                                                             \
        int64_t in = L->inner;                                                     \
        for (int64_t w = lo; w < hi; w++) {                                        \
            LINE_ITEM(L, w, base, ni);                                             \
            if (in == 1 && !L->rev) {                                              \
                /* one row: prefix sums of blocks of 8 are independent of     \
                 * each other, so only one add per block is on the chain */  \
                const T *xr = x + base;                                            \
                T *yr = y + base;                                                  \
                A run = 0;                                                         \
                int64_t j = 0;                                                     \
                for (; j + LANES <= L->n; j += LANES) {                            \
                    A p[LANES];                                                    \
                    p[0] = (A)xr[j];                                               \
                    UNROLL for (int k = 1; k < LANES; k++) p[k] = ADD(p[k - 1], (A)xr[j + k]); \
                    UNROLL for (int k = 0; k < LANES; k++) yr[j + k] = (T)ADD(run, p[k]); \
                    run = ADD(run, p[LANES - 1]);                                  \
                }                                                                  \
                for (; j < L->n; j++) {                                            \
                    run = ADD(run, (A)xr[j]);                                      \
                    yr[j] = (T)run;                                                \
                }                                                                  \
                continue;                                                          \
            }                                                                      \
            A acc[LINE_BLOCK];                                                     \
            for (int64_t i = 0; i < ni; i++) acc[i] = 0;                           \
            for (int64_t jj = 0; jj < L->n; jj++) {                                \
                int64_t j = L->rev ? L->n - 1 - jj : jj;                           \
                const T *xr = x + base + j * in;                                   \
                T *yr = y + base + j * in;                                         \
                for (int64_t i = 0; i < ni; i++) {                                 \
                    acc[i] = ADD(acc[i], (A)xr[i]);                                \
                    yr[i] = (T)acc[i];                                             \
                }                                                                  \
            }                                                                      \
        }                                                                          \
    }
DEF_CUMSUM(cumsum_f32, float, double, F_SUM)
DEF_CUMSUM(cumsum_f64, double, double, F_SUM)
DEF_CUMSUM(cumsum_i64, int64_t, int64_t, I_SUM)

/* cumsum of t along d into a new contiguous tensor (rev: suffix sums). */
static tn_tensor *cumsum_raw(tn_tensor *t, int d, bool rev) {
    tn_dtype dt = tn_dtype_is_float(t->dtype) ? t->dtype : TN_INT64;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *x = tn_to(t, dt), *c = x ? tn_contiguous(x) : NULL;
    tn_set_grad_enabled(was);
    tn_release(x);
    tn_tensor *out = c ? tn_empty(dt, t->ndim, t->shape) : NULL;
    if (out) {
        lines L;
        lines_init(&L, c, d);
        L.x = tn_data(c);
        L.out = tn_data(out);
        L.rev = rev;
        lines_run(&L, dt == TN_FLOAT32 ? cumsum_f32 : dt == TN_FLOAT64 ? cumsum_f64 : cumsum_i64);
    }
    tn_release(c);
    return out;
}

tn_tensor *tn_cumsum(tn_tensor *t, int dim) {
    int d = tn_wrap_dim(dim, t->ndim, "cumsum");
    if (d < 0) return NULL;
    tn_tensor *out = cumsum_raw(t, d, false);
    if (out && tn_grad_needed1(t) && tn_dtype_is_float(t->dtype)) {
        tn_node *n = tn_record(TN_OP_CUMSUM, out, 1, &t);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = d;
    }
    return out;
}

/* d cumsum / dx: suffix sums of the gradient. */
int cumsum_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return (gin[0] = cumsum_raw(g, (int)n->iarg[0], true)) ? 0 : -1;
}

/* exp_f32 (vectorisable float32 exp) and NO_TRAP live in internal.h. */
#define exp_f32 tn_exp_f32

/* 8-lane max and double-accumulated sum of a contiguous row (vectorised) */
#define DEF_ROWOPS(sfx, T)                                                         \
    static T rowmax_##sfx(const T *x, int64_t n) {                                 \
        T lane[2 * LANES];   /* selects: no UNROLL (see reduce.c) */               \
        for (int j = 0; j < 2 * LANES; j++) lane[j] = (T)-INFINITY;                \
        int64_t i = 0;                                                             \
        for (; i + 2 * LANES <= n; i += 2 * LANES)                                 \
            for (int j = 0; j < 2 * LANES; j++) lane[j] = F_MAX(lane[j], x[i + j]); \
        for (int w = LANES; w > 0; w /= 2)                                         \
            for (int j = 0; j < w; j++) lane[j] = F_MAX(lane[j], lane[j + w]);     \
        T m = lane[0];                                                             \
        for (; i < n; i++) m = F_MAX(m, x[i]);                                     \
        return m;                                                                  \
    }                                                                              \
    /* sum of x[i] * (y ? y[i] : 1) */                                             \
    static double rowdot_##sfx(const T *x, const T *y, int64_t n) {                \
        double lane[LANES] = {0};                                                  \
        int64_t i = 0;                                                             \
        if (y) {                                                                   \
            for (; i + LANES <= n; i += LANES)                                     \
                UNROLL for (int j = 0; j < LANES; j++) lane[j] += (double)x[i + j] * y[i + j]; \
        } else {                                                                   \
            for (; i + LANES <= n; i += LANES)                                     \
                UNROLL for (int j = 0; j < LANES; j++) lane[j] += (double)x[i + j]; \
        }                                                                          \
        UNROLL for (int w = LANES / 2; w > 0; w /= 2)                              \
            UNROLL for (int j = 0; j < w; j++) lane[j] += lane[j + w];             \
        double s = lane[0];                                                        \
        for (; i < n; i++) s += (double)x[i] * (y ? y[i] : 1);                     \
        return s;                                                                  \
    }
DEF_ROWOPS(f32, float)
DEF_ROWOPS(f64, double)

/* softmax / log_softmax forward.  Row path (inner == 1): the max, then the
 * exps stored in the output, their sum, then a scale (softmax) or a shift
 * (log_softmax) - each a vectorised pass over one contiguous row.  Column
 * path: the same passes over a block of inner positions at once. */
#define DEF_SOFTMAX(name, sfx, T, EXP, IS_LOG)                                     \
    NO_TRAP static void name(void *vc, int64_t lo, int64_t hi) {                           \
        const lines *L = vc;                                                       \
        const T *x = L->x;                                                         \
        T *y = L->out;                                                             \
        int64_t in = L->inner, n = L->n;                                           \
        for (int64_t w = lo; w < hi; w++) {                                        \
            LINE_ITEM(L, w, base, ni);                                             \
            if (in == 1) {                                                         \
                const T *xr = x + base;                                            \
                T *yr = y + base;                                                  \
                T m = rowmax_##sfx(xr, n);                                         \
                for (int64_t i = 0; i < n; i++) yr[i] = EXP(xr[i] - m);            \
                double s = rowdot_##sfx(yr, NULL, n);                              \
                if (IS_LOG) {                                                      \
                    T sh = (T)((double)m + log(s));                                \
                    for (int64_t i = 0; i < n; i++) yr[i] = xr[i] - sh;            \
                } else {                                                           \
                    T inv = (T)(1.0 / s);                                          \
                    for (int64_t i = 0; i < n; i++) yr[i] *= inv;                  \
                }                                                                  \
                continue;                                                          \
            }                                                                      \
            T m[LINE_BLOCK];                                                       \
            double s[LINE_BLOCK];                                                  \
            for (int64_t i = 0; i < ni; i++) {                                     \
                m[i] = (T)-INFINITY;                                               \
                s[i] = 0;                                                          \
            }                                                                      \
            for (int64_t j = 0; j < n; j++) {                                      \
                const T *xr = x + base + j * in;                                   \
                for (int64_t i = 0; i < ni; i++) m[i] = F_MAX(m[i], xr[i]);        \
            }                                                                      \
            for (int64_t j = 0; j < n; j++) {                                      \
                const T *xr = x + base + j * in;                                   \
                T *yr = y + base + j * in;                                         \
                for (int64_t i = 0; i < ni; i++) {                                 \
                    T e = EXP(xr[i] - m[i]);                                       \
                    if (!IS_LOG) yr[i] = e;                                        \
                    s[i] += e;                                                     \
                }                                                                  \
            }                                                                      \
            for (int64_t i = 0; i < ni; i++)                                       \
                s[i] = IS_LOG ? (double)m[i] + log(s[i]) : 1.0 / s[i];             \
            for (int64_t j = 0; j < n; j++) {                                      \
                const T *xr = x + base + j * in;                                   \
                T *yr = y + base + j * in;                                         \
                for (int64_t i = 0; i < ni; i++)                                   \
                    yr[i] = IS_LOG ? xr[i] - (T)s[i] : yr[i] * (T)s[i];            \
            }                                                                      \
        }                                                                          \
    }
DEF_SOFTMAX(softmax_f32, f32, float, exp_f32, 0)
DEF_SOFTMAX(softmax_f64, f64, double, exp, 0)
DEF_SOFTMAX(log_softmax_f32, f32, float, exp_f32, 1)
DEF_SOFTMAX(log_softmax_f64, f64, double, exp, 1)

/* softmax backward: gin = y * (g - sum(g * y));
 * log_softmax backward: gin = g - exp(y) * sum(g).  (L->x = g, L->y = output) */
#define DEF_SOFTMAX_BWD(name, sfx, T, EXP, IS_LOG)                                 \
    NO_TRAP static void name(void *vc, int64_t lo, int64_t hi) {                           \
        const lines *L = vc;                                                       \
        const T *g = L->x, *y = L->y;                                              \
        T *gi = L->out;                                                            \
        int64_t in = L->inner, n = L->n;                                           \
        for (int64_t w = lo; w < hi; w++) {                                        \
            LINE_ITEM(L, w, base, ni);                                             \
            double s[LINE_BLOCK];                                                  \
            if (in == 1) { /* one contiguous row: two vectorised passes */        \
                const T *gr = g + base, *yr = y + base;                            \
                T *o = gi + base;                                                  \
                T sj = (T)rowdot_##sfx(gr, IS_LOG ? NULL : yr, n);                 \
                for (int64_t i = 0; i < n; i++)                                    \
                    o[i] = IS_LOG ? gr[i] - EXP(yr[i]) * sj : yr[i] * (gr[i] - sj); \
                continue;                                                          \
            } else {                                                               \
                for (int64_t i = 0; i < ni; i++) s[i] = 0;                         \
                for (int64_t j = 0; j < n; j++) {                                  \
                    const T *gr = g + base + j * in, *yr = y + base + j * in;      \
                    for (int64_t i = 0; i < ni; i++)                               \
                        s[i] += IS_LOG ? (double)gr[i] : (double)gr[i] * yr[i];    \
                }                                                                  \
            }                                                                      \
            for (int64_t j = 0; j < n; j++) {                                      \
                const T *gr = g + base + j * in, *yr = y + base + j * in;          \
                T *o = gi + base + j * in;                                         \
                for (int64_t i = 0; i < ni; i++)                                   \
                    o[i] = IS_LOG ? gr[i] - EXP(yr[i]) * (T)s[i]                   \
                                  : yr[i] * (gr[i] - (T)s[i]);                     \
            }                                                                      \
        }                                                                          \
    }
DEF_SOFTMAX_BWD(softmax_bwd_f32, f32, float, exp_f32, 0)
DEF_SOFTMAX_BWD(softmax_bwd_f64, f64, double, exp, 0)
DEF_SOFTMAX_BWD(log_softmax_bwd_f32, f32, float, exp_f32, 1)
DEF_SOFTMAX_BWD(log_softmax_bwd_f64, f64, double, exp, 1)

/* logsumexp along the dim: out[line] = m + log(sum(exp(x - m))), m the
 * line's max (0 when infinite, so all -inf gives -inf and +inf gives +inf).
 * Same passes as softmax, but the exps only feed the sum: in row mode they
 * go through a small buffer so both the exp and the sum loops vectorise. */
#define LSE_BUF 256
#define DEF_LSE(name, sfx, T, EXP)                                                 \
    NO_TRAP static void name(void *vc, int64_t lo, int64_t hi) {                   \
        const lines *L = vc;                                                       \
        const T *x = L->x;                                                         \
        T *out = L->out;                                                           \
        int64_t in = L->inner, n = L->n;                                           \
        for (int64_t w = lo; w < hi; w++) {                                        \
            LINE_ITEM(L, w, base, ni);                                             \
            int64_t ob = o_ * in + i0_;   /* output index of the item's first line */ \
            if (in == 1) {                                                         \
                const T *xr = x + base;                                            \
                T m = rowmax_##sfx(xr, n);                                         \
                if (isinf(m)) m = 0;                                               \
                T buf[LSE_BUF];                                                    \
                double s = 0;                                                      \
                for (int64_t j = 0; j < n; j += LSE_BUF) {                         \
                    int64_t len = n - j < LSE_BUF ? n - j : LSE_BUF;               \
                    for (int64_t i = 0; i < len; i++) buf[i] = EXP(xr[j + i] - m); \
                    s += rowdot_##sfx(buf, NULL, len);                             \
                }                                                                  \
                out[ob] = (T)((double)m + log(s));                                 \
                continue;                                                          \
            }                                                                      \
            T m[LINE_BLOCK];                                                       \
            double s[LINE_BLOCK];                                                  \
            for (int64_t i = 0; i < ni; i++) {                                     \
                m[i] = (T)-INFINITY;                                               \
                s[i] = 0;                                                          \
            }                                                                      \
            for (int64_t j = 0; j < n; j++) {                                      \
                const T *xr = x + base + j * in;                                   \
                for (int64_t i = 0; i < ni; i++) m[i] = F_MAX(m[i], xr[i]);        \
            }                                                                      \
            for (int64_t i = 0; i < ni; i++) m[i] = isinf(m[i]) ? 0 : m[i];        \
            for (int64_t j = 0; j < n; j++) {                                      \
                const T *xr = x + base + j * in;                                   \
                for (int64_t i = 0; i < ni; i++) s[i] += EXP(xr[i] - m[i]);        \
            }                                                                      \
            for (int64_t i = 0; i < ni; i++) out[ob + i] = (T)((double)m[i] + log(s[i])); \
        }                                                                          \
    }
DEF_LSE(lse_f32, f32, float, exp_f32)
DEF_LSE(lse_f64, f64, double, exp)

/* logsumexp of a float tensor along dim d (no autograd: reduce.c records
 * it).  The result is contiguous with d removed, or kept as size 1. */
tn_tensor *tn_logsumexp_dim_raw(tn_tensor *t, int d, bool keepdim) {
    if (require_float(t, "logsumexp") < 0) return NULL;
    int64_t shape[TN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != d) shape[nd++] = t->shape[i];
        else if (keepdim) shape[nd++] = 1;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *c = tn_contiguous(t);
    tn_set_grad_enabled(was);
    tn_tensor *out = c ? tn_empty(t->dtype, nd, shape) : NULL;
    if (out) {
        lines L;
        lines_init(&L, c, d);
        L.x = tn_data(c);
        L.out = tn_data(out);
        if (L.n == 0) tn_fill_(out, -INFINITY);
        else lines_run(&L, t->dtype == TN_FLOAT32 ? lse_f32 : lse_f64);
    }
    tn_release(c);
    return out;
}

static tn_tensor *softmax_common(tn_tensor *t, int dim, bool is_log) {
    const char *op = is_log ? "log_softmax" : "softmax";
    int d = tn_wrap_dim(dim, t->ndim, op);
    if (d < 0 || require_float(t, op) < 0) return NULL;
    tn_tensor *c = tn_contiguous(t);
    tn_tensor *out = c ? tn_empty(t->dtype, t->ndim, t->shape) : NULL;
    if (out) {
        lines L;
        lines_init(&L, c, d);
        L.x = tn_data(c);
        L.out = tn_data(out);
        bool f32 = t->dtype == TN_FLOAT32;
        lines_run(&L, is_log ? (f32 ? log_softmax_f32 : log_softmax_f64)
                             : (f32 ? softmax_f32 : softmax_f64));
    }
    tn_release(c);
    if (out && tn_grad_needed1(t)) {
        tn_node *n = tn_record(is_log ? TN_OP_LOG_SOFTMAX : TN_OP_SOFTMAX, out, 1, &t);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = d;
        tn_save(n, out);
    }
    return out;
}

tn_tensor *tn_softmax(tn_tensor *t, int dim) { return softmax_common(t, dim, false); }
tn_tensor *tn_log_softmax(tn_tensor *t, int dim) { return softmax_common(t, dim, true); }

static int softmax_bwd_common(tn_node *n, tn_tensor *g, tn_tensor **gin, bool is_log) {
    tn_tensor *y = tn_saved(n, 0);
    CHECK(y);
    tn_tensor *gt = tn_to(g, y->dtype), *gc = gt ? tn_contiguous(gt) : NULL;
    tn_tensor *yc = gc ? tn_contiguous(y) : NULL;
    tn_tensor *out = yc ? tn_empty(y->dtype, y->ndim, y->shape) : NULL;
    if (out) {
        lines L;
        lines_init(&L, yc, (int)n->iarg[0]);
        L.x = tn_data(gc);
        L.y = tn_data(yc);
        L.out = tn_data(out);
        bool f32 = y->dtype == TN_FLOAT32;
        lines_run(&L, is_log ? (f32 ? log_softmax_bwd_f32 : log_softmax_bwd_f64)
                             : (f32 ? softmax_bwd_f32 : softmax_bwd_f64));
    }
    tn_release(gt);
    tn_release(gc);
    tn_release(yc);
    gin[0] = out;
    return out ? 0 : -1;
}
int softmax_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return softmax_bwd_common(n, g, gin, false); }
int log_softmax_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) { return softmax_bwd_common(n, g, gin, true); }
