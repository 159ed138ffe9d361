/*
 * linear.c: the fully connected layer y = x W^T + b as one op, with its
 * backward beside it.
 *
 * Why not matmul(x, W:t()) + b from tensor ops: that path computes the
 * weight gradient as a transposed view of (g^T x)^T, which the engine must
 * then copy into a contiguous .grad (a strided copy that cost 17% of an MLP
 * step), and it adds the bias in a second pass over the output.  Here the
 * bias is preloaded into the output and the GEMM accumulates onto it
 * (beta = 1), and backward writes dW directly in W's (out, in) layout.
 *
 *   x (..., in)  W (out, in)  b (out) or NULL  ->  y (..., out)
 */
#include "nn/nn.h"

#include <cblas.h>
#include <string.h>

/* Rows of x once the leading dims are folded: x is viewed as (M, in). */
static int64_t fold_rows(const tn_tensor *x) {
    int64_t m = 1;
    for (int i = 0; i < x->ndim - 1; i++) m *= x->shape[i];
    return m;
}

/* out (M, N) [+]= A (M, K) * B^T (N, K), or the transposes selected. */
static void gemm(tn_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                 const void *B, int64_t ldb, double beta, void *C, int64_t ldc) {
    if (dt == TN_FLOAT32)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, 1.0f, A, (int)lda, B, (int)ldb, (float)beta, C, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, 1.0, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

tn_tensor *nn_linear(tn_tensor *x, tn_tensor *w, tn_tensor *b) {
    char s1[128], s2[128];
    if (w->ndim != 2) {
        tn_error("linear: weight must be (out, in), got shape %s", tn_shape_str(w->shape, w->ndim, s1, sizeof s1));
        return NULL;
    }
    int64_t out_f = w->shape[0], in_f = w->shape[1];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != in_f) {
        tn_error("linear: expected input with %lld features (last dim), got shape %s", (long long)in_f,
                 tn_shape_str(x->shape, x->ndim, s1, sizeof s1));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != out_f)) {
        tn_error("linear: bias of shape %s does not match %lld outputs", tn_shape_str(b->shape, b->ndim, s2, sizeof s2),
                 (long long)out_f);
        return NULL;
    }
    if (!tn_dtype_is_float(x->dtype) || x->dtype != w->dtype || (b && b->dtype != w->dtype)) {
        tn_error("linear: input, weight and bias must share a float dtype (got %s, %s%s%s)", tn_dtype_name(x->dtype),
                 tn_dtype_name(w->dtype), b ? ", " : "", b ? tn_dtype_name(b->dtype) : "");
        return NULL;
    }
    tn_tensor *xc = tn_contiguous(x), *wc = xc ? tn_contiguous(w) : NULL, *bc = wc && b ? tn_contiguous(b) : NULL;
    int64_t shape[TN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = out_f;
    tn_tensor *y = wc && (!b || bc) ? tn_empty(x->dtype, x->ndim, shape) : NULL;
    if (y) {
        int64_t M = fold_rows(x);
        size_t es = tn_dtype_size(x->dtype);
        char *yp = tn_data(y);
        if (bc) /* preload the bias; the GEMM adds onto it */
            for (int64_t r = 0; r < M; r++) memcpy(yp + (size_t)(r * out_f) * es, tn_data(bc), (size_t)out_f * es);
        if (M > 0 && out_f > 0) {
            if (in_f > 0) gemm(x->dtype, false, true, M, out_f, in_f, tn_data(xc), in_f, tn_data(wc), in_f, bc ? 1.0 : 0.0, yp, out_f);
            else if (!bc) memset(yp, 0, (size_t)(M * out_f) * es);
        }
    }
    tn_tensor *in[3] = {x, w, b};
    if (y && tn_grad_needed(3, in)) {
        tn_node *n = nn_record(NN_OP_LINEAR, y, 3, in);
        if (!n) {
            tn_release(y);
            y = NULL;
        } else {
            tn_save(n, xc);
            tn_save(n, wc);
        }
    }
    tn_release(xc);
    tn_release(wc);
    tn_release(bc);
    return y;
}

/* g (M, out): dx = g W (M, in); dW = g^T x (out, in); db = sum over rows. */
int linear_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    tn_tensor *x = tn_saved(n, 0), *w = tn_saved(n, 1);
    if (!x || !w) return -1;
    tn_tensor *gc = tn_contiguous(g);
    if (!gc) return -1;
    int64_t out_f = w->shape[0], in_f = w->shape[1], M = fold_rows(x);
    tn_dtype dt = w->dtype;
    int rc = 0;
    if (nn_edge_needed(n, 0)) {
        gin[0] = tn_empty(dt, x->ndim, x->shape);
        if (!gin[0]) rc = -1;
        else if (M > 0 && in_f > 0) {
            if (out_f > 0) gemm(dt, false, false, M, in_f, out_f, tn_data(gc), out_f, tn_data(w), in_f, 0.0, tn_data(gin[0]), in_f);
            else memset(tn_data(gin[0]), 0, (size_t)(M * in_f) * tn_dtype_size(dt));
        }
    }
    if (rc == 0 && nn_edge_needed(n, 1)) {
        gin[1] = M > 0 ? tn_empty(dt, 2, w->shape) : tn_zeros(dt, 2, w->shape);
        if (!gin[1]) rc = -1;
        else if (M > 0 && out_f > 0 && in_f > 0)
            gemm(dt, true, false, out_f, in_f, M, tn_data(gc), out_f, tn_data(x), in_f, 0.0, tn_data(gin[1]), in_f);
    }
    if (rc == 0 && nn_edge_needed(n, 2)) {
        tn_tensor *g2 = tn_view(gc, 2, (int64_t[]){M, out_f});
        gin[2] = g2 ? tn_sum(g2, 0, false) : NULL;
        tn_release(g2);
        if (!gin[2]) rc = -1;
    }
    tn_release(gc);
    return rc;
}
