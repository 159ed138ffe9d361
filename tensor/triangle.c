/*
 * triangle.c: tril and triu, the lower and upper triangles of the matrices
 * in the last two dims of a tensor (batch dims before them), with PyTorch's
 * diagonal offset k: tril keeps element (i, j) when j - i <= k, triu when
 * j - i >= k.  Both are masks, so each one's backward is itself applied to
 * the gradient.  Typical use: causal attention masks,
 * ember.ones(T, T):tril():bool().
 */
#include "internal.h"

#include <string.h>

/* A contiguous copy of t (no history) with the dropped triangle zeroed:
 * all-zero bytes are 0 in every dtype (0.0, false), so one memset per row. */
static tn_tensor *triangle_raw(tn_tensor *t, int64_t k, bool lower, const char *op) {
    char s[128];
    if (t->ndim < 2) {
        tn_error("%s: expected a tensor of at least 2 dims (..., rows, cols), got shape %s", op,
                 tn_shape_str(t->shape, t->ndim, s, sizeof s));
        return NULL;
    }
    bool was = tn_set_grad_enabled(false);
    tn_tensor *out = tn_clone(t);
    tn_set_grad_enabled(was);
    if (!out) return NULL;
    int64_t R = t->shape[t->ndim - 2], C = t->shape[t->ndim - 1];
    int64_t mats = R * C > 0 ? t->numel / (R * C) : 0;
    size_t es = tn_dtype_size(t->dtype);
    char *p = tn_data(out);
    for (int64_t b = 0; b < mats; b++) {
        for (int64_t i = 0; i < R; i++) {
            char *row = p + (size_t)((b * R + i) * C) * es;
            /* kept columns: tril j <= i + k, triu j >= i + k (clamped to [0, C]) */
            int64_t edge = i + k;
            if (lower) {
                int64_t from = edge + 1 < 0 ? 0 : edge + 1;
                if (from < C) memset(row + (size_t)from * es, 0, (size_t)(C - from) * es);
            } else {
                int64_t to = edge < 0 ? 0 : edge > C ? C : edge;
                if (to > 0) memset(row, 0, (size_t)to * es);
            }
        }
    }
    return out;
}

static tn_tensor *triangle(tn_tensor *t, int64_t k, bool lower) {
    tn_tensor *out = triangle_raw(t, k, lower, lower ? "tril" : "triu");
    if (out && tn_grad_needed1(t) && tn_dtype_is_float(t->dtype)) {
        tn_node *n = tn_record(lower ? TN_OP_TRIL : TN_OP_TRIU, out, 1, &t);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = k;
    }
    return out;
}

tn_tensor *tn_tril(tn_tensor *t, int64_t k) { return triangle(t, k, true); }
tn_tensor *tn_triu(tn_tensor *t, int64_t k) { return triangle(t, k, false); }

int tril_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return (gin[0] = triangle_raw(g, n->iarg[0], true, "tril")) ? 0 : -1;
}
int triu_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    return (gin[0] = triangle_raw(g, n->iarg[0], false, "triu")) ? 0 : -1;
}
