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
 * shape; ndim of operand may be smaller).  The visiting order is free (the
 * kernels are elementwise: no element's result depends on another's), so a
 * short innermost dim may be visited outermost; see iter.c. */
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

/* ---- a vectorisable float32 exp, shared by softmax and the elementwise ops ---- */
#include <math.h>
#include <string.h>

/* exp for float32 lanes: Cephes' expf (range reduction by ln 2, degree-6
 * polynomial, the power of two built from exponent bits in two halves so
 * the whole float range works), within 1e-7 relative, branch-free so the
 * loops around it vectorise (libm's expf is a scalar call).  Below -87.3 it
 * returns 0 (what softmax over masked -inf entries needs).  GCC if-converts
 * the selects only when float compares may be assumed not to trap, hence
 * NO_TRAP on this and on the kernels that inline it. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_TRAP __attribute__((optimize("no-trapping-math")))
#else
#define NO_TRAP
#endif

/* Body of a binary elementwise kernel (elementwise.c, elementwise_math.c):
 * out OT, inputs T, EXPR uses a and b; contiguous and scalar-operand cases
 * get their own loops so the compiler vectorises them. */
#define TN_BIN_BODY(OT, T, EXPR)                                                    \
    OT *o = (OT *)p[0];                                                           \
    const T *x = (const T *)p[1], *y = (const T *)p[2];                           \
    int64_t so = s[0], sx = s[1], sy = s[2];                                      \
    if (so == 1 && sx == 1 && sy == 1) {                                          \
        for (int64_t i = 0; i < n; i++) { T a = x[i], b = y[i]; o[i] = (OT)(EXPR); } \
    } else if (so == 1 && sx == 1 && sy == 0) {                                   \
        T b = y[0];                                                               \
        for (int64_t i = 0; i < n; i++) { T a = x[i]; o[i] = (OT)(EXPR); }        \
    } else if (so == 1 && sx == 0 && sy == 1) {                                   \
        T a = x[0];                                                               \
        for (int64_t i = 0; i < n; i++) { T b = y[i]; o[i] = (OT)(EXPR); }        \
    } else {                                                                      \
        for (int64_t i = 0; i < n; i++) {                                         \
            T a = x[i * sx], b = y[i * sy];                                       \
            o[i * so] = (OT)(EXPR);                                               \
        }                                                                         \
    }

NO_TRAP static inline float tn_exp_f32(float x) {
    float c = x < 88.72283f ? x : 88.72283f;
    c = c > -87.3f ? c : -87.3f;
    float fn = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  /* round */
    float r = c - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    int32_t n = (int32_t)fn, n1 = n >> 1;
    int32_t b1 = (n1 + 127) << 23, b2 = (n - n1 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    y = y * s1 * s2;
    y = x > 88.72283f ? INFINITY : y;
    y = x < -87.3f ? 0.0f : y;
    return x != x ? x : y;
}

/* elementwise.c's helpers, shared with elementwise_math.c: t converted to dt
 * without recording (new reference; t itself when already dt), and an
 * in-place op's finish (t takes r's values and history). */
tn_tensor *tn_as_dtype(tn_tensor *t, tn_dtype dt);
int tn_rebase_inplace(tn_tensor *t, tn_tensor *r);

#endif
