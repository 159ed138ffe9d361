/*
 * linalg_lu.c: the LU-based dense linear algebra of ember.linalg on LAPACK
 * (getrf / getri / getrs, and BLAS trsm): inv, det, slogdet, solve,
 * solve_triangular and lu_factor / lu / lu_solve, batched over leading dims,
 * float32 and float64, with their backward rules beside them.  Also the
 * shared plumbing of the linalg files (linalg_internal.h): input checks,
 * row-major <-> column-major copies, and the scratch pool backward rules use.
 *
 * Layout: tensors are row-major; LAPACK is column-major.  A row-major n x n
 * buffer read by LAPACK is the transpose of the matrix, and most LU work
 * exploits that instead of copying: getrf on the row-major buffer of A
 * factors A^T, whose triangles read row-major let two row-major trsm calls
 * solve A X = B in place on X (solve_item); inv inverts A^T in place
 * (getri), which read back row-major is inv(A).
 *
 * A singular matrix is an error naming the function and the batch item,
 * never a crash; det and slogdet return 0 and (0, -inf) for it, as PyTorch.
 */
#include "linalg_internal.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- shared helpers (declared in linalg_internal.h) ---------- */

bool la_check(const char *op, const tn_tensor *a, bool square) {
    char s[128];
    if (a->ndim < 2) {
        tn_error("%s: expected a tensor of at least 2 dims (..., rows, cols), got shape %s", op,
                 tn_shape_str(a->shape, a->ndim, s, sizeof s));
        return false;
    }
    if (a->dtype != TN_FLOAT32 && a->dtype != TN_FLOAT64) {
        tn_error("%s: expected a float32 or float64 tensor, got %s (convert with :float() or :double())", op,
                 tn_dtype_name(a->dtype));
        return false;
    }
    int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1];
    if (square && m != n) {
        tn_error("%s: expected square matrices in the last two dims, got shape %s", op,
                 tn_shape_str(a->shape, a->ndim, s, sizeof s));
        return false;
    }
    if (m > INT_MAX / 2 || n > INT_MAX / 2) {
        tn_error("%s: matrices of shape %s are too large for LAPACK", op,
                 tn_shape_str(a->shape, a->ndim, s, sizeof s));
        return false;
    }
    return true;
}

int64_t la_batch(const tn_tensor *a) {
    int64_t b = 1;
    for (int i = 0; i < a->ndim - 2; i++) b *= a->shape[i];
    return b;
}

tn_tensor *la_contig(tn_tensor *a) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *c = tn_contiguous(a);
    tn_set_grad_enabled(was);
    return c;
}

/* Transposing copies in 32 x 32 tiles, so both the reads and the writes
 * stay within a few cache lines per tile (a plain double loop strides a
 * whole row per element on one side). */
#define LA_TILE 32
#define TRANSPOSE(T, src, dst, rows, cols, src_at, dst_at)                                      \
    do {                                                                                        \
        const T *s_ = (src);                                                                    \
        T *d_ = (dst);                                                                          \
        for (int64_t i0 = 0; i0 < (rows); i0 += LA_TILE)                                        \
            for (int64_t j0 = 0; j0 < (cols); j0 += LA_TILE) {                                  \
                int64_t i1 = i0 + LA_TILE < (rows) ? i0 + LA_TILE : (rows);                     \
                int64_t j1 = j0 + LA_TILE < (cols) ? j0 + LA_TILE : (cols);                     \
                for (int64_t i = i0; i < i1; i++)                                               \
                    for (int64_t j = j0; j < j1; j++) d_[dst_at] = s_[src_at];                  \
            }                                                                                   \
    } while (0)

void la_to_colmajor(tn_dtype dt, const void *src, void *dst, int64_t rows, int64_t cols) {
    if (dt == TN_FLOAT32) TRANSPOSE(float, src, dst, rows, cols, i * cols + j, i + j * rows);
    else TRANSPOSE(double, src, dst, rows, cols, i * cols + j, i + j * rows);
}

void la_from_colmajor(tn_dtype dt, const void *src, void *dst, int64_t rows, int64_t cols) {
    if (dt == TN_FLOAT32) TRANSPOSE(float, src, dst, rows, cols, i + j * rows, i * cols + j);
    else TRANSPOSE(double, src, dst, rows, cols, i + j * rows, i * cols + j);
}

void la_item_note(char *buf, size_t n, int64_t b, int64_t nb) {
    if (nb > 1) snprintf(buf, n, " (matrix %lld of %lld in the batch)", (long long)b + 1, (long long)nb);
    else buf[0] = 0;
}

tn_tensor *la_buf(size_t bytes, void **data) {
    tn_tensor *t = tn_empty(TN_UINT8, 1, (int64_t[]){(int64_t)(bytes > 0 ? bytes : 1)});
    *data = t ? tn_data(t) : NULL;
    return t;
}

bool la_poll(const char *op) {
    if (!tn_interrupted()) return true;
    tn_error("%s: interrupted", op);
    return false;
}

tn_tensor *la_keep(la_pool *p, tn_tensor *t) {
    if (!t) {
        p->fail = true;
        return NULL;
    }
    if (p->n == LA_POOL_MAX) {
        tn_release(t);
        tn_error("linalg: internal scratch pool exhausted");
        p->fail = true;
        return NULL;
    }
    return p->t[p->n++] = t;
}

void la_pool_free(la_pool *p) {
    for (int i = 0; i < p->n; i++) tn_release(p->t[i]);
    p->n = 0;
}

tn_tensor *la_result(la_pool *p, tn_tensor *t) {
    tn_tensor *r = p->fail || !t ? NULL : tn_retain(t);
    la_pool_free(p);
    return r;
}

/* ---------- the batch runner ---------- */

/* OpenBLAS threads its LAPACK routines even for tiny matrices, where waking
 * the pool costs more than the work (getrs on 4 x 4 matrices ran 15 times
 * slower with two threads than with one).  Small matrices therefore run with
 * single-threaded OpenBLAS, and a batch of them is split over ember's pool
 * instead (as linalg.c does for batched products): each chunk gets its own
 * scratch, and the error of the lowest failing matrix is reported, so the
 * result and the message do not depend on the thread count. */
extern void openblas_set_num_threads(int);

#define LA_SMALL_WORK (64.0 * 64 * 64)     /* below: single-threaded BLAS */
#define LA_PARALLEL_WORK (256.0 * 256 * 256) /* up to: one matrix per thread */

typedef struct {
    la_item_fn fn;
    void *ctx;
    size_t scratch;
    const char *op;
    pthread_mutex_t mu;
    int64_t fail_at;   /* lowest failing item, INT64_MAX while none */
    char msg[512];
} run_ctx;

static void run_fail(run_ctx *r, int64_t b, const char *msg) {
    pthread_mutex_lock(&r->mu);
    if (b < r->fail_at) {
        r->fail_at = b;
        snprintf(r->msg, sizeof r->msg, "%s", msg);
    }
    pthread_mutex_unlock(&r->mu);
}

static int64_t run_failed_at(run_ctx *r) {
    pthread_mutex_lock(&r->mu);
    int64_t f = r->fail_at;
    pthread_mutex_unlock(&r->mu);
    return f;
}

static void run_range(void *v, int64_t lo, int64_t hi) {
    run_ctx *r = v;
    char *s = malloc(r->scratch > 0 ? r->scratch : 1);
    if (!s) {
        char m[128];
        snprintf(m, sizeof m, "%s: out of memory", r->op);
        run_fail(r, lo, m);
        return;
    }
    for (int64_t b = lo; b < hi && run_failed_at(r) > b; b++) {
        if (tn_interrupted()) {
            char m[128];
            snprintf(m, sizeof m, "%s: interrupted", r->op);
            run_fail(r, b, m);
            break;
        }
        if (r->fn(r->ctx, b, s) < 0) {
            run_fail(r, b, tn_last_error());
            break;
        }
    }
    free(s);
}

int la_run_batch(const char *op, int64_t nb, double work, size_t scratch, la_item_fn fn, void *ctx) {
    if (nb <= 0) return 0;
    int threads = tn_get_num_threads();
    int64_t grain = (int64_t)(LA_SMALL_WORK / (work + 1)) + 1;
    if (threads >= 2 && work <= LA_PARALLEL_WORK && nb >= 2 * grain) {
        run_ctx r = {fn, ctx, scratch, op, PTHREAD_MUTEX_INITIALIZER, INT64_MAX, {0}};
        openblas_set_num_threads(1);
        tn_parallel_for(nb, grain, run_range, &r);
        openblas_set_num_threads(threads);
        pthread_mutex_destroy(&r.mu);
        if (r.fail_at == INT64_MAX) return 0;
        tn_error("%s", r.msg);
        return -1;
    }
    /* serial: one scratch buffer from the tensor allocator's cache */
    void *s;
    tn_tensor *hold = la_buf(scratch, &s);
    if (!s) {
        tn_error("%s: out of memory", op);
        return -1;
    }
    bool small = work < LA_SMALL_WORK && threads > 1;
    if (small) openblas_set_num_threads(1);
    int rc = 0;
    for (int64_t b = 0; b < nb && rc == 0; b++) {
        if (!la_poll(op) || fn(ctx, b, s) < 0) rc = -1;
    }
    if (small) openblas_set_num_threads(threads);
    tn_release(hold);
    return rc;
}

/* scratch layout: blocks rounded up to 64 bytes */
size_t la_align(size_t n) { return (n + 63) & ~(size_t)63; }

/* the pool's shorthands: each returns NULL once anything failed */
#define OK (!p->fail)
tn_tensor *la_mm(la_pool *p, tn_tensor *a, tn_tensor *b) { return OK ? la_keep(p, tn_matmul(a, b)) : NULL; }
tn_tensor *la_mT(la_pool *p, tn_tensor *a) { return OK ? la_keep(p, tn_transpose(a, -2, -1)) : NULL; }
tn_tensor *la_mul(la_pool *p, tn_tensor *a, tn_tensor *b) { return OK ? la_keep(p, tn_mul(a, b)) : NULL; }
tn_tensor *la_add(la_pool *p, tn_tensor *a, tn_tensor *b) { return OK ? la_keep(p, tn_add(a, b)) : NULL; }
tn_tensor *la_sub(la_pool *p, tn_tensor *a, tn_tensor *b) { return OK ? la_keep(p, tn_sub(a, b)) : NULL; }
tn_tensor *la_scale(la_pool *p, tn_tensor *a, double v) { return OK ? la_keep(p, tn_mul_scalar(a, v)) : NULL; }
tn_tensor *la_unsq(la_pool *p, tn_tensor *a, int dim) { return OK ? la_keep(p, tn_unsqueeze(a, dim)) : NULL; }
tn_tensor *la_narrow(la_pool *p, tn_tensor *a, int dim, int64_t len) {
    return OK ? la_keep(p, tn_narrow(a, dim, 0, len)) : NULL;
}
tn_tensor *la_copy(la_pool *p, tn_tensor *a) { return OK ? la_keep(p, tn_clone(a)) : NULL; }
tn_tensor *la_recip(la_pool *p, tn_tensor *a) { return OK ? la_keep(p, tn_unary(TN_U_RECIPROCAL, a)) : NULL; }
#undef OK

/* ---------- LU factorization ---------- */

/* Factors the n x n column-major matrix in `lu` in place (for a row-major
 * buffer that is the transpose: det and solves account for it); returns
 * LAPACK's info (> 0: exactly singular). */
static int lu_factor(tn_dtype dt, void *lu, int n, int *ipiv) {
    int info = 0, ld = n > 1 ? n : 1;
    if (n == 0) return 0;
    if (dt == TN_FLOAT32) sgetrf_(&n, &n, lu, &ld, ipiv, &info);
    else dgetrf_(&n, &n, lu, &ld, ipiv, &info);
    return info;
}

static void lapack_bug(const char *op, const char *routine, int info) {
    tn_error("%s: LAPACK %s rejected argument %d (a bug in ember)", op, routine, -info);
}

/* ---------- inv ---------- */

/* inv of every matrix of a float (..., n, n) tensor; no history. */
typedef struct {
    tn_dtype dt;
    int n, lwork;
    int64_t nb;
    const char *src, *op;
    char *dst;
} inv_ctx;

/* scratch: ipiv (n ints), then getri's work (lwork elements) */
static int inv_item(void *v, int64_t b, void *scratch) {
    inv_ctx *c = v;
    int n = c->n, ld = n > 1 ? n : 1, info;
    size_t es = tn_dtype_size(c->dt), nn = (size_t)n * (size_t)n;
    int *ipiv = scratch;
    void *work = (char *)scratch + la_align(sizeof(int) * (size_t)n);
    /* y: column-major A^T, factored and inverted in place; inv(A^T) read
     * row-major is inv(A) */
    char *y = c->dst + (size_t)b * nn * es;
    memcpy(y, c->src + (size_t)b * nn * es, nn * es);
    info = lu_factor(c->dt, y, n, ipiv);
    if (info != 0) {
        char note[96];
        la_item_note(note, sizeof note, b, c->nb);
        if (info > 0)
            tn_error("%s: the matrix is singular (zero pivot at diagonal element %d of its LU "
                     "factorization)%s", c->op, info, note);
        else lapack_bug(c->op, "getrf", info);
        return -1;
    }
    if (c->dt == TN_FLOAT32) sgetri_(&n, (float *)(void *)y, &ld, ipiv, work, &c->lwork, &info);
    else dgetri_(&n, (double *)(void *)y, &ld, ipiv, work, &c->lwork, &info);
    if (info != 0) {
        lapack_bug(c->op, "getri", info);
        return -1;
    }
    return 0;
}

tn_tensor *la_inv_raw(tn_tensor *a, const char *op) {
    if (!la_check(op, a, true)) return NULL;
    tn_tensor *c = la_contig(a);
    tn_tensor *out = c ? tn_empty(a->dtype, a->ndim, a->shape) : NULL;
    if (!out) {
        tn_release(c);
        return NULL;
    }
    int n = (int)a->shape[a->ndim - 1], ld = n > 1 ? n : 1;
    size_t es = tn_dtype_size(a->dtype);
    /* getri's workspace: n * (a block size); ask once */
    int lwork = -1, info = 0;
    double wq[2] = {0, 0};
    if (n > 0) {
        if (a->dtype == TN_FLOAT32) sgetri_(&n, NULL, &ld, NULL, (float *)(void *)wq, &lwork, &info);
        else dgetri_(&n, NULL, &ld, NULL, wq, &lwork, &info);
    }
    double want = tn_load(a->dtype, wq, 0);
    lwork = want >= n && want < (double)INT_MAX / 2 ? (int)want : (n > 0 ? n : 1);
    inv_ctx ctx = {a->dtype, n, lwork, la_batch(a), tn_data(c), op, tn_data(out)};
    size_t scratch = la_align(sizeof(int) * (size_t)n) + (size_t)lwork * es;
    int rc = n > 0 ? la_run_batch(op, ctx.nb, (double)n * n * n, scratch, inv_item, &ctx) : 0;
    tn_release(c);
    if (rc < 0) {
        tn_release(out);
        return NULL;
    }
    return out;
}

tn_tensor *tn_linalg_inv(tn_tensor *a) {
    tn_tensor *out = la_inv_raw(a, "linalg.inv");
    if (out && tn_grad_needed1(a)) {
        tn_node *nd = tn_record(TN_OP_LINALG_INV, out, 1, &a);
        if (!nd) {
            tn_release(out);
            return NULL;
        }
        tn_save(nd, out);
    }
    return out;
}

/* X = inv(A): dA = -X^T g X^T */
int linalg_inv_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(nd, 0);
    if (!x) return -1;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *xt = la_mT(p, x);
    tn_tensor *r = la_mm(p, la_mm(p, xt, g), xt);
    r = la_scale(p, r, -1.0);
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* ---------- det and slogdet ---------- */

typedef struct {
    tn_dtype dt;
    int n;
    const char *src, *op;
    char *s, *l, *d;   /* outputs (NULL when not wanted), one element per matrix */
} det_ctx;

/* scratch: the LU (n x n), then ipiv */
static int det_item(void *v, int64_t b, void *scratch) {
    det_ctx *c = v;
    int n = c->n;
    size_t es = tn_dtype_size(c->dt), nn = (size_t)n * (size_t)n;
    void *work = scratch;
    int *ipiv = (int *)(void *)((char *)scratch + la_align(nn * es));
    memcpy(work, c->src + (size_t)b * nn * es, nn * es);
    int info = lu_factor(c->dt, work, n, ipiv);
    if (info < 0) {
        lapack_bug(c->op, "getrf", info);
        return -1;
    }
    /* det(A^T) = det(A) = (-1)^swaps * prod(diag U); the product is kept
     * exactly as PyTorch does (it may overflow where the log would not) */
    double sg = 1, la = 0, prod = 1;
    for (int i = 0; i < n; i++) {
        double u = tn_load(c->dt, work, (int64_t)i * n + i);
        if (ipiv[i] != i + 1) sg = -sg;
        prod *= u;
        if (u < 0) sg = -sg;
        la += log(fabs(u));
    }
    if (info > 0) {  /* exactly singular */
        sg = 0;
        la = -INFINITY;
    }
    if (c->s) tn_store(c->dt, c->s, b, sg);
    if (c->l) tn_store(c->dt, c->l, b, la);
    if (c->d) tn_store(c->dt, c->d, b, info > 0 ? 0.0 : fabs(prod) * sg);
    return 0;
}

/* For every matrix of a: sign and log|det| and det (each output optional,
 * shape a's batch dims, a's dtype).  A singular matrix gives 0, -inf, 0. */
int la_lu_det(tn_tensor *a, const char *op, tn_tensor **sign, tn_tensor **logabs, tn_tensor **det) {
    if (!la_check(op, a, true)) return -1;
    int nbd = a->ndim - 2;
    tn_tensor *c = la_contig(a);
    tn_tensor *s = sign && c ? tn_empty(a->dtype, nbd, a->shape) : NULL;
    tn_tensor *l = logabs && c ? tn_empty(a->dtype, nbd, a->shape) : NULL;
    tn_tensor *d = det && c ? tn_empty(a->dtype, nbd, a->shape) : NULL;
    int n = (int)a->shape[a->ndim - 1];
    size_t es = tn_dtype_size(a->dtype);
    bool ok = c && (!sign || s) && (!logabs || l) && (!det || d);
    if (ok) {
        det_ctx ctx = {a->dtype, n, tn_data(c), op, s ? tn_data(s) : NULL, l ? tn_data(l) : NULL,
                       d ? tn_data(d) : NULL};
        size_t scratch = la_align((size_t)n * (size_t)n * es) + sizeof(int) * (size_t)n;
        ok = la_run_batch(op, la_batch(a), (double)n * n * n, scratch, det_item, &ctx) == 0;
    }
    tn_release(c);
    if (!ok) {
        tn_release(s);
        tn_release(l);
        tn_release(d);
        return -1;
    }
    if (sign) *sign = s;
    if (logabs) *logabs = l;
    if (det) *det = d;
    return 0;
}

tn_tensor *tn_linalg_det(tn_tensor *a) {
    tn_tensor *d;
    if (la_lu_det(a, "linalg.det", NULL, NULL, &d) < 0) return NULL;
    if (tn_grad_needed1(a)) {
        tn_node *nd = tn_record(TN_OP_LINALG_DET, d, 1, &a);
        if (!nd) {
            tn_release(d);
            return NULL;
        }
        tn_save(nd, a);
    }
    return d;
}

/* d det(A) / dA = adj(A)^T.  With A = U diag(s) Vh, adj(A)^T =
 * det(U) det(Vh) U diag(p) Vh where p_i is the product of the s_j, j != i:
 * no division, so it holds (and stays accurate) for singular A too. */
int linalg_det_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(nd, 0);
    if (!a) return -1;
    tn_tensor *u = NULL, *s = NULL, *vh = NULL, *du = NULL, *dv = NULL;
    if (la_svd_raw(a, "linalg.det", false, true, &u, &s, &vh) < 0) return -1;
    la_pool pool = {0}, *p = &pool;
    la_keep(p, u);
    la_keep(p, s);
    la_keep(p, vh);
    if (la_lu_det(u, "linalg.det", NULL, NULL, &du) < 0 || !la_keep(p, du) ||
        la_lu_det(vh, "linalg.det", NULL, NULL, &dv) < 0 || !la_keep(p, dv)) {
        la_pool_free(p);
        return -1;
    }
    /* p from s (contiguous, fresh): prefix and suffix products */
    tn_tensor *pr = la_copy(p, s);
    if (pr) {
        int64_t n = s->shape[s->ndim - 1], nb = n > 0 ? s->numel / n : 0;
        double *buf = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        if (!buf) {
            tn_error("linalg.det: out of memory");
            la_pool_free(p);
            return -1;
        }
        for (int64_t b = 0; b < nb; b++) {
            double acc = 1;
            for (int64_t i = 0; i < n; i++) {
                buf[i] = acc;
                acc *= tn_load(s->dtype, tn_data(s), b * n + i);
            }
            acc = 1;
            for (int64_t i = n - 1; i >= 0; i--) {
                tn_store(pr->dtype, tn_data(pr), b * n + i, buf[i] * acc);
                acc *= tn_load(s->dtype, tn_data(s), b * n + i);
            }
        }
        free(buf);
    }
    /* coefficient g * det(U) det(Vh), as (..., 1, 1) */
    tn_tensor *coef = la_mul(p, la_mul(p, g, du), dv);
    coef = la_unsq(p, la_unsq(p, coef, -1), -1);
    tn_tensor *r = la_mm(p, la_mul(p, u, la_unsq(p, pr, -2)), vh);
    r = la_mul(p, r, coef);
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

int tn_linalg_slogdet(tn_tensor *a, tn_tensor **sign, tn_tensor **logabsdet) {
    tn_tensor *s, *l;
    if (la_lu_det(a, "linalg.slogdet", &s, &l, NULL) < 0) return -1;
    if (tn_grad_needed1(a)) {
        tn_node *nd = tn_record(TN_OP_LINALG_SLOGDET, l, 1, &a);
        if (!nd) {
            tn_release(s);
            tn_release(l);
            return -1;
        }
        tn_save(nd, a);
    }
    *sign = s;
    *logabsdet = l;
    return 0;
}

/* d log|det A| / dA = inv(A)^T */
int linalg_slogdet_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(nd, 0);
    if (!a) return -1;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *ai = la_keep(p, la_inv_raw(a, "linalg.slogdet (backward)"));
    tn_tensor *r = la_mul(p, la_mT(p, ai), la_unsq(p, la_unsq(p, g, -1), -1));
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* ---------- solve ---------- */

typedef struct {
    tn_dtype dt;
    int n, k;
    int64_t nb;
    const char *a, *b, *op;
    char *x;
} solve_ctx;

/* scratch: the LU (n x n), then ipiv.
 * getrf on the row-major buffer of A factors M = A^T = P L U (column-major),
 * so A = U^T L^T P^T and X = P L^-T U^-T B.  Read row-major, the buffer
 * holds U^T in its lower triangle and L^T (unit) in its upper one, so two
 * row-major trsm calls and the row swaps of P (in reverse) solve in place
 * on the row-major X: no transposed copies of B or X. */
static int solve_item(void *v, int64_t i, void *scratch) {
    solve_ctx *c = v;
    int n = c->n, k = c->k, info;
    size_t es = tn_dtype_size(c->dt), nn = (size_t)n * (size_t)n, nk = (size_t)n * (size_t)k;
    void *work = scratch;
    int *ipiv = (int *)(void *)((char *)scratch + la_align(nn * es));
    memcpy(work, c->a + (size_t)i * nn * es, nn * es);
    info = lu_factor(c->dt, work, n, ipiv);
    if (info != 0) {
        char note[96];
        la_item_note(note, sizeof note, i, c->nb);
        if (info > 0)
            tn_error("%s: A is singular (zero pivot at diagonal element %d of its LU factorization)%s", c->op,
                     info, note);
        else lapack_bug(c->op, "getrf", info);
        return -1;
    }
    if (k == 0) return 0;
    char *x = c->x + (size_t)i * nk * es;
    memcpy(x, c->b + (size_t)i * nk * es, nk * es);
    int ld = n > 1 ? n : 1, ldx = k > 1 ? k : 1;
    if (c->dt == TN_FLOAT32) {
        cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0f, work, ld,
                    (float *)(void *)x, ldx);
        cblas_strsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasUnit, n, k, 1.0f, work, ld,
                    (float *)(void *)x, ldx);
    } else {
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0, work, ld,
                    (double *)(void *)x, ldx);
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasUnit, n, k, 1.0, work, ld,
                    (double *)(void *)x, ldx);
    }
    /* X = P Y = P_1 (P_2 (... P_n Y)): swap row r with row ipiv[r] - 1, last first */
    size_t row = (size_t)k * es;
    char tmp[256];
    for (int r = n - 1; r >= 0; r--) {
        int q = ipiv[r] - 1;
        if (q == r) continue;
        char *a = x + (size_t)r * row, *b = x + (size_t)q * row;
        for (size_t off = 0; off < row; off += sizeof tmp) {
            size_t len = row - off < sizeof tmp ? row - off : sizeof tmp;
            memcpy(tmp, a + off, len);
            memcpy(a + off, b + off, len);
            memcpy(b + off, tmp, len);
        }
    }
    return 0;
}

/* The operands of A X = B: A (..., n, n) and B (..., n, k) promoted to one
 * float dtype and broadcast over their batch dims, both made contiguous
 * (fresh buffers the solvers may overwrite), with no history.  Fills the
 * geometry: n, k, the batch count nb and the output shape xs (nbd + 2
 * dims).  0, or -1 with the error set. */
typedef struct {
    int n, k, ndim;
    int64_t nb;
    int64_t xs[TN_MAX_DIMS];
    tn_dtype dt;
    tn_tensor *ca, *cb;
} solve_operands;

static int prepare_solve(tn_tensor *a, tn_tensor *b, const char *op, solve_operands *so) {
    char s1[128], s2[128];
    memset(so, 0, sizeof *so);
    if (!la_check(op, a, true) || !la_check(op, b, false)) return -1;
    int n = (int)a->shape[a->ndim - 1];
    if (b->shape[b->ndim - 2] != n) {
        tn_error("%s: A of shape %s and B of shape %s do not match (B needs %d rows, has %lld)", op,
                 tn_shape_str(a->shape, a->ndim, s1, sizeof s1), tn_shape_str(b->shape, b->ndim, s2, sizeof s2),
                 n, (long long)b->shape[b->ndim - 2]);
        return -1;
    }
    int64_t bs[TN_MAX_DIMS];
    int nbd = tn_broadcast_shapes(a->shape, a->ndim - 2, b->shape, b->ndim - 2, bs, op);
    if (nbd < 0) return -1;
    if (nbd + 2 > TN_MAX_DIMS) {
        tn_error("%s: too many dims", op);
        return -1;
    }
    int k = (int)b->shape[b->ndim - 1];
    int64_t sa[TN_MAX_DIMS];
    memcpy(sa, bs, sizeof(int64_t) * (size_t)nbd);
    memcpy(so->xs, bs, sizeof(int64_t) * (size_t)nbd);
    sa[nbd] = sa[nbd + 1] = n;
    so->xs[nbd] = n;
    so->xs[nbd + 1] = k;
    so->n = n;
    so->k = k;
    so->ndim = nbd + 2;
    so->nb = 1;
    for (int i = 0; i < nbd; i++) so->nb *= bs[i];
    so->dt = tn_promote(a->dtype, b->dtype);
    bool was = tn_set_grad_enabled(false);
    tn_tensor *ta = tn_to(a, so->dt), *tb = ta ? tn_to(b, so->dt) : NULL;
    tn_tensor *ea = tb ? tn_expand(ta, nbd + 2, sa) : NULL, *eb = ea ? tn_expand(tb, nbd + 2, so->xs) : NULL;
    /* tn_clone, not tn_contiguous: the solvers write into cb */
    so->ca = eb ? tn_contiguous(ea) : NULL;
    so->cb = so->ca ? tn_clone(eb) : NULL;
    tn_set_grad_enabled(was);
    tn_release(ta);
    tn_release(tb);
    tn_release(ea);
    tn_release(eb);
    if (!so->cb) {
        tn_release(so->ca);
        so->ca = NULL;
        return -1;
    }
    return 0;
}

/* X with A X = B for A (..., n, n) and B (..., n, k), batch dims
 * broadcast; both float of one dtype; no history. */
tn_tensor *la_solve_raw(tn_tensor *a, tn_tensor *b, const char *op) {
    solve_operands so;
    if (prepare_solve(a, b, op, &so) < 0) return NULL;
    int n = so.n;
    tn_tensor *out = tn_empty(so.dt, so.ndim, so.xs);
    int rc = out ? 0 : -1;
    if (out && n > 0) {
        size_t es = tn_dtype_size(so.dt), nn = (size_t)n * (size_t)n;
        solve_ctx ctx = {so.dt, n, so.k, so.nb, tn_data(so.ca), tn_data(so.cb), op, tn_data(out)};
        size_t scratch = la_align(nn * es) + sizeof(int) * (size_t)n;
        rc = la_run_batch(op, so.nb, (double)n * n * (n + so.k), scratch, solve_item, &ctx);
    }
    tn_release(so.ca);
    tn_release(so.cb);
    if (rc < 0) {
        tn_release(out);
        return NULL;
    }
    return out;
}

/* PyTorch's rule: B is a batch of vectors when it is 1-D, or when it has
 * one dim less than A and matches A's shape without the last dim. */
static bool b_is_vector(const tn_tensor *a, const tn_tensor *b) {
    if (b->ndim == 1) return true;
    if (b->ndim != a->ndim - 1) return false;
    for (int i = 0; i < b->ndim; i++)
        if (b->shape[i] != a->shape[i]) return false;
    return true;
}

static tn_tensor *solve_matrix(tn_tensor *a, tn_tensor *b) {
    tn_tensor *out = la_solve_raw(a, b, "linalg.solve");
    if (out && tn_grad_needed2(a, b)) {
        tn_node *nd = tn_record(TN_OP_LINALG_SOLVE, out, 2, (tn_tensor *[]){a, b});
        if (!nd) {
            tn_release(out);
            return NULL;
        }
        tn_save(nd, a);
        tn_save(nd, out);
    }
    return out;
}

tn_tensor *tn_linalg_solve(tn_tensor *a, tn_tensor *b) {
    if (a->ndim >= 2 && b->ndim >= 1 && b_is_vector(a, b)) {
        if (b->shape[b->ndim - 1] != a->shape[a->ndim - 1]) {
            char s1[128], s2[128];
            tn_error("linalg.solve: A of shape %s and B of shape %s do not match (B needs %lld rows, has %lld)",
                     tn_shape_str(a->shape, a->ndim, s1, sizeof s1), tn_shape_str(b->shape, b->ndim, s2, sizeof s2),
                     (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim - 1]);
            return NULL;
        }
        tn_tensor *bm = tn_unsqueeze(b, -1);
        tn_tensor *x = bm ? solve_matrix(a, bm) : NULL;
        tn_release(bm);
        tn_tensor *r = x ? tn_squeeze(x, -1) : NULL;
        tn_release(x);
        return r;
    }
    if (b->ndim < 2 && a->ndim >= 2) {
        char s[128];
        tn_error("linalg.solve: B must be a vector or a batch of matrices, got shape %s",
                 tn_shape_str(b->shape, b->ndim, s, sizeof s));
        return NULL;
    }
    return solve_matrix(a, b);
}

/* X = A^-1 B: gB = A^-T g, gA = -gB X^T (the engine sums broadcast dims) */
int linalg_solve_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(nd, 0), *x = tn_saved(nd, 1);
    if (!a || !x) return -1;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *at = la_mT(p, a);
    tn_tensor *gb = p->fail ? NULL : la_keep(p, la_solve_raw(at, g, "linalg.solve (backward)"));
    tn_tensor *ga = la_scale(p, la_mm(p, gb, la_mT(p, x)), -1.0);
    if (p->fail) {
        la_pool_free(p);
        return -1;
    }
    gin[0] = tn_retain(ga);
    gin[1] = tn_retain(gb);
    la_pool_free(p);
    return 0;
}

/* ---------- solve_triangular ---------- */

typedef struct {
    tn_dtype dt;
    int n, k;
    bool upper, unit;
    const char *a;
    char *x;   /* holds B on entry, overwritten with X */
} tri_ctx;

static int tri_item(void *v, int64_t i, void *scratch) {
    (void)scratch;
    tri_ctx *c = v;
    int n = c->n, k = c->k, lda = n > 1 ? n : 1, ldb = k > 1 ? k : 1;
    size_t es = tn_dtype_size(c->dt);
    CBLAS_UPLO ul = c->upper ? CblasUpper : CblasLower;
    CBLAS_DIAG dg = c->unit ? CblasUnit : CblasNonUnit;
    const char *pa = c->a + (size_t)i * (size_t)n * (size_t)n * es;
    char *px = c->x + (size_t)i * (size_t)n * (size_t)k * es;
    if (c->dt == TN_FLOAT32)
        cblas_strsm(CblasRowMajor, CblasLeft, ul, CblasNoTrans, dg, n, k, 1.0f, (const float *)(const void *)pa,
                    lda, (float *)(void *)px, ldb);
    else
        cblas_dtrsm(CblasRowMajor, CblasLeft, ul, CblasNoTrans, dg, n, k, 1.0, (const double *)(const void *)pa,
                    lda, (double *)(void *)px, ldb);
    return 0;
}

/* X with A X = B for triangular A (..., n, n) (only its upper or lower
 * triangle is read; unitriangular: its diagonal is taken as ones) and B
 * (..., n, k), batch dims broadcast; no history.  BLAS trsm reads row-major
 * matrices directly, so nothing is transposed; like PyTorch it does not
 * check for a zero diagonal (the result holds inf or NaN then). */
tn_tensor *la_solve_tri_raw(tn_tensor *a, tn_tensor *b, bool upper, bool unit, const char *op) {
    solve_operands so;
    if (prepare_solve(a, b, op, &so) < 0) return NULL;
    tn_tensor *out = so.cb;  /* X starts as (a copy of) B; trsm overwrites it */
    tri_ctx ctx = {so.dt, so.n, so.k, upper, unit, tn_data(so.ca), tn_data(out)};
    int rc = so.n > 0 && so.k > 0 ? la_run_batch(op, so.nb, (double)so.n * so.n * so.k, 0, tri_item, &ctx) : 0;
    tn_release(so.ca);
    if (rc < 0) {
        tn_release(out);
        return NULL;
    }
    return out;
}

tn_tensor *tn_linalg_solve_triangular(tn_tensor *a, tn_tensor *b, bool upper, bool unitriangular) {
    tn_tensor *out = la_solve_tri_raw(a, b, upper, unitriangular, "linalg.solve_triangular");
    if (out && tn_grad_needed2(a, b)) {
        tn_node *nd = tn_record(TN_OP_LINALG_SOLVE_TRIANGULAR, out, 2, (tn_tensor *[]){a, b});
        if (!nd) {
            tn_release(out);
            return NULL;
        }
        tn_save(nd, a);
        tn_save(nd, out);
        nd->iarg[0] = upper;
        nd->iarg[1] = unitriangular;
    }
    return out;
}

/* X = A^-1 B: gB = A^-T g (A^T triangular the other way), gA = -gB X^T
 * kept on the triangle the forward read (without the diagonal when unit) */
int linalg_solve_triangular_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(nd, 0), *x = tn_saved(nd, 1);
    if (!a || !x) return -1;
    bool upper = nd->iarg[0] != 0, unit = nd->iarg[1] != 0;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *at = la_mT(p, a);
    tn_tensor *gb = p->fail ? NULL
                            : la_keep(p, la_solve_tri_raw(at, g, !upper, unit, "linalg.solve_triangular (backward)"));
    tn_tensor *full = la_scale(p, la_mm(p, gb, la_mT(p, x)), -1.0);
    tn_tensor *ga = p->fail ? NULL : la_keep(p, upper ? tn_triu(full, unit ? 1 : 0) : tn_tril(full, unit ? -1 : 0));
    if (p->fail) {
        la_pool_free(p);
        return -1;
    }
    gin[0] = tn_retain(ga);
    gin[1] = tn_retain(gb);
    la_pool_free(p);
    return 0;
}

/* ---------- lu_factor, lu, lu_solve (no gradient) ---------- */

/* Refuses inputs that would need a gradient: the LU functions have no
 * backward rule in ember (solve, inv and det do). */
static bool lu_no_grad(const char *op, int n, tn_tensor *const *in) {
    if (!tn_grad_needed(n, in)) return true;
    tn_error("%s: no gradient is implemented for the LU functions; use linalg.solve, linalg.inv or "
             "linalg.det, or call it under no_grad", op);
    return false;
}

typedef struct {
    tn_dtype dt;
    int m, n, k;
    const char *a;
    char *lu;
    int32_t *piv;
} lu_ctx;

/* scratch: column-major A (m x n), then ipiv (k ints) */
static int lu_item(void *v, int64_t b, void *scratch) {
    lu_ctx *c = v;
    int m = c->m, n = c->n, k = c->k, ld = m > 1 ? m : 1, info = 0;
    size_t es = tn_dtype_size(c->dt), mn = (size_t)m * (size_t)n;
    int *ipiv = (int *)(void *)((char *)scratch + la_align(mn * es));
    la_to_colmajor(c->dt, c->a + (size_t)b * mn * es, scratch, m, n);
    if (c->dt == TN_FLOAT32) sgetrf_(&m, &n, scratch, &ld, ipiv, &info);
    else dgetrf_(&m, &n, scratch, &ld, ipiv, &info);
    if (info < 0) {
        lapack_bug("linalg.lu_factor", "getrf", info);
        return -1;
    }
    /* info > 0 (a zero pivot) is no error: the factorization exists */
    la_from_colmajor(c->dt, scratch, c->lu + (size_t)b * mn * es, m, n);
    for (int i = 0; i < k; i++) c->piv[(size_t)b * (size_t)k + (size_t)i] = ipiv[i];  /* 1-based, as LAPACK and torch */
    return 0;
}

int tn_linalg_lu_factor(tn_tensor *a, tn_tensor **lu, tn_tensor **pivots) {
    const char *op = "linalg.lu_factor";
    if (!la_check(op, a, false) || !lu_no_grad(op, 1, &a)) return -1;
    int m = (int)a->shape[a->ndim - 2], n = (int)a->shape[a->ndim - 1], k = m < n ? m : n;
    int64_t ps[TN_MAX_DIMS];
    memcpy(ps, a->shape, sizeof(int64_t) * (size_t)(a->ndim - 2));
    ps[a->ndim - 2] = k;
    tn_tensor *c = la_contig(a);
    tn_tensor *lo = c ? tn_empty(a->dtype, a->ndim, a->shape) : NULL;
    tn_tensor *po = lo ? tn_empty(TN_INT32, a->ndim - 1, ps) : NULL;
    int rc = po ? 0 : -1;
    if (po && m > 0 && n > 0) {
        lu_ctx ctx = {a->dtype, m, n, k, tn_data(c), tn_data(lo), tn_data(po)};
        size_t es = tn_dtype_size(a->dtype);
        rc = la_run_batch(op, la_batch(a), (double)m * n * k, la_align((size_t)m * (size_t)n * es) + sizeof(int) * (size_t)k,
                          lu_item, &ctx);
    }
    tn_release(c);
    if (rc < 0) {
        tn_release(lo);
        tn_release(po);
        return -1;
    }
    *lu = lo;
    *pivots = po;
    return 0;
}

/* The permutation of rows that 1-based LAPACK pivots describe: swapping
 * row i with row piv[i], for i in order, maps A to L U; perm[i] is the row
 * of A that lands at row i.  False when a pivot is out of range. */
static bool pivots_to_perm(const int32_t *piv, int k, int m, int *perm) {
    for (int i = 0; i < m; i++) perm[i] = i;
    for (int i = 0; i < k; i++) {
        int p = piv[i] - 1;
        if (p < 0 || p >= m) return false;
        int t = perm[i];
        perm[i] = perm[p];
        perm[p] = t;
    }
    return true;
}

int tn_linalg_lu(tn_tensor *a, tn_tensor **p, tn_tensor **l, tn_tensor **u) {
    const char *op = "linalg.lu";
    if (!la_check(op, a, false) || !lu_no_grad(op, 1, &a)) return -1;
    tn_tensor *lu, *piv;
    if (tn_linalg_lu_factor(a, &lu, &piv) < 0) return -1;
    int m = (int)a->shape[a->ndim - 2], n = (int)a->shape[a->ndim - 1], k = m < n ? m : n;
    int nbd = a->ndim - 2;
    int64_t sh[TN_MAX_DIMS];
    memcpy(sh, a->shape, sizeof(int64_t) * (size_t)nbd);
    sh[nbd] = sh[nbd + 1] = m;
    tn_tensor *po = tn_zeros(a->dtype, nbd + 2, sh);
    sh[nbd + 1] = k;
    tn_tensor *lo = po ? tn_zeros(a->dtype, nbd + 2, sh) : NULL;
    sh[nbd] = k;
    sh[nbd + 1] = n;
    tn_tensor *uo = lo ? tn_zeros(a->dtype, nbd + 2, sh) : NULL;
    int *perm = malloc(sizeof(int) * (size_t)(m > 0 ? m : 1));
    bool ok = uo && perm;
    if (uo && !perm) tn_error("%s: out of memory", op);
    int64_t nb = la_batch(a);
    tn_dtype dt = a->dtype;
    for (int64_t b = 0; ok && b < nb; b++) {
        const char *src = (const char *)tn_data(lu);
        int64_t o = b * m * n;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double x = tn_load(dt, src, o + (int64_t)i * n + j);
                if (j < i && j < k) tn_store(dt, tn_data(lo), b * m * k + (int64_t)i * k + j, x);
                else if (i < k && j >= i) tn_store(dt, tn_data(uo), b * k * n + (int64_t)i * n + j, x);
            }
        for (int i = 0; i < m && i < k; i++) tn_store(dt, tn_data(lo), b * m * k + (int64_t)i * k + i, 1.0);
        pivots_to_perm((const int32_t *)tn_data(piv) + b * k, k, m, perm);
        /* P^T A = L U with (P^T A)[i] = A[perm[i]]: P[perm[i], i] = 1 */
        for (int i = 0; i < m; i++) tn_store(dt, tn_data(po), b * m * m + (int64_t)perm[i] * m + i, 1.0);
    }
    free(perm);
    tn_release(lu);
    tn_release(piv);
    if (!ok) {
        tn_release(po);
        tn_release(lo);
        tn_release(uo);
        return -1;
    }
    *p = po;
    *l = lo;
    *u = uo;
    return 0;
}

typedef struct {
    tn_dtype dt;
    int n, k;
    bool adjoint;
    int64_t nb;
    const char *lu, *b;
    const int32_t *piv;
    char *x;
} lus_ctx;

/* scratch: column-major LU (n x n), column-major B (n x k), ipiv (n ints) */
static int lus_item(void *v, int64_t i, void *scratch) {
    lus_ctx *c = v;
    int n = c->n, k = c->k, ld = n > 1 ? n : 1, info = 0;
    size_t es = tn_dtype_size(c->dt), nn = (size_t)n * (size_t)n, nk = (size_t)n * (size_t)k;
    void *lu = scratch, *rhs = (char *)scratch + la_align(nn * es);
    int *ipiv = (int *)(void *)((char *)rhs + la_align(nk * es));
    for (int j = 0; j < n; j++) {  /* checked: getrs would index rows by them */
        int32_t p = c->piv[(size_t)i * (size_t)n + (size_t)j];
        if (p < 1 || p > n) {
            char note[96];
            la_item_note(note, sizeof note, i, c->nb);
            tn_error("linalg.lu_solve: pivot %d is %d, outside 1..%d%s", j + 1, (int)p, n, note);
            return -1;
        }
        ipiv[j] = p;
    }
    la_to_colmajor(c->dt, c->lu + (size_t)i * nn * es, lu, n, n);
    la_to_colmajor(c->dt, c->b + (size_t)i * nk * es, rhs, n, k);
    const char *tr = c->adjoint ? "T" : "N";
    if (c->dt == TN_FLOAT32) sgetrs_(tr, &n, &k, lu, &ld, ipiv, rhs, &ld, &info, 1);
    else dgetrs_(tr, &n, &k, lu, &ld, ipiv, rhs, &ld, &info, 1);
    la_from_colmajor(c->dt, rhs, c->x + (size_t)i * nk * es, n, k);
    return 0;
}

tn_tensor *tn_linalg_lu_solve(tn_tensor *lu, tn_tensor *pivots, tn_tensor *b, bool adjoint) {
    const char *op = "linalg.lu_solve";
    char s1[128], s2[128];
    if (!la_check(op, lu, true) || !la_check(op, b, false) || !lu_no_grad(op, 2, (tn_tensor *[]){lu, b})) return NULL;
    int n = (int)lu->shape[lu->ndim - 1];
    if (b->shape[b->ndim - 2] != n) {
        tn_error("%s: LU of shape %s and B of shape %s do not match (B needs %d rows)", op,
                 tn_shape_str(lu->shape, lu->ndim, s1, sizeof s1), tn_shape_str(b->shape, b->ndim, s2, sizeof s2), n);
        return NULL;
    }
    bool pv_ok = pivots->ndim == lu->ndim - 1 && pivots->shape[pivots->ndim - 1] == n && tn_dtype_is_int(pivots->dtype);
    for (int i = 0; pv_ok && i < pivots->ndim - 1; i++) pv_ok = pivots->shape[i] == lu->shape[i];
    if (!pv_ok) {
        tn_error("%s: pivots must be an integer tensor of shape %s (LU's shape without its last dim, as "
                 "lu_factor returns), got %s of shape %s", op, tn_shape_str(lu->shape, lu->ndim - 1, s1, sizeof s1),
                 tn_dtype_name(pivots->dtype), tn_shape_str(pivots->shape, pivots->ndim, s2, sizeof s2));
        return NULL;
    }
    int64_t bs[TN_MAX_DIMS];
    int nbd = tn_broadcast_shapes(lu->shape, lu->ndim - 2, b->shape, b->ndim - 2, bs, op);
    if (nbd < 0) return NULL;
    int k = (int)b->shape[b->ndim - 1];
    int64_t sl[TN_MAX_DIMS], sp[TN_MAX_DIMS], sb[TN_MAX_DIMS];
    memcpy(sl, bs, sizeof(int64_t) * (size_t)nbd);
    memcpy(sp, bs, sizeof(int64_t) * (size_t)nbd);
    memcpy(sb, bs, sizeof(int64_t) * (size_t)nbd);
    sl[nbd] = sl[nbd + 1] = n;
    sp[nbd] = n;
    sb[nbd] = n;
    sb[nbd + 1] = k;
    tn_dtype dt = tn_promote(lu->dtype, b->dtype);
    tn_tensor *tl = tn_to(lu, dt), *tb = tl ? tn_to(b, dt) : NULL, *tp = tb ? tn_to(pivots, TN_INT32) : NULL;
    tn_tensor *el = tp ? tn_expand(tl, nbd + 2, sl) : NULL, *eb = el ? tn_expand(tb, nbd + 2, sb) : NULL;
    tn_tensor *ep = eb ? tn_expand(tp, nbd + 1, sp) : NULL;
    tn_tensor *cl = ep ? tn_contiguous(el) : NULL, *cb = cl ? tn_contiguous(eb) : NULL;
    tn_tensor *cp = cb ? tn_contiguous(ep) : NULL;
    tn_release(tl), tn_release(tb), tn_release(tp), tn_release(el), tn_release(eb), tn_release(ep);
    tn_tensor *out = cp ? tn_empty(dt, nbd + 2, sb) : NULL;
    int rc = out ? 0 : -1;
    if (out && n > 0 && k > 0) {
        int64_t nb = 1;
        for (int i = 0; i < nbd; i++) nb *= bs[i];
        size_t es = tn_dtype_size(dt);
        lus_ctx ctx = {dt, n, k, adjoint, nb, tn_data(cl), tn_data(cb), tn_data(cp), tn_data(out)};
        size_t scratch = la_align((size_t)n * (size_t)n * es) + la_align((size_t)n * (size_t)k * es) + sizeof(int) * (size_t)n;
        rc = la_run_batch(op, nb, 2.0 * n * n * k, scratch, lus_item, &ctx);
    }
    tn_release(cl), tn_release(cb), tn_release(cp);
    if (rc < 0) {
        tn_release(out);
        return NULL;
    }
    return out;
}
