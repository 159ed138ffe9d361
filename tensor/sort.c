/*
 * sort.c: sort and topk along a dim, returning values and 0-based int64
 * indices.
 *
 * Both are stable (equal values keep their original order, as PyTorch's
 * stable sort) and place NaN above every number (last when ascending, first
 * when descending), so results are the same on every run and thread count.
 * Each line along the dim is copied into a key buffer (double for float
 * dtypes, int64 for integer ones, so large int64 values compare exactly),
 * sorted as a permutation by a bottom-up merge sort with an insertion sort
 * for short runs, then written out.  Lines are independent and run in
 * parallel.  Autograd: the values are re-read with tn_gather (a recorded op),
 * so sort and topk need no backward rule of their own.
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
    for (int64_t l = lo; l < hi; l++) {
        int64_t off = 0, r = l;
        for (int d = c->nk - 1; d >= 0; d--) {
            off += (r % c->ksize[d]) * c->kin[d];
            r /= c->ksize[d];
        }
        const char *line = c->x + off * (int64_t)c->es;
        for (int64_t j = 0; j < n; j++) {
            p[j] = j;
            if (c->fkey) ((double *)K)[j] = tn_load(c->dt, line, j * c->s);
            else switch (c->dt) {
                case TN_INT64: ((int64_t *)K)[j] = ((const int64_t *)line)[j * c->s]; break;
                case TN_INT32: ((int64_t *)K)[j] = ((const int32_t *)line)[j * c->s]; break;
                default: ((int64_t *)K)[j] = ((const uint8_t *)line)[j * c->s]; break;
                }
        }
        if (c->fkey) sort_keys_d(K, p, tmp, n, c->desc);
        else sort_keys_i(K, p, tmp, n, c->desc);
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
    if (!values || !indices) {
        tn_error("%s: values and indices outputs are required", op);
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
    if (c.err) {
        tn_error("%s: out of memory", op);
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
