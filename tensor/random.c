/*
 * random.c: seeded, counter-based random numbers.
 *
 * Every random number is a pure function of (seed, counter): element i of a
 * fill that reserved counters [c, c+n) is hash(seed, c+i).  So the numbers do
 * not depend on how many threads fill the tensor, nor on the order, and the
 * same seed always gives the same tensors.  The hash is a SplitMix64-style
 * finaliser applied twice with a seed-derived key, which passes the usual
 * statistical smoke tests for this use (initialisation, dropout, shuffles).
 */
#include "internal.h"

#include <math.h>

static uint64_t rng_seed = 0x853c49e6748fea9bULL;
static uint64_t rng_counter = 0;

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t tn_rng_bits(uint64_t seed, uint64_t counter) {
    return mix64(mix64(counter * 0x9e3779b97f4a7c15ULL + seed) ^ (seed * 0xd1b54a32d192ed03ULL));
}

double tn_rng_uniform01(uint64_t seed, uint64_t counter) {
    return (double)(tn_rng_bits(seed, counter) >> 11) * 0x1.0p-53;
}

void tn_manual_seed(uint64_t seed) {
    rng_seed = seed;
    rng_counter = 0;
}

uint64_t tn_initial_seed(void) { return rng_seed; }

uint64_t tn_rng_reserve(uint64_t n) {
    uint64_t c = rng_counter;
    rng_counter += n;
    return c;
}

typedef struct {
    void *p;      /* contiguous destination data */
    tn_dtype dt;
    uint64_t seed, base;
    double a, b;  /* uniform: lo, hi; normal: mean, std */
    int kind;     /* 0 uniform, 1 normal */
} fill_ctx;

static void fill_range(void *vctx, int64_t lo, int64_t hi) {
    fill_ctx *c = vctx;
    void *p = c->p;
    tn_dtype dt = c->dt;
    for (int64_t i = lo; i < hi; i++) {
        double v;
        if (c->kind == 0) {
            double u = dt == TN_FLOAT32 ? (double)(tn_rng_bits(c->seed, c->base + (uint64_t)i) >> 40) * 0x1.0p-24
                                        : tn_rng_uniform01(c->seed, c->base + (uint64_t)i);
            v = c->a + (c->b - c->a) * u;
            /* rounding of a + (b-a)*u to float32 can reach b; keep [a, b) */
            if (dt == TN_FLOAT32 && (float)v >= (float)c->b && c->b > c->a) v = nextafterf((float)c->b, -INFINITY);
        } else {
            /* Box-Muller from two uniforms of counters 2i, 2i+1 */
            double u1 = tn_rng_uniform01(c->seed, c->base + 2 * (uint64_t)i);
            double u2 = tn_rng_uniform01(c->seed, c->base + 2 * (uint64_t)i + 1);
            v = c->a + c->b * sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
        }
        tn_store(dt, p, i, v);
    }
}

static int random_fill(tn_tensor *t, int kind, double a, double b, const char *op) {
    if (!tn_dtype_is_float(t->dtype)) {
        tn_error("%s: needs a float tensor, got %s", op, tn_dtype_name(t->dtype));
        return -1;
    }
    tn_tensor *dst = tn_is_contiguous(t) ? tn_retain(t) : tn_empty(t->dtype, t->ndim, t->shape);
    if (!dst) return -1;
    fill_ctx c = {tn_data(dst), dst->dtype, rng_seed,
                  tn_rng_reserve((uint64_t)t->numel * (kind ? 2 : 1)), a, b, kind};
    tn_parallel_for(dst->numel, TN_GRAIN / 4, fill_range, &c);
    int rc = 0;
    if (dst != t) rc = tn_copy_(t, dst);
    tn_release(dst);
    if (rc == 0) tn_bump_version(t);
    return rc;
}

int tn_uniform_(tn_tensor *t, double lo, double hi) { return random_fill(t, 0, lo, hi, "uniform_"); }
int tn_normal_(tn_tensor *t, double mean, double std) { return random_fill(t, 1, mean, std, "normal_"); }

tn_tensor *tn_rand(tn_dtype dt, int ndim, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, ndim, shape);
    if (t && random_fill(t, 0, 0, 1, "rand") < 0) { tn_release(t); return NULL; }
    return t;
}

tn_tensor *tn_randn(tn_dtype dt, int ndim, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, ndim, shape);
    if (t && random_fill(t, 1, 0, 1, "randn") < 0) { tn_release(t); return NULL; }
    return t;
}

tn_tensor *tn_randint(int64_t lo, int64_t hi, int ndim, const int64_t *shape) {
    if (hi <= lo) {
        tn_error("randint: empty range [%lld, %lld)", (long long)lo, (long long)hi);
        return NULL;
    }
    tn_tensor *t = tn_empty(TN_INT64, ndim, shape);
    if (!t) return NULL;
    /* unsigned arithmetic: hi - lo overflows int64 for ranges wider than 2^63 */
    uint64_t range = (uint64_t)hi - (uint64_t)lo, base = tn_rng_reserve((uint64_t)t->numel);
    int64_t *p = t->storage->data;
    for (int64_t i = 0; i < t->numel; i++)
        p[i] = (int64_t)((uint64_t)lo +
                         (uint64_t)(((unsigned __int128)tn_rng_bits(rng_seed, base + (uint64_t)i) * range) >> 64));
    return t;
}

tn_tensor *tn_randperm(int64_t n) {
    if (n < 0) {
        tn_error("randperm: n must be >= 0, got %lld", (long long)n);
        return NULL;
    }
    tn_tensor *t = tn_empty(TN_INT64, 1, &n);
    if (!t) return NULL;
    int64_t *p = t->storage->data;
    for (int64_t i = 0; i < n; i++) p[i] = i;
    uint64_t base = tn_rng_reserve((uint64_t)n);
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t r = tn_rng_bits(rng_seed, base + (uint64_t)i);
        int64_t j = (int64_t)(uint64_t)(((unsigned __int128)r * (uint64_t)(i + 1)) >> 64);
        int64_t tmp = p[i]; p[i] = p[j]; p[j] = tmp;
    }
    return t;
}
