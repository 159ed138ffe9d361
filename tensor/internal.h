/*
 * internal.h: helpers shared by the files of tensor/, not part of the public
 * interface: aliasing, the strided/broadcast iterator, and small utilities.
 */
#ifndef TN_INTERNAL_H
#define TN_INTERNAL_H

#include "tensor.h"
#include "autograd.h"

/* A new header over t's storage with the given geometry (no history). */
tn_tensor *tn_alias(tn_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset);

/* ---- multi-operand strided iteration ----
 * Up to TN_ITER_MAX operands share one iteration shape (already broadcast:
 * a broadcast dim has stride 0).  Dims are coalesced where possible so a
 * contiguous case becomes one long 1-D loop.  Strides are in elements. */
#define TN_ITER_MAX 4
typedef struct {
    int nops;
    int ndim;                               /* after coalescing, >= 1 */
    int64_t shape[TN_MAX_DIMS];
    int64_t stride[TN_ITER_MAX][TN_MAX_DIMS];
    char *base[TN_ITER_MAX];                /* data pointers at offset */
    size_t esize[TN_ITER_MAX];
    int64_t numel;
} tn_iter;

/* Builds an iterator over `shape` for the operands (each must broadcast to
 * shape; ndim of operand may be smaller). */
int tn_iter_init(tn_iter *it, int nops, tn_tensor *const *ops, int ndim, const int64_t *shape);
/* Inner-loop callback: n elements, pointers and element strides per operand. */
typedef void (*tn_inner_fn)(void *ctx, int64_t n, char **ptrs, const int64_t *strides);
/* Runs the iteration, in parallel over the outer dims when large enough. */
void tn_iter_run(tn_iter *it, tn_inner_fn fn, void *ctx);

/* Broadcast-expanded strides of t for an output of `ndim` dims/`shape`. */
void tn_broadcast_strides(const tn_tensor *t, int ndim, const int64_t *shape, int64_t *stride);

/* Backward rules of tensor/ ops, declared from the op table. */
#define TN_OP(id, name, backward) int backward(tn_node *, tn_tensor *, tn_tensor **);
#include "ops.def"
#undef TN_OP

/* Elements per parallel chunk for cheap elementwise loops. */
#define TN_GRAIN 32768

/* logsumexp of a float tensor along one dim, no autograd (sort.c; the fused
 * path of reduce.c's logsumexp). */
tn_tensor *tn_logsumexp_dim_raw(tn_tensor *t, int d, bool keepdim);

#endif
