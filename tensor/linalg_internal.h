/*
 * linalg_internal.h: what the LAPACK-based files of tensor/ (linalg_lu.c,
 * linalg_decomp.c) share: input checks, layout copies between row-major
 * tensors and column-major LAPACK buffers, the raw (history-free) kernels
 * one file's backward needs from the other, and a small scratch pool that
 * keeps the backward rules readable: every intermediate goes into the pool
 * (released in one place), and once one step fails the later ones return
 * NULL without running.
 */
#ifndef TN_LINALG_INTERNAL_H
#define TN_LINALG_INTERNAL_H

#include "internal.h"
#include "lapack.h"

/* float32/float64 with >= 2 dims (square if asked); else an error naming op */
bool la_check(const char *op, const tn_tensor *a, bool square);
/* number of matrices: the product of all dims but the last two */
int64_t la_batch(const tn_tensor *a);
/* contiguous (a itself when it is), never recorded; new reference */
tn_tensor *la_contig(tn_tensor *a);
/* dst (column-major, leading dim rows) <- src (row-major rows x cols), and back */
void la_to_colmajor(tn_dtype dt, const void *src, void *dst, int64_t rows, int64_t cols);
void la_from_colmajor(tn_dtype dt, const void *src, void *dst, int64_t rows, int64_t cols);
/* " (matrix b+1 of nb in the batch)" for messages, empty for one matrix */
void la_item_note(char *buf, size_t n, int64_t b, int64_t nb);
/* scratch memory from the tensor allocator, whose cache of large blocks
 * spares the page faults a fresh malloc of a big buffer costs on every
 * call; *data is NULL on failure; release the returned tensor */
tn_tensor *la_buf(size_t bytes, void **data);
/* false (and the error set) when Ctrl-C arrived */
bool la_poll(const char *op);

/* Runs fn(ctx, b, scratch) for the nb matrices b of a batch (0 or -1 with
 * the error set).  `work` is the flop count of one item (it decides
 * single-threaded BLAS and the split over ember's threads), `scratch` the
 * bytes of scratch one item needs (64-byte aligned; la_align rounds a block).
 * Polls Ctrl-C; on failure the lowest failing item's error is reported. */
typedef int (*la_item_fn)(void *ctx, int64_t b, void *scratch);
int la_run_batch(const char *op, int64_t nb, double work, size_t scratch, la_item_fn fn, void *ctx);
size_t la_align(size_t n);

/* raw kernels (no autograd) */
tn_tensor *la_inv_raw(tn_tensor *a, const char *op);
tn_tensor *la_solve_raw(tn_tensor *a, tn_tensor *b, const char *op);
tn_tensor *la_solve_tri_raw(tn_tensor *a, tn_tensor *b, bool upper, bool unit, const char *op);
int la_lu_det(tn_tensor *a, const char *op, tn_tensor **sign, tn_tensor **logabs, tn_tensor **det);
int la_svd_raw(tn_tensor *a, const char *op, bool full, bool vectors, tn_tensor **u, tn_tensor **s,
               tn_tensor **vh);

/* ---- scratch pool for backward rules ---- */
#define LA_POOL_MAX 48
typedef struct {
    tn_tensor *t[LA_POOL_MAX];
    int n;
    bool fail;
} la_pool;
tn_tensor *la_keep(la_pool *p, tn_tensor *t);  /* takes t (NULL marks failure) */
void la_pool_free(la_pool *p);
tn_tensor *la_result(la_pool *p, tn_tensor *t); /* retains t, frees the pool */
tn_tensor *la_mm(la_pool *p, tn_tensor *a, tn_tensor *b);
tn_tensor *la_mT(la_pool *p, tn_tensor *a);     /* transpose of the last two dims */
tn_tensor *la_mul(la_pool *p, tn_tensor *a, tn_tensor *b);
tn_tensor *la_add(la_pool *p, tn_tensor *a, tn_tensor *b);
tn_tensor *la_sub(la_pool *p, tn_tensor *a, tn_tensor *b);
tn_tensor *la_scale(la_pool *p, tn_tensor *a, double v);
tn_tensor *la_unsq(la_pool *p, tn_tensor *a, int dim);
tn_tensor *la_narrow(la_pool *p, tn_tensor *a, int dim, int64_t len);  /* first len along dim */
tn_tensor *la_copy(la_pool *p, tn_tensor *a);   /* contiguous clone, safe to write */
tn_tensor *la_recip(la_pool *p, tn_tensor *a);

#endif
