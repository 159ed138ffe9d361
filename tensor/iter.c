/*
 * iter.c: the strided, broadcasting, multi-operand iterator that every
 * elementwise loop runs on.
 *
 * An iteration covers one shape; each operand contributes a data pointer and
 * per-dim strides (0 on broadcast dims).  Adjacent dims are merged when every
 * operand steps through them contiguously, so a contiguous op is a single
 * 1-D loop and the typed inner kernels see long runs with stride 1 (which
 * the compiler vectorises), and a short innermost dim is swapped for a long
 * one.  Large iterations are split over the thread pool by linear element
 * ranges, whose boundaries depend only on the size.
 */
#include "internal.h"

#include <string.h>

void tn_broadcast_strides(const tn_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    int off = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - off;
        stride[i] = (j < 0 || t->shape[j] == 1) ? 0 : t->stride[j];
    }
}

/* When the innermost dim is short (a transposed (n, 2) matrix, cat along a
 * short last dim, a (n, 3) + (3) broadcast) and another dim is much longer,
 * visit that one innermost: the kernel then gets a few long strided runs
 * instead of one call per couple of elements (a (1e6, 2) transpose copy
 * went from 7.2 to 0.6 ms; tests/bench/layout.lua).  Elementwise kernels
 * give the same result in any order. */
static void longest_inner(tn_iter *it) {
    int last = it->ndim - 1, best = last;
    if (last < 1 || it->shape[last] >= 16) return;
    for (int d = 0; d < last; d++)
        if (it->shape[d] > it->shape[best]) best = d;
    if (best == last || it->shape[best] < 4 * it->shape[last]) return;
    /* only when its steps stay within a cache line for every operand: a long
     * dim with wide steps (a channel permute, stride 24) would touch a new
     * line per element and be slower than the short runs */
    for (int k = 0; k < it->nops; k++) {
        int64_t step = it->stride[k][best] * (int64_t)it->esize[k];
        if (step > 64 || step < -64) return;
    }
    /* rotate dim `best` to the end, keeping the others in order */
    int64_t sh = it->shape[best];
    int64_t st[TN_ITER_MAX];
    for (int k = 0; k < it->nops; k++) st[k] = it->stride[k][best];
    for (int d = best; d < last; d++) {
        it->shape[d] = it->shape[d + 1];
        for (int k = 0; k < it->nops; k++) it->stride[k][d] = it->stride[k][d + 1];
    }
    it->shape[last] = sh;
    for (int k = 0; k < it->nops; k++) it->stride[k][last] = st[k];
}

int tn_iter_init(tn_iter *it, int nops, tn_tensor *const *ops, int ndim, const int64_t *shape) {
    memset(it, 0, sizeof *it);
    it->nops = nops;
    it->numel = 1;
    for (int i = 0; i < ndim; i++) it->numel *= shape[i];
    int64_t full[TN_ITER_MAX][TN_MAX_DIMS];
    for (int k = 0; k < nops; k++) {
        tn_broadcast_strides(ops[k], ndim, shape, full[k]);
        it->base[k] = tn_data(ops[k]);
        it->esize[k] = tn_dtype_size(ops[k]->dtype);
    }
    /* drop size-1 dims, then merge dims that are contiguous for every operand */
    int nd = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue;
        bool merge = nd > 0;
        for (int k = 0; k < nops && merge; k++)
            if (it->stride[k][nd - 1] != full[k][i] * shape[i]) merge = false;
        if (merge) {
            it->shape[nd - 1] *= shape[i];
            for (int k = 0; k < nops; k++) it->stride[k][nd - 1] = full[k][i];
        } else {
            it->shape[nd] = shape[i];
            for (int k = 0; k < nops; k++) it->stride[k][nd] = full[k][i];
            nd++;
        }
    }
    if (nd == 0) {
        it->shape[0] = 1;
        nd = 1;
    }
    it->ndim = nd;
    longest_inner(it);
    return 0;
}

typedef struct {
    tn_iter *it;
    tn_inner_fn fn;
    void *ctx;
} run_ctx;

static void iter_range(void *vctx, int64_t lo, int64_t hi) {
    run_ctx *rc = vctx;
    tn_iter *it = rc->it;
    int nd = it->ndim, last = nd - 1;
    int64_t idx[TN_MAX_DIMS];
    int64_t rem = lo;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
    }
    int64_t inner_stride[TN_ITER_MAX];
    for (int k = 0; k < it->nops; k++) inner_stride[k] = it->stride[k][last];
    while (lo < hi) {
        int64_t n = it->shape[last] - idx[last];
        if (n > hi - lo) n = hi - lo;
        char *ptrs[TN_ITER_MAX];
        for (int k = 0; k < it->nops; k++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++) off += idx[d] * it->stride[k][d];
            ptrs[k] = it->base[k] + off * (int64_t)it->esize[k];
        }
        rc->fn(rc->ctx, n, ptrs, inner_stride);
        lo += n;
        idx[last] += n;
        for (int d = last; d > 0 && idx[d] >= it->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void tn_iter_run(tn_iter *it, tn_inner_fn fn, void *ctx) {
    run_ctx rc = {it, fn, ctx};
    if (it->numel == 0) return;
    if (it->numel < 2 * TN_GRAIN) {
        iter_range(&rc, 0, it->numel);
        return;
    }
    tn_parallel_for(it->numel, TN_GRAIN, iter_range, &rc);
}
