/*
 * tensor.h: the public interface of ember's Lua-free C tensor core.
 *
 * Design decisions (read these before adding an op):
 *
 *  - A tn_tensor is a refcounted view: dtype, ndim, shape, strides (in
 *    elements, may be 0 for broadcast dims or negative never), an element
 *    offset, and a reference to a refcounted tn_storage that owns the bytes.
 *    Views (transpose, narrow, expand, ...) are metadata only and share the
 *    storage.  Ownership: whoever receives a tn_tensor* from a function that
 *    "returns a new reference" must tn_release() it.  Arguments are borrowed.
 *
 *  - Errors never longjmp and never abort: a function that fails returns
 *    NULL (or -1), after filling a thread-local message with tn_error();
 *    tn_last_error() reads it.  Messages name the op and the values involved,
 *    e.g. "matmul: shapes [64, 784] and [512, 10] do not match (784 vs 512)".
 *    vm/ turns them into Lua errors after releasing what it holds.
 *
 *  - Indices and dims in C are 0-based.  The 1-based world is vm/'s job.
 *
 *  - Every op is one C function (tn_add, tn_matmul, ...).  It computes the
 *    forward result and, when tn_grad_needed() says an input requires grad
 *    and recording is on, records a tn_node (autograd.h) holding the edges to
 *    its inputs and what its backward needs.  There is no second "autograd
 *    version" of an op: the op *is* the entry point the engine hooks.
 *
 *  - Type promotion follows PyTorch: categories bool < integer < float;
 *    dimensioned tensors outrank 0-dim tensors, which outrank wrapped Lua
 *    numbers (a number is "weak": int64 tensor * 0.5 -> float32,
 *    float32 tensor * 2 -> float32).  See tn_result_type().
 *
 *  - Threads: one notion of "threads" (tn_set_num_threads) drives both
 *    ember's own pool and OpenBLAS.  Parallel loops split work into chunks
 *    whose boundaries do not depend on the thread count, so reductions give
 *    the same bits whatever the thread count.
 */
#ifndef TN_TENSOR_H
#define TN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN_MAX_DIMS 8

typedef enum {
    TN_FLOAT32 = 0,
    TN_FLOAT64,
    TN_INT64,
    TN_INT32,
    TN_UINT8,
    TN_BOOL,
    TN_DTYPE_COUNT
} tn_dtype;

/* Storage: a refcounted block of bytes.  Owned jointly by every tensor that
 * views it.  `version` counts in-place writes (autograd checks it). */
typedef struct tn_storage {
    int refcount;
    uint32_t version;
    size_t nbytes;
    void *data;      /* 64-byte aligned; points into the same allocation */
} tn_storage;

struct tn_node;

typedef struct tn_tensor {
    int refcount;
    tn_dtype dtype;
    int ndim;
    int64_t shape[TN_MAX_DIMS];
    int64_t stride[TN_MAX_DIMS];   /* in elements */
    int64_t offset;                /* in elements, into storage->data */
    int64_t numel;                 /* product of shape (1 for 0-dim) */
    tn_storage *storage;           /* one reference held */
    /* autograd (see autograd.c) */
    bool requires_grad;
    bool is_wrapped_number;        /* a Lua number turned into a 0-dim tensor */
    bool is_view;                  /* shares storage with a tensor that may require grad */
    struct tn_tensor *grad;        /* owned reference or NULL */
    struct tn_node *grad_fn;       /* owned reference or NULL (NULL: leaf) */
} tn_tensor;

/* ---------- errors ---------- */
void tn_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *tn_last_error(void);
/* Formats a shape as "[2, 3]" into buf (returns buf). */
char *tn_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

/* ---------- dtypes ---------- */
size_t tn_dtype_size(tn_dtype dt);
const char *tn_dtype_name(tn_dtype dt);          /* "float32", ... */
int tn_dtype_from_name(const char *name);        /* -1 if unknown */
bool tn_dtype_is_float(tn_dtype dt);
bool tn_dtype_is_int(tn_dtype dt);               /* int64 int32 uint8 (not bool) */
tn_dtype tn_promote(tn_dtype a, tn_dtype b);     /* plain lattice promotion */
tn_dtype tn_result_type(const tn_tensor *a, const tn_tensor *b);

/* ---------- lifecycle ---------- */
tn_tensor *tn_retain(tn_tensor *t);
void tn_release(tn_tensor *t);
/* Bytes of tensor storage currently allocated, and allocated in total
 * (monotonic; vm/ drives the Lua GC from the difference). */
size_t tn_bytes_live(void);
size_t tn_bytes_allocated_total(void);
/* Returns to the system the cached large blocks not reused since the
 * previous trim (vm/ calls it at every garbage-collection step). */
void tn_cache_trim(void);

/* New contiguous tensor, uninitialised data.  New reference or NULL. */
tn_tensor *tn_empty(tn_dtype dt, int ndim, const int64_t *shape);
tn_tensor *tn_zeros(tn_dtype dt, int ndim, const int64_t *shape);
tn_tensor *tn_ones(tn_dtype dt, int ndim, const int64_t *shape);
tn_tensor *tn_full(tn_dtype dt, int ndim, const int64_t *shape, double v);
tn_tensor *tn_scalar(tn_dtype dt, double v);          /* 0-dim */
tn_tensor *tn_scalar_i64(int64_t v);                   /* 0-dim int64, exact */
tn_tensor *tn_wrap_number(double v, bool is_integer); /* weak scalar */
tn_tensor *tn_from_data(tn_dtype dt, int ndim, const int64_t *shape, const void *data);
tn_tensor *tn_arange(double start, double stop, double step, tn_dtype dt);
tn_tensor *tn_linspace(double a, double b, int64_t n, tn_dtype dt);
tn_tensor *tn_eye(int64_t n, int64_t m, tn_dtype dt);

/* ---------- element access ---------- */
static inline void *tn_data(const tn_tensor *t) {
    return (char *)t->storage->data + t->offset * (int64_t)tn_dtype_size(t->dtype);
}
bool tn_is_contiguous(const tn_tensor *t);
double tn_get_flat(const tn_tensor *t, int64_t i);    /* logical row-major index */
int64_t tn_get_flat_i64(const tn_tensor *t, int64_t i);
double tn_item(const tn_tensor *t);                   /* numel must be 1 */
/* Reads element `i` of a raw buffer of dtype dt as double / writes it. */
double tn_load(tn_dtype dt, const void *p, int64_t i);
void tn_store(tn_dtype dt, void *p, int64_t i, double v);

/* ---------- conversion and copies ---------- */
tn_tensor *tn_contiguous(tn_tensor *t);     /* new ref (t itself if already) */
tn_tensor *tn_clone(tn_tensor *t);
tn_tensor *tn_to(tn_tensor *t, tn_dtype dt); /* new ref; t itself when same dtype */
tn_tensor *tn_detach(tn_tensor *t);         /* alias sharing storage, no grad */
int tn_copy_(tn_tensor *dst, tn_tensor *src); /* broadcast src into dst */
int tn_fill_(tn_tensor *t, double v);
int tn_zero_(tn_tensor *t);
int tn_uniform_(tn_tensor *t, double lo, double hi);
int tn_normal_(tn_tensor *t, double mean, double std);

/* ---------- views (metadata only; record autograd) ---------- */
tn_tensor *tn_view(tn_tensor *t, int ndim, const int64_t *shape); /* one -1 */
tn_tensor *tn_reshape(tn_tensor *t, int ndim, const int64_t *shape);
tn_tensor *tn_flatten(tn_tensor *t, int start, int stop);
tn_tensor *tn_squeeze(tn_tensor *t, int dim);    /* negative dims count from the end; TN_ALL_DIMS: all size-1 dims */
tn_tensor *tn_squeeze_all(tn_tensor *t);
tn_tensor *tn_unsqueeze(tn_tensor *t, int dim);
tn_tensor *tn_transpose(tn_tensor *t, int d1, int d2);
tn_tensor *tn_permute(tn_tensor *t, const int *dims);
tn_tensor *tn_narrow(tn_tensor *t, int dim, int64_t start, int64_t length);
tn_tensor *tn_slice(tn_tensor *t, int dim, int64_t start, int64_t stop, int64_t step);
tn_tensor *tn_select(tn_tensor *t, int dim, int64_t index);
tn_tensor *tn_expand(tn_tensor *t, int ndim, const int64_t *shape); /* -1 keeps */
tn_tensor *tn_cat(tn_tensor **ts, int n, int dim);
tn_tensor *tn_stack(tn_tensor **ts, int n, int dim);

/* ---------- elementwise ---------- */
typedef enum {
    TN_U_NEG, TN_U_ABS, TN_U_EXP, TN_U_LOG, TN_U_LOG1P, TN_U_SQRT, TN_U_RSQRT,
    TN_U_SIN, TN_U_COS, TN_U_TANH, TN_U_SIGMOID, TN_U_RELU, TN_U_GELU,
    TN_U_SILU, TN_U_SOFTPLUS, TN_U_FLOOR, TN_U_CEIL, TN_U_ROUND, TN_U_SIGN,
    TN_U_RECIPROCAL, TN_U_LOGICAL_NOT, TN_U_ISNAN, TN_U_COUNT
} tn_unary_kind;

typedef enum {
    TN_B_ADD, TN_B_SUB, TN_B_MUL, TN_B_DIV, TN_B_POW, TN_B_MOD,
    TN_B_MAXIMUM, TN_B_MINIMUM,
    TN_B_EQ, TN_B_NE, TN_B_LT, TN_B_LE, TN_B_GT, TN_B_GE,
    TN_B_AND, TN_B_OR, TN_B_COUNT
} tn_binary_kind;

tn_tensor *tn_unary(tn_unary_kind k, tn_tensor *a);
tn_tensor *tn_binary(tn_binary_kind k, tn_tensor *a, tn_tensor *b);
/* In place: a = a (op) b.  Result dtype must be a's dtype. */
int tn_binary_(tn_binary_kind k, tn_tensor *a, tn_tensor *b);
int tn_unary_(tn_unary_kind k, tn_tensor *a);
tn_tensor *tn_leaky_relu(tn_tensor *a, double slope);
tn_tensor *tn_clamp(tn_tensor *a, double lo, double hi); /* NAN: no bound */
int tn_clamp_(tn_tensor *a, double lo, double hi);
tn_tensor *tn_where(tn_tensor *cond, tn_tensor *a, tn_tensor *b);
tn_tensor *tn_masked_fill(tn_tensor *a, tn_tensor *mask, double v);

/* convenience wrappers (same as tn_binary/tn_unary) */
tn_tensor *tn_add(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_sub(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_mul(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_div(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_add_scalar(tn_tensor *a, double v);
tn_tensor *tn_mul_scalar(tn_tensor *a, double v);
tn_tensor *tn_pow_scalar(tn_tensor *a, double v);

/* ---------- more elementwise math (elementwise_math.c) ---------- */
/* Float functions of integer or bool inputs compute in float32, as PyTorch. */
typedef enum {
    TN_M_LOG2, TN_M_LOG10, TN_M_EXPM1, TN_M_EXP2, TN_M_ERF, TN_M_ERFC, TN_M_ERFINV,
    TN_M_SINH, TN_M_COSH, TN_M_ASIN, TN_M_ACOS, TN_M_ATAN, TN_M_ASINH, TN_M_ACOSH,
    TN_M_ATANH, TN_M_TRUNC, TN_M_FRAC, TN_M_SQUARE, TN_M_SINC, TN_M_DEG2RAD,
    TN_M_RAD2DEG, TN_M_LGAMMA, TN_M_DIGAMMA,
    /* predicates: bool results, no gradient */
    TN_M_ISINF, TN_M_ISFINITE, TN_M_ISPOSINF, TN_M_ISNEGINF, TN_M_COUNT
} tn_math_unary_kind;

typedef enum {
    TN_MB_ATAN2, TN_MB_HYPOT, TN_MB_FMOD, TN_MB_FLOOR_DIVIDE, TN_MB_LOGICAL_XOR,
    TN_MB_COPYSIGN, TN_MB_XLOGY, TN_MB_LOGADDEXP, TN_MB_LOGADDEXP2, TN_MB_COUNT
} tn_math_binary_kind;

const char *tn_math_unary_name(tn_math_unary_kind k);
const char *tn_math_binary_name(tn_math_binary_kind k);
tn_tensor *tn_math_unary(tn_math_unary_kind k, tn_tensor *a);
int tn_math_unary_(tn_math_unary_kind k, tn_tensor *a);
/* Broadcasting, PyTorch promotion (fmod keeps C's sign rule: the sign of a;
 * floor_divide rounds toward -inf; integer division by zero is an error). */
tn_tensor *tn_math_binary(tn_math_binary_kind k, tn_tensor *a, tn_tensor *b);
int tn_math_binary_(tn_math_binary_kind k, tn_tensor *a, tn_tensor *b);
/* log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps >= 0. */
tn_tensor *tn_logit(tn_tensor *a, double eps);
int tn_logit_(tn_tensor *a, double eps);
/* NaN -> nan, +inf -> posinf, -inf -> neginf; NULL posinf/neginf: the
 * dtype's largest / lowest finite value.  Integer tensors are copied. */
tn_tensor *tn_nan_to_num(tn_tensor *a, double nan, const double *posinf, const double *neginf);
int tn_nan_to_num_(tn_tensor *a, double nan, const double *posinf, const double *neginf);
/* a + w * (b - a); a, b (and a tensor w) float of one dtype, broadcasting. */
tn_tensor *tn_lerp(tn_tensor *a, tn_tensor *b, tn_tensor *w);

/* ---------- reductions ---------- */
/* dims: a list of 0-based dims (ndims == 0 means all dims). */
typedef enum {
    TN_R_SUM, TN_R_MEAN, TN_R_PROD, TN_R_MAX, TN_R_MIN, TN_R_ALL, TN_R_ANY,
    TN_R_LOGSUMEXP, TN_R_NORM, TN_R_COUNT
} tn_reduce_kind;
tn_tensor *tn_reduce(tn_reduce_kind k, tn_tensor *t, const int *dims, int ndims,
                     bool keepdim);
tn_tensor *tn_sum(tn_tensor *t, int dim, bool keepdim);   /* dim < -ndim... use TN_ALL */
#define TN_ALL_DIMS (-1000)
tn_tensor *tn_mean(tn_tensor *t, int dim, bool keepdim);
tn_tensor *tn_var(tn_tensor *t, int dim, bool keepdim, int correction);
tn_tensor *tn_std(tn_tensor *t, int dim, bool keepdim, int correction);
tn_tensor *tn_norm(tn_tensor *t, double p, int dim, bool keepdim);
/* max/min along a dim: values and 0-based int64 indices (both new refs). */
int tn_max_dim(tn_tensor *t, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices);
int tn_min_dim(tn_tensor *t, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices);
tn_tensor *tn_argmax(tn_tensor *t, int dim, bool keepdim);  /* dim TN_ALL_DIMS: flat */
tn_tensor *tn_argmin(tn_tensor *t, int dim, bool keepdim);
tn_tensor *tn_cumsum(tn_tensor *t, int dim);
tn_tensor *tn_softmax(tn_tensor *t, int dim);
tn_tensor *tn_log_softmax(tn_tensor *t, int dim);
int tn_sort(tn_tensor *t, int dim, bool descending, tn_tensor **values, tn_tensor **indices);
int tn_topk(tn_tensor *t, int64_t k, int dim, bool largest, tn_tensor **values, tn_tensor **indices);
/* Sums `t` down to `shape` (the reverse of broadcasting). */
tn_tensor *tn_sum_to(tn_tensor *t, int ndim, const int64_t *shape);

/* ---------- indexing ---------- */
tn_tensor *tn_index_select(tn_tensor *t, int dim, tn_tensor *index);  /* 0-based */
tn_tensor *tn_gather(tn_tensor *t, int dim, tn_tensor *index);
tn_tensor *tn_scatter_add(tn_tensor *t, int dim, tn_tensor *index, tn_tensor *src);
tn_tensor *tn_one_hot(tn_tensor *index, int64_t num_classes);         /* 0-based in */
tn_tensor *tn_masked_select(tn_tensor *t, tn_tensor *mask);
int tn_masked_assign_(tn_tensor *t, tn_tensor *mask, tn_tensor *src);  /* src broadcast or numel==count */
tn_tensor *tn_nonzero(tn_tensor *t);

/* ---------- linear algebra (OpenBLAS) ---------- */
tn_tensor *tn_matmul(tn_tensor *a, tn_tensor *b);
/* the lower / upper triangle of the last two dims, diagonal offset k (triangle.c) */
tn_tensor *tn_tril(tn_tensor *t, int64_t k);
tn_tensor *tn_triu(tn_tensor *t, int64_t k);
tn_tensor *tn_mm(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_bmm(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_mv(tn_tensor *a, tn_tensor *v);
tn_tensor *tn_dot(tn_tensor *a, tn_tensor *b);
tn_tensor *tn_outer(tn_tensor *a, tn_tensor *b);

/* ---------- dense linear algebra on LAPACK (linalg_lu.c, linalg_decomp.c) ----------
 * Matrices are the last two dims, batched over the leading ones; float32 or
 * float64 (other dtypes are an error).  Multi-output functions return 0 and
 * new references, or -1. */
tn_tensor *tn_linalg_inv(tn_tensor *a);
tn_tensor *tn_linalg_det(tn_tensor *a);
int tn_linalg_slogdet(tn_tensor *a, tn_tensor **sign, tn_tensor **logabsdet);
/* A X = B; B (..., n, k) or a (batch of) vector(s) as torch.linalg.solve */
tn_tensor *tn_linalg_solve(tn_tensor *a, tn_tensor *b);
/* A X = B for triangular A (the upper or lower triangle read), B (..., n, k) */
tn_tensor *tn_linalg_solve_triangular(tn_tensor *a, tn_tensor *b, bool upper, bool unitriangular);
tn_tensor *tn_linalg_cholesky(tn_tensor *a);                 /* lower L */
/* eigenvalues ascending; upper: read A's upper triangle; v may be NULL
 * when !vectors */
int tn_linalg_eigh(tn_tensor *a, bool upper, bool vectors, tn_tensor **w, tn_tensor **v);
/* S descending; u, vh unused when !vectors */
int tn_linalg_svd(tn_tensor *a, bool full, bool vectors, tn_tensor **u, tn_tensor **s, tn_tensor **vh);
/* LU with partial pivoting, as LAPACK getrf: LU packed (..., m, n), pivots
 * int32 (..., min(m, n)), 1-based as in LAPACK and torch; lu unpacks it to
 * A = P L U; lu_solve solves A X = B (adjoint: A^T X = B).  No gradient. */
int tn_linalg_lu_factor(tn_tensor *a, tn_tensor **lu, tn_tensor **pivots);
int tn_linalg_lu(tn_tensor *a, tn_tensor **p, tn_tensor **l, tn_tensor **u);
tn_tensor *tn_linalg_lu_solve(tn_tensor *lu, tn_tensor *pivots, tn_tensor *b, bool adjoint);
/* mode 0 reduced, 1 complete, 2 r (q is an empty tensor) */
int tn_linalg_qr(tn_tensor *a, int mode, tn_tensor **q, tn_tensor **r);

/* ---------- random (counter-based; see random.c) ---------- */
void tn_manual_seed(uint64_t seed);
uint64_t tn_initial_seed(void);
/* Reserves n consecutive counters of the global stream; returns the first. */
uint64_t tn_rng_reserve(uint64_t n);
uint64_t tn_rng_bits(uint64_t seed, uint64_t counter);     /* 64 random bits */
double tn_rng_uniform01(uint64_t seed, uint64_t counter);  /* [0, 1) */
tn_tensor *tn_rand(tn_dtype dt, int ndim, const int64_t *shape);
tn_tensor *tn_randn(tn_dtype dt, int ndim, const int64_t *shape);
tn_tensor *tn_randint(int64_t lo, int64_t hi, int ndim, const int64_t *shape); /* [lo, hi) */
tn_tensor *tn_randperm(int64_t n);   /* 0-based permutation */

/* ---------- threads ---------- */
void tn_set_num_threads(int n);
int tn_get_num_threads(void);
/* Runs fn(ctx, lo, hi) over [0, n) in chunks of at least `grain`.
 * Runs serially when n < grain * 2 or one thread.  Chunk boundaries depend
 * only on n and grain. */
typedef void (*tn_range_fn)(void *ctx, int64_t lo, int64_t hi);
void tn_parallel_for(int64_t n, int64_t grain, tn_range_fn fn, void *ctx);

/* ---------- interruption ---------- */
/* Set asynchronously (SIGINT handler); long kernels poll it and fail with
 * "interrupted".  vm/ clears it before running user code. */
extern volatile int tn_interrupt_flag;
static inline bool tn_interrupted(void) { return tn_interrupt_flag != 0; }

/* ---------- shape helpers ---------- */
int tn_wrap_dim(int dim, int ndim, const char *op);  /* -1 on error (message set) */
int tn_broadcast_shapes(const int64_t *a, int na, const int64_t *b, int nb,
                        int64_t *out, const char *op);  /* returns ndim or -1 */
bool tn_same_shape(const tn_tensor *a, const tn_tensor *b);

/* ---------- statistics (stats.c) and sampling (sample.c) ---------- */
/* Scans along dim (0-based; a 0-dim tensor takes 0 or -1). */
tn_tensor *tn_cumprod(tn_tensor *t, int dim);           /* ints -> int64 */
tn_tensor *tn_logcumsumexp(tn_tensor *t, int dim);      /* float only */
/* Running max / min: values and 0-based int64 indices (ties and NaN: the later index). */
int tn_cummax(tn_tensor *t, int dim, tn_tensor **values, tn_tensor **indices);
int tn_cummin(tn_tensor *t, int dim, tn_tensor **values, tn_tensor **indices);
/* Most frequent value along dim (smallest on ties) and its last 0-based index. */
int tn_mode(tn_tensor *t, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices);
/* k-th smallest (k 0-based) along dim, and the lower median (NaN when a NaN
 * is present; ignore_nan: of the non-NaN entries), by selection: values and
 * 0-based indices, the elements a stable sort would put at that rank. */
int tn_kthvalue(tn_tensor *t, int64_t k, int dim, bool keepdim, tn_tensor **values, tn_tensor **indices);
int tn_median_dim(tn_tensor *t, int dim, bool keepdim, bool ignore_nan, tn_tensor **values,
                  tn_tensor **indices);
/* Sorted distinct values (consecutive: distinct runs, in order) of the
 * flattened tensor (dim TN_ALL_DIMS) or of the slices along dim; inverse
 * (0-based group of each element / slice) and counts per group.  All three
 * outputs are new references. */
int tn_unique(tn_tensor *t, int dim, bool consecutive, tn_tensor **values, tn_tensor **inverse,
              tn_tensor **counts);
/* Counts of the values first, first+1, ... of a 1-D integer tensor (bin k
 * counts value first + k), weighted when weights is given; at least
 * minlength bins.  PyTorch's bincount is first = 0. */
tn_tensor *tn_bincount(tn_tensor *t, tn_tensor *weights, int64_t minlength, int64_t first);
/* Histogram of bins equal-width bins over [lo, hi] (lo == hi: the data's range). */
tn_tensor *tn_histc(tn_tensor *t, int64_t bins, double lo, double hi);
/* 0-based insertion points of values into the sorted last dim of `sorted`. */
tn_tensor *tn_searchsorted(tn_tensor *sorted, tn_tensor *values, bool right);
/* n 0-based category draws per row of 1-D or 2-D probabilities. */
tn_tensor *tn_multinomial(tn_tensor *probs, int64_t n, bool replacement);
tn_tensor *tn_bernoulli(tn_tensor *p);                  /* 0/1 with probabilities p */
int tn_bernoulli_(tn_tensor *t, tn_tensor *p);          /* p broadcast to t */
tn_tensor *tn_poisson(tn_tensor *rates);

#endif
