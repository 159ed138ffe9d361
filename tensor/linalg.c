/*
 * linalg.c: matrix products on OpenBLAS (matmul with numpy/PyTorch
 * semantics, mm, bmm, mv, dot, outer) and their backward rule.
 *
 * Everything is one batched product C[i] (+)= A[i] @ B[i] over a "loop
 * shape" of batch dims, where each operand is described by a `mat` (a base
 * pointer, per-loop-dim strides that are 0 on broadcast dims, and a 2-D
 * strided matrix).  A matrix whose rows or columns are unit-stride goes to
 * BLAS as it is, as row-major or as the transpose of a row-major matrix
 * (CblasTrans), so `x:matmul(w:t())` copies nothing; only layouts BLAS cannot
 * express (two non-unit strides, or stride 0 from expand) are copied once.
 * The same driver computes the gradients: when the output matrix C has
 * stride 0 on a loop dim (a gradient summed over broadcast batch dims), the
 * later batch items accumulate into it with beta = 1, so no (batch, m, k)
 * temporary is ever built.  Two folds turn a batch into a single gemm:
 * rows (a (B,T,C) x (C,D) product is one (B*T,C) x (C,D) gemm) and
 * contraction (the weight gradient (C,D) = sum over B,T is one
 * (C,B*T) x (B*T,D) gemm).  Many small independent items (attention
 * heads) run one per thread, each with single-threaded BLAS, and the serial
 * loop polls tn_interrupted() between items.  Vector shapes use gemv or
 * dot.  Integer dtypes
 * compute through float64 (exact below 2^53) and convert back; bool is an
 * error.  Mixed dtypes are promoted (PyTorch would refuse; promoting is the
 * friendlier rule and matches the elementwise ops).
 */
#include "internal.h"

#include <cblas.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

/* OpenBLAS's own (cblas.h declares it too, but not in every packaging) */
extern void openblas_set_num_threads(int);

/* One operand seen as a batch of matrices.  Strides are in elements. */
typedef struct {
    char *base;                  /* element (0, 0) of batch item 0 */
    int64_t bstride[TN_MAX_DIMS]; /* per loop dim; 0 where broadcast */
    int64_t rows, cols;
    int64_t rs, cs;              /* row and column strides */
} mat;

/* The transpose of a matrix operand is metadata only. */
static mat mat_t(mat m) {
    int64_t t = m.rows;
    m.rows = m.cols;
    m.cols = t;
    t = m.rs;
    m.rs = m.cs;
    m.cs = t;
    return m;
}

static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* Can BLAS read this matrix as it is?  Row-major: unit column stride and a
 * leading dimension >= cols.  Transposed: unit row stride, ld >= rows.
 * Size-1 dims may have any stride.  Sets *trans and *ld. */
static bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool *trans, int64_t *ld) {
    if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= imax(1, cols))) {
        *trans = false;
        *ld = rows <= 1 ? imax(1, cols) : rs;
        return *ld <= INT_MAX;
    }
    if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= imax(1, rows))) {
        *trans = true;
        *ld = cols <= 1 ? imax(1, rows) : cs;
        return *ld <= INT_MAX;
    }
    return false;
}

/* The stride of a vector of n elements for BLAS's inc argument, or 0 when
 * BLAS cannot take it (stride 0 from expand). */
static int64_t vec_inc(int64_t n, int64_t s) { return n <= 1 ? 1 : s >= 1 && s <= INT_MAX ? s : 0; }

/* ---------- one product: C = A @ B + beta * C ---------- */

/* Returns 0, or -1 when interrupted (the result is then incomplete). */
static int product1(tn_dtype dt, const mat *A, const mat *B, const mat *C, char *pa, char *pb,
                    char *pc, int beta) {
    int m = (int)A->rows, k = (int)A->cols, n = (int)B->cols;
    bool ta, tb;
    int64_t lda, ldb;
    if (m == 1 && n == 1) {  /* dot */
        int ia = (int)vec_inc(k, A->cs), ib = (int)vec_inc(k, B->rs);
        if (dt == TN_FLOAT32) {
            float d = cblas_sdot(k, (float *)pa, ia, (float *)pb, ib);
            *(float *)pc = beta ? *(float *)pc + d : d;
        } else {
            double d = cblas_ddot(k, (double *)pa, ia, (double *)pb, ib);
            *(double *)pc = beta ? *(double *)pc + d : d;
        }
        return 0;
    }
    if (n == 1) {  /* y (m) = A (m,k) x (k): gemv on A */
        blas_layout(A->rows, A->cols, A->rs, A->cs, &ta, &lda);
        int ix = (int)vec_inc(k, B->rs), iy = (int)vec_inc(m, C->rs);
        /* a transposed A is the transpose of a (k,m) row-major matrix */
        if (dt == TN_FLOAT32)
            cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? k : m, ta ? m : k, 1.0f,
                        (float *)pa, (int)lda, (float *)pb, ix, (float)beta, (float *)pc, iy);
        else
            cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? k : m, ta ? m : k, 1.0,
                        (double *)pa, (int)lda, (double *)pb, ix, (double)beta, (double *)pc, iy);
        return 0;
    }
    if (m == 1) {  /* y (n) = B^T (n,k) x (k): gemv on B, flipped */
        blas_layout(B->rows, B->cols, B->rs, B->cs, &tb, &ldb);
        int ix = (int)vec_inc(k, A->cs), iy = (int)vec_inc(n, C->cs);
        if (dt == TN_FLOAT32)
            cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? n : k, tb ? k : n, 1.0f,
                        (float *)pb, (int)ldb, (float *)pa, ix, (float)beta, (float *)pc, iy);
        else
            cblas_dgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? n : k, tb ? k : n, 1.0,
                        (double *)pb, (int)ldb, (double *)pa, ix, (double)beta, (double *)pc, iy);
        return 0;
    }
    blas_layout(A->rows, A->cols, A->rs, A->cs, &ta, &lda);
    blas_layout(B->rows, B->cols, B->rs, B->cs, &tb, &ldb);
    /* A huge product runs as blocks of rows (about 4 GFLOP each, tens of
     * milliseconds) so Ctrl-C can stop it between blocks: one 4000 x 4000
     * GEMM is seconds that no interrupt could cut short.  Blocks of at
     * least 256 rows keep OpenBLAS at full speed. */
    double flops_per_row = 2.0 * (double)n * (double)k;
    int rows = m;
    if (flops_per_row * m > 8e9) {
        double r = 4e9 / flops_per_row;
        rows = r < 256 ? 256 : r > m ? m : (int)r;
    }
    size_t es = tn_dtype_size(dt);
    for (int r0 = 0; r0 < m; r0 += rows) {
        if (r0 > 0 && tn_interrupted()) return -1;
        int mr = m - r0 < rows ? m - r0 : rows;
        char *a = pa + (size_t)r0 * (ta ? 1 : (size_t)lda) * es;
        char *c = pc + (size_t)r0 * (size_t)C->rs * es;
        if (dt == TN_FLOAT32)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, mr, n,
                        k, 1.0f, (float *)a, (int)lda, (float *)pb, (int)ldb, (float)beta, (float *)c,
                        (int)C->rs);
        else
            cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, mr, n,
                        k, 1.0, (double *)a, (int)lda, (double *)pb, (int)ldb, (double)beta, (double *)c,
                        (int)C->rs);
    }
    return 0;
}

/* ---------- folds ---------- */

/* Do dims (sizes, strides), outer to inner, walk memory as one dim?  Size-1
 * dims are ignored.  Sets *size to the product and *stride to the step. */
static bool collapse(int n, const int64_t *sizes, const int64_t *strides, int64_t *size, int64_t *stride) {
    int64_t sz = 1, st = 1;
    bool have = false;
    for (int i = n - 1; i >= 0; i--) {
        if (sizes[i] == 1) continue;
        if (!have) {
            st = strides[i];
            have = true;
        } else if (strides[i] != sz * st) {
            return false;
        }
        sz *= sizes[i];
    }
    *size = sz;
    *stride = st;
    return true;
}

static bool blas_ok(const mat *M) {
    bool t;
    int64_t ld;
    return M->rows <= INT_MAX && M->cols <= INT_MAX && blas_layout(M->rows, M->cols, M->rs, M->cs, &t, &ld);
}

/* Folds the loop into the rows of A and C when B is the same matrix for
 * every item: (L..., m, k) x (k, n) -> one (L*m, k) x (k, n). */
static bool fold_rows(int nl, const int64_t *L, mat *C, mat *A, mat *B) {
    int64_t sz[TN_MAX_DIMS + 1], sa[TN_MAX_DIMS + 1], sc[TN_MAX_DIMS + 1];
    for (int d = 0; d < nl; d++) {
        if (L[d] > 1 && (B->bstride[d] != 0 || C->bstride[d] == 0)) return false;
        sz[d] = L[d];
        sa[d] = A->bstride[d];
        sc[d] = C->bstride[d];
    }
    sz[nl] = A->rows;
    sa[nl] = A->rs;
    sc[nl] = C->rs;
    int64_t rows, rsa, rsc;
    if (!collapse(nl + 1, sz, sa, &rows, &rsa) || !collapse(nl + 1, sz, sc, &rows, &rsc)) return false;
    mat a = *A, c = *C;
    a.rows = c.rows = rows;
    a.rs = rsa;
    c.rs = rsc;
    if (!blas_ok(&a) || (c.rows > 1 && c.cs != 1) || rsc < imax(1, c.cols) || rsc > INT_MAX) return false;
    *A = a;
    *C = c;
    return true;
}

/* Folds the loop into the contraction when C is one matrix summed over the
 * loop: sum_L (m, k) x (k, n) -> one (m, L*k) x (L*k, n). */
static bool fold_contraction(int nl, const int64_t *L, mat *C, mat *A, mat *B) {
    int64_t sz[TN_MAX_DIMS + 1], sa[TN_MAX_DIMS + 1], sb[TN_MAX_DIMS + 1];
    for (int d = 0; d < nl; d++) {
        if (L[d] > 1 && C->bstride[d] != 0) return false;
        sz[d] = L[d];
        sa[d] = A->bstride[d];
        sb[d] = B->bstride[d];
    }
    sz[nl] = A->cols;
    sa[nl] = A->cs;
    sb[nl] = B->rs;
    int64_t kk, csa, rsb;
    if (!collapse(nl + 1, sz, sa, &kk, &csa) || !collapse(nl + 1, sz, sb, &kk, &rsb)) return false;
    mat a = *A, b = *B;
    a.cols = b.rows = kk;
    a.cs = csa;
    b.rs = rsb;
    if (!blas_ok(&a) || !blas_ok(&b)) return false;
    *A = a;
    *B = b;
    return true;
}

/* ---------- the batched driver ---------- */

/* Many small products run one per thread, each a single-threaded BLAS
 * call: OpenBLAS would otherwise split every small matrix over the cores
 * and spend more on synchronising than on the math.  Only when every item
 * writes its own C (no accumulation), so items are independent and the
 * result's bits do not depend on the thread count. */
typedef struct {
    tn_dtype dt;
    int nl;
    const int64_t *L;
    const mat *C, *A, *B;
    size_t es;
    atomic_int stop;
} batch_ctx;

static void batch_range(void *vctx, int64_t lo, int64_t hi) {
    batch_ctx *c = vctx;
    for (int64_t it = lo; it < hi; it++) {
        if (tn_interrupted()) {
            atomic_store(&c->stop, 1);
            return;
        }
        int64_t r = it, oa = 0, ob = 0, oc = 0;
        for (int d = c->nl - 1; d >= 0; d--) {
            int64_t i = r % c->L[d];
            r /= c->L[d];
            oa += i * c->A->bstride[d];
            ob += i * c->B->bstride[d];
            oc += i * c->C->bstride[d];
        }
        int64_t es = (int64_t)c->es;
        if (product1(c->dt, c->A, c->B, c->C, c->A->base + oa * es, c->B->base + ob * es, c->C->base + oc * es,
                     0) < 0) {
            atomic_store(&c->stop, 1);
            return;
        }
    }
}

/* Returns 0 when it did the work, 1 when the batch is not suitable, -1 on
 * interruption. */
static int parallel_batch(tn_dtype dt, int nl, const int64_t *L, const mat *C, const mat *A, const mat *B,
                          int64_t items, size_t es) {
    int threads = tn_get_num_threads();
    double work = (double)A->rows * (double)A->cols * (double)B->cols;
    if (threads < 2 || work > 128.0 * 128 * 128) return 1;
    for (int d = 0; d < nl; d++)
        if (L[d] > 1 && C->bstride[d] == 0) return 1;
    batch_ctx ctx = {dt, nl, L, C, A, B, es, 0};
    int64_t grain = (int64_t)(262144.0 / (work + 1)) + 1;  /* ~0.5 MFLOP per chunk */
    if (items < 2 * grain) return 1;
    openblas_set_num_threads(1);
    tn_parallel_for(items, grain, batch_range, &ctx);
    openblas_set_num_threads(threads);
    return atomic_load(&ctx.stop) ? -1 : 0;
}

/* C[i] = sum over loop items mapping to i of A[i] @ B[i], over loop shape L
 * (nl dims).  C must be a fresh contiguous buffer (it is zeroed when the
 * contraction is empty); A and B must pass blas_ok.  dt is float32/64. */
static int product_batched(tn_dtype dt, int nl, const int64_t *L, mat C, mat A, mat B, size_t cbytes,
                           const char *op) {
    int64_t items = 1;
    for (int d = 0; d < nl; d++) items *= L[d];
    if (C.rows == 0 || C.cols == 0 || cbytes == 0) return 0;
    if (items == 0 || A.cols == 0) {
        memset(C.base, 0, cbytes);
        return 0;
    }
    if (A.rows > INT_MAX || A.cols > INT_MAX || B.cols > INT_MAX || C.rs > INT_MAX) {
        tn_error("%s: a dimension exceeds what BLAS can index (2^31 - 1)", op);
        return -1;
    }
    if (items > 1 && (fold_rows(nl, L, &C, &A, &B) || fold_contraction(nl, L, &C, &A, &B))) {
        if (product1(dt, &A, &B, &C, A.base, B.base, C.base, 0) < 0) {
            tn_error("interrupted");
            return -1;
        }
        return 0;
    }
    size_t es = tn_dtype_size(dt);
    if (items > 1) {
        int pr = parallel_batch(dt, nl, L, &C, &A, &B, items, es);
        if (pr <= 0) {
            if (pr < 0) tn_error("interrupted");
            return pr;
        }
    }
    int64_t idx[TN_MAX_DIMS] = {0};
    for (int64_t it = 0; it < items; it++) {
        if (it > 0 && tn_interrupted()) {
            tn_error("interrupted");
            return -1;
        }
        int64_t oa = 0, ob = 0, oc = 0;
        int beta = 0;
        for (int d = 0; d < nl; d++) {
            oa += idx[d] * A.bstride[d];
            ob += idx[d] * B.bstride[d];
            oc += idx[d] * C.bstride[d];
            if (idx[d] > 0 && C.bstride[d] == 0) beta = 1;  /* C summed over this dim: accumulate */
        }
        if (product1(dt, &A, &B, &C, A.base + oa * (int64_t)es, B.base + ob * (int64_t)es,
                     C.base + oc * (int64_t)es, beta) < 0) {
            tn_error("interrupted");
            return -1;
        }
        for (int d = nl - 1; d >= 0; d--) {
            if (++idx[d] < L[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---------- describing tensors as operands ---------- */

/* The operand view of t in a product whose loop shape is L (nl dims):
 * a 1-D t is a row vector (as_row) or a column vector. */
static mat describe(const tn_tensor *t, int nl, const int64_t *L, bool as_row) {
    mat m;
    memset(&m, 0, sizeof m);
    m.base = tn_data(t);
    if (t->ndim == 1) {
        if (as_row) {
            m.rows = 1, m.cols = t->shape[0], m.rs = t->shape[0], m.cs = t->stride[0];
        } else {
            m.rows = t->shape[0], m.cols = 1, m.rs = t->stride[0], m.cs = 1;
        }
    } else {
        m.rows = t->shape[t->ndim - 2], m.cols = t->shape[t->ndim - 1];
        m.rs = t->stride[t->ndim - 2], m.cs = t->stride[t->ndim - 1];
    }
    int tb = t->ndim > 2 ? t->ndim - 2 : 0; /* t's batch dims, aligned right of L */
    for (int d = 0; d < nl; d++) {
        int j = d - (nl - tb);
        m.bstride[d] = (j < 0 || t->shape[j] == 1) ? 0 : t->stride[j];
    }
    return m;
}

/* t in dtype dt with a matrix layout BLAS can read; new reference.  Runs
 * with recording off: these are internal copies, history stays on the op. */
static tn_tensor *prepare(tn_tensor *t, tn_dtype dt, bool as_row) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *r = tn_to(t, dt);
    if (r) {
        mat m = describe(r, 0, NULL, as_row);
        if (!blas_ok(&m)) {
            tn_tensor *c = tn_clone(r);
            tn_release(r);
            r = c;
        }
    }
    tn_set_grad_enabled(was);
    return r;
}

static void shape_err(const char *op, const tn_tensor *a, const tn_tensor *b, int64_t ka, int64_t kb) {
    char s1[128], s2[128];
    tn_error("%s: shapes %s and %s do not match (%lld vs %lld)", op,
             tn_shape_str(a->shape, a->ndim, s1, sizeof s1), tn_shape_str(b->shape, b->ndim, s2, sizeof s2),
             (long long)ka, (long long)kb);
}

/* The float dtype a product runs in, or -1 (message set). */
static int compute_dtype(const char *op, tn_tensor *a, tn_tensor *b, tn_dtype *out_dt) {
    tn_dtype rt = tn_promote(a->dtype, b->dtype);
    if (rt == TN_BOOL) {
        tn_error("%s: not supported for dtype bool", op);
        return -1;
    }
    *out_dt = rt;
    return tn_dtype_is_float(rt) ? (int)rt : (int)TN_FLOAT64;
}

/* ---------- forward ---------- */

/* The product of a and b with matmul's rules (no autograd). */
static tn_tensor *matmul_forward(const char *op, tn_tensor *a, tn_tensor *b) {
    if (a->ndim == 0 || b->ndim == 0) {
        tn_error("%s: both arguments need at least 1 dimension, got %d and %d", op, a->ndim, b->ndim);
        return NULL;
    }
    int64_t ka = a->shape[a->ndim - 1], kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (ka != kb) {
        shape_err(op, a, b, ka, kb);
        return NULL;
    }
    /* loop shape: broadcast of the batch dims */
    int nba = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    int64_t L[TN_MAX_DIMS];
    int nl = tn_broadcast_shapes(a->shape, nba, b->shape, nbb, L, op);
    if (nl < 0) {
        char s1[128], s2[128];
        tn_error("%s: batch dims of shapes %s and %s cannot be broadcast", op,
                 tn_shape_str(a->shape, a->ndim, s1, sizeof s1), tn_shape_str(b->shape, b->ndim, s2, sizeof s2));
        return NULL;
    }
    int64_t m = a->ndim == 1 ? 1 : a->shape[a->ndim - 2], n = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
    int64_t oshape[TN_MAX_DIMS + 2];
    int ond = nl;
    memcpy(oshape, L, sizeof(int64_t) * (size_t)nl);
    if (a->ndim >= 2) oshape[ond++] = m;
    if (b->ndim >= 2) oshape[ond++] = n;
    if (ond > TN_MAX_DIMS) {
        tn_error("%s: result would have more than %d dims", op, TN_MAX_DIMS);
        return NULL;
    }
    tn_dtype rt;
    int ct = compute_dtype(op, a, b, &rt);
    if (ct < 0) return NULL;
    tn_tensor *pa = prepare(a, (tn_dtype)ct, true), *pb = pa ? prepare(b, (tn_dtype)ct, false) : NULL;
    tn_tensor *out = pb ? tn_empty((tn_dtype)ct, ond, oshape) : NULL;
    if (out) {
        /* out is (L..., m, n) contiguous whatever dims were squeezed */
        mat C = {.base = tn_data(out), .rows = m, .cols = n, .rs = n, .cs = 1};
        int64_t st = m * n;
        for (int d = nl - 1; d >= 0; d--) {
            C.bstride[d] = L[d] == 1 ? 0 : st;
            st *= L[d];
        }
        if (product_batched((tn_dtype)ct, nl, L, C, describe(pa, nl, L, true), describe(pb, nl, L, false),
                            (size_t)out->numel * tn_dtype_size((tn_dtype)ct), op) < 0) {
            tn_release(out);
            out = NULL;
        }
    }
    tn_release(pa);
    tn_release(pb);
    if (out && (tn_dtype)ct != rt) {  /* integer product computed in float64 */
        tn_tensor *o = tn_to(out, rt);
        tn_release(out);
        out = o;
    }
    return out;
}

/* iarg[0] of a MATMUL node: which product it was. */
enum { MODE_MATMUL = 0, MODE_OUTER = 1 };

static tn_tensor *record(tn_tensor *out, tn_tensor *a, tn_tensor *b, int mode) {
    if (!out || !tn_dtype_is_float(out->dtype) || !tn_grad_needed2(a, b)) return out;
    tn_node *nd = tn_record(TN_OP_MATMUL, out, 2, (tn_tensor *[]){a, b});
    if (!nd) {
        tn_release(out);
        return NULL;
    }
    nd->iarg[0] = mode;
    tn_save(nd, a);
    tn_save(nd, b);
    return out;
}

tn_tensor *tn_matmul(tn_tensor *a, tn_tensor *b) {
    return record(matmul_forward("matmul", a, b), a, b, MODE_MATMUL);
}

static bool want_dims(const char *op, const tn_tensor *t, int nd, const char *what) {
    if (t->ndim == nd) return true;
    char s[128];
    tn_error("%s: %s must be %d-D, got shape %s", op, what, nd, tn_shape_str(t->shape, t->ndim, s, sizeof s));
    return false;
}

tn_tensor *tn_mm(tn_tensor *a, tn_tensor *b) {
    if (!want_dims("mm", a, 2, "the first argument") || !want_dims("mm", b, 2, "the second argument"))
        return NULL;
    return record(matmul_forward("mm", a, b), a, b, MODE_MATMUL);
}

tn_tensor *tn_bmm(tn_tensor *a, tn_tensor *b) {
    if (!want_dims("bmm", a, 3, "the first argument") || !want_dims("bmm", b, 3, "the second argument"))
        return NULL;
    if (a->shape[0] != b->shape[0]) {
        char s1[128], s2[128];
        tn_error("bmm: batch sizes of %s and %s differ (%lld vs %lld)",
                 tn_shape_str(a->shape, 3, s1, sizeof s1), tn_shape_str(b->shape, 3, s2, sizeof s2),
                 (long long)a->shape[0], (long long)b->shape[0]);
        return NULL;
    }
    return record(matmul_forward("bmm", a, b), a, b, MODE_MATMUL);
}

tn_tensor *tn_mv(tn_tensor *a, tn_tensor *v) {
    if (!want_dims("mv", a, 2, "the matrix") || !want_dims("mv", v, 1, "the vector")) return NULL;
    return record(matmul_forward("mv", a, v), a, v, MODE_MATMUL);
}

tn_tensor *tn_dot(tn_tensor *a, tn_tensor *b) {
    if (!want_dims("dot", a, 1, "the first argument") || !want_dims("dot", b, 1, "the second argument"))
        return NULL;
    return record(matmul_forward("dot", a, b), a, b, MODE_MATMUL);
}

/* outer(a, b): (m) x (n) -> (m, n), a product with contraction length 1. */
static tn_tensor *outer_forward(tn_tensor *a, tn_tensor *b) {
    tn_dtype rt;
    int ct = compute_dtype("outer", a, b, &rt);
    if (ct < 0) return NULL;
    tn_tensor *pa = prepare(a, (tn_dtype)ct, false), *pb = pa ? prepare(b, (tn_dtype)ct, true) : NULL;
    int64_t m = a->shape[0], n = b->shape[0];
    tn_tensor *out = pb ? tn_empty((tn_dtype)ct, 2, (int64_t[]){m, n}) : NULL;
    if (out) {
        mat C = {.base = tn_data(out), .rows = m, .cols = n, .rs = n, .cs = 1};
        if (product_batched((tn_dtype)ct, 0, NULL, C, describe(pa, 0, NULL, false), describe(pb, 0, NULL, true),
                            (size_t)out->numel * tn_dtype_size((tn_dtype)ct), "outer") < 0) {
            tn_release(out);
            out = NULL;
        }
    }
    tn_release(pa);
    tn_release(pb);
    if (out && (tn_dtype)ct != rt) {
        tn_tensor *o = tn_to(out, rt);
        tn_release(out);
        out = o;
    }
    return out;
}

tn_tensor *tn_outer(tn_tensor *a, tn_tensor *b) {
    if (!want_dims("outer", a, 1, "the first argument") || !want_dims("outer", b, 1, "the second argument"))
        return NULL;
    return record(outer_forward(a, b), a, b, MODE_OUTER);
}

/* ---------- backward ---------- */

/* A fresh zeroed-or-not contiguous tensor shaped like `like` in dtype dt,
 * and its operand description (as_row for 1-D), for gradient output. */
static tn_tensor *grad_buffer(const tn_tensor *like, tn_dtype dt, int nl, const int64_t *L, bool as_row,
                              mat *M) {
    tn_tensor *t = tn_empty(dt, like->ndim, like->shape);
    if (t) *M = describe(t, nl, L, as_row);
    return t;
}

/* The output gradient g as (L..., m, n): g's dims are L, then m unless a
 * was 1-D, then n unless b was 1-D (outer: just (m, n)). */
static mat describe_grad(const tn_tensor *g, int a_nd, int b_nd, bool outer, int nl, const int64_t *L,
                         int64_t m, int64_t n) {
    mat G;
    memset(&G, 0, sizeof G);
    G.base = tn_data(g);
    G.rows = m;
    G.cols = n;
    int gd = g->ndim;
    if (outer || (a_nd >= 2 && b_nd >= 2)) {
        G.rs = g->stride[gd - 2];
        G.cs = g->stride[gd - 1];
    } else if (a_nd >= 2) {  /* (L..., m): a column */
        G.rs = g->stride[gd - 1];
        G.cs = 1;
    } else if (b_nd >= 2) {  /* (L..., n): a row */
        G.rs = n;
        G.cs = g->stride[gd - 1];
    } else {                 /* dot: 0-dim */
        G.rs = G.cs = 1;
    }
    for (int d = 0; d < nl; d++) G.bstride[d] = L[d] == 1 ? 0 : g->stride[d];
    return G;
}

/*
 * Forward was, over loop shape L:  out[i] (m, n) = A[i] (m, k) @ B[i] (k, n)
 * with 1-D a a row (1, k) and 1-D b a column (k, 1) (their dims squeezed
 * from out).  So, with G the gradient seen as (L..., m, n):
 *     grad_A (ab..., m, k) = sum over broadcast dims of G @ B^T
 *     grad_B (bb..., k, n) = sum over broadcast dims of A^T @ G
 * The driver sums over broadcast dims itself (C has stride 0 there).
 * Outer was out (m, n) = a (m, 1) @ b (1, n): the same with k = 1.
 */
int matmul_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *a = tn_saved(nd, 0), *b = tn_saved(nd, 1);
    if (!a || !b) return -1;
    bool outer = nd->iarg[0] == MODE_OUTER;
    bool need_a = nd->edges[0].fn || nd->edges[0].leaf, need_b = nd->edges[1].fn || nd->edges[1].leaf;
    tn_dtype dt = tn_promote(tn_promote(a->dtype, b->dtype), g->dtype);
    if (!tn_dtype_is_float(dt)) dt = TN_FLOAT64;
    int nba = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    int64_t L[TN_MAX_DIMS];
    int nl = outer ? 0 : tn_broadcast_shapes(a->shape, nba, b->shape, nbb, L, "matmul backward");
    if (nl < 0) return -1;
    int rc = -1;
    tn_tensor *pa = prepare(a, dt, !outer), *pb = pa ? prepare(b, dt, outer) : NULL;
    tn_tensor *pg = NULL;
    if (pb) {
        bool was = tn_set_grad_enabled(false);
        pg = tn_to(g, dt);
        tn_set_grad_enabled(was);
    }
    if (!pg) goto done;
    mat A = describe(pa, nl, L, !outer), B = describe(pb, nl, L, outer);
    mat G = describe_grad(pg, a->ndim, b->ndim, outer, nl, L, A.rows, B.cols);
    if (!blas_ok(&G)) {  /* e.g. a 0-stride gradient from expand: copy once */
        bool was = tn_set_grad_enabled(false);
        tn_tensor *c = tn_clone(pg);
        tn_set_grad_enabled(was);
        if (!c) goto done;
        tn_release(pg);
        pg = c;
        G = describe_grad(pg, a->ndim, b->ndim, outer, nl, L, A.rows, B.cols);
    }
    if (need_a) {
        mat C;
        tn_tensor *ga = grad_buffer(a, dt, nl, L, !outer, &C);
        if (!ga) goto done;
        gin[0] = ga;
        if (product_batched(dt, nl, L, C, G, mat_t(B), (size_t)ga->numel * tn_dtype_size(dt), "matmul backward") < 0)
            goto done;
    }
    if (need_b) {
        mat C;
        tn_tensor *gb = grad_buffer(b, dt, nl, L, outer, &C);
        if (!gb) goto done;
        gin[1] = gb;
        if (product_batched(dt, nl, L, C, mat_t(A), G, (size_t)gb->numel * tn_dtype_size(dt), "matmul backward") < 0)
            goto done;
    }
    rc = 0;
done:
    tn_release(pa);
    tn_release(pb);
    tn_release(pg);
    return rc;
}
