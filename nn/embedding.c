/*
 * embedding.c: embedding lookup (a row gather from a weight matrix) and its
 * backward, a scatter-add of the output gradient's rows into the weight
 * gradient.
 *
 * ids are 0-based here (vm/ subtracts 1 from Lua's 1-based token ids), and
 * are all checked before anything is written; the error names the bad id and
 * the valid range in the user's 1-based numbering.  Forward copies rows in
 * parallel; backward adds rows serially in id order (two ids may name the
 * same row, and a fixed order keeps the sums bit-for-bit reproducible) with
 * a vectorised inner loop over the embedding dimension.
 */
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

/* Rows per parallel chunk: aim at ~32K elements per chunk. */
static int64_t rows_grain(int64_t D) {
    int64_t g = 32768 / (D > 0 ? D : 1);
    return g < 1 ? 1 : g;
}

/* The ids as a contiguous int64 array (new reference). */
static tn_tensor *ids_i64(tn_tensor *ids) {
    if (ids->dtype == TN_INT64) return tn_contiguous(ids);
    bool was = tn_set_grad_enabled(false);
    tn_tensor *r = tn_to(ids, TN_INT64);
    tn_set_grad_enabled(was);
    return r;
}

typedef struct {
    const char *w;     /* weight rows, contiguous (V, D) */
    char *out;         /* (n, D) */
    const int64_t *id;
    size_t row_bytes;
} gather_ctx;

static void gather_rows(void *vctx, int64_t lo, int64_t hi) {
    gather_ctx *c = vctx;
    for (int64_t i = lo; i < hi; i++)
        memcpy(c->out + (size_t)i * c->row_bytes, c->w + (size_t)c->id[i] * c->row_bytes, c->row_bytes);
}

tn_tensor *nn_embedding(tn_tensor *weight, tn_tensor *ids, int64_t padding_idx) {
    char s1[128];
    if (weight->ndim != 2) {
        tn_error("embedding: weight must be 2-D (num_embeddings, dim), got shape %s",
                 tn_shape_str(weight->shape, weight->ndim, s1, sizeof s1));
        return NULL;
    }
    if (ids->dtype != TN_INT64 && ids->dtype != TN_INT32) {
        tn_error("embedding: ids must be an integer tensor (int64 or int32), got %s",
                 tn_dtype_name(ids->dtype));
        return NULL;
    }
    if (ids->ndim + 1 > TN_MAX_DIMS) {
        tn_error("embedding: ids have %d dims (at most %d)", ids->ndim, TN_MAX_DIMS - 1);
        return NULL;
    }
    int64_t V = weight->shape[0], D = weight->shape[1];
    if (padding_idx != NN_NO_INDEX && (padding_idx < 0 || padding_idx >= V)) {
        tn_error("embedding: padding_idx %lld is out of range 1..%lld", (long long)padding_idx + 1,
                 (long long)V);
        return NULL;
    }
    tn_tensor *id = ids_i64(ids);
    if (!id) return NULL;
    const int64_t *pid = tn_data(id);
    for (int64_t i = 0; i < id->numel; i++)
        if (pid[i] < 0 || pid[i] >= V) {
            tn_error("embedding: id %lld is out of range 1..%lld (the number of embeddings)",
                     (long long)pid[i] + 1, (long long)V);
            tn_release(id);
            return NULL;
        }
    int64_t shape[TN_MAX_DIMS];
    memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
    shape[ids->ndim] = D;
    tn_tensor *wc = tn_contiguous(weight);
    tn_tensor *out = wc ? tn_empty(weight->dtype, ids->ndim + 1, shape) : NULL;
    if (!out) {
        tn_release(wc);
        tn_release(id);
        return NULL;
    }
    gather_ctx c = {tn_data(wc), tn_data(out), pid, (size_t)D * tn_dtype_size(weight->dtype)};
    tn_parallel_for(id->numel, rows_grain(D), gather_rows, &c);
    tn_release(wc);
    if (tn_grad_needed1(weight)) {
        tn_node *n = nn_record(NN_OP_EMBEDDING, out, 2, (tn_tensor *[]){weight, NULL});
        if (!n) {
            tn_release(out);
            tn_release(id);
            return NULL;
        }
        n->iarg[0] = padding_idx;
        tn_save(n, id);
    }
    tn_release(id);
    return out;
}

#define DEF_SCATTER(T, sfx)                                                               \
    static void add_row_##sfx(int64_t D, T *restrict dst, const T *restrict src) {        \
        for (int64_t j = 0; j < D; j++) dst[j] += src[j];                                 \
    }                                                                                     \
    static void scatter_rows_##sfx(void *gw, const void *g, const int64_t *id, int64_t n, \
                                   int64_t D, int64_t pad) {                              \
        for (int64_t i = 0; i < n; i++)                                                   \
            if (id[i] != pad) add_row_##sfx(D, (T *)gw + id[i] * D, (const T *)g + i * D); \
    }
DEF_SCATTER(float, f32)
DEF_SCATTER(double, f64)

/* gweight (V, D) = zeros, then row id[i] += g row i (except padding_idx). */
int embedding_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    if (!nn_edge_needed(n, 0)) return 0;
    tn_tensor *id = tn_saved(n, 0);
    if (!id) return -1;
    tn_edge *e = &n->edges[0];
    int64_t D = e->shape[1];
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *gw = gc ? tn_zeros(g->dtype, 2, e->shape) : NULL;
    if (!gw) {
        tn_release(gc);
        return -1;
    }
    const int64_t *pid = tn_data(id);
    if (g->dtype == TN_FLOAT32)
        scatter_rows_f32(tn_data(gw), tn_data(gc), pid, id->numel, D, n->iarg[0]);
    else if (g->dtype == TN_FLOAT64)
        scatter_rows_f64(tn_data(gw), tn_data(gc), pid, id->numel, D, n->iarg[0]);
    else {
        tn_error("embedding: backward needs a float weight, got %s", tn_dtype_name(g->dtype));
        tn_release(gc);
        tn_release(gw);
        return -1;
    }
    tn_release(gc);
    gin[0] = gw;
    return 0;
}
