/*
 * dropout.c: inverted dropout on the seeded counter-based stream.
 *
 * In training, element i is kept when the uniform number of counter base+i
 * (tensor/random.c) is >= p, and kept elements are scaled by 1/(1-p) so the
 * expected value is unchanged; in eval, or with p = 0, dropout is the
 * identity.  Because a random number is a pure function of (seed, counter),
 * the mask is never stored: the node remembers the seed and the first
 * counter, and backward regenerates the same mask.  That saves a tensor of
 * the input's size per dropout layer, and makes the mask independent of the
 * thread count.
 */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

#define DROPOUT_GRAIN 16384

/* Element i is kept iff its 53-bit uniform integer is >= thr, i.e. u >= p:
 * an integer compare on the raw bits (p * 2^53 is exact in double). */
typedef struct {
    const void *x;
    void *y;
    uint64_t seed, base, thr;
    double scale;
} dropout_ctx;

/* Counters are hashed a block at a time into a buffer of bit masks (all
 * ones: kept, zero: dropped), then applied in a separate loop that
 * vectorises.  Any form with a condition (a branch, a select, even
 * keep * scale) compiled to a branch that is mispredicted about every other
 * element, since the mask is random: 4x slower.  ANDing the bits of the
 * scale s with the mask (giving s or 0) cannot be turned into a branch, and
 * multiplying by that keeps PyTorch's x * mask * s semantics (a dropped NaN
 * stays NaN). */
#define DROPOUT_BLOCK 256
#define DEF_DROPOUT(T, M, sfx)                                                            \
    __attribute__((noinline)) static void mask_block_##sfx(                               \
        int64_t n, const T *restrict x, T *restrict y, const M *restrict mask, T s) {     \
        M sb;                                                                             \
        memcpy(&sb, &s, sizeof sb);                                                       \
        for (int64_t j = 0; j < n; j++) {                                                 \
            M kb = sb & mask[j]; /* the bits of s or of 0 */                              \
            T k;                                                                          \
            memcpy(&k, &kb, sizeof k);                                                    \
            y[j] = x[j] * k;                                                              \
        }                                                                                 \
    }                                                                                     \
    static void dropout_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        const dropout_ctx *c = vctx;                                                      \
        M mask[DROPOUT_BLOCK];                                                            \
        for (int64_t i = lo; i < hi; i += DROPOUT_BLOCK) {                                \
            int64_t n = hi - i < DROPOUT_BLOCK ? hi - i : DROPOUT_BLOCK;                  \
            for (int64_t j = 0; j < n; j++)                                               \
                mask[j] = -(M)((tn_rng_bits(c->seed, c->base + (uint64_t)(i + j)) >> 11) >= c->thr); \
            mask_block_##sfx(n, (const T *)c->x + i, (T *)c->y + i, mask, (T)c->scale);   \
        }                                                                                 \
    }
DEF_DROPOUT(float, uint32_t, f32)
DEF_DROPOUT(double, uint64_t, f64)

/* y = x * mask * scale over contiguous x and y of n elements. */
static void run_mask(tn_tensor *x, tn_tensor *y, uint64_t seed, uint64_t base, double p) {
    dropout_ctx c = {tn_data(x), tn_data(y), seed, base, (uint64_t)ceil(p * 0x1.0p53),
                     p < 1 ? 1 / (1 - p) : 0};
    tn_parallel_for(x->numel, DROPOUT_GRAIN, x->dtype == TN_FLOAT32 ? dropout_f32 : dropout_f64, &c);
}

tn_tensor *nn_dropout(tn_tensor *x, double p, bool training) {
    if (!(p >= 0 && p <= 1)) {
        tn_error("dropout: probability must be between 0 and 1, got %g", p);
        return NULL;
    }
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64) {
        tn_error("dropout: input must be float32 or float64, got %s", tn_dtype_name(x->dtype));
        return NULL;
    }
    if (!training || p == 0) return tn_retain(x);
    tn_tensor *xc = tn_contiguous(x);
    tn_tensor *out = xc ? tn_empty(x->dtype, x->ndim, x->shape) : NULL;
    if (!out) {
        tn_release(xc);
        return NULL;
    }
    uint64_t seed = tn_initial_seed(), base = tn_rng_reserve((uint64_t)x->numel);
    run_mask(xc, out, seed, base, p);
    tn_release(xc);
    if (tn_grad_needed1(x)) {
        tn_node *n = nn_record(NN_OP_DROPOUT, out, 1, &x);
        if (!n) {
            tn_release(out);
            return NULL;
        }
        n->iarg[0] = (int64_t)seed;
        n->iarg[1] = (int64_t)base;
        n->farg[0] = p;
    }
    return out;
}

/* gx = g * mask * scale, with the mask regenerated from (seed, base). */
int dropout_backward(tn_node *n, tn_tensor *g, tn_tensor **gin) {
    if (!nn_edge_needed(n, 0)) return 0;
    tn_tensor *gc = tn_contiguous(g);
    tn_tensor *gx = gc ? tn_empty(g->dtype, g->ndim, g->shape) : NULL;
    if (!gx) {
        tn_release(gc);
        return -1;
    }
    run_mask(gc, gx, (uint64_t)n->iarg[0], (uint64_t)n->iarg[1], n->farg[0]);
    tn_release(gc);
    gin[0] = gx;
    return 0;
}
