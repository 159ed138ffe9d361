/*
 * index.c: indexing by index tensors and masks: index_select, gather,
 * scatter_add, one_hot, masked_select, masked assignment and nonzero, with
 * the backward rules of the differentiable ones.
 *
 * Index tensors are 0-based int64 (int32 is accepted too) and every index is
 * bounds-checked before anything is written where it matters; error messages
 * report indices and dims 1-based (index + 1, dim + 1) because that is what a
 * Lua user typed.  Results are always fresh tensors (no views).  The common
 * case index_select on a contiguous tensor (Embedding lookups, mini-batch
 * gathering in data loaders) runs as one memcpy per selected row, in
 * parallel; the other kernels walk strided operands with a small odometer
 * so non-contiguous inputs need no temporary copies.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ===================== helpers ===================== */

/* Row-major walk over `shape`, tracking one element offset per operand. */
#define WALK_MAX 3
typedef struct {
    int nd, nops;
    int64_t shape[TN_MAX_DIMS], idx[TN_MAX_DIMS];
    int64_t stride[WALK_MAX][TN_MAX_DIMS];
    int64_t off[WALK_MAX];
} walk;

static void walk_init(walk *w, int nd, const int64_t *shape) {
    memset(w, 0, sizeof *w);
    w->nd = nd;
    memcpy(w->shape, shape, sizeof(int64_t) * (size_t)nd);
}

/* Adds an operand with the given strides (over the walk's dims); returns its slot. */
static int walk_add(walk *w, const int64_t *stride, int64_t base) {
    int k = w->nops++;
    memcpy(w->stride[k], stride, sizeof(int64_t) * (size_t)w->nd);
    w->off[k] = base;
    return k;
}

static inline void walk_next(walk *w) {
    for (int d = w->nd - 1; d >= 0; d--) {
        for (int k = 0; k < w->nops; k++) w->off[k] += w->stride[k][d];
        if (++w->idx[d] < w->shape[d]) return;
        for (int k = 0; k < w->nops; k++) w->off[k] -= w->stride[k][d] * w->shape[d];
        w->idx[d] = 0;
    }
}

static inline void copy_elem(char *dst, const char *src, size_t es) {
    switch (es) {
    case 8: memcpy(dst, src, 8); break;
    case 4: memcpy(dst, src, 4); break;
    default: *dst = *src; break;
    }
}

static int check_index_dtype(const char *op, const tn_tensor *index) {
    if (index->dtype != TN_INT64 && index->dtype != TN_INT32) {
        tn_error("%s: index must be an int64 (or int32) tensor, got %s", op,
                 tn_dtype_name(index->dtype));
        return -1;
    }
    return 0;
}

/* The index values as a contiguous int64 array: the tensor's own data when it
 * already is one, else a malloc'd copy (*owned set).  NULL on error. */
static const int64_t *index_values(const char *op, tn_tensor *index, bool *owned) {
    *owned = false;
    if (check_index_dtype(op, index) < 0) return NULL;
    if (index->dtype == TN_INT64 && tn_is_contiguous(index)) return tn_data(index);
    int64_t *v = malloc(sizeof *v * (size_t)(index->numel ? index->numel : 1));
    if (!v) {
        tn_error("%s: out of memory", op);
        return NULL;
    }
    for (int64_t i = 0; i < index->numel; i++) v[i] = tn_get_flat_i64(index, i);
    *owned = true;
    return v;
}

static int out_of_range(const char *op, int64_t v, int d, int64_t size) {
    tn_error("%s: index %lld is out of range for dim %d of size %lld", op, (long long)v + 1,
             d + 1, (long long)size);
    return -1;
}

/* The product of shape[lo..hi). */
static int64_t prod(const int64_t *shape, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= shape[i];
    return p;
}

/* ===================== index_select ===================== */

/* Contiguous source: out rows (outer, k, inner) from t rows (outer, size, inner). */
typedef struct {
    const char *src;
    char *dst;
    const int64_t *idx;
    int64_t k, size, inner;
    size_t es;
} isel_ctx;

static void isel_rows(void *vctx, int64_t lo, int64_t hi) {
    const isel_ctx *c = vctx;
    size_t es = c->es, row = (size_t)c->inner * es;
    for (int64_t r = lo; r < hi; r++) {
        int64_t o = r / c->k, j = r % c->k;
        const char *s = c->src + (size_t)(o * c->size + c->idx[j]) * row;
        char *d = c->dst + (size_t)r * row;
        if (c->inner == 1) copy_elem(d, s, es);
        else memcpy(d, s, row);
    }
}

/* Any strides: walk the output, reading t at the selected position. */
static void isel_strided(tn_tensor *out, tn_tensor *t, int d, const int64_t *idx) {
    walk w;
    walk_init(&w, out->ndim, out->shape);
    int64_t st[TN_MAX_DIMS];
    memcpy(st, t->stride, sizeof st);
    st[d] = 0;  /* the selected dim is added from idx */
    walk_add(&w, out->stride, 0);
    walk_add(&w, st, 0);
    size_t es = tn_dtype_size(t->dtype);
    char *o = tn_data(out);
    const char *s = tn_data(t);
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t so = w.off[1] + idx[w.idx[d]] * t->stride[d];
        copy_elem(o + w.off[0] * (int64_t)es, s + so * (int64_t)es, es);
        walk_next(&w);
    }
}

tn_tensor *tn_index_select(tn_tensor *t, int dim, tn_tensor *index) {
    if (t->ndim == 0) {
        tn_error("index_select: cannot be applied to a 0-dim tensor");
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim, "index_select");
    if (d < 0) return NULL;
    if (index->ndim > 1) {
        char b[160];
        tn_error("index_select: index must be 1-D, got shape %s",
                 tn_shape_str(index->shape, index->ndim, b, sizeof b));
        return NULL;
    }
    bool owned;
    const int64_t *idx = index_values("index_select", index, &owned);
    if (!idx) return NULL;
    int64_t k = index->numel, size = t->shape[d];
    tn_tensor *out = NULL;
    for (int64_t j = 0; j < k; j++)
        if (idx[j] < 0 || idx[j] >= size) {
            out_of_range("index_select", idx[j], d, size);
            goto done;
        }
    int64_t sh[TN_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[d] = k;
    out = tn_empty(t->dtype, t->ndim, sh);
    if (!out || out->numel == 0) goto done;
    if (tn_is_contiguous(t)) {
        isel_ctx c = {tn_data(t), tn_data(out), idx, k, size, prod(t->shape, d + 1, t->ndim),
                      tn_dtype_size(t->dtype)};
        int64_t rows = prod(t->shape, 0, d) * k;
        int64_t grain = TN_GRAIN / (c.inner > 0 ? c.inner : 1);
        tn_parallel_for(rows, grain > 0 ? grain : 1, isel_rows, &c);
    } else {
        isel_strided(out, t, d, idx);
    }
    if (tn_dtype_is_float(t->dtype) && tn_grad_needed1(t)) {
        tn_node *n = tn_record(TN_OP_INDEX_SELECT, out, 1, &t);
        if (!n) {
            tn_release(out);
            out = NULL;
            goto done;
        }
        n->iarg[0] = d;
        tn_save(n, index);
    }
done:
    if (owned) free((void *)idx);
    return out;
}

/* dst (outer, size, inner) rows idx[j] += src (outer, k, inner) rows j; both
 * contiguous, same float dtype.  Parallel over disjoint parts of dst: over
 * `outer` when there is more than one block, else over columns of `inner`,
 * so duplicate indices never race and the order of sums is fixed. */
typedef struct {
    char *dst;
    const char *src;
    const int64_t *idx;
    int64_t outer, k, size, inner;
    tn_dtype dt;
} iadd_ctx;

#define IADD_LOOP(T)                                                              \
    for (int64_t o = o0; o < o1; o++)                                             \
        for (int64_t j = 0; j < c->k; j++) {                                      \
            T *dr = (T *)c->dst + (o * c->size + c->idx[j]) * c->inner;           \
            const T *sr = (const T *)c->src + (o * c->k + j) * c->inner;          \
            for (int64_t i = i0; i < i1; i++) dr[i] += sr[i];                     \
        }

static void iadd_run(const iadd_ctx *c, int64_t o0, int64_t o1, int64_t i0, int64_t i1) {
    if (c->dt == TN_FLOAT64) { IADD_LOOP(double) }
    else { IADD_LOOP(float) }
}
static void iadd_outer(void *vctx, int64_t lo, int64_t hi) {
    const iadd_ctx *c = vctx;
    iadd_run(c, lo, hi, 0, c->inner);
}
static void iadd_inner(void *vctx, int64_t lo, int64_t hi) {
    const iadd_ctx *c = vctx;
    iadd_run(c, 0, c->outer, lo, hi);
}

int index_select_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *index = tn_saved(n, 0);
    if (!index) return -1;
    tn_edge *e = &n->edges[0];
    int d = (int)n->iarg[0];
    tn_tensor *z = tn_zeros(g->dtype, e->ndim, e->shape);
    tn_tensor *gc = z ? tn_contiguous(g) : NULL;
    bool owned = false;
    const int64_t *idx = gc ? index_values("index_select", index, &owned) : NULL;
    if (!idx) {
        tn_release(z);
        tn_release(gc);
        return -1;
    }
    iadd_ctx c = {tn_data(z), tn_data(gc), idx, prod(e->shape, 0, d), index->numel, e->shape[d],
                  prod(e->shape, d + 1, e->ndim), g->dtype};
    int64_t work = c.k * c.inner;
    if (c.outer > 1) {
        int64_t grain = TN_GRAIN / (work > 0 ? work : 1);
        tn_parallel_for(c.outer, grain > 0 ? grain : 1, iadd_outer, &c);
    } else {
        int64_t grain = TN_GRAIN / (c.k > 0 ? c.k : 1);
        tn_parallel_for(c.inner, grain > 256 ? grain : 256, iadd_inner, &c);
    }
    if (owned) free((void *)idx);
    tn_release(gc);
    gin[0] = z;
    return 0;
}

/* ===================== gather / scatter_add ===================== */

/* Shape rules shared by gather and scatter_add: index has t's ndim and is no
 * larger than t outside dim d (and, for scatter_add, no larger than src). */
static int check_gs(const char *op, tn_tensor *t, int d, tn_tensor *index, tn_tensor *src) {
    if (check_index_dtype(op, index) < 0) return -1;
    char s1[160], s2[160];
    if (index->ndim != t->ndim || (src && src->ndim != t->ndim)) {
        tn_error("%s: index%s must have as many dims as the tensor (%d), got %d%s", op,
                 src ? " and src" : "", t->ndim, index->ndim, src && src->ndim != t->ndim ? " for src" : "");
        return -1;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (i != d && index->shape[i] > t->shape[i]) {
            tn_error("%s: index of shape %s is larger than the tensor's shape %s in dim %d", op,
                     tn_shape_str(index->shape, index->ndim, s1, sizeof s1),
                     tn_shape_str(t->shape, t->ndim, s2, sizeof s2), i + 1);
            return -1;
        }
        if (src && index->shape[i] > src->shape[i]) {
            tn_error("%s: index of shape %s is larger than src's shape %s in dim %d", op,
                     tn_shape_str(index->shape, index->ndim, s1, sizeof s1),
                     tn_shape_str(src->shape, src->ndim, s2, sizeof s2), i + 1);
            return -1;
        }
    }
    return 0;
}

/* gather and scatter_add walk `index`: `direct` is read/written at the index
 * position, `target` at the index position with dim d replaced by the index
 * value.  gather: direct(out) = target(t); scatter_add: target(out) +=
 * direct(src).  Size-1 dims are dropped (they move no offset), the last
 * remaining dim is the inner loop, and the others are rows. */
typedef enum { GS_CHECK, GS_GATHER8, GS_GATHER4, GS_GATHER1, GS_ADD_F32, GS_ADD_F64,
               GS_ADD_U64, GS_ADD_U32, GS_ADD_U8, GS_OR_B } gs_kind;

typedef struct {
    gs_kind kind;
    int nd;                                   /* dims of size > 1 */
    int64_t shape[TN_MAX_DIMS];
    int64_t si[TN_MAX_DIMS], sd[TN_MAX_DIMS], st[TN_MAX_DIMS];  /* index, direct, target */
    const char *ip;
    char *dp, *tp;
    bool i32;                                 /* index dtype int32 (else int64) */
    int64_t size, tstride;                    /* target's dim d */
    int64_t bad;                              /* GS_CHECK: an out-of-range value */
    bool found_bad;
} gs_plan;

static void gs_plan_init(gs_plan *p, gs_kind kind, tn_tensor *index, int d, tn_tensor *direct,
                         tn_tensor *target) {
    memset(p, 0, sizeof *p);
    p->kind = kind;
    for (int i = 0; i < index->ndim; i++) {
        if (index->shape[i] == 1) continue;
        p->shape[p->nd] = index->shape[i];
        p->si[p->nd] = index->stride[i];
        p->sd[p->nd] = direct ? direct->stride[i] : 0;
        p->st[p->nd] = i == d ? 0 : target->stride[i];
        p->nd++;
    }
    if (p->nd == 0) p->shape[p->nd++] = 1;  /* one element */
    p->ip = tn_data(index);
    p->dp = direct ? tn_data(direct) : NULL;
    p->tp = tn_data(target);
    p->i32 = index->dtype == TN_INT32;
    p->size = target->shape[d];
    p->tstride = target->stride[d];
}

/* Rows [lo, hi): each row is one inner loop of shape[nd - 1] elements. */
#define GS_ROWS(IT, BODY)                                                         \
    do {                                                                          \
        int64_t n = p->shape[p->nd - 1], si = p->si[p->nd - 1];                   \
        int64_t sd = p->sd[p->nd - 1], st = p->st[p->nd - 1];                     \
        (void)sd, (void)st;                                                       \
        for (int64_t r = lo; r < hi; r++) {                                       \
            int64_t oi = 0, od = 0, ot = 0, rem = r;                              \
            for (int k = p->nd - 2; k >= 0; k--) {                                \
                int64_t c = rem % p->shape[k];                                    \
                rem /= p->shape[k];                                               \
                oi += c * p->si[k];                                               \
                od += c * p->sd[k];                                               \
                ot += c * p->st[k];                                               \
            }                                                                     \
            const IT *ix = (const IT *)p->ip + oi;                                \
            (void)od, (void)ot;                                                   \
            for (int64_t j = 0; j < n; j++) {                                     \
                int64_t v = ix[j * si];                                           \
                BODY                                                              \
            }                                                                     \
        }                                                                         \
    } while (0)
#define GS_COPY(T) \
    ((T *)p->dp)[od + j * sd] = ((const T *)p->tp)[ot + j * st + v * p->tstride];
#define GS_ADD(T) \
    ((T *)p->tp)[ot + j * st + v * p->tstride] += ((const T *)p->dp)[od + j * sd];
#define GS_OR \
    ((uint8_t *)p->tp)[ot + j * st + v * p->tstride] |= ((const uint8_t *)p->dp)[od + j * sd];
/* GS_CHECK stops at the first bad value (rows run serially for it) */
#define GS_CHK                                                                    \
    if (v < 0 || v >= p->size) {                                                  \
        p->bad = v;                                                               \
        p->found_bad = true;                                                      \
        return;                                                                   \
    }

/* unsigned adds for integers: wrap-around instead of signed overflow (UB) */
#define DEF_GS_RANGE(name, IT)                                                    \
    static void name(gs_plan *p, int64_t lo, int64_t hi) {                        \
        switch (p->kind) {                                                        \
        case GS_CHECK: GS_ROWS(IT, GS_CHK); break;                                \
        case GS_GATHER8: GS_ROWS(IT, GS_COPY(uint64_t)); break;                   \
        case GS_GATHER4: GS_ROWS(IT, GS_COPY(uint32_t)); break;                   \
        case GS_GATHER1: GS_ROWS(IT, GS_COPY(uint8_t)); break;                    \
        case GS_ADD_F32: GS_ROWS(IT, GS_ADD(float)); break;                       \
        case GS_ADD_F64: GS_ROWS(IT, GS_ADD(double)); break;                      \
        case GS_ADD_U64: GS_ROWS(IT, GS_ADD(uint64_t)); break;                    \
        case GS_ADD_U32: GS_ROWS(IT, GS_ADD(uint32_t)); break;                    \
        case GS_ADD_U8: GS_ROWS(IT, GS_ADD(uint8_t)); break;                      \
        case GS_OR_B: GS_ROWS(IT, GS_OR); break;                                  \
        }                                                                         \
    }
DEF_GS_RANGE(gs_range_i64, int64_t)
DEF_GS_RANGE(gs_range_i32, int32_t)

static void gs_range(void *vctx, int64_t lo, int64_t hi) {
    gs_plan *p = vctx;
    if (p->i32) gs_range_i32(p, lo, hi);
    else gs_range_i64(p, lo, hi);
}

static int64_t gs_rows(const gs_plan *p) { return prod(p->shape, 0, p->nd - 1); }

/* Checks every index value, then runs the kernel: gather in parallel over
 * rows (each writes its own part of the output), scatter_add serially
 * (rows may add into the same place). */
static int gs_run(const char *op, bool scatter, tn_tensor *index, int d, tn_tensor *direct,
                  tn_tensor *target) {
    if (index->numel == 0) return 0;
    gs_plan p;
    gs_plan_init(&p, GS_CHECK, index, d, direct, target);
    int64_t rows = gs_rows(&p);
    gs_range(&p, 0, rows);
    if (p.found_bad) return out_of_range(op, p.bad, d, p.size);
    static const gs_kind gathers[9] = {[8] = GS_GATHER8, [4] = GS_GATHER4, [1] = GS_GATHER1};
    static const gs_kind adds[TN_DTYPE_COUNT] = {
        [TN_FLOAT32] = GS_ADD_F32, [TN_FLOAT64] = GS_ADD_F64, [TN_INT64] = GS_ADD_U64,
        [TN_INT32] = GS_ADD_U32,   [TN_UINT8] = GS_ADD_U8,    [TN_BOOL] = GS_OR_B};
    p.kind = scatter ? adds[target->dtype] : gathers[tn_dtype_size(target->dtype)];
    if (scatter) {
        gs_range(&p, 0, rows);
    } else {
        int64_t inner = p.shape[p.nd - 1];
        int64_t grain = TN_GRAIN / 4 / inner;  /* random reads: smaller chunks pay off */
        tn_parallel_for(rows, grain > 0 ? grain : 1, gs_range, &p);
    }
    return 0;
}

tn_tensor *tn_gather(tn_tensor *t, int dim, tn_tensor *index) {
    if (t->ndim == 0) {
        tn_error("gather: cannot be applied to a 0-dim tensor");
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim, "gather");
    if (d < 0 || check_gs("gather", t, d, index, NULL) < 0) return NULL;
    tn_tensor *out = tn_empty(t->dtype, index->ndim, index->shape);
    if (!out) return NULL;
    if (gs_run("gather", false, index, d, out, t) < 0) {
        tn_release(out);
        return NULL;
    }
    if (tn_dtype_is_float(t->dtype) && tn_grad_needed1(t)) {
        tn_node *n = tn_record(TN_OP_GATHER, out, 1, &t);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = d;
        tn_save(n, index);
    }
    return out;
}

int gather_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *index = tn_saved(n, 0);
    if (!index) return -1;
    tn_edge *e = &n->edges[0];
    tn_tensor *z = tn_zeros(g->dtype, e->ndim, e->shape);
    if (!z) return -1;
    if (gs_run("gather", true, index, (int)n->iarg[0], g, z) < 0) {
        tn_release(z);
        return -1;
    }
    gin[0] = z;
    return 0;
}

tn_tensor *tn_scatter_add(tn_tensor *t, int dim, tn_tensor *index, tn_tensor *src) {
    if (t->ndim == 0) {
        tn_error("scatter_add: cannot be applied to a 0-dim tensor");
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim, "scatter_add");
    if (d < 0 || check_gs("scatter_add", t, d, index, src) < 0) return NULL;
    if (src->dtype != t->dtype) {
        tn_error("scatter_add: src has dtype %s but the tensor has %s (convert one with :to())",
                 tn_dtype_name(src->dtype), tn_dtype_name(t->dtype));
        return NULL;
    }
    bool was = tn_set_grad_enabled(false);
    tn_tensor *out = tn_clone(t);
    tn_set_grad_enabled(was);
    if (!out) return NULL;
    if (gs_run("scatter_add", true, index, d, src, out) < 0) {
        tn_release(out);
        return NULL;
    }
    if (tn_dtype_is_float(t->dtype) && tn_grad_needed2(t, src)) {
        tn_node *n = tn_record(TN_OP_SCATTER_ADD, out, 2, (tn_tensor *[]){t, src});
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = d;
        tn_save(n, index);
    }
    return out;
}

int scatter_add_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *index = tn_saved(n, 0);
    if (!index) return -1;
    gin[0] = tn_retain(g);
    tn_edge *e = &n->edges[1];
    if (!e->fn && !e->leaf) return 0;
    /* src's gradient: g at the scattered positions; src elements beyond
     * index's shape were never used, so they get zero */
    tn_tensor *gs = tn_gather(g, (int)n->iarg[0], index);
    if (!gs) return -1;
    if (gs->ndim == e->ndim && memcmp(gs->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim) == 0) {
        gin[1] = gs;
        return 0;
    }
    tn_tensor *z = tn_zeros(g->dtype, e->ndim, e->shape);
    tn_tensor *part = z, *next = NULL;
    tn_retain(part);
    for (int i = 0; part && i < e->ndim; i++) {
        next = tn_narrow(part, i, 0, gs->shape[i]);
        tn_release(part);
        part = next;
    }
    int rc = part ? tn_copy_(part, gs) : -1;
    tn_release(part);
    tn_release(gs);
    if (rc < 0) {
        tn_release(z);
        return -1;
    }
    gin[1] = z;
    return 0;
}

/* ===================== one_hot ===================== */

tn_tensor *tn_one_hot(tn_tensor *index, int64_t num_classes) {
    if (check_index_dtype("one_hot", index) < 0) return NULL;
    if (index->ndim >= TN_MAX_DIMS) {
        tn_error("one_hot: index has %d dims; the result would have more than %d", index->ndim,
                 TN_MAX_DIMS);
        return NULL;
    }
    bool owned;
    const int64_t *idx = index_values("one_hot", index, &owned);
    if (!idx) return NULL;
    tn_tensor *out = NULL;
    if (num_classes < 0) {  /* infer: the largest index + 1 */
        if (index->numel == 0) {
            tn_error("one_hot: cannot infer the number of classes from an empty tensor");
            goto done;
        }
        num_classes = 0;
        for (int64_t i = 0; i < index->numel; i++)
            if (idx[i] + 1 > num_classes) num_classes = idx[i] + 1;
    }
    for (int64_t i = 0; i < index->numel; i++)
        if (idx[i] < 0 || idx[i] >= num_classes) {
            tn_error("one_hot: class index %lld is out of range for %lld classes (valid: 1 to %lld)",
                     (long long)idx[i] + 1, (long long)num_classes, (long long)num_classes);
            goto done;
        }
    int64_t sh[TN_MAX_DIMS];
    memcpy(sh, index->shape, sizeof(int64_t) * (size_t)index->ndim);
    sh[index->ndim] = num_classes;
    out = tn_zeros(TN_INT64, index->ndim + 1, sh);
    if (out) {
        int64_t *o = tn_data(out);
        for (int64_t i = 0; i < index->numel; i++) o[i * num_classes + idx[i]] = 1;
    }
done:
    if (owned) free((void *)idx);
    return out;
}

/* ===================== masks ===================== */

static int check_mask(const char *op, const tn_tensor *mask) {
    if (mask->dtype != TN_BOOL) {
        tn_error("%s: mask must be a bool tensor, got %s", op, tn_dtype_name(mask->dtype));
        return -1;
    }
    return 0;
}

/* t broadcast to shape, as a contiguous tensor (t itself when it already is). */
static tn_tensor *expanded_contiguous(tn_tensor *t, int nd, const int64_t *shape) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *e = tn_expand(t, nd, shape);
    tn_tensor *c = e ? tn_contiguous(e) : NULL;
    tn_set_grad_enabled(was);
    tn_release(e);
    return c;
}

static int64_t count_true(const tn_tensor *m) {
    const uint8_t *p = tn_data(m);
    int64_t c = 0;
    for (int64_t i = 0; i < m->numel; i++) c += p[i] != 0;
    return c;
}

tn_tensor *tn_masked_select(tn_tensor *t, tn_tensor *mask) {
    if (check_mask("masked_select", mask) < 0) return NULL;
    int64_t sh[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(t->shape, t->ndim, mask->shape, mask->ndim, sh, "masked_select");
    if (nd < 0) return NULL;
    tn_tensor *me = expanded_contiguous(mask, nd, sh);
    tn_tensor *te = me ? expanded_contiguous(t, nd, sh) : NULL;
    tn_tensor *out = NULL;
    if (!te) goto done;
    int64_t cnt = count_true(me);
    out = tn_empty(t->dtype, 1, &cnt);
    if (!out) goto done;
    const uint8_t *m = tn_data(me);
    size_t es = tn_dtype_size(t->dtype);
    const char *s = tn_data(te);
    char *o = tn_data(out);
    for (int64_t i = 0, j = 0; i < me->numel; i++)
        if (m[i]) copy_elem(o + (j++) * (int64_t)es, s + i * (int64_t)es, es);
    if (tn_dtype_is_float(t->dtype) && tn_grad_needed1(t)) {
        /* the saved mask has the broadcast shape; the engine sums the
         * gradient back down to t's shape */
        tn_node *n = tn_record(TN_OP_MASKED_SELECT, out, 1, &t);
        if (!n) {
            tn_release(out);
            out = NULL;
            goto done;
        }
        tn_save(n, me);
    }
done:
    tn_release(me);
    tn_release(te);
    return out;
}

int masked_select_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *me = tn_saved(n, 0);
    if (!me) return -1;
    tn_tensor *z = tn_zeros(g->dtype, me->ndim, me->shape);
    if (!z) return -1;
    if (tn_masked_assign_(z, me, g) < 0) {
        tn_release(z);
        return -1;
    }
    gin[0] = z;
    return 0;
}

/* With history: builds the result out of place from differentiable ops and
 * lets copy_ hand it to t.  me: contiguous mask of t's shape. */
static int masked_assign_grad(tn_tensor *t, tn_tensor *me, tn_tensor *src, bool sequential) {
    tn_tensor *r = NULL;
    if (!sequential) {
        /* a one-element src of more dims than t must not widen the result */
        tn_tensor *s = src->numel == 1 && src->ndim > 0 ? tn_reshape(src, 0, NULL) : tn_retain(src);
        r = s ? tn_where(me, s, t) : NULL;
        tn_release(s);
    } else {
        /* t with the masked places zeroed, plus src scattered into them */
        int64_t cnt = src->numel, numel = t->numel;
        tn_tensor *pos = tn_empty(TN_INT64, 1, &cnt);
        tn_tensor *flat_src = pos ? tn_reshape(src, 1, &cnt) : NULL;
        tn_tensor *cs = flat_src ? tn_to(flat_src, t->dtype) : NULL;
        tn_release(flat_src);
        tn_tensor *zt = cs ? tn_masked_fill(t, me, 0) : NULL;
        tn_tensor *flat = zt ? tn_reshape(zt, 1, &numel) : NULL;
        tn_tensor *sum = NULL;
        if (flat) {
            const uint8_t *m = tn_data(me);
            int64_t *p = tn_data(pos);
            for (int64_t i = 0, j = 0; i < numel; i++)
                if (m[i]) p[j++] = i;
            sum = tn_scatter_add(flat, 0, pos, cs);
        }
        r = sum ? tn_reshape(sum, t->ndim, t->shape) : NULL;
        tn_release(pos); tn_release(cs); tn_release(zt); tn_release(flat); tn_release(sum);
    }
    if (!r) return -1;
    int rc = tn_copy_(t, r);
    tn_release(r);
    return rc;
}

int tn_masked_assign_(tn_tensor *t, tn_tensor *mask, tn_tensor *src) {
    if (check_mask("masked_assign_", mask) < 0) return -1;
    if (tn_inplace_check(t, "masked_assign_") < 0) return -1;
    char s1[160], s2[160];
    int64_t sh[TN_MAX_DIMS];
    int nd = tn_broadcast_shapes(t->shape, t->ndim, mask->shape, mask->ndim, sh, "masked_assign_");
    if (nd < 0) return -1;
    if (nd != t->ndim || memcmp(sh, t->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        tn_error("masked_assign_: mask of shape %s does not broadcast to the tensor's shape %s",
                 tn_shape_str(mask->shape, mask->ndim, s1, sizeof s1),
                 tn_shape_str(t->shape, t->ndim, s2, sizeof s2));
        return -1;
    }
    tn_tensor *me = expanded_contiguous(mask, t->ndim, t->shape);
    if (!me) return -1;
    int64_t cnt = count_true(me);
    /* src fills the selected places in order when it is 1-D with one value
     * per place (as PyTorch); otherwise it broadcasts against t (a
     * one-element src anywhere), and failing that, any src with one value
     * per place fills them in row-major order */
    bool sequential = src->numel != 1 && src->ndim == 1 && src->numel == cnt;
    int64_t bs[TN_MAX_DIMS];
    if (!sequential && src->numel != 1) {
        int bn = tn_broadcast_shapes(t->shape, t->ndim, src->shape, src->ndim, bs, "masked_assign_");
        bool fits = bn == t->ndim && memcmp(bs, t->shape, sizeof(int64_t) * (size_t)bn) == 0;
        if (!fits && src->numel == cnt) {
            sequential = true;
        } else if (!fits) {
            tn_error("masked_assign_: src of shape %s has %lld elements, but the mask selects %lld "
                     "and the shape does not broadcast to the tensor's shape %s",
                     tn_shape_str(src->shape, src->ndim, s1, sizeof s1), (long long)src->numel,
                     (long long)cnt, tn_shape_str(t->shape, t->ndim, s2, sizeof s2));
            tn_release(me);
            return -1;
        }
    }
    int rc = 0;
    if (tn_dtype_is_float(t->dtype) && tn_grad_needed2(t, src)) {
        rc = masked_assign_grad(t, me, src, sequential);
        tn_release(me);
        return rc;
    }
    /* no history: write the values straight into t (any strides) */
    bool was = tn_set_grad_enabled(false);
    tn_tensor *cs = tn_to(src, t->dtype);
    tn_tensor *vals = NULL;
    if (cs) {
        if (sequential) vals = tn_contiguous(cs);
        else if (cs->numel == 1) vals = tn_alias(cs, 0, NULL, NULL, cs->offset);  /* its one element */
        else vals = tn_expand(cs, t->ndim, t->shape);
    }
    tn_set_grad_enabled(was);
    if (!vals) {
        tn_release(cs);
        tn_release(me);
        return -1;
    }
    walk w;
    walk_init(&w, t->ndim, t->shape);
    int64_t zero[TN_MAX_DIMS] = {0};
    int64_t vst[TN_MAX_DIMS];
    if (!sequential) tn_broadcast_strides(vals, t->ndim, t->shape, vst);
    walk_add(&w, t->stride, 0);
    walk_add(&w, sequential ? zero : vst, 0);
    size_t es = tn_dtype_size(t->dtype);
    char *tp = tn_data(t);
    const char *vp = tn_data(vals);
    const uint8_t *m = tn_data(me);
    int64_t j = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        if (m[i]) {
            int64_t vo = sequential ? j++ : w.off[1];  /* sequential: vals is contiguous */
            copy_elem(tp + w.off[0] * (int64_t)es, vp + vo * (int64_t)es, es);
        }
        walk_next(&w);
    }
    tn_bump_version(t);
    tn_release(vals);
    tn_release(cs);
    tn_release(me);
    return rc;
}

/* ===================== nonzero ===================== */

tn_tensor *tn_nonzero(tn_tensor *t) {
    walk w;
    walk_init(&w, t->ndim, t->shape);
    walk_add(&w, t->stride, 0);
    const char *p = tn_data(t);
    int64_t cnt = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        cnt += tn_load(t->dtype, p, w.off[0]) != 0;
        walk_next(&w);
    }
    int64_t sh[2] = {cnt, t->ndim};
    tn_tensor *out = tn_empty(TN_INT64, 2, sh);
    if (!out) return NULL;
    int64_t *o = tn_data(out);
    walk_init(&w, t->ndim, t->shape);
    walk_add(&w, t->stride, 0);
    for (int64_t i = 0; i < t->numel; i++) {
        if (tn_load(t->dtype, p, w.off[0]) != 0) {
            memcpy(o, w.idx, sizeof(int64_t) * (size_t)t->ndim);
            o += t->ndim;
        }
        walk_next(&w);
    }
    return out;
}
