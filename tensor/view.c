/*
 * view.c: views and joins: view/reshape/flatten/squeeze/unsqueeze,
 * transpose/permute, narrow/slice/select, expand, and cat/stack, with their
 * backward rules.
 *
 * A view is metadata only: a new tn_tensor header (tn_alias) over the same
 * storage with its own shape, strides and offset, marked is_view so that
 * in-place writes through it are refused while it takes part in autograd.
 * Writes through a view are visible in its base and the other way round.
 * Only cat/stack (and reshape, when the strides cannot express the new
 * shape) allocate.  Every view records one of a few generic ops: VIEW
 * (any reshape; backward reshapes g back), PERMUTE, SLICE, SELECT, EXPAND;
 * cat records CAT, and stack is unsqueeze + cat with no rule of its own.
 * All dims and indices here are 0-based; negative values count from the end.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define SHAPE_STR(name, t) char name[160]; tn_shape_str((t)->shape, (t)->ndim, name, sizeof name)

/* Records op on out (a view of t) when t needs a gradient; on failure frees
 * out and returns NULL.  The node is returned through *node (may be NULL). */
static tn_tensor *record1(tn_op op, tn_tensor *out, tn_tensor *t, tn_node **node) {
    if (node) *node = NULL;
    if (!out || !tn_grad_needed1(t)) return out;
    tn_node *n = tn_record(op, out, 1, &t);
    if (!n) {
        tn_release(out);
        return NULL;
    }
    if (node) *node = n;
    return out;
}

static tn_tensor *make_view(tn_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                            int64_t offset) {
    tn_tensor *v = tn_alias(t, ndim, shape, stride, offset);
    if (v) v->is_view = true;
    return v;
}

/* ===================== view / reshape ===================== */

/* Resolves one -1 in shape against numel; copies into out.  Returns 0 or -1. */
static int infer_shape(const char *op, const tn_tensor *t, int ndim, const int64_t *shape,
                       int64_t *out) {
    if (ndim < 0 || ndim > TN_MAX_DIMS) {
        tn_error("%s: %d dims requested (at most %d)", op, ndim, TN_MAX_DIMS);
        return -1;
    }
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) {
                tn_error("%s: only one dimension can be -1 (dims %d and %d are)", op, infer + 1, i + 1);
                return -1;
            }
            infer = i;
        } else if (shape[i] < 0) {
            tn_error("%s: invalid size %lld in dim %d", op, (long long)shape[i], i + 1);
            return -1;
        } else {
            known *= shape[i];
        }
    }
    char s1[160], s2[160];
    if (infer >= 0) {
        if (known == 0 || t->numel % known != 0) {
            tn_error("%s: shape %s is invalid for input of size %lld", op,
                     tn_shape_str(shape, ndim, s1, sizeof s1), (long long)t->numel);
            return -1;
        }
        out[infer] = t->numel / known;
    } else if (known != t->numel) {
        tn_error("%s: shape %s is invalid for input of size %lld (input shape %s)", op,
                 tn_shape_str(shape, ndim, s1, sizeof s1), (long long)t->numel,
                 tn_shape_str(t->shape, t->ndim, s2, sizeof s2));
        return -1;
    }
    return 0;
}

/* Strides that let `t` be seen with shape `shape` (same numel) without a
 * copy, or false when none exist.  The old dims split into chunks that are
 * each contiguous in memory (dim i-1 continues dim i); each chunk must be
 * covered exactly by a run of new dims, which then step through it with
 * contiguous strides scaled by the chunk's innermost stride. */
static bool view_strides(const tn_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    if (t->numel == 0 || ndim == 0) {
        int64_t st = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            stride[i] = st;
            st *= shape[i] ? shape[i] : 1;
        }
        return true;
    }
    /* a 0-dim tensor behaves as shape [1] */
    int on = t->ndim ? t->ndim : 1;
    const int64_t one = 1;
    const int64_t *oshape = t->ndim ? t->shape : &one, *ostride = t->ndim ? t->stride : &one;
    int vd = ndim - 1;
    int64_t base = ostride[on - 1], chunk = 1, vnumel = 1;
    for (int od = on - 1; od >= 0; od--) {
        chunk *= oshape[od];
        bool chunk_ends = od == 0 || (oshape[od - 1] != 1 && ostride[od - 1] != chunk * base);
        if (!chunk_ends) continue;
        while (vd >= 0 && (vnumel < chunk || shape[vd] == 1)) {
            stride[vd] = vnumel * base;
            vnumel *= shape[vd];
            vd--;
        }
        if (vnumel != chunk) return false;
        if (od > 0) {
            base = ostride[od - 1];
            chunk = 1;
            vnumel = 1;
        }
    }
    return vd == -1;
}

tn_tensor *tn_view(tn_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    if (infer_shape("view", t, ndim, shape, sh) < 0) return NULL;
    if (!view_strides(t, ndim, sh, st)) {
        SHAPE_STR(s1, t);
        char s2[160], s3[160];
        tn_error("view: shape %s is not compatible with the input's shape %s and strides %s "
                 "(at least one dimension spans across two contiguous subspaces); "
                 "use reshape instead", tn_shape_str(sh, ndim, s2, sizeof s2), s1,
                 tn_shape_str(t->stride, t->ndim, s3, sizeof s3));
        return NULL;
    }
    return record1(TN_OP_VIEW, make_view(t, ndim, sh, st, t->offset), t, NULL);
}

tn_tensor *tn_reshape(tn_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    if (infer_shape("reshape", t, ndim, shape, sh) < 0) return NULL;
    if (view_strides(t, ndim, sh, st))
        return record1(TN_OP_VIEW, make_view(t, ndim, sh, st, t->offset), t, NULL);
    /* no strides fit: copy (the clone records CLONE, the view of it VIEW) */
    tn_tensor *c = tn_clone(t);
    if (!c) return NULL;
    tn_tensor *r = tn_view(c, ndim, sh);
    tn_release(c);
    if (r) r->is_view = false;  /* it owns the only reference to fresh storage */
    return r;
}

/* Merges dims start..stop, both included (PyTorch's start_dim/end_dim). */
tn_tensor *tn_flatten(tn_tensor *t, int start, int stop) {
    if (t->ndim == 0) return tn_reshape(t, 1, (int64_t[]){1});
    int s = tn_wrap_dim(start, t->ndim, "flatten"), e = tn_wrap_dim(stop, t->ndim, "flatten");
    if (s < 0 || e < 0) return NULL;
    if (s > e) {
        tn_error("flatten: start dim %d comes after end dim %d", s + 1, e + 1);
        return NULL;
    }
    int64_t sh[TN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < s; i++) sh[nd++] = t->shape[i];
    int64_t m = 1;
    for (int i = s; i <= e; i++) m *= t->shape[i];
    sh[nd++] = m;
    for (int i = e + 1; i < t->ndim; i++) sh[nd++] = t->shape[i];
    return tn_reshape(t, nd, sh);
}

/* ===================== squeeze / unsqueeze ===================== */

tn_tensor *tn_squeeze(tn_tensor *t, int dim) {
    if (dim == TN_ALL_DIMS) return tn_squeeze_all(t);
    int d = tn_wrap_dim(dim, t->ndim, "squeeze");
    if (d < 0) return NULL;
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == d && t->shape[i] == 1) continue;  /* a dim of size != 1 stays, as PyTorch */
        sh[nd] = t->shape[i];
        st[nd++] = t->stride[i];
    }
    return record1(TN_OP_VIEW, make_view(t, nd, sh, st, t->offset), t, NULL);
}

tn_tensor *tn_squeeze_all(tn_tensor *t) {
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 1) continue;
        sh[nd] = t->shape[i];
        st[nd++] = t->stride[i];
    }
    return record1(TN_OP_VIEW, make_view(t, nd, sh, st, t->offset), t, NULL);
}

tn_tensor *tn_unsqueeze(tn_tensor *t, int dim) {
    if (t->ndim >= TN_MAX_DIMS) {
        tn_error("unsqueeze: the tensor already has %d dims (at most %d)", t->ndim, TN_MAX_DIMS);
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim + 1, "unsqueeze");
    if (d < 0) return NULL;
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    for (int i = 0, j = 0; i <= t->ndim; i++) {
        if (i == d) {
            sh[i] = 1;
            /* any stride works for a size-1 dim; this one keeps it contiguous */
            st[i] = d < t->ndim ? t->stride[d] * t->shape[d] : 1;
        } else {
            sh[i] = t->shape[j];
            st[i] = t->stride[j++];
        }
    }
    return record1(TN_OP_VIEW, make_view(t, t->ndim + 1, sh, st, t->offset), t, NULL);
}

int view_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    /* g has the output's shape; reshape it back to the input's */
    return (gin[0] = tn_reshape(g, n->edges[0].ndim, n->edges[0].shape)) ? 0 : -1;
}

/* ===================== transpose / permute ===================== */

static tn_tensor *permute_checked(tn_tensor *t, const int *perm) {
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        sh[i] = t->shape[perm[i]];
        st[i] = t->stride[perm[i]];
    }
    tn_node *n;
    tn_tensor *out = record1(TN_OP_PERMUTE, make_view(t, t->ndim, sh, st, t->offset), t, &n);
    if (n)
        for (int i = 0; i < t->ndim; i++) n->iarg[i] = perm[i];
    return out;
}

tn_tensor *tn_transpose(tn_tensor *t, int d1, int d2) {
    int a = tn_wrap_dim(d1, t->ndim, "transpose"), b = a < 0 ? -1 : tn_wrap_dim(d2, t->ndim, "transpose");
    if (a < 0 || b < 0) return NULL;
    int perm[TN_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    if (t->ndim > 0) {
        perm[a] = b;
        perm[b] = a;
    }
    return permute_checked(t, perm);
}

tn_tensor *tn_permute(tn_tensor *t, const int *dims) {
    int perm[TN_MAX_DIMS];
    bool seen[TN_MAX_DIMS] = {false};
    for (int i = 0; i < t->ndim; i++) {
        int d = tn_wrap_dim(dims[i], t->ndim, "permute");
        if (d < 0) return NULL;
        if (seen[d]) {
            tn_error("permute: dim %d appears twice in the permutation", d + 1);
            return NULL;
        }
        seen[d] = true;
        perm[i] = d;
    }
    return permute_checked(t, perm);
}

int permute_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    /* out dim i is input dim perm[i]: the inverse sends it back */
    int inv[TN_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inv[n->iarg[i]] = i;
    return (gin[0] = tn_permute(g, inv)) ? 0 : -1;
}

/* ===================== narrow / slice / select ===================== */

/* The view t[..., start:start+len*step:step, ...] along d (already checked). */
static tn_tensor *slice_view(tn_tensor *t, int d, int64_t start, int64_t len, int64_t step) {
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    sh[d] = len;
    st[d] = t->stride[d] * step;
    /* an empty slice may start at the end: keep the offset inside storage */
    int64_t off = t->offset + (len > 0 ? start * t->stride[d] : 0);
    tn_node *n;
    tn_tensor *out = record1(TN_OP_SLICE, make_view(t, t->ndim, sh, st, off), t, &n);
    if (n) {
        n->iarg[0] = d;
        n->iarg[1] = start;
        n->iarg[2] = step;
    }
    return out;
}

tn_tensor *tn_narrow(tn_tensor *t, int dim, int64_t start, int64_t length) {
    if (t->ndim == 0) {
        tn_error("narrow: cannot be applied to a 0-dim tensor");
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim, "narrow");
    if (d < 0) return NULL;
    int64_t size = t->shape[d];
    if (start < 0 && start >= -size) start += size;  /* negative start counts from the end */
    if (start < 0 || start > size || length < 0 || length > size - start) {
        tn_error("narrow: start %lld with length %lld is out of range for dim %d of size %lld",
                 (long long)start + 1, (long long)length, d + 1, (long long)size);
        return NULL;
    }
    return slice_view(t, d, start, length, 1);
}

tn_tensor *tn_slice(tn_tensor *t, int dim, int64_t start, int64_t stop, int64_t step) {
    if (t->ndim == 0) {
        tn_error("slice: cannot be applied to a 0-dim tensor");
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim, "slice");
    if (d < 0) return NULL;
    if (step <= 0) {
        tn_error("slice: step must be positive, got %lld", (long long)step);
        return NULL;
    }
    /* Python's rules: negatives count from the end, then clamp to [0, size] */
    int64_t size = t->shape[d];
    if (start < 0) start += size;
    if (stop < 0) stop += size;
    start = start < 0 ? 0 : start > size ? size : start;
    stop = stop < 0 ? 0 : stop > size ? size : stop;
    int64_t len = stop > start ? (stop - start + step - 1) / step : 0;
    return slice_view(t, d, start, len, step);
}

int slice_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    /* scatter g into zeros of the input's shape through the same slice */
    tn_edge *e = &n->edges[0];
    tn_tensor *z = tn_zeros(g->dtype, e->ndim, e->shape);
    if (!z) return -1;
    int d = (int)n->iarg[0];
    tn_tensor *v = slice_view(z, d, n->iarg[1], g->shape[d], n->iarg[2]);
    int rc = v ? tn_copy_(v, g) : -1;
    tn_release(v);
    if (rc < 0) {
        tn_release(z);
        return -1;
    }
    gin[0] = z;
    return 0;
}

static tn_tensor *select_view(tn_tensor *t, int d, int64_t index) {
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == d) continue;
        sh[nd] = t->shape[i];
        st[nd++] = t->stride[i];
    }
    tn_node *n;
    tn_tensor *out = record1(TN_OP_SELECT,
                             make_view(t, nd, sh, st, t->offset + index * t->stride[d]), t, &n);
    if (n) {
        n->iarg[0] = d;
        n->iarg[1] = index;
    }
    return out;
}

tn_tensor *tn_select(tn_tensor *t, int dim, int64_t index) {
    if (t->ndim == 0) {
        tn_error("select: cannot be applied to a 0-dim tensor");
        return NULL;
    }
    int d = tn_wrap_dim(dim, t->ndim, "select");
    if (d < 0) return NULL;
    int64_t size = t->shape[d];
    int64_t i = index < 0 ? index + size : index;
    if (i < 0 || i >= size) {
        tn_error("select: index %lld is out of range for dim %d of size %lld",
                 (long long)(index < 0 ? index : index + 1), d + 1, (long long)size);
        return NULL;
    }
    return select_view(t, d, i);
}

int select_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_edge *e = &n->edges[0];
    tn_tensor *z = tn_zeros(g->dtype, e->ndim, e->shape);
    if (!z) return -1;
    tn_tensor *v = select_view(z, (int)n->iarg[0], n->iarg[1]);
    int rc = v ? tn_copy_(v, g) : -1;
    tn_release(v);
    if (rc < 0) {
        tn_release(z);
        return -1;
    }
    gin[0] = z;
    return 0;
}

/* ===================== expand ===================== */

tn_tensor *tn_expand(tn_tensor *t, int ndim, const int64_t *shape) {
    if (ndim < t->ndim || ndim > TN_MAX_DIMS) {
        SHAPE_STR(s1, t);
        char s2[160];
        tn_error("expand: the number of sizes (%d) must be at least the tensor's dims (%d) and at "
                 "most %d (expanding %s to %s)", ndim, t->ndim, TN_MAX_DIMS, s1,
                 tn_shape_str(shape, ndim < 0 ? 0 : ndim > TN_MAX_DIMS ? TN_MAX_DIMS : ndim, s2, sizeof s2));
        return NULL;
    }
    int64_t sh[TN_MAX_DIMS], st[TN_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        int64_t want = shape[i];
        if (j < 0) {  /* a new leading dim */
            if (want < 0) {
                char s2[160];
                tn_error("expand: size %lld is not allowed for the new leading dim %d (in %s)",
                         (long long)want, i + 1, tn_shape_str(shape, ndim, s2, sizeof s2));
                return NULL;
            }
            sh[i] = want;
            st[i] = 0;
            continue;
        }
        int64_t have = t->shape[j];
        if (want == -1 || want == have) {
            sh[i] = have;
            st[i] = t->stride[j];
        } else if (have == 1 && want >= 0) {
            sh[i] = want;
            st[i] = 0;
        } else {
            SHAPE_STR(s1, t);
            char s2[160];
            tn_error("expand: the size of dim %d (%lld) must match the new size %lld, or be 1 "
                     "(expanding %s to %s)", j + 1, (long long)have, (long long)want, s1,
                     tn_shape_str(shape, ndim, s2, sizeof s2));
            return NULL;
        }
    }
    /* a broadcast view costs no memory, but its element count must fit int64 */
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (sh[i] && count > INT64_MAX / 16 / sh[i]) {
            SHAPE_STR(s1, t);
            char s2[160];
            tn_error("expand: shape %s is too large (expanding %s)", tn_shape_str(sh, ndim, s2, sizeof s2), s1);
            return NULL;
        }
        count *= sh[i];
    }
    return record1(TN_OP_EXPAND, make_view(t, ndim, sh, st, t->offset), t, NULL);
}

int expand_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return (gin[0] = tn_sum_to(g, n->edges[0].ndim, n->edges[0].shape)) ? 0 : -1;
}

/* ===================== cat / stack ===================== */

/* As PyTorch, a 1-D tensor of size 0 is skipped whatever the other shapes
 * (so `x = cat{x, y}` can start from an empty tensor). */
static bool cat_skipped(const tn_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

/* Checks inputs; sets *ref (the tensor whose shape the others must match),
 * *d (wrapped dim), *dt (promoted dtype), *total (size of the output dim). */
static int cat_check(tn_tensor **ts, int n, int dim, const tn_tensor **ref, int *d, tn_dtype *dt,
                     int64_t *total) {
    if (n <= 0 || !ts) {
        tn_error("cat: expected a non-empty list of tensors");
        return -1;
    }
    *ref = NULL;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) {
            tn_error("cat: entry %d is not a tensor", i + 1);
            return -1;
        }
        if (ts[i]->ndim == 0) {
            tn_error("cat: zero-dimensional tensor (entry %d) cannot be concatenated", i + 1);
            return -1;
        }
        if (!*ref && !cat_skipped(ts[i])) *ref = ts[i];
    }
    if (!*ref) *ref = ts[0];  /* all empty 1-D */
    const tn_tensor *r = *ref;
    *d = tn_wrap_dim(dim, r->ndim, "cat");
    if (*d < 0) return -1;
    *dt = ts[0]->dtype;
    *total = 0;
    for (int i = 0; i < n; i++) {
        tn_tensor *t = ts[i];
        *dt = tn_promote(*dt, t->dtype);
        if (t != r && cat_skipped(t)) continue;
        bool ok = t->ndim == r->ndim;
        for (int k = 0; ok && k < r->ndim; k++)
            if (k != *d && t->shape[k] != r->shape[k]) ok = false;
        if (!ok) {
            char s1[160], s2[160];
            tn_error("cat: sizes of tensors must match except in dim %d: entry %d has shape %s, "
                     "the first has %s", *d + 1, i + 1, tn_shape_str(t->shape, t->ndim, s1, sizeof s1),
                     tn_shape_str(r->shape, r->ndim, s2, sizeof s2));
            return -1;
        }
        *total += t->shape[*d];
    }
    return 0;
}

static tn_tensor *cat_impl(tn_tensor **ts, int n, int dim) {
    const tn_tensor *ref;
    int d;
    tn_dtype dt;
    int64_t total;
    if (cat_check(ts, n, dim, &ref, &d, &dt, &total) < 0) return NULL;
    bool grad = tn_dtype_is_float(dt) && tn_grad_needed(n, ts);
    if (grad && n > TN_NODE_MAX_INPUTS) {
        /* a node has at most TN_NODE_MAX_INPUTS edges: join in groups, then
         * join the groups (each level records its own CAT) */
        int ng = (n + TN_NODE_MAX_INPUTS - 1) / TN_NODE_MAX_INPUTS;
        tn_tensor *parts[64];
        tn_tensor **big = ng <= 64 ? parts : malloc(sizeof *big * (size_t)ng);
        if (!big) {
            tn_error("out of memory");
            return NULL;
        }
        int made = 0;
        for (; made < ng; made++) {
            int lo = made * TN_NODE_MAX_INPUTS, cnt = n - lo < TN_NODE_MAX_INPUTS ? n - lo : TN_NODE_MAX_INPUTS;
            if (!(big[made] = cat_impl(ts + lo, cnt, d))) break;
        }
        tn_tensor *out = made == ng ? cat_impl(big, ng, d) : NULL;
        for (int i = 0; i < made; i++) tn_release(big[i]);
        if (big != parts) free(big);
        return out;
    }
    int64_t sh[TN_MAX_DIMS];
    memcpy(sh, ref->shape, sizeof sh);
    sh[d] = total;
    tn_tensor *out = tn_empty(dt, ref->ndim, sh);
    if (!out) return NULL;
    /* copy each input into its band of the output (converting dtype) */
    bool was = tn_set_grad_enabled(false);
    int64_t at = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        tn_tensor *t = ts[i];
        if (t != ref && cat_skipped(t)) continue;
        int64_t len = t->shape[d];
        if (len == 0) continue;
        tn_tensor *band = slice_view(out, d, at, len, 1);
        rc = band ? tn_copy_(band, t) : -1;
        tn_release(band);
        at += len;
    }
    tn_set_grad_enabled(was);
    if (rc < 0) {
        tn_release(out);
        return NULL;
    }
    if (grad) {
        tn_node *node = tn_record(TN_OP_CAT, out, n, ts);
        if (!node) {
            tn_release(out);
            return NULL;
        }
        node->iarg[0] = d;
    }
    return out;
}

tn_tensor *tn_cat(tn_tensor **ts, int n, int dim) { return cat_impl(ts, n, dim); }

int cat_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    int d = (int)n->iarg[0];
    int64_t at = 0;
    for (int i = 0; i < n->ninputs; i++) {
        tn_edge *e = &n->edges[i];
        bool skipped = e->ndim != g->ndim;  /* an empty 1-D input */
        int64_t len = skipped ? 0 : e->shape[d];
        if (e->fn || e->leaf) {
            if (skipped) gin[i] = tn_zeros(g->dtype, e->ndim, e->shape);
            else gin[i] = slice_view(g, d, at, len, 1);
            if (!gin[i]) return -1;
        }
        at += len;
    }
    return 0;
}

tn_tensor *tn_stack(tn_tensor **ts, int n, int dim) {
    if (n <= 0 || !ts) {
        tn_error("stack: expected a non-empty list of tensors");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!ts[i]) {
            tn_error("stack: entry %d is not a tensor", i + 1);
            return NULL;
        }
        if (!tn_same_shape(ts[i], ts[0])) {
            char s1[160], s2[160];
            tn_error("stack: expects each tensor to be of equal shape, but entry 1 has %s and "
                     "entry %d has %s", tn_shape_str(ts[0]->shape, ts[0]->ndim, s1, sizeof s1),
                     i + 1, tn_shape_str(ts[i]->shape, ts[i]->ndim, s2, sizeof s2));
            return NULL;
        }
    }
    int d = tn_wrap_dim(dim, ts[0]->ndim + 1, "stack");
    if (d < 0) return NULL;
    if (ts[0]->ndim >= TN_MAX_DIMS) {
        tn_error("stack: the tensors already have %d dims (at most %d)", ts[0]->ndim, TN_MAX_DIMS);
        return NULL;
    }
    tn_tensor *small[16];
    tn_tensor **us = n <= 16 ? small : malloc(sizeof *us * (size_t)n);
    if (!us) {
        tn_error("out of memory");
        return NULL;
    }
    int made = 0;
    for (; made < n; made++)
        if (!(us[made] = tn_unsqueeze(ts[made], d))) break;
    tn_tensor *out = made == n ? tn_cat(us, n, d) : NULL;
    for (int i = 0; i < made; i++) tn_release(us[i]);
    if (us != small) free(us);
    return out;
}
