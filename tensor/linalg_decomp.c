/*
 * linalg_decomp.c: the matrix decompositions of ember.linalg on LAPACK,
 * batched over leading dims, float32 and float64, each with its backward
 * rule beside it:
 *   cholesky  potrf     A = L L^T (lower triangle of A read, as PyTorch)
 *   eigh      syevd     A = V diag(w) V^T, w ascending (UPLO "L" or "U")
 *   svd       gesdd     A = U diag(S) Vh, S descending (reduced or full)
 *   qr        geqrf + orgqr   A = Q R (mode reduced, complete or r)
 *
 * Ops with several differentiable outputs (eigh, svd, qr) record one node
 * per output: the gradient is linear in the output gradients, so each node
 * adds its own term and the engine sums them.
 *
 * Layout: a row-major buffer read by LAPACK is the transpose of the matrix.
 * cholesky and eigh use the symmetric input as it is (the other triangle
 * is requested); svd factors A^T = U' S V'^T, whose column-major V'^T and U'
 * are exactly the row-major U and Vh of A, so it copies nothing back; qr
 * transposes A into a column-major work buffer and Q back.
 */
#include "linalg_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OKP(p) (!(p)->fail)

static tn_tensor *new_like_batch(tn_dtype dt, const tn_tensor *a, int64_t r, int64_t c, int extra) {
    int64_t sh[TN_MAX_DIMS];
    int nbd = a->ndim - 2;
    memcpy(sh, a->shape, sizeof(int64_t) * (size_t)nbd);
    sh[nbd] = r;
    sh[nbd + 1] = c;
    return tn_empty(dt, nbd + extra, sh);
}

/* The workspace size a LAPACK query (lwork = -1) wrote into w[0], plus one
 * for rounding; false with an error when it does not fit LAPACK's int. */
static bool work_size(tn_dtype dt, const void *w, const char *op, int *lwork) {
    double v = tn_load(dt, w, 0) + 1;
    if (!(v >= 1 && v < (double)INT_MAX)) {
        tn_error("%s: the matrices are too large for LAPACK's workspace", op);
        return false;
    }
    *lwork = (int)v;
    return true;
}

/* LAPACK's scaling step rejects NaN and inf by printing to stderr (xerbla)
 * and failing; check first, as PyTorch does, and say what is wrong. */
static bool all_finite(const char *op, const tn_tensor *c, int64_t b, int64_t nb, int64_t per) {
    const char *p = (const char *)tn_data(c);
    for (int64_t i = b * per; i < (b + 1) * per; i++)
        if (!isfinite(tn_load(c->dtype, p, i))) {
            char note[96];
            la_item_note(note, sizeof note, b, nb);
            tn_error("%s: the input contains NaN or inf%s", op, note);
            return false;
        }
    return true;
}

/* ---------- cholesky ---------- */

typedef struct {
    tn_dtype dt;
    int n;
    int64_t nb;
    const char *op;
    char *m;   /* holds A on entry, L on return */
} chol_ctx;

static int chol_item(void *v, int64_t b, void *scratch) {
    (void)scratch;
    chol_ctx *c = v;
    int n = c->n, ld = n > 1 ? n : 1, info = 0;
    size_t es = tn_dtype_size(c->dt);
    char *m = c->m + (size_t)b * (size_t)n * (size_t)n * es;
    /* m is column-major A^T; its upper triangle is A's lower one, and the
     * factor U (A^T = U^T U) read row-major is L = U^T */
    if (c->dt == TN_FLOAT32) spotrf_("U", &n, (float *)(void *)m, &ld, &info, 1);
    else dpotrf_("U", &n, (double *)(void *)m, &ld, &info, 1);
    if (info != 0) {
        char note[96];
        la_item_note(note, sizeof note, b, c->nb);
        if (info > 0)
            tn_error("%s: the input is not positive-definite (the leading minor of order %d is not "
                     "positive-definite)%s", c->op, info, note);
        else tn_error("%s: LAPACK potrf rejected argument %d", c->op, -info);
        return -1;
    }
    for (int i = 0; i < n; i++)  /* potrf leaves the strict upper triangle (row-major) as it was */
        for (int j = i + 1; j < n; j++) tn_store(c->dt, m, (int64_t)i * n + j, 0.0);
    return 0;
}

static tn_tensor *cholesky_raw(tn_tensor *a, const char *op) {
    if (!la_check(op, a, true)) return NULL;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *out = tn_clone(a);  /* contiguous, factored in place */
    tn_set_grad_enabled(was);
    if (!out) return NULL;
    int n = (int)a->shape[a->ndim - 1];
    chol_ctx ctx = {a->dtype, n, la_batch(a), op, tn_data(out)};
    if (n > 0 && la_run_batch(op, ctx.nb, (double)n * n * n / 3, 0, chol_item, &ctx) < 0) {
        tn_release(out);
        return NULL;
    }
    return out;
}

tn_tensor *tn_linalg_cholesky(tn_tensor *a) {
    tn_tensor *out = cholesky_raw(a, "linalg.cholesky");
    if (out && tn_grad_needed1(a)) {
        tn_node *nd = tn_record(TN_OP_LINALG_CHOLESKY, out, 1, &a);
        if (!nd) {
            tn_release(out);
            return NULL;
        }
        tn_save(nd, out);
    }
    return out;
}

/* In place on a fresh contiguous (..., n, n) tensor: mode 0 keeps the lower
 * triangle with its diagonal halved (Phi of the Cholesky rule); mode 1
 * copies the lower triangle onto the upper one (a symmetric matrix). */
static void tri_fix(tn_tensor *t, int mode) {
    int64_t n = t->shape[t->ndim - 1], nb = la_batch(t);
    char *d = tn_data(t);
    for (int64_t b = 0; b < nb; b++) {
        int64_t o = b * n * n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++) {
                if (mode == 0) {
                    double v = j == i ? 0.5 * tn_load(t->dtype, d, o + i * n + i) : 0.0;
                    tn_store(t->dtype, d, o + i * n + j, v);
                } else {
                    tn_store(t->dtype, d, o + i * n + j, tn_load(t->dtype, d, o + j * n + i));
                }
            }
    }
}

/* A = L L^T: S = L^-T Phi(L^T gL) L^-1, gA = (S + S^T) / 2 */
int linalg_cholesky_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *l = tn_saved(nd, 0);
    if (!l) return -1;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *lt = la_mT(p, l);
    tn_tensor *phi = la_copy(p, la_mm(p, lt, g));
    if (phi) tri_fix(phi, 0);
    tn_tensor *x = p->fail ? NULL : la_keep(p, la_solve_raw(lt, phi, "linalg.cholesky (backward)"));
    /* S = X L^-1 = (L^-T X^T)^T */
    tn_tensor *xt = la_mT(p, x);
    tn_tensor *st = p->fail ? NULL : la_keep(p, la_solve_raw(lt, xt, "linalg.cholesky (backward)"));
    tn_tensor *r = la_scale(p, la_add(p, st, la_mT(p, st)), 0.5);
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* ---------- eigh ---------- */

typedef struct {
    tn_dtype dt;
    int n, lwork, liwork;
    bool vectors;
    const char *uplo;
    int64_t nb;
    const tn_tensor *c;
    const char *op;
    char *w, *v;
} eigh_ctx;

/* scratch: the matrix (n x n), syevd's work (lwork), iwork (liwork ints) */
static int eigh_item(void *vc, int64_t b, void *scratch) {
    eigh_ctx *c = vc;
    int n = c->n, ld = n > 1 ? n : 1, info = 0;
    size_t es = tn_dtype_size(c->dt), nn = (size_t)n * (size_t)n;
    if (!all_finite(c->op, c->c, b, c->nb, (int64_t)nn)) return -1;
    void *m = scratch, *work = (char *)scratch + la_align(nn * es);
    int *iwork = (int *)(void *)((char *)work + la_align((size_t)c->lwork * es));
    memcpy(m, (const char *)tn_data(c->c) + b * nn * es, nn * es);
    void *wb = c->w + (size_t)b * (size_t)n * es;
    const char *jobz = c->vectors ? "V" : "N";
    if (c->dt == TN_FLOAT32)
        ssyevd_(jobz, c->uplo, &n, m, &ld, wb, work, &c->lwork, iwork, &c->liwork, &info, 1, 1);
    else dsyevd_(jobz, c->uplo, &n, m, &ld, wb, work, &c->lwork, iwork, &c->liwork, &info, 1, 1);
    if (info != 0) {
        char note[96];
        la_item_note(note, sizeof note, b, c->nb);
        tn_error("%s: the eigenvalue algorithm failed to converge (LAPACK syevd info %d)%s", c->op, info, note);
        return -1;
    }
    /* m: column-major eigenvectors, column k for w[k]; V row-major (n, n) */
    if (c->vectors) la_from_colmajor(c->dt, m, c->v + b * nn * es, n, n);
    return 0;
}

static int eigh_raw(tn_tensor *a, const char *op, bool upper, bool vectors, tn_tensor **w, tn_tensor **v) {
    if (!la_check(op, a, true)) return -1;
    tn_dtype dt = a->dtype;
    int n = (int)a->shape[a->ndim - 1], ld = n > 1 ? n : 1;
    size_t es = tn_dtype_size(dt);
    tn_tensor *c = la_contig(a);
    tn_tensor *wo = c ? new_like_batch(dt, a, n, 0, 1) : NULL;
    tn_tensor *vo = wo && vectors ? tn_empty(dt, a->ndim, a->shape) : NULL;
    bool ok = wo && (vo || !vectors);
    /* the row-major lower triangle is the column-major upper one */
    const char *uplo = upper ? "L" : "U", *jobz = vectors ? "V" : "N";
    int lwork = -1, liwork = -1, info = 0;
    if (ok && n > 0) {  /* workspace query */
        double wq[2], dummy[2];
        int iq = 1;
        if (dt == TN_FLOAT32)
            ssyevd_(jobz, uplo, &n, (float *)(void *)dummy, &ld, (float *)(void *)dummy, (float *)(void *)wq,
                    &lwork, &iq, &liwork, &info, 1, 1);
        else dsyevd_(jobz, uplo, &n, dummy, &ld, dummy, wq, &lwork, &iq, &liwork, &info, 1, 1);
        liwork = iq > 1 ? iq : 1;
        ok = work_size(dt, wq, op, &lwork);
    }
    if (ok && n > 0) {
        eigh_ctx ctx = {dt, n, lwork, liwork, vectors, uplo, la_batch(a), c, op, tn_data(wo),
                        vo ? tn_data(vo) : NULL};
        size_t scratch = la_align((size_t)n * (size_t)n * es) + la_align((size_t)lwork * es) +
                         sizeof(int) * (size_t)liwork;
        ok = la_run_batch(op, ctx.nb, 4.0 * n * n * n, scratch, eigh_item, &ctx) == 0;
    }
    tn_release(c);
    if (!ok) {
        tn_release(wo);
        tn_release(vo);
        return -1;
    }
    *w = wo;
    if (v) *v = vo;
    else tn_release(vo);
    return 0;
}

int tn_linalg_eigh(tn_tensor *a, bool upper, bool vectors, tn_tensor **w, tn_tensor **v) {
    bool grad = tn_grad_needed1(a);
    tn_tensor *wo, *vo = NULL;
    if (eigh_raw(a, vectors ? "linalg.eigh" : "linalg.eigvalsh", upper, vectors || grad, &wo, &vo) < 0) return -1;
    if (grad) {
        tn_node *n1 = tn_record(TN_OP_LINALG_EIGH, wo, 1, &a);
        tn_node *n2 = n1 && vectors ? tn_record(TN_OP_LINALG_EIGH_VECTORS, vo, 1, &a) : NULL;
        if (!n1 || (vectors && !n2)) {
            tn_release(wo);
            tn_release(vo);
            return -1;
        }
        tn_save(n1, vo);
        if (n2) {
            tn_save(n2, wo);
            tn_save(n2, vo);
        }
    }
    *w = wo;
    if (vectors) *v = vo;
    else tn_release(vo);
    return 0;
}

/* eigenvalues: gA = V diag(gw) V^T */
int linalg_eigh_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *v = tn_saved(nd, 0);
    if (!v) return -1;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *r = la_mm(p, la_mul(p, v, la_unsq(p, g, -2)), la_mT(p, v));
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* In place on a fresh contiguous (..., k, k) M: M_ij /= (d_j - d_i) off the
 * diagonal, 0 on it; d (..., k) holds w (eigh) or S^2 (svd, squared here). */
static void divide_gaps(tn_tensor *mt, tn_tensor *d, bool square_d) {
    int64_t k = mt->shape[mt->ndim - 1], nb = la_batch(mt);
    tn_tensor *dc = la_contig(d);
    if (!dc) return;
    char *pm = tn_data(mt), *pd = tn_data(dc);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++) {
                int64_t o = b * k * k + i * k + j;
                if (i == j) {
                    tn_store(mt->dtype, pm, o, 0.0);
                    continue;
                }
                double di = tn_load(dc->dtype, pd, b * k + i), dj = tn_load(dc->dtype, pd, b * k + j);
                if (square_d) {
                    di *= di;
                    dj *= dj;
                }
                tn_store(mt->dtype, pm, o, tn_load(mt->dtype, pm, o) / (dj - di));
            }
    tn_release(dc);
}

/* eigenvectors: gA = V ((V^T gV) / E) V^T with E_ij = w_j - w_i (0 on the
 * diagonal); needs distinct eigenvalues, as in PyTorch */
int linalg_eigh_vectors_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *w = tn_saved(nd, 0), *v = tn_saved(nd, 1);
    if (!w || !v) return -1;
    la_pool pool = {0}, *p = &pool;
    tn_tensor *f = la_copy(p, la_mm(p, la_mT(p, v), g));
    if (f) divide_gaps(f, w, false);
    tn_tensor *r = la_mm(p, la_mm(p, v, f), la_mT(p, v));
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* ---------- svd ---------- */

typedef struct {
    tn_dtype dt;
    int m, n, k, ucols, vrows, lwork;
    bool vectors;
    const char *jobz;
    int64_t nb;
    const tn_tensor *c;
    const char *op;
    char *s, *u, *vh;
} svd_ctx;

/* scratch: the matrix (m x n), gesdd's work (lwork), iwork (8k ints) */
static int svd_item(void *v, int64_t b, void *scratch) {
    svd_ctx *c = v;
    int m = c->m, n = c->n, k = c->k, info = 0;
    size_t es = tn_dtype_size(c->dt), mn = (size_t)m * (size_t)n;
    if (!all_finite(c->op, c->c, b, c->nb, (int64_t)mn)) return -1;
    void *wa = scratch, *work = (char *)scratch + la_align(mn * es);
    int *iwork = (int *)(void *)((char *)work + la_align((size_t)c->lwork * es));
    memcpy(wa, (const char *)tn_data(c->c) + b * mn * es, mn * es);
    /* LAPACK sees M = A^T (n x m); M = U' S V'^T gives A = V' S U'^T:
     * U_A = V' is vt' read row-major, Vh_A = U'^T is u' read row-major */
    void *sb = c->s + (size_t)b * (size_t)k * es;
    void *ub = c->vectors ? c->vh + (size_t)b * (size_t)c->vrows * (size_t)n * es : wa;  /* u' -> Vh */
    void *vb = c->vectors ? c->u + (size_t)b * (size_t)m * (size_t)c->ucols * es : wa;   /* vt' -> U */
    int lda = n > 1 ? n : 1, lu = c->vectors && n > 1 ? n : 1;
    int lv = c->vectors && c->ucols > 1 ? c->ucols : 1;  /* vt' is ucols x m */
    if (c->dt == TN_FLOAT32)
        sgesdd_(c->jobz, &n, &m, wa, &lda, sb, ub, &lu, vb, &lv, work, &c->lwork, iwork, &info, 1);
    else dgesdd_(c->jobz, &n, &m, wa, &lda, sb, ub, &lu, vb, &lv, work, &c->lwork, iwork, &info, 1);
    if (info != 0) {
        char note[96];
        la_item_note(note, sizeof note, b, c->nb);
        tn_error("%s: the SVD algorithm failed to converge (LAPACK gesdd info %d)%s", c->op, info, note);
        return -1;
    }
    return 0;
}

int la_svd_raw(tn_tensor *a, const char *op, bool full, bool vectors, tn_tensor **u, tn_tensor **s,
               tn_tensor **vh) {
    if (!la_check(op, a, false)) return -1;
    tn_dtype dt = a->dtype;
    int m = (int)a->shape[a->ndim - 2], n = (int)a->shape[a->ndim - 1], k = m < n ? m : n;
    int64_t nb = la_batch(a);
    size_t es = tn_dtype_size(dt);
    full = full && vectors;
    int ucols = full ? m : k, vrows = full ? n : k;
    tn_tensor *c = la_contig(a);
    tn_tensor *so = c ? new_like_batch(dt, a, k, 0, 1) : NULL;
    tn_tensor *uo = so && vectors ? new_like_batch(dt, a, m, ucols, 2) : NULL;
    tn_tensor *vo = uo ? new_like_batch(dt, a, vrows, n, 2) : NULL;
    bool ok = so && (!vectors || vo);
    const char *jobz = !vectors ? "N" : full ? "A" : "S";
    int lwork = -1, info = 0;
    if (ok && k > 0) {  /* workspace query */
        double wq[2], dummy[2];
        int iq[2], lda = n > 1 ? n : 1, ldu = n > 1 ? n : 1, ldvt = (full ? m : k) > 1 ? (full ? m : k) : 1;
        if (dt == TN_FLOAT32) {
            float *d = (float *)(void *)dummy;
            sgesdd_(jobz, &n, &m, d, &lda, d, d, &ldu, d, &ldvt, (float *)(void *)wq, &lwork, iq, &info, 1);
        } else {
            dgesdd_(jobz, &n, &m, dummy, &lda, dummy, dummy, &ldu, dummy, &ldvt, wq, &lwork, iq, &info, 1);
        }
        ok = work_size(dt, wq, op, &lwork);
    }
    if (ok && k == 0 && vectors) {  /* empty: full vectors are identities */
        memset(tn_data(uo), 0, (size_t)uo->numel * es);
        memset(tn_data(vo), 0, (size_t)vo->numel * es);
        for (int64_t b = 0; b < nb; b++) {
            for (int i = 0; i < ucols && i < m; i++)
                tn_store(dt, tn_data(uo), b * m * ucols + (int64_t)i * ucols + i, 1.0);
            for (int i = 0; i < vrows && i < n; i++)
                tn_store(dt, tn_data(vo), b * vrows * n + (int64_t)i * n + i, 1.0);
        }
    }
    if (ok && k > 0) {
        svd_ctx ctx = {dt, m, n, k, ucols, vrows, lwork, vectors, jobz, nb, c, op, tn_data(so),
                       vectors ? tn_data(uo) : NULL, vectors ? tn_data(vo) : NULL};
        size_t scratch = la_align((size_t)m * (size_t)n * es) + la_align((size_t)lwork * es) + sizeof(int) * 8 * (size_t)k;
        ok = la_run_batch(op, nb, 8.0 * m * n * k, scratch, svd_item, &ctx) == 0;
    }
    tn_release(c);
    if (!ok) {
        tn_release(so);
        tn_release(uo);
        tn_release(vo);
        return -1;
    }
    *s = so;
    if (u) *u = uo;
    else tn_release(uo);
    if (vh) *vh = vo;
    else tn_release(vo);
    return 0;
}

int tn_linalg_svd(tn_tensor *a, bool full, bool vectors, tn_tensor **u, tn_tensor **s, tn_tensor **vh) {
    bool grad = tn_grad_needed1(a);
    tn_tensor *uo = NULL, *so, *vo = NULL;
    const char *op = vectors ? "linalg.svd" : "linalg.svdvals";
    if (la_svd_raw(a, op, vectors && full, vectors || grad, &uo, &so, &vo) < 0) return -1;
    if (grad) {
        tn_node *ns = tn_record(TN_OP_LINALG_SVD, so, 1, &a);
        tn_node *nu = ns && vectors ? tn_record(TN_OP_LINALG_SVD_U, uo, 1, &a) : NULL;
        tn_node *nv = nu ? tn_record(TN_OP_LINALG_SVD_VH, vo, 1, &a) : NULL;
        if (!ns || (vectors && !nv)) {
            tn_release(uo);
            tn_release(so);
            tn_release(vo);
            return -1;
        }
        tn_node *nodes[3] = {ns, nu, nv};
        for (int i = 0; i < 3; i++) {
            if (!nodes[i]) continue;
            tn_save(nodes[i], uo);
            tn_save(nodes[i], so);
            tn_save(nodes[i], vo);
        }
    }
    *s = so;
    if (vectors) {
        *u = uo;
        *vh = vo;
    } else {
        tn_release(uo);
        tn_release(vo);
    }
    return 0;
}

/* The saved U, S, Vh narrowed to the k = min(m, n) singular triplets (the
 * extra columns of full_matrices carry no gradient, as in PyTorch). */
static bool svd_saved(tn_node *nd, la_pool *p, tn_tensor **u, tn_tensor **s, tn_tensor **vh) {
    tn_tensor *u0 = tn_saved(nd, 0), *s0 = tn_saved(nd, 1), *v0 = tn_saved(nd, 2);
    if (!u0 || !s0 || !v0) return false;
    int64_t k = s0->shape[s0->ndim - 1];
    *s = s0;
    *u = la_narrow(p, u0, -1, k);
    *vh = la_narrow(p, v0, -2, k);
    return !p->fail;
}

/* singular values: gA = U diag(gS) Vh */
int linalg_svd_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    la_pool pool = {0}, *p = &pool;
    tn_tensor *u, *s, *vh;
    if (!svd_saved(nd, p, &u, &s, &vh)) {
        la_pool_free(p);
        return -1;
    }
    tn_tensor *r = la_mm(p, la_mul(p, u, la_unsq(p, g, -2)), vh);
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* F = skew(J) / E with skew(J) = J - J^T, E_jk = S_k^2 - S_j^2 (0 on the diagonal) */
static tn_tensor *svd_gap(la_pool *p, tn_tensor *j, tn_tensor *s) {
    tn_tensor *f = la_copy(p, la_sub(p, j, la_mT(p, j)));
    if (f) divide_gaps(f, s, true);
    return f;
}

/* left vectors: gA = U (F S) Vh + (I - U U^T) gU S^-1 Vh,  F from J = U^T gU */
int linalg_svd_u_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    la_pool pool = {0}, *p = &pool;
    tn_tensor *u, *s, *vh;
    if (!svd_saved(nd, p, &u, &s, &vh)) {
        la_pool_free(p);
        return -1;
    }
    int64_t m = u->shape[u->ndim - 2], k = s->shape[s->ndim - 1];
    tn_tensor *gu = la_narrow(p, g, -1, k);
    tn_tensor *f = svd_gap(p, la_mm(p, la_mT(p, u), gu), s);
    tn_tensor *inner = la_mul(p, f, la_unsq(p, s, -2));
    if (m > k) {  /* the part of gU outside U's column space */
        tn_tensor *perp = la_sub(p, gu, la_mm(p, u, la_mm(p, la_mT(p, u), gu)));
        tn_tensor *t2 = la_mm(p, la_mul(p, perp, la_unsq(p, la_recip(p, s), -2)), vh);
        tn_tensor *t1 = la_mm(p, la_mm(p, u, inner), vh);
        return (gin[0] = la_result(p, la_add(p, t1, t2))) ? 0 : -1;
    }
    tn_tensor *r = la_mm(p, la_mm(p, u, inner), vh);
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* right vectors: gA = U (S F) Vh + U S^-1 gVh (I - V V^T),  F from J = Vh gVh^T */
int linalg_svd_vh_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) {
    la_pool pool = {0}, *p = &pool;
    tn_tensor *u, *s, *vh;
    if (!svd_saved(nd, p, &u, &s, &vh)) {
        la_pool_free(p);
        return -1;
    }
    int64_t n = vh->shape[vh->ndim - 1], k = s->shape[s->ndim - 1];
    tn_tensor *gv = la_narrow(p, g, -2, k);  /* gVh (k, n) */
    tn_tensor *f = svd_gap(p, la_mm(p, vh, la_mT(p, gv)), s);
    tn_tensor *inner = la_mul(p, la_unsq(p, s, -1), f);
    tn_tensor *r = la_mm(p, la_mm(p, u, inner), vh);
    if (n > k) {
        tn_tensor *perp = la_sub(p, gv, la_mm(p, la_mm(p, gv, la_mT(p, vh)), vh));
        r = la_add(p, r, la_mm(p, la_mul(p, u, la_unsq(p, la_recip(p, s), -2)), perp));
    }
    return (gin[0] = la_result(p, r)) ? 0 : -1;
}

/* ---------- qr ---------- */

/* mode: 0 reduced, 1 complete, 2 r (Q is then an empty tensor, as PyTorch) */
typedef struct {
    tn_dtype dt;
    int m, n, k, qc, rr, mode, lwork;
    size_t qsz;
    const char *a, *op;
    char *q, *r;
} qr_ctx;

/* scratch: column-major work (m x max(qc, n)), tau (k), work (lwork) */
static int qr_item(void *v, int64_t b, void *scratch) {
    qr_ctx *c = v;
    int m = c->m, n = c->n, k = c->k, qc = c->qc, rr = c->rr, ld = m > 1 ? m : 1, info = 0;
    tn_dtype dt = c->dt;
    size_t es = tn_dtype_size(dt);
    void *wa = scratch, *tau = (char *)scratch + la_align(c->qsz * es);
    void *work = (char *)tau + la_align((size_t)k * es);
    la_to_colmajor(dt, c->a + (size_t)b * (size_t)m * (size_t)n * es, wa, m, n);  /* wa: column-major A */
    if (m > 0 && n > 0) {
        if (dt == TN_FLOAT32) sgeqrf_(&m, &n, wa, &ld, tau, work, &c->lwork, &info);
        else dgeqrf_(&m, &n, wa, &ld, tau, work, &c->lwork, &info);
    }
    /* R: the upper triangle of wa's first rr rows, row-major (rr, n) */
    char *rb = c->r + (size_t)b * (size_t)rr * (size_t)n * es;
    for (int i = 0; i < rr; i++)
        for (int j = 0; j < n; j++)
            tn_store(dt, rb, (int64_t)i * n + j, j >= i ? tn_load(dt, wa, i + (int64_t)j * m) : 0.0);
    if (c->mode == 2 || qc == 0) return 0;
    /* Q from the reflectors: orgqr fills m x qc columns (for complete mode
     * with n < m it makes the extra columns too) */
    if (k > 0) {
        if (dt == TN_FLOAT32) sorgqr_(&m, &qc, &k, wa, &ld, tau, work, &c->lwork, &info);
        else dorgqr_(&m, &qc, &k, wa, &ld, tau, work, &c->lwork, &info);
    } else {  /* no reflectors: Q = I */
        memset(wa, 0, (size_t)m * (size_t)qc * es);
        for (int i = 0; i < m && i < qc; i++) tn_store(dt, wa, i + (int64_t)i * m, 1.0);
    }
    if (info != 0) {
        tn_error("%s: LAPACK orgqr failed (info %d)", c->op, info);
        return -1;
    }
    la_from_colmajor(dt, wa, c->q + (size_t)b * (size_t)m * (size_t)qc * es, m, qc);
    return 0;
}

static int qr_raw(tn_tensor *a, const char *op, int mode, tn_tensor **q, tn_tensor **r) {
    if (!la_check(op, a, false)) return -1;
    tn_dtype dt = a->dtype;
    int m = (int)a->shape[a->ndim - 2], n = (int)a->shape[a->ndim - 1], k = m < n ? m : n;
    int qc = mode == 1 ? m : k, rr = mode == 1 ? m : k, ld = m > 1 ? m : 1;
    size_t es = tn_dtype_size(dt);
    tn_tensor *c = la_contig(a);
    tn_tensor *ro = c ? new_like_batch(dt, a, rr, n, 2) : NULL;
    tn_tensor *qo = ro ? (mode == 2 ? tn_empty(dt, 1, (int64_t[]){0}) : new_like_batch(dt, a, m, qc, 2)) : NULL;
    size_t qsz = (size_t)m * (size_t)(qc > n ? qc : n);
    bool ok = qo != NULL;
    int lwork = 1, info = 0;
    if (ok && m > 0 && n > 0) {  /* workspace queries */
        double wq[2], wq2[2], dummy[2];
        int nq = qc > 0 ? qc : 1, q1 = -1;
        if (dt == TN_FLOAT32) {
            float *d = (float *)(void *)dummy;
            sgeqrf_(&m, &n, d, &ld, d, (float *)(void *)wq, &q1, &info);
            sorgqr_(&m, &nq, &k, d, &ld, d, (float *)(void *)wq2, &q1, &info);
        } else {
            dgeqrf_(&m, &n, dummy, &ld, dummy, wq, &q1, &info);
            dorgqr_(&m, &nq, &k, dummy, &ld, dummy, wq2, &q1, &info);
        }
        int l1 = 1, l2 = 1;
        ok = work_size(dt, wq, op, &l1) && work_size(dt, wq2, op, &l2);
        lwork = l1 > l2 ? l1 : l2;
    }
    if (ok) {
        qr_ctx ctx = {dt, m, n, k, qc, rr, mode, lwork, qsz, tn_data(c), op, tn_data(qo), tn_data(ro)};
        size_t scratch = la_align(qsz * es) + la_align((size_t)k * es) + (size_t)lwork * es;
        ok = la_run_batch(op, la_batch(a), 4.0 * m * n * k, scratch, qr_item, &ctx) == 0;
    }
    tn_release(c);
    if (!ok) {
        tn_release(qo);
        tn_release(ro);
        return -1;
    }
    *q = qo;
    *r = ro;
    return 0;
}

int tn_linalg_qr(tn_tensor *a, int mode, tn_tensor **q, tn_tensor **r) {
    tn_tensor *qo, *ro;
    bool grad = tn_grad_needed1(a);
    if (grad && a->ndim >= 2) {
        int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1];
        /* as PyTorch: mode 'r' computes no Q to differentiate with, and a
         * complete Q of a tall matrix is not unique */
        if (mode == 2 || (mode == 1 && m > n)) {
            tn_error("linalg.qr: no gradient for mode='%s' with a %lld x %lld matrix (it needs mode='reduced', "
                     "or 'complete' with rows <= cols); use no_grad or detach",
                     mode == 1 ? "complete" : "r", (long long)m, (long long)n);
            return -1;
        }
    }
    if (qr_raw(a, "linalg.qr", mode, &qo, &ro) < 0) return -1;
    if (grad) {
        tn_node *nq = tn_record(TN_OP_LINALG_QR_Q, qo, 1, &a);
        tn_node *nr = nq ? tn_record(TN_OP_LINALG_QR_R, ro, 1, &a) : NULL;
        if (!nr) {
            tn_release(qo);
            tn_release(ro);
            return -1;
        }
        tn_save(nq, qo);
        tn_save(nq, ro);
        tn_save(nr, qo);
        tn_save(nr, ro);
    }
    *q = qo;
    *r = ro;
    return 0;
}

/* A = Q R.  Square or tall (Q m x k, R k x n, k = n <= m), with the
 * output gradients gQ and gR: M = R gR^T - gQ^T Q,
 * gA = (gQ + Q copyltu(M)) R^-T, copyltu(M) the symmetric matrix with M's
 * lower triangle.  Wide (m < n): A = [X Y] with X = Q R1 square and
 * Y = Q R2, so gY = Q gR2 and X takes the square rule with gQ + Y gR2^T
 * and gR1.  Each node passes only its own output's gradient (the other
 * NULL); the engine adds the two. */
static int qr_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin, bool is_q) {
    tn_tensor *q = tn_saved(nd, 0), *r = tn_saved(nd, 1);
    if (!q || !r) return -1;
    la_pool pool = {0}, *p = &pool;
    int64_t m = q->shape[q->ndim - 2], n = r->shape[r->ndim - 1];
    bool wide = n > m;
    tn_tensor *gq = is_q ? g : NULL, *gr = is_q ? NULL : g, *gy = NULL, *r1 = r;
    if (wide) {
        r1 = la_narrow(p, r, -1, m);
        if (gr) {
            tn_tensor *r2 = OKP(p) ? la_keep(p, tn_narrow(r, -1, m, n - m)) : NULL;
            tn_tensor *gr2 = OKP(p) ? la_keep(p, tn_narrow(gr, -1, m, n - m)) : NULL;
            gy = la_mm(p, q, gr2);
            gq = la_mm(p, la_mm(p, q, r2), la_mT(p, gr2));   /* Y gR2^T */
            gr = la_narrow(p, gr, -1, m);
        } else {
            int64_t sh[TN_MAX_DIMS];
            memcpy(sh, r->shape, sizeof(int64_t) * (size_t)r->ndim);
            sh[r->ndim - 1] = n - m;
            gy = OKP(p) ? la_keep(p, tn_zeros(r->dtype, r->ndim, sh)) : NULL;
        }
    }
    tn_tensor *mm = NULL;
    if (gr) mm = la_mm(p, r1, la_mT(p, gr));
    if (gq) {
        tn_tensor *t = la_mm(p, la_mT(p, gq), q);
        mm = mm ? la_sub(p, mm, t) : la_scale(p, t, -1.0);
    }
    tn_tensor *sym = la_copy(p, mm);
    if (sym) tri_fix(sym, 1);
    tn_tensor *x = la_mm(p, q, sym);
    if (gq) x = la_add(p, x, gq);
    /* gX = X R1^-T  <=>  R1 gX^T = X^T */
    tn_tensor *xt = la_mT(p, x);
    tn_tensor *gxt = OKP(p) ? la_keep(p, la_solve_raw(r1, xt, "linalg.qr (backward)")) : NULL;
    tn_tensor *gx = la_mT(p, gxt);
    if (wide && OKP(p)) gx = la_keep(p, tn_cat((tn_tensor *[]){gx, gy}, 2, -1));
    return (gin[0] = la_result(p, gx)) ? 0 : -1;
}
int linalg_qr_q_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) { return qr_backward(nd, g, gin, true); }
int linalg_qr_r_backward(tn_node *nd, tn_tensor *g, tn_tensor **gin) { return qr_backward(nd, g, gin, false); }
