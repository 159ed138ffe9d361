/*
 * stats.c: scans and counting statistics along one dim or over a whole
 * tensor: cumprod and logcumsumexp (with their backward rules); cummax /
 * cummin, mode, kthvalue and median / nanmedian (by quickselect), whose
 * values are re-read with tn_gather so autograd comes from gather; unique /
 * unique_consecutive (flat or along a dim), bincount, histc and
 * searchsorted.  All indices produced here are 0-based int64; vm/ makes
 * them 1-based.
 *
 * The scans see a contiguous tensor as (outer, n, inner) around the dim:
 * line l (0 <= l < outer * inner) starts at (l / inner) * n * inner +
 * l % inner and steps by inner.  Lines are independent and run in parallel;
 * every result is a pure function of its line, so results do not depend on
 * the thread count.  Float lines are computed in double and rounded once.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------- line geometry ---------- */

typedef struct {
    int64_t n, inner, nlines;
} lgeom;

static void lgeom_init(lgeom *g, const tn_tensor *t, int d) {
    int64_t outer = 1;
    g->n = t->ndim ? t->shape[d] : 1;
    g->inner = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (i < d) outer *= t->shape[i];
        else if (i > d) g->inner *= t->shape[i];
    }
    g->nlines = outer * g->inner;
}

static inline int64_t lbase(const lgeom *g, int64_t l) {
    return (l / g->inner) * g->n * g->inner + l % g->inner;
}

static void lrun(const lgeom *g, tn_range_fn fn, void *ctx) {
    if (g->nlines == 0 || g->n == 0) return;
    int64_t grain = 8192 / g->n;
    tn_parallel_for(g->nlines, grain > 0 ? grain : 1, fn, ctx);
}

/* A contiguous, detached copy (or alias) of t converted to dt. */
static tn_tensor *contig_as(tn_tensor *t, tn_dtype dt) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *x = tn_to(t, dt), *c = x ? tn_contiguous(x) : NULL;
    tn_set_grad_enabled(was);
    tn_release(x);
    return c;
}

static int check_dim(tn_tensor *t, int dim, const char *op) {
    if (t->ndim == 0 && (dim == 0 || dim == -1)) return 0;
    return tn_wrap_dim(dim, t->ndim, op);
}

/* ===================== cumprod ===================== */

typedef struct {
    lgeom g;
    const void *x, *gr;  /* input; upstream gradient (backward) */
    void *out;
    tn_dtype dt;         /* float32, float64 or int64 */
} scan_ctx;

static void cumprod_lines(void *vc, int64_t lo, int64_t hi) {
    scan_ctx *c = vc;
    int64_t n = c->g.n, in = c->g.inner;
    for (int64_t l = lo; l < hi; l++) {
        int64_t b = lbase(&c->g, l);
        if (c->dt == TN_INT64) {  /* wraps on overflow, as PyTorch (no UB: unsigned) */
            const int64_t *x = c->x;
            int64_t *y = c->out;
            uint64_t acc = 1;
            for (int64_t j = 0; j < n; j++) y[b + j * in] = (int64_t)(acc *= (uint64_t)x[b + j * in]);
        } else if (c->dt == TN_FLOAT32) {
            const float *x = c->x;
            float *y = c->out;
            double acc = 1;
            for (int64_t j = 0; j < n; j++) y[b + j * in] = (float)(acc *= x[b + j * in]);
        } else {
            const double *x = c->x;
            double *y = c->out;
            double acc = 1;
            for (int64_t j = 0; j < n; j++) y[b + j * in] = acc *= x[b + j * in];
        }
    }
}

tn_tensor *tn_cumprod(tn_tensor *t, int dim) {
    int d = check_dim(t, dim, "cumprod");
    if (d < 0) return NULL;
    tn_dtype dt = tn_dtype_is_float(t->dtype) ? t->dtype : TN_INT64;
    tn_tensor *c = contig_as(t, dt);
    tn_tensor *out = c ? tn_empty(dt, t->ndim, t->shape) : NULL;
    if (out) {
        scan_ctx s = {.x = tn_data(c), .out = tn_data(out), .dt = dt};
        lgeom_init(&s.g, c, d);
        lrun(&s.g, cumprod_lines, &s);
    }
    tn_release(c);
    if (out && tn_dtype_is_float(t->dtype) && tn_grad_needed1(t)) {
        tn_node *n = tn_record(TN_OP_CUMPROD, out, 1, &t);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = d;
        tn_save(n, t);
    }
    return out;
}

/* d cumprod / dx along one line, exact with zeros in x.  With y_j the
 * prefix products and z the first zero of x:
 *   i < z:  gin_i = sum_{i<=j<z} g_j y_j / x_i   (later y_j are 0)
 *   i = z:  gin_z = sum_{j>=z} g_j prod_{k<=j, k!=z} x_k
 *   i > z:  0 (every product that holds x_i also holds x_z = 0). */
static void cumprod_bwd_lines(void *vc, int64_t lo, int64_t hi) {
    scan_ctx *c = vc;
    const double *x = c->x, *g = c->gr;
    double *o = c->out;
    int64_t n = c->g.n, in = c->g.inner;
    for (int64_t l = lo; l < hi; l++) {
        int64_t b = lbase(&c->g, l), z = n;
        double pre = 1;  /* prod of x before z */
        for (int64_t j = 0; j < n; j++) {
            if (x[b + j * in] == 0) {
                z = j;
                break;
            }
            pre *= x[b + j * in];
        }
        /* suffix sums of g_j y_j over j < z, recomputing y_j forwards first */
        double y = 1, s = 0;
        for (int64_t j = 0; j < z; j++) {
            y *= x[b + j * in];
            o[b + j * in] = g[b + j * in] * y;  /* temporarily g_j y_j */
        }
        for (int64_t j = z - 1; j >= 0; j--) {
            s += o[b + j * in];
            o[b + j * in] = s / x[b + j * in];
        }
        if (z < n) {
            double q = pre, acc = g[b + z * in] * q;
            for (int64_t j = z + 1; j < n; j++) {
                q *= x[b + j * in];
                acc += g[b + j * in] * q;
                o[b + j * in] = 0;
            }
            o[b + z * in] = acc;
        }
    }
}

int cumprod_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0);
    if (!x) return -1;
    tn_tensor *xc = contig_as(x, TN_FLOAT64), *gc = xc ? contig_as(g, TN_FLOAT64) : NULL;
    tn_tensor *o = gc ? tn_empty(TN_FLOAT64, x->ndim, x->shape) : NULL;
    if (o) {
        scan_ctx s = {.x = tn_data(xc), .gr = tn_data(gc), .out = tn_data(o)};
        lgeom_init(&s.g, xc, (int)n->iarg[0]);
        lrun(&s.g, cumprod_bwd_lines, &s);
    }
    tn_release(xc);
    tn_release(gc);
    if (!o) return -1;
    gin[0] = tn_to(o, x->dtype);
    tn_release(o);
    return gin[0] ? 0 : -1;
}

/* ===================== logcumsumexp ===================== */

/* log(e^a + e^b) without overflow; -inf is the identity */
static inline double log_add_exp(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    double m = a > b ? a : b, d = -fabs(a - b);
    if (d != d) return a + b;  /* NaN in, or inf - inf of equal signs: +inf + +inf */
    return m + log1p(exp(d));
}

static void lcse_lines(void *vc, int64_t lo, int64_t hi) {
    scan_ctx *c = vc;
    int64_t n = c->g.n, in = c->g.inner;
    for (int64_t l = lo; l < hi; l++) {
        int64_t b = lbase(&c->g, l);
        double acc = -INFINITY;
        if (c->dt == TN_FLOAT32) {
            const float *x = c->x;
            float *y = c->out;
            for (int64_t j = 0; j < n; j++) y[b + j * in] = (float)(acc = log_add_exp(acc, x[b + j * in]));
        } else {
            const double *x = c->x;
            double *y = c->out;
            for (int64_t j = 0; j < n; j++) y[b + j * in] = acc = log_add_exp(acc, x[b + j * in]);
        }
    }
}

tn_tensor *tn_logcumsumexp(tn_tensor *t, int dim) {
    int d = check_dim(t, dim, "logcumsumexp");
    if (d < 0) return NULL;
    if (!tn_dtype_is_float(t->dtype)) {
        tn_error("logcumsumexp: expected a floating point tensor, got %s (convert it first, e.g. t:float())",
                 tn_dtype_name(t->dtype));
        return NULL;
    }
    tn_tensor *c = contig_as(t, t->dtype);
    tn_tensor *out = c ? tn_empty(t->dtype, t->ndim, t->shape) : NULL;
    if (out) {
        scan_ctx s = {.x = tn_data(c), .out = tn_data(out), .dt = t->dtype};
        lgeom_init(&s.g, c, d);
        lrun(&s.g, lcse_lines, &s);
    }
    tn_release(c);
    if (out && tn_grad_needed1(t)) {
        tn_node *n = tn_record(TN_OP_LOGCUMSUMEXP, out, 1, &t);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = d;
        tn_save(n, t);
        tn_save(n, out);
    }
    return out;
}

/* gin_i = sum_{j>=i} g_j exp(x_i - y_j) = exp(x_i - y_i) R_i with
 * R_i = g_i + exp(y_i - y_{i+1}) R_{i+1}: y never decreases along the line,
 * so every factor is <= 1 and nothing overflows. */
static void lcse_bwd_lines(void *vc, int64_t lo, int64_t hi) {
    scan_ctx *c = vc;
    const double *x = c->x, *g = c->gr;
    double *o = c->out;  /* holds y on entry */
    int64_t n = c->g.n, in = c->g.inner;
    for (int64_t l = lo; l < hi; l++) {
        int64_t b = lbase(&c->g, l);
        double r = 0, ynext = 0;
        for (int64_t j = n - 1; j >= 0; j--) {
            int64_t p = b + j * in;
            double y = o[p];
            r = j == n - 1 ? g[p] : g[p] + (y == ynext ? 1.0 : exp(y - ynext)) * r;
            ynext = y;
            o[p] = x[p] == -INFINITY ? 0.0 : exp(x[p] - y) * r;
        }
    }
}

int logcumsumexp_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *y = x ? tn_saved(n, 1) : NULL;
    if (!y) return -1;
    tn_tensor *xc = contig_as(x, TN_FLOAT64), *gc = xc ? contig_as(g, TN_FLOAT64) : NULL;
    tn_tensor *yc = gc ? contig_as(y, TN_FLOAT64) : NULL;
    tn_tensor *o = yc ? tn_clone(yc) : NULL;
    if (o) {
        scan_ctx s = {.x = tn_data(xc), .gr = tn_data(gc), .out = tn_data(o)};
        lgeom_init(&s.g, xc, (int)n->iarg[0]);
        lrun(&s.g, lcse_bwd_lines, &s);
    }
    tn_release(xc);
    tn_release(gc);
    tn_release(yc);
    if (!o) return -1;
    gin[0] = tn_to(o, x->dtype);
    tn_release(o);
    return gin[0] ? 0 : -1;
}

/* ===================== cummax / cummin / mode ===================== */

/* Values of t at the 0-based indices ix along d, through tn_gather so that
 * autograd flows to the selected elements.  Takes ownership of ix. */
static int values_at(tn_tensor *t, int d, tn_tensor *ix, tn_tensor **values, tn_tensor **indices) {
    tn_tensor *v = NULL;
    if (t->ndim == 0) {
        v = tn_clone(t);  /* the only element */
    } else {
        v = tn_gather(t, d, ix);
    }
    if (!v) {
        tn_release(ix);
        return -1;
    }
    *values = v;
    *indices = ix;
    return 0;
}

typedef struct {
    lgeom g;
    const void *x;
    int64_t *ix;
    bool fkey, is_max;
    int64_t k;     /* kth_lines: the rank (0-based) */
    int kind;      /* kth_lines: 0 k-th, 1 median, 2 nanmedian */
    int err;
} cm_ctx;

static void cummaxmin_lines(void *vc, int64_t lo, int64_t hi) {
    cm_ctx *c = vc;
    int64_t n = c->g.n, in = c->g.inner;
    for (int64_t l = lo; l < hi; l++) {
        int64_t b = lbase(&c->g, l), best = 0;
        if (c->fkey) {
            const double *x = c->x;
            double cur = x[b];
            for (int64_t j = 0; j < n; j++) {
                double v = x[b + j * in];
                /* ties take the later index; NaN wins and stays (PyTorch) */
                bool take = v != v || (cur == cur && (c->is_max ? v >= cur : v <= cur));
                if (take) {
                    cur = v;
                    best = j;
                }
                c->ix[b + j * in] = best;
            }
        } else {
            const int64_t *x = c->x;
            int64_t cur = x[b];
            for (int64_t j = 0; j < n; j++) {
                int64_t v = x[b + j * in];
                if (c->is_max ? v >= cur : v <= cur) {
                    cur = v;
                    best = j;
                }
                c->ix[b + j * in] = best;
            }
        }
    }
}

static int cum_maxmin(tn_tensor *t, int dim, bool is_max, tn_tensor **values, tn_tensor **indices) {
    const char *op = is_max ? "cummax" : "cummin";
    *values = *indices = NULL;
    int d = check_dim(t, dim, op);
    if (d < 0) return -1;
    bool fkey = tn_dtype_is_float(t->dtype);
    tn_tensor *c = contig_as(t, fkey ? TN_FLOAT64 : TN_INT64);
    tn_tensor *ix = c ? tn_empty(TN_INT64, t->ndim, t->shape) : NULL;
    if (ix) {
        cm_ctx s = {.x = tn_data(c), .ix = tn_data(ix), .fkey = fkey, .is_max = is_max};
        lgeom_init(&s.g, c, d);
        lrun(&s.g, cummaxmin_lines, &s);
    }
    tn_release(c);
    if (!ix) return -1;
    return values_at(t, d, ix, values, indices);
}

int tn_cummax(tn_tensor *t, int dim, tn_tensor **values, tn_tensor **indices) {
    return cum_maxmin(t, dim, true, values, indices);
}
int tn_cummin(tn_tensor *t, int dim, tn_tensor **values, tn_tensor **indices) {
    return cum_maxmin(t, dim, false, values, indices);
}

/* ascending, NaN last: the order of sort.c */
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (x != x) return y != y ? 0 : 1;
    if (y != y) return -1;
    return (x > y) - (x < y);
}
static int cmp_i(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
static inline bool same_d(double a, double b) { return a == b || (a != a && b != b); }

/* mode of each line: the most frequent value (the smallest on ties), at
 * the index of its last occurrence (PyTorch's choice). ix is (lines). */
static void mode_lines(void *vc, int64_t lo, int64_t hi) {
    cm_ctx *c = vc;
    int64_t n = c->g.n, in = c->g.inner;
    void *buf = malloc((size_t)n * 8 + 8);
    if (!buf) {
        c->err = 1;
        return;
    }
    for (int64_t l = lo; l < hi; l++) {
        int64_t b = lbase(&c->g, l), last = 0;
        if (c->fkey) {
            const double *x = c->x;
            double *s = buf, best = 0;
            for (int64_t j = 0; j < n; j++) s[j] = x[b + j * in];
            qsort(s, (size_t)n, sizeof *s, cmp_d);
            int64_t bestn = 0;
            for (int64_t j = 0, k; j < n; j = k) {
                for (k = j + 1; k < n && same_d(s[k], s[j]); k++) {}
                if (k - j > bestn) {
                    bestn = k - j;
                    best = s[j];
                }
            }
            for (int64_t j = 0; j < n; j++)
                if (same_d(x[b + j * in], best)) last = j;
        } else {
            const int64_t *x = c->x;
            int64_t *s = buf, best = 0;
            for (int64_t j = 0; j < n; j++) s[j] = x[b + j * in];
            qsort(s, (size_t)n, sizeof *s, cmp_i);
            int64_t bestn = 0;
            for (int64_t j = 0, k; j < n; j = k) {
                for (k = j + 1; k < n && s[k] == s[j]; k++) {}
                if (k - j > bestn) {
                    bestn = k - j;
                    best = s[j];
                }
            }
            for (int64_t j = 0; j < n; j++)
                if (x[b + j * in] == best) last = j;
        }
        c->ix[l] = last;
    }
    free(buf);
}

/* Runs `fn` (one 0-based index per line into c->ix) over the lines of t
 * along dim, then reads the values there (through gather: autograd) and
 * drops the dim unless keepdim. */
static int pick_per_line(tn_tensor *t, int dim, bool keepdim, tn_range_fn fn, int64_t k, int kind,
                         tn_tensor **values, tn_tensor **indices, const char *op) {
    *values = *indices = NULL;
    int d = check_dim(t, dim, op);
    if (d < 0) return -1;
    if (t->ndim && t->shape[d] == 0) {
        tn_error("%s: dim %d has size 0: nothing to pick from an empty line", op, d + 1);
        return -1;
    }
    bool fkey = tn_dtype_is_float(t->dtype);
    tn_tensor *c = contig_as(t, fkey ? TN_FLOAT64 : TN_INT64);
    /* one index per line, laid out as t's shape with dim d of size 1 */
    int64_t shape[TN_MAX_DIMS];
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    if (t->ndim) shape[d] = 1;
    tn_tensor *ix = c ? tn_empty(TN_INT64, t->ndim, shape) : NULL;
    int err = 0;
    if (ix) {
        cm_ctx s = {.x = tn_data(c), .ix = tn_data(ix), .fkey = fkey, .k = k, .kind = kind};
        lgeom_init(&s.g, c, d);
        lrun(&s.g, fn, &s);
        err = s.err;
    }
    tn_release(c);
    if (!ix || err) {
        tn_release(ix);
        if (err) tn_error("%s: out of memory", op);
        return -1;
    }
    if (values_at(t, d, ix, values, indices) < 0) return -1;
    if (!keepdim && t->ndim) {
        tn_tensor *v = tn_squeeze(*values, d), *i = v ? tn_squeeze(*indices, d) : NULL;
        tn_release(*values);
        tn_release(*indices);
        *values = v;
        *indices = i;
        if (!i) {
            tn_release(v);
            *values = NULL;
            return -1;
        }
    }
    return 0;
}

int tn_mode(tn_tensor *t, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices) {
    return pick_per_line(t, dim, keepdim, mode_lines, 0, 0, values, indices, "mode");
}

/* ---------- order statistics by selection ---------- */

/* (key, position) pairs: ordering by key, NaN last, then by position, so
 * the k-th pair is the k-th element of the stable sort (sort.c's order). */
typedef struct {
    double k;
    int64_t i;
} pair_d;
typedef struct {
    int64_t k, i;
} pair_i;

static inline bool pless_d(const pair_d *a, const pair_d *b) {
    bool an = a->k != a->k, bn = b->k != b->k;
    if (an || bn) return an && bn ? a->i < b->i : bn;
    return a->k < b->k || (a->k == b->k && a->i < b->i);
}
static inline bool pless_i(const pair_i *a, const pair_i *b) {
    return a->k < b->k || (a->k == b->k && a->i < b->i);
}

/* Hoare quickselect with a median-of-three pivot: moves the k-th smallest
 * pair to a[k] (all pairs are distinct, so partitions always shrink). */
#define DEF_QSELECT(name, PT, LESS)                                                \
    static void name(PT *a, int64_t n, int64_t k) {                                \
        int64_t lo = 0, hi = n - 1;                                                \
        while (hi > lo) {                                                          \
            int64_t mid = lo + (hi - lo) / 2;                                      \
            PT t;                                                                  \
            if (LESS(&a[mid], &a[lo])) { t = a[mid]; a[mid] = a[lo]; a[lo] = t; }  \
            if (LESS(&a[hi], &a[lo])) { t = a[hi]; a[hi] = a[lo]; a[lo] = t; }     \
            if (LESS(&a[hi], &a[mid])) { t = a[hi]; a[hi] = a[mid]; a[mid] = t; }  \
            PT pv = a[mid];                                                        \
            int64_t i = lo, j = hi;                                                \
            while (i <= j) {                                                       \
                while (LESS(&a[i], &pv)) i++;                                      \
                while (LESS(&pv, &a[j])) j--;                                      \
                if (i <= j) {                                                      \
                    t = a[i]; a[i] = a[j]; a[j] = t;                               \
                    i++;                                                           \
                    j--;                                                           \
                }                                                                  \
            }                                                                      \
            if (k <= j) hi = j;                                                    \
            else if (k >= i) lo = i;                                               \
            else break;                                                            \
        }                                                                          \
    }
DEF_QSELECT(qselect_d, pair_d, pless_d)
DEF_QSELECT(qselect_i, pair_i, pless_i)

/* kind 0: the k-th smallest (c->k, 0-based); 1: the lower median,
 * NaN when the line holds one (at the first NaN, as the sort would put it);
 * 2: the lower median of the non-NaN entries (nanmedian). */
static void kth_lines(void *vc, int64_t lo, int64_t hi) {
    cm_ctx *c = vc;
    int64_t n = c->g.n, in = c->g.inner;
    void *buf = malloc((size_t)n * sizeof(pair_d) + 16);
    if (!buf) {
        c->err = 1;
        return;
    }
    for (int64_t l = lo; l < hi && !tn_interrupted(); l++) {
        int64_t b = lbase(&c->g, l), k = c->k;
        if (c->fkey) {
            const double *x = c->x;
            pair_d *a = buf;
            int64_t nnan = 0;
            for (int64_t j = 0; j < n; j++) {
                a[j] = (pair_d){x[b + j * in], j};
                nnan += a[j].k != a[j].k;
            }
            int64_t valid = n - nnan;
            if (c->kind == 1) k = nnan ? valid : (n - 1) / 2;
            else if (c->kind == 2) k = valid ? (valid - 1) / 2 : 0;
            qselect_d(a, n, k);
            c->ix[l] = a[k].i;
        } else {
            const int64_t *x = c->x;
            pair_i *a = buf;
            for (int64_t j = 0; j < n; j++) a[j] = (pair_i){x[b + j * in], j};
            if (c->kind) k = (n - 1) / 2;
            qselect_i(a, n, k);
            c->ix[l] = a[k].i;
        }
    }
    free(buf);
}

int tn_kthvalue(tn_tensor *t, int64_t k, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices) {
    int d = check_dim(t, dim, "kthvalue");
    if (d < 0) {
        *values = *indices = NULL;
        return -1;
    }
    int64_t n = t->ndim ? t->shape[d] : 1;
    if (k < 0 || k >= n) {
        *values = *indices = NULL;
        tn_error("kthvalue: k (%lld) is out of range for dim %d of size %lld", (long long)k + 1, d + 1,
                 (long long)n);
        return -1;
    }
    return pick_per_line(t, d, keepdim, kth_lines, k, 0, values, indices, "kthvalue");
}

int tn_median_dim(tn_tensor *t, int dim, bool keepdim, bool ignore_nan, tn_tensor **values,
                  tn_tensor **indices) {
    return pick_per_line(t, dim, keepdim, kth_lines, 0, ignore_nan ? 2 : 1, values, indices,
                         ignore_nan ? "nanmedian" : "median");
}

/* ===================== unique / unique_consecutive ===================== */

/* Rows of a (m, w) key matrix, compared lexicographically. */
typedef struct {
    const double *kd;
    const int64_t *ki;
    int64_t w;
} rows;

static int row_cmp(const rows *r, int64_t a, int64_t b) {
    for (int64_t j = 0; j < r->w; j++) {
        int c = r->kd ? cmp_d(&r->kd[a * r->w + j], &r->kd[b * r->w + j])
                      : cmp_i(&r->ki[a * r->w + j], &r->ki[b * r->w + j]);
        if (c) return c;
    }
    return 0;
}

/* Stable sort of the permutation p[0..m) by keys: insertion sort of runs
 * of 16, then bottom-up merges ping-ponging between p and tmp.  `LESS(a, b)`
 * compares positions a and b (indices into the keys). */
#define KEYSORT_RUN 16
#define DEF_KEYSORT(name, CTX, LESS)                                               \
    static void name(CTX c, int64_t *p, int64_t *tmp, int64_t m) {                 \
        for (int64_t lo = 0; lo < m; lo += KEYSORT_RUN) {                          \
            int64_t hi = lo + KEYSORT_RUN < m ? lo + KEYSORT_RUN : m;              \
            for (int64_t i = lo + 1; i < hi; i++) {                                \
                int64_t v = p[i], j = i;                                           \
                for (; j > lo && LESS(c, v, p[j - 1]); j--) p[j] = p[j - 1];       \
                p[j] = v;                                                          \
            }                                                                      \
        }                                                                          \
        int64_t *src = p, *dst = tmp;                                              \
        for (int64_t w = KEYSORT_RUN; w < m; w *= 2) {                             \
            for (int64_t lo = 0; lo < m; lo += 2 * w) {                            \
                int64_t mid = lo + w < m ? lo + w : m, hi = lo + 2 * w < m ? lo + 2 * w : m; \
                int64_t a = lo, b = mid, o = lo;                                   \
                while (a < mid && b < hi) dst[o++] = LESS(c, src[b], src[a]) ? src[b++] : src[a++]; \
                while (a < mid) dst[o++] = src[a++];                               \
                while (b < hi) dst[o++] = src[b++];                                \
            }                                                                      \
            int64_t *t_ = src;                                                     \
            src = dst;                                                             \
            dst = t_;                                                              \
        }                                                                          \
        if (src != p) memcpy(p, src, sizeof *p * (size_t)m);                       \
    }
/* one key per row (the flat case): typed comparisons, NaN last */
#define LESS_D(c, a, b) ((c)[a] < (c)[b] || ((c)[a] == (c)[a] && (c)[b] != (c)[b]))
#define LESS_I(c, a, b) ((c)[a] < (c)[b])
#define LESS_ROW(c, a, b) (row_cmp(c, a, b) < 0)
DEF_KEYSORT(keysort_d, const double *, LESS_D)
DEF_KEYSORT(keysort_i, const int64_t *, LESS_I)
DEF_KEYSORT(keysort_rows, const rows *, LESS_ROW)

static void row_sort(const rows *r, int64_t *p, int64_t *tmp, int64_t m) {
    if (r->w == 1 && r->kd) keysort_d(r->kd, p, tmp, m);
    else if (r->w == 1) keysort_i(r->ki, p, tmp, m);
    else keysort_rows(r, p, tmp, m);
}

/* Sorted unique of integer keys with a small range, by counting: O(m + range).
 * Fills grp_first / grp_count / inverse as the sorting path does; returns the
 * number of groups, or -1 when the range is too wide (or memory is short). */
static int64_t unique_by_counting(const int64_t *k, int64_t m, int64_t *grp_first, int64_t *grp_count,
                                  int64_t *iv) {
    if (m == 0) return -1;
    int64_t lo = k[0], hi = k[0];
    for (int64_t i = 1; i < m; i++) {
        lo = k[i] < lo ? k[i] : lo;
        hi = k[i] > hi ? k[i] : hi;
    }
    uint64_t range = (uint64_t)hi - (uint64_t)lo + 1;  /* unsigned: no overflow */
    if (range == 0 || range > (uint64_t)m * 2 + 1024) return -1;
    int64_t *slot = calloc((size_t)range, sizeof *slot);
    if (!slot) return -1;
    for (int64_t i = 0; i < m; i++) slot[(uint64_t)k[i] - (uint64_t)lo]++;
    int64_t ng = 0;
    for (uint64_t v = 0; v < range; v++)
        if (slot[v]) {
            grp_count[ng] = slot[v];
            slot[v] = ++ng;  /* rank + 1 */
        }
    for (int64_t i = 0; i < m; i++) {
        int64_t g = slot[(uint64_t)k[i] - (uint64_t)lo] - 1;
        iv[i] = g;
        grp_first[g] = i;
    }
    free(slot);
    return ng;
}

int tn_unique(tn_tensor *t, int dim, bool consecutive, tn_tensor **values, tn_tensor **inverse,
              tn_tensor **counts) {
    const char *op = consecutive ? "unique_consecutive" : "unique";
    *values = *inverse = *counts = NULL;
    int d = -1;
    if (dim != TN_ALL_DIMS) {
        if (t->ndim == 0) {
            tn_error("%s: dim given but the tensor is 0-dim", op);
            return -1;
        }
        if ((d = tn_wrap_dim(dim, t->ndim, op)) < 0) return -1;
    }
    bool fkey = tn_dtype_is_float(t->dtype);
    /* keys: (m, w) rows; without a dim every element is a row of width 1 */
    tn_tensor *src = NULL;
    bool was = tn_set_grad_enabled(false);
    if (d < 0) {
        int64_t all = -1;
        src = tn_reshape(t, 1, &all);
    } else {
        src = tn_transpose(t, 0, d);
    }
    tn_set_grad_enabled(was);
    tn_tensor *k = src ? contig_as(src, fkey ? TN_FLOAT64 : TN_INT64) : NULL;
    int64_t m = d < 0 ? t->numel : t->shape[d];
    int64_t w = m ? (k ? k->numel : 0) / m : 0;
    int64_t *p = malloc(sizeof(int64_t) * (size_t)(3 * m + 1));
    tn_tensor *inv = NULL, *rep = NULL, *cnt = NULL, *v = NULL;
    int rc = -1;
    if (!k || !p) goto done;
    rows r = {fkey ? tn_data(k) : NULL, fkey ? NULL : tn_data(k), w};
    int64_t *grp_first = p + m, *grp_count = p + 2 * m, ng = -1;
    int64_t ishape = d < 0 ? t->numel : m;
    inv = tn_empty(TN_INT64, d < 0 ? t->ndim : 1, d < 0 ? t->shape : &ishape);
    if (!inv) goto done;
    int64_t *iv = tn_data(inv);
    if (!consecutive && !fkey && w == 1) ng = unique_by_counting(r.ki, m, grp_first, grp_count, iv);
    if (ng < 0) {
        for (int64_t i = 0; i < m; i++) p[i] = i;
        if (!consecutive) row_sort(&r, p, p + m, m);
        /* groups: runs of equal rows in p order */
        ng = 0;
        for (int64_t i = 0; i < m; i++) {
            if (i == 0 || row_cmp(&r, p[i], p[i - 1]) != 0) {
                grp_first[ng] = p[i];
                grp_count[ng++] = 0;
            }
            grp_count[ng - 1]++;
            iv[p[i]] = ng - 1;
        }
    }
    rep = tn_from_data(TN_INT64, 1, &ng, grp_first);
    cnt = tn_from_data(TN_INT64, 1, &ng, grp_count);
    if (!rep || !cnt) goto done;
    was = tn_set_grad_enabled(false);
    v = tn_index_select(src, 0, rep);
    if (v && d > 0) {
        tn_tensor *vt = tn_transpose(v, 0, d), *vc = vt ? tn_contiguous(vt) : NULL;
        tn_release(vt);
        tn_release(v);
        v = vc;
    }
    tn_set_grad_enabled(was);
    if (!v) goto done;
    *values = v;
    *inverse = inv;
    *counts = cnt;
    inv = cnt = NULL;
    rc = 0;
done:
    if (rc < 0 && !p) tn_error("%s: out of memory", op);
    free(p);
    tn_release(src);
    tn_release(k);
    tn_release(inv);
    tn_release(rep);
    tn_release(cnt);
    return rc;
}

/* ===================== bincount / histc / searchsorted ===================== */

tn_tensor *tn_bincount(tn_tensor *t, tn_tensor *weights, int64_t minlength, int64_t first) {
    char b1[64], b2[64];
    if (t->ndim != 1 || !tn_dtype_is_int(t->dtype)) {
        tn_error("bincount: expected a 1-D integer tensor, got %s of shape %s", tn_dtype_name(t->dtype),
                 tn_shape_str(t->shape, t->ndim, b1, sizeof b1));
        return NULL;
    }
    if (minlength < 0 || minlength > ((int64_t)1 << 32)) {
        tn_error("bincount: minlength must be >= 0 (and at most 2^32), got %lld", (long long)minlength);
        return NULL;
    }
    if (weights && (weights->ndim != 1 || weights->shape[0] != t->shape[0])) {
        tn_error("bincount: weights of shape %s do not match the input of shape %s",
                 tn_shape_str(weights->shape, weights->ndim, b1, sizeof b1),
                 tn_shape_str(t->shape, t->ndim, b2, sizeof b2));
        return NULL;
    }
    tn_tensor *c = contig_as(t, TN_INT64), *wc = c && weights ? contig_as(weights, TN_FLOAT64) : NULL;
    if (!c || (weights && !wc)) {
        tn_release(c);
        return NULL;
    }
    const int64_t *x = tn_data(c);
    int64_t n = t->shape[0], len = minlength;
    tn_tensor *out = NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = x[i];
        if (v < first) {
            tn_error("bincount: values must be >= %lld, got %lld at position %lld", (long long)first,
                     (long long)v, (long long)i + 1);
            goto done;
        }
        if (v - first >= ((int64_t)1 << 32)) {  /* first is 0 or 1: no overflow */
            tn_error("bincount: the value %lld needs too many bins", (long long)v);
            goto done;
        }
        if (v - first + 1 > len) len = v - first + 1;
    }
    tn_dtype odt = !weights ? TN_INT64 : weights->dtype == TN_FLOAT32 ? TN_FLOAT32 : TN_FLOAT64;
    out = tn_zeros(odt, 1, &len);
    if (!out) goto done;
    if (!weights) {
        int64_t *o = tn_data(out);
        for (int64_t i = 0; i < n; i++) o[x[i] - first]++;
    } else {  /* sums in double, rounded once */
        const double *wv = tn_data(wc);
        double *acc = calloc((size_t)len + 1, sizeof *acc);
        if (!acc) {
            tn_error("bincount: out of memory");
            tn_release(out);
            out = NULL;
            goto done;
        }
        for (int64_t i = 0; i < n; i++) acc[x[i] - first] += wv[i];
        for (int64_t k = 0; k < len; k++) tn_store(odt, tn_data(out), k, acc[k]);
        free(acc);
    }
done:
    tn_release(c);
    tn_release(wc);
    return out;
}

tn_tensor *tn_histc(tn_tensor *t, int64_t bins, double lo, double hi) {
    if (bins <= 0 || bins > ((int64_t)1 << 32)) {
        tn_error("histc: bins must be > 0 (and at most 2^32), got %lld", (long long)bins);
        return NULL;
    }
    if (lo > hi || lo != lo || hi != hi || isinf(lo) || isinf(hi)) {
        tn_error("histc: min (%g) must be <= max (%g), both finite", lo, hi);
        return NULL;
    }
    tn_tensor *c = contig_as(t, TN_FLOAT64);
    if (!c) return NULL;
    const double *x = tn_data(c);
    if (lo == hi && c->numel > 0) {  /* the data's range */
        bool any = false;
        for (int64_t i = 0; i < c->numel; i++) {
            if (x[i] != x[i]) continue;
            if (!any || x[i] < lo) lo = x[i];
            if (!any || x[i] > hi) hi = x[i];
            any = true;
        }
    }
    if (isinf(lo) || isinf(hi)) {
        tn_error("histc: the range [%g, %g] of the data is not finite (give min and max)", lo, hi);
        tn_release(c);
        return NULL;
    }
    if (lo == hi) {
        lo -= 1;
        hi += 1;
    }
    tn_tensor *out = tn_zeros(tn_dtype_is_float(t->dtype) ? t->dtype : TN_FLOAT32, 1, &bins);
    if (out) {
        double *cnt = calloc((size_t)bins, sizeof(double));
        if (!cnt) {
            tn_release(out);
            tn_release(c);
            tn_error("histc: out of memory");
            return NULL;
        }
        bool wide = isinf(hi - lo);
        for (int64_t i = 0; i < c->numel; i++) {
            double v = x[i];
            if (!(v >= lo && v <= hi)) continue;  /* outside, or NaN */
            /* a fraction of the range first ((v - lo) * bins could overflow);
             * halves when the span itself overflows */
            double f = (wide ? (0.5 * v - 0.5 * lo) / (0.5 * hi - 0.5 * lo) : (v - lo) / (hi - lo)) * (double)bins;
            int64_t k = f >= 0 && f < (double)bins ? (int64_t)f : f >= (double)bins ? bins - 1 : 0;
            cnt[k] += 1;
        }
        for (int64_t k = 0; k < bins; k++) tn_store(out->dtype, tn_data(out), k, cnt[k]);
        free(cnt);
    }
    tn_release(c);
    return out;
}

typedef struct {
    const void *s, *v;  /* sorted rows (rows, m) and values, both float64 or both int64 */
    int64_t *out;
    int64_t m, k;       /* row length; values per row */
    bool shared, right, fkey;
} ss_ctx;

/* the first position whose entry is >= x (right: > x); NaN sorts last */
#define DEF_BSEARCH(name, T, LT)                                                   \
    static inline int64_t name(const T *row, int64_t m, T x, bool right) {         \
        int64_t lo = 0, hi = m;                                                    \
        while (lo < hi) {                                                          \
            int64_t mid = lo + (hi - lo) / 2;                                      \
            if (right ? !LT(x, row[mid]) : LT(row[mid], x)) lo = mid + 1;          \
            else hi = mid;                                                         \
        }                                                                          \
        return lo;                                                                 \
    }
#define LT_D(a, b) ((a) < (b) || ((a) == (a) && (b) != (b)))
#define LT_I(a, b) ((a) < (b))
DEF_BSEARCH(bsearch_d, double, LT_D)
DEF_BSEARCH(bsearch_i, int64_t, LT_I)

static void ss_range(void *vc, int64_t lo, int64_t hi) {
    ss_ctx *c = vc;
    for (int64_t i = lo; i < hi; i++) {
        int64_t row = c->shared ? 0 : i / c->k;
        c->out[i] = c->fkey ? bsearch_d((const double *)c->s + row * c->m, c->m, ((const double *)c->v)[i], c->right)
                            : bsearch_i((const int64_t *)c->s + row * c->m, c->m, ((const int64_t *)c->v)[i], c->right);
    }
}

/* 0-based insertion points: the number of entries < v (right: <= v) in the
 * sorted innermost rows of `sorted`.  NaN counts as larger than every number. */
tn_tensor *tn_searchsorted(tn_tensor *sorted, tn_tensor *values, bool right) {
    char b1[64], b2[64];
    if (sorted->ndim == 0) {
        tn_error("searchsorted: the sorted sequence must have at least 1 dim, got a 0-dim tensor");
        return NULL;
    }
    bool shared = sorted->ndim == 1;
    if (!shared) {
        bool ok = values->ndim == sorted->ndim;
        for (int i = 0; ok && i < sorted->ndim - 1; i++) ok = values->shape[i] == sorted->shape[i];
        if (!ok) {
            tn_error("searchsorted: the leading dims of sorted %s and values %s must match (or sorted is 1-D)",
                     tn_shape_str(sorted->shape, sorted->ndim, b1, sizeof b1),
                     tn_shape_str(values->shape, values->ndim, b2, sizeof b2));
            return NULL;
        }
    }
    bool fkey = tn_dtype_is_float(sorted->dtype) || tn_dtype_is_float(values->dtype);
    tn_dtype kdt = fkey ? TN_FLOAT64 : TN_INT64;
    tn_tensor *s = contig_as(sorted, kdt), *v = s ? contig_as(values, kdt) : NULL;
    tn_tensor *out = v ? tn_empty(TN_INT64, values->ndim, values->shape) : NULL;
    if (out) {
        ss_ctx c = {tn_data(s), tn_data(v), tn_data(out), sorted->shape[sorted->ndim - 1],
                    values->ndim ? values->shape[values->ndim - 1] : 1, shared, right, fkey};
        tn_parallel_for(values->numel, 4096, ss_range, &c);
    }
    tn_release(s);
    tn_release(v);
    return out;
}
