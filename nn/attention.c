/*
 * attention.c: scaled dot-product attention, out = softmax(q k^T * scale) v,
 * with an optional causal mask, forward and backward (PyTorch's
 * F.scaled_dot_product_attention without dropout).  An explicit attn_mask
 * takes a composed path (nn_scaled_dot_product_attention_masked).
 *
 * q is (..., L, E), k (..., S, E), v (..., S, Ev); the leading dims (batch,
 * heads) are flattened into B independent problems.  Each pass is split in
 * three phases so BLAS and our thread pool never nest: the products of every
 * problem go to OpenBLAS one after the other (each may use OpenBLAS's
 * threads), and the row-wise softmax (or its backward) runs over all B*L rows
 * at once on the pool.  The attention weights P (B, L, S) are kept for
 * backward, where
 *     dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),
 *     dQ = dS K * scale,  dK = dS^T Q * scale.
 * The causal mask (key j > query i, aligned at the top left as PyTorch's
 * is_causal) is applied as -inf before the softmax, so masked weights are
 * exactly 0 and need no special case in backward.  float32 runs in float
 * (sgemm) with the softmax sums in double.
 */
#include "nn/nn.h"
#include "nn/vexp.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

typedef struct {
    int64_t B, L, S, E, Ev;
} sdpa_geom;

static int sdpa_geometry(tn_tensor *q, tn_tensor *k, tn_tensor *v, sdpa_geom *g) {
    const char *op = "scaled_dot_product_attention";
    char s1[128], s2[128], s3[128];
    if (q->dtype != TN_FLOAT32 && q->dtype != TN_FLOAT64) {
        tn_error("%s: query must be float32 or float64, got %s", op, tn_dtype_name(q->dtype));
        return -1;
    }
    if (k->dtype != q->dtype || v->dtype != q->dtype) {
        tn_error("%s: query, key and value must have one dtype, got %s, %s and %s", op,
                 tn_dtype_name(q->dtype), tn_dtype_name(k->dtype), tn_dtype_name(v->dtype));
        return -1;
    }
    int nd = q->ndim;
    bool ok = nd >= 2 && k->ndim == nd && v->ndim == nd &&
              memcmp(q->shape, k->shape, sizeof(int64_t) * (size_t)(nd - 2)) == 0 &&
              memcmp(q->shape, v->shape, sizeof(int64_t) * (size_t)(nd - 2)) == 0 &&
              q->shape[nd - 1] == k->shape[nd - 1] && k->shape[nd - 2] == v->shape[nd - 2];
    if (!ok) {
        tn_error("%s: shapes query %s, key %s, value %s do not fit (expected (..., L, E), "
                 "(..., S, E), (..., S, Ev) with the same leading dims)", op,
                 tn_shape_str(q->shape, q->ndim, s1, sizeof s1), tn_shape_str(k->shape, k->ndim, s2, sizeof s2),
                 tn_shape_str(v->shape, v->ndim, s3, sizeof s3));
        return -1;
    }
    g->B = 1;
    for (int i = 0; i < nd - 2; i++) g->B *= q->shape[i];
    g->L = q->shape[nd - 2];
    g->E = q->shape[nd - 1];
    g->S = k->shape[nd - 2];
    g->Ev = v->shape[nd - 1];
    return 0;
}

/* C (m, n) = alpha * op(A) op(B), row-major with leading dims = column counts. */
static void gemm(bool f32, bool ta, bool tb, int64_t m, int64_t n, int64_t kk, double alpha,
                 const void *a, int64_t lda, const void *b, int64_t ldb, void *c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (kk == 0) {
        memset(c, 0, (size_t)(m * n) * (f32 ? sizeof(float) : sizeof(double)));
        return;
    }
    if (f32)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)kk, (float)alpha, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)kk, alpha, a, (int)lda, b, (int)ldb, 0.0, c, (int)ldc);
}

/* Row-wise softmax (forward) or its backward over B*L rows of S. */
typedef struct {
    void *p;            /* (B*L, S) scores in, weights out */
    void *dp;           /* backward: (B*L, S) dP in, dS out */
    int64_t L, S;
    bool causal;
} rows_ctx;

static double row_max_f64(const double *p, int64_t n) {
    double m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        if (p[j] != p[j]) return p[j];
        m = p[j] > m ? p[j] : m;
    }
    return m;
}

/* The row loops take restrict parameters and stay out of line so that they
 * vectorise; maxima and sums use 8 lanes (a single accumulator is a
 * dependence chain the compiler may not reorder). */
#define DEF_ROWS(T, sfx, EXP)                                                             \
    /* p = exp(p - m), returns the sum */                                                 \
    __attribute__((noinline)) static double row_exp_##sfx(T *restrict p, int64_t n, T m) { \
        for (int64_t j = 0; j < n; j++) p[j] = EXP(p[j] - m);                             \
        double a[8] = {0}, s = 0;                                                         \
        int64_t j = 0;                                                                    \
        for (; j + 8 <= n; j += 8)                                                        \
            for (int l = 0; l < 8; l++) a[l] += p[j + l];                                 \
        for (; j < n; j++) s += p[j];                                                     \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;     \
    }                                                                                     \
    __attribute__((noinline)) static double row_dot_##sfx(const T *restrict p,            \
                                                          const T *restrict d, int64_t n) { \
        double a[8] = {0}, s = 0;                                                         \
        int64_t j = 0;                                                                    \
        for (; j + 8 <= n; j += 8)                                                        \
            for (int l = 0; l < 8; l++) a[l] += (double)p[j + l] * d[j + l];              \
        for (; j < n; j++) s += (double)p[j] * d[j];                                      \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + s;     \
    }                                                                                     \
    static void softmax_rows_##sfx(void *vctx, int64_t lo, int64_t hi) {                  \
        rows_ctx *c = vctx;                                                               \
        for (int64_t r = lo; r < hi; r++) {                                               \
            T *p = (T *)c->p + r * c->S;                                                  \
            int64_t i = r % c->L, n = c->causal ? (i + 1 < c->S ? i + 1 : c->S) : c->S;   \
            double s = row_exp_##sfx(p, n, row_max_##sfx(p, n));                          \
            T inv = (T)(1 / s);                                                           \
            for (int64_t j = 0; j < n; j++) p[j] *= inv;                                  \
            for (int64_t j = n; j < c->S; j++) p[j] = 0; /* masked */                     \
        }                                                                                 \
    }                                                                                     \
    /* dS = P * (dP - sum_j P dP), in place in dp */                                      \
    static void softmax_back_rows_##sfx(void *vctx, int64_t lo, int64_t hi) {             \
        rows_ctx *c = vctx;                                                               \
        for (int64_t r = lo; r < hi; r++) {                                               \
            const T *p = (const T *)c->p + r * c->S;                                      \
            T *d = (T *)c->dp + r * c->S;                                                 \
            T ts = (T)row_dot_##sfx(p, d, c->S);                                          \
            for (int64_t j = 0; j < c->S; j++) d[j] = p[j] * (d[j] - ts);                 \
        }                                                                                 \
    }
DEF_ROWS(float, f32, vexpf_neg)
DEF_ROWS(double, f64, exp)

static int64_t rows_grain(int64_t S) {
    int64_t g = 8192 / (S > 0 ? S : 1);
    return g < 1 ? 1 : g;
}

static tn_tensor *contig(tn_tensor *t) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *c = tn_contiguous(t);
    tn_set_grad_enabled(was);
    return c;
}

tn_tensor *nn_scaled_dot_product_attention(tn_tensor *q, tn_tensor *k, tn_tensor *v, bool causal,
                                           double scale) {
    sdpa_geom g;
    if (sdpa_geometry(q, k, v, &g) < 0) return NULL;
    if (!(scale > 0)) scale = g.E > 0 ? 1 / sqrt((double)g.E) : 1;
    if (g.B * g.L * g.S > ((int64_t)1 << 40) || g.L > INT32_MAX || g.S > INT32_MAX ||
        g.E > INT32_MAX || g.Ev > INT32_MAX) {
        tn_error("scaled_dot_product_attention: problem too large");
        return NULL;
    }
    bool f32 = q->dtype == TN_FLOAT32;
    size_t es = tn_dtype_size(q->dtype);
    int64_t oshape[TN_MAX_DIMS];
    memcpy(oshape, q->shape, sizeof(int64_t) * (size_t)q->ndim);
    oshape[q->ndim - 1] = g.Ev;
    tn_tensor *qc = contig(q), *kc = qc ? contig(k) : NULL, *vc = kc ? contig(v) : NULL;
    tn_tensor *P = vc ? tn_empty(q->dtype, 3, (int64_t[]){g.B, g.L, g.S}) : NULL;
    tn_tensor *out = P ? tn_empty(q->dtype, q->ndim, oshape) : NULL;
    if (!out) goto fail;
    const char *pq = tn_data(qc), *pk = tn_data(kc), *pv = tn_data(vc);
    char *pp = tn_data(P), *po = tn_data(out);
    for (int64_t b = 0; b < g.B; b++)   /* scores = q k^T * scale */
        gemm(f32, false, true, g.L, g.S, g.E, scale, pq + (size_t)(b * g.L * g.E) * es, g.E,
             pk + (size_t)(b * g.S * g.E) * es, g.E, pp + (size_t)(b * g.L * g.S) * es, g.S);
    rows_ctx rc = {pp, NULL, g.L, g.S, causal};
    if (g.S > 0) tn_parallel_for(g.B * g.L, rows_grain(g.S), f32 ? softmax_rows_f32 : softmax_rows_f64, &rc);
    for (int64_t b = 0; b < g.B; b++)   /* out = P v */
        gemm(f32, false, false, g.L, g.Ev, g.S, 1, pp + (size_t)(b * g.L * g.S) * es, g.S,
             pv + (size_t)(b * g.S * g.Ev) * es, g.Ev, po + (size_t)(b * g.L * g.Ev) * es, g.Ev);
    if (tn_grad_needed(3, (tn_tensor *[]){q, k, v})) {
        tn_node *n = nn_record(NN_OP_SDPA, out, 3, (tn_tensor *[]){q, k, v});
        if (!n) goto fail;
        n->farg[0] = scale;
        n->iarg[0] = causal;
        tn_save(n, qc);
        tn_save(n, kc);
        tn_save(n, vc);
        tn_save(n, P);
    }
    tn_release(qc);
    tn_release(kc);
    tn_release(vc);
    tn_release(P);
    return out;
fail:
    tn_release(out);
    tn_release(P);
    tn_release(vc);
    tn_release(kc);
    tn_release(qc);
    return NULL;
}

/* An explicit attn_mask must broadcast to the scores (..., L, S) of q's
 * leading dims; bool (true = may attend, as PyTorch's SDPA) or q's float
 * dtype (added to the scores). */
static int check_mask(tn_tensor *q, tn_tensor *mask, const sdpa_geom *g) {
    const char *op = "scaled_dot_product_attention";
    char s1[128], s2[128];
    if (mask->dtype != TN_BOOL && mask->dtype != q->dtype) {
        tn_error("%s: attn_mask must be bool or the query's dtype %s, got %s", op,
                 tn_dtype_name(q->dtype), tn_dtype_name(mask->dtype));
        return -1;
    }
    int64_t scores[TN_MAX_DIMS];
    int nd = q->ndim;
    memcpy(scores, q->shape, sizeof(int64_t) * (size_t)nd);
    scores[nd - 2] = g->L;
    scores[nd - 1] = g->S;
    bool ok = mask->ndim <= nd;
    for (int i = 1; ok && i <= mask->ndim; i++) {
        int64_t m = mask->shape[mask->ndim - i];
        ok = m == 1 || m == scores[nd - i];
    }
    if (!ok) {
        tn_error("%s: attn_mask of shape %s does not broadcast to the attention scores %s (..., L, S)", op,
                 tn_shape_str(mask->shape, mask->ndim, s1, sizeof s1), tn_shape_str(scores, nd, s2, sizeof s2));
        return -1;
    }
    return 0;
}

/* With an explicit mask the attention is composed of autograd ops (matmul,
 * masked_fill or add, softmax, matmul): gradients reach q, k, v and a float
 * mask with no kernel of its own.  It forms the (B, L, S) weights like the
 * fused kernel does, at the cost of a few more passes over them.  A row whose
 * keys are all masked gives NaN, as in PyTorch. */
tn_tensor *nn_scaled_dot_product_attention_masked(tn_tensor *q, tn_tensor *k, tn_tensor *v, tn_tensor *mask,
                                                  double scale) {
    sdpa_geom g;
    if (sdpa_geometry(q, k, v, &g) < 0 || check_mask(q, mask, &g) < 0) return NULL;
    if (!(scale > 0)) scale = g.E > 0 ? 1 / sqrt((double)g.E) : 1;
    int nd = q->ndim;
    tn_tensor *kt = tn_transpose(k, nd - 2, nd - 1);
    tn_tensor *qk = kt ? tn_matmul(q, kt) : NULL;
    tn_tensor *scores = qk ? tn_mul_scalar(qk, scale) : NULL, *masked = NULL;
    if (scores && mask->dtype == TN_BOOL) {
        tn_tensor *blocked = tn_unary(TN_U_LOGICAL_NOT, mask);
        masked = blocked ? tn_masked_fill(scores, blocked, -INFINITY) : NULL;
        tn_release(blocked);
    } else if (scores) {
        masked = tn_add(scores, mask);
    }
    tn_tensor *P = masked ? tn_softmax(masked, nd - 1) : NULL;
    tn_tensor *out = P ? tn_matmul(P, v) : NULL;
    tn_release(P);
    tn_release(masked);
    tn_release(scores);
    tn_release(qk);
    tn_release(kt);
    return out;
}

/* gin: q, k, v.  Saved: q, k, v (contiguous), P (B, L, S). */
int sdpa_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *q = tn_saved(n, 0), *k = tn_saved(n, 1), *v = tn_saved(n, 2), *P = tn_saved(n, 3);
    if (!q || !k || !v || !P) return -1;
    sdpa_geom geo;
    if (sdpa_geometry(q, k, v, &geo) < 0) return -1;
    bool f32 = q->dtype == TN_FLOAT32;
    size_t es = tn_dtype_size(q->dtype);
    double scale = n->farg[0];
    bool need_qk = nn_edge_needed(n, 0) || nn_edge_needed(n, 1);
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *dq = gc && nn_edge_needed(n, 0) ? tn_empty(q->dtype, q->ndim, q->shape) : NULL;
    tn_tensor *dk = gc && nn_edge_needed(n, 1) ? tn_empty(k->dtype, k->ndim, k->shape) : NULL;
    tn_tensor *dv = gc && nn_edge_needed(n, 2) ? tn_empty(v->dtype, v->ndim, v->shape) : NULL;
    tn_tensor *dP = gc && need_qk ? tn_empty(q->dtype, 3, P->shape) : NULL;
    if (!gc || (nn_edge_needed(n, 0) && !dq) || (nn_edge_needed(n, 1) && !dk) ||
        (nn_edge_needed(n, 2) && !dv) || (need_qk && !dP)) {
        tn_release(gc);
        tn_release(dq);
        tn_release(dk);
        tn_release(dv);
        tn_release(dP);
        return -1;
    }
    const char *pq = tn_data(q), *pk = tn_data(k), *pv = tn_data(v), *pp = tn_data(P), *pg = tn_data(gc);
    int64_t L = geo.L, S = geo.S, E = geo.E, Ev = geo.Ev;
    for (int64_t b = 0; b < geo.B; b++) {
        const char *Pb = pp + (size_t)(b * L * S) * es, *gb = pg + (size_t)(b * L * Ev) * es;
        if (dv)   /* dV (S, Ev) = P^T dO */
            gemm(f32, true, false, S, Ev, L, 1, Pb, S, gb, Ev, (char *)tn_data(dv) + (size_t)(b * S * Ev) * es, Ev);
        if (dP)   /* dP (L, S) = dO V^T */
            gemm(f32, false, true, L, S, Ev, 1, gb, Ev, pv + (size_t)(b * S * Ev) * es, Ev,
                 (char *)tn_data(dP) + (size_t)(b * L * S) * es, S);
    }
    if (dP) {
        rows_ctx rc = {(void *)pp, tn_data(dP), L, S, n->iarg[0] != 0};
        if (S > 0)
            tn_parallel_for(geo.B * L, rows_grain(S), f32 ? softmax_back_rows_f32 : softmax_back_rows_f64, &rc);
        const char *pd = tn_data(dP);
        for (int64_t b = 0; b < geo.B; b++) {
            const char *Db = pd + (size_t)(b * L * S) * es;
            if (dq)   /* dQ (L, E) = dS K * scale */
                gemm(f32, false, false, L, E, S, scale, Db, S, pk + (size_t)(b * S * E) * es, E,
                     (char *)tn_data(dq) + (size_t)(b * L * E) * es, E);
            if (dk)   /* dK (S, E) = dS^T Q * scale */
                gemm(f32, true, false, S, E, L, scale, Db, S, pq + (size_t)(b * L * E) * es, E,
                     (char *)tn_data(dk) + (size_t)(b * S * E) * es, E);
        }
    }
    tn_release(dP);
    tn_release(gc);
    gin[0] = dq;
    gin[1] = dk;
    gin[2] = dv;
    return 0;
}
