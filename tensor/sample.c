/*
 * sample.c: sampling from distributions given as tensors: multinomial
 * (categorical draws from rows of probabilities, with or without
 * replacement), bernoulli (0/1 draws with per-element probabilities) and
 * poisson (counts with per-element rates).
 *
 * Everything draws from random.c's counter-based stream: an op reserves a
 * block of counters up front and element (or row) i only ever reads the
 * counters of its own slot, so results depend on the seed alone, never on
 * the thread count or on the order the rows run in.  Samplers that need an
 * unbounded number of uniforms per element (poisson's rejection loop) derive
 * a private sub-stream from their slot: uniform k of element i is
 * rng(rng_bits(seed, base + i), k).
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===================== multinomial ===================== */

typedef struct {
    const double *p;   /* (rows, k) contiguous probabilities */
    int64_t *out;      /* (rows, n) 0-based categories */
    int64_t k, n;
    bool replacement;
    uint64_t seed, base, per_row;
    int err;
} mn_ctx;

/* without replacement: up to this many draws by selection, more by a full sort */
#define SELECT_MAX 32

typedef struct {
    double key;
    int64_t idx;
} key_idx;

static int cmp_key(const void *a, const void *b) {
    const key_idx *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void mn_rows(void *vc, int64_t lo, int64_t hi) {
    mn_ctx *c = vc;
    int64_t k = c->k, n = c->n;
    double *buf = malloc(sizeof(double) * (size_t)k + 8);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)k + 8);
    void *scratch = !c->replacement && c->n > SELECT_MAX ? malloc(sizeof(key_idx) * (size_t)k) : NULL;
    if (!buf || !perm || (!c->replacement && c->n > SELECT_MAX && !scratch)) {
        c->err = 1;
        free(buf);
        free(perm);
        free(scratch);
        return;
    }
    for (int64_t r = lo; r < hi; r++) {
        const double *p = c->p + r * k;
        int64_t *o = c->out + r * n;
        uint64_t ctr = c->base + (uint64_t)r * c->per_row;
        if (c->replacement) {
            /* inverse CDF: the first category whose running sum exceeds u * total */
            double s = 0;
            for (int64_t j = 0; j < k; j++) buf[j] = s += p[j];
            for (int64_t i = 0; i < n; i++) {
                double u = tn_rng_uniform01(c->seed, ctr + (uint64_t)i) * s;
                int64_t a = 0, b = k - 1;
                while (a < b) {
                    int64_t m = a + (b - a) / 2;
                    if (buf[m] > u) b = m;
                    else a = m + 1;
                }
                while (a > 0 && p[a] == 0) a--;  /* rounding at the top: never a zero category */
                o[i] = a;
            }
        } else {
            /* Exponential race: key_j = E_j / p_j with E_j ~ Exp(1); the n
             * smallest keys are a draw without replacement, in draw order. */
            for (int64_t j = 0; j < k; j++) {
                double e = -log1p(-tn_rng_uniform01(c->seed, ctr + (uint64_t)j));
                buf[j] = p[j] > 0 ? e / p[j] : INFINITY;
                perm[j] = j;
            }
            if (n <= SELECT_MAX) {
                for (int64_t i = 0; i < n; i++) {  /* partial selection sort: n is small */
                    int64_t best = i;
                    for (int64_t j = i + 1; j < k; j++)
                        if (buf[perm[j]] < buf[perm[best]]) best = j;
                    int64_t t = perm[i];
                    perm[i] = perm[best];
                    perm[best] = t;
                    o[i] = perm[i];
                }
            } else {  /* many draws: sort every key (ties broken by category) */
                key_idx *ki = (key_idx *)scratch;
                for (int64_t j = 0; j < k; j++) ki[j] = (key_idx){buf[j], j};
                qsort(ki, (size_t)k, sizeof *ki, cmp_key);
                for (int64_t i = 0; i < n; i++) o[i] = ki[i].idx;
            }
        }
        if (tn_interrupted()) break;
    }
    free(buf);
    free(perm);
    free(scratch);
}

tn_tensor *tn_multinomial(tn_tensor *probs, int64_t n, bool replacement) {
    char b[64];
    if ((probs->ndim != 1 && probs->ndim != 2) || !tn_dtype_is_float(probs->dtype)) {
        tn_error("multinomial: expected 1-D or 2-D float probabilities, got %s of shape %s",
                 tn_dtype_name(probs->dtype), tn_shape_str(probs->shape, probs->ndim, b, sizeof b));
        return NULL;
    }
    int64_t rows = probs->ndim == 2 ? probs->shape[0] : 1, k = probs->shape[probs->ndim - 1];
    if (k == 0) {
        tn_error("multinomial: no categories (probabilities of shape %s)",
                 tn_shape_str(probs->shape, probs->ndim, b, sizeof b));
        return NULL;
    }
    if (n < 0) {
        tn_error("multinomial: the number of samples must be >= 0, got %lld", (long long)n);
        return NULL;
    }
    if (!replacement && n > k) {
        tn_error("multinomial: cannot draw %lld samples from %lld categories without replacement",
                 (long long)n, (long long)k);
        return NULL;
    }
    bool was = tn_set_grad_enabled(false);
    tn_tensor *x = tn_to(probs, TN_FLOAT64), *c = x ? tn_contiguous(x) : NULL;
    tn_set_grad_enabled(was);
    tn_release(x);
    if (!c) return NULL;
    const double *p = tn_data(c);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        int64_t nz = 0;
        for (int64_t j = 0; j < k; j++) {
            double v = p[r * k + j];
            if (!(v >= 0) || isinf(v)) {
                tn_error("multinomial: probabilities must be finite and >= 0, got %g (row %lld, category %lld)",
                         v, (long long)r + 1, (long long)j + 1);
                tn_release(c);
                return NULL;
            }
            s += v;
            nz += v > 0;
        }
        if (s <= 0 || isinf(s)) {
            tn_error("multinomial: row %lld of the probabilities sums to %g (it must be > 0 and finite)",
                     (long long)r + 1, s);
            tn_release(c);
            return NULL;
        }
        if (!replacement && n > nz) {
            tn_error("multinomial: cannot draw %lld samples without replacement: row %lld has only %lld nonzero categories",
                     (long long)n, (long long)r + 1, (long long)nz);
            tn_release(c);
            return NULL;
        }
    }
    int64_t shape[2] = {rows, n};
    tn_tensor *out = probs->ndim == 2 ? tn_empty(TN_INT64, 2, shape) : tn_empty(TN_INT64, 1, &n);
    if (out) {
        uint64_t per_row = replacement ? (uint64_t)n : (uint64_t)k;
        mn_ctx m = {p, tn_data(out), k, n, replacement, tn_initial_seed(),
                    tn_rng_reserve(per_row * (uint64_t)rows), per_row, 0};
        double work = replacement ? (double)n * log2((double)k + 1) : (double)k * (n <= SELECT_MAX ? (double)n : log2((double)k));
        tn_parallel_for(rows, work >= 4096 ? 1 : (int64_t)(4096 / (work + 1)), mn_rows, &m);
        if (m.err || tn_interrupted()) {
            tn_error(m.err ? "multinomial: out of memory" : "multinomial: interrupted");
            tn_release(out);
            out = NULL;
        }
    }
    tn_release(c);
    return out;
}

/* ===================== bernoulli ===================== */

typedef struct {
    const double *p;
    void *out;
    tn_dtype dt;
    uint64_t seed, base;
} bn_ctx;

static void bn_range(void *vc, int64_t lo, int64_t hi) {
    bn_ctx *c = vc;
    for (int64_t i = lo; i < hi; i++)
        tn_store(c->dt, c->out, i, tn_rng_uniform01(c->seed, c->base + (uint64_t)i) < c->p[i] ? 1.0 : 0.0);
}

/* Draws 0/1 into `out` (any dtype, contiguous) with probabilities p broadcast to out's shape. */
static int bernoulli_into(tn_tensor *out, tn_tensor *p, const char *op) {
    bool was = tn_set_grad_enabled(false);
    tn_tensor *pd = tn_to(p, TN_FLOAT64);
    tn_tensor *pe = pd ? tn_expand(pd, out->ndim, out->shape) : NULL;
    tn_tensor *pc = pe ? tn_contiguous(pe) : NULL;
    tn_set_grad_enabled(was);
    tn_release(pd);
    tn_release(pe);
    if (!pc) return -1;
    const double *pv = tn_data(pc);
    for (int64_t i = 0; i < pc->numel; i++)
        if (!(pv[i] >= 0 && pv[i] <= 1)) {
            tn_error("%s: probabilities must be in [0, 1], got %g at position %lld", op, pv[i], (long long)i + 1);
            tn_release(pc);
            return -1;
        }
    bn_ctx c = {pv, tn_data(out), out->dtype, tn_initial_seed(), tn_rng_reserve((uint64_t)out->numel)};
    tn_parallel_for(out->numel, TN_GRAIN / 4, bn_range, &c);
    tn_release(pc);
    return 0;
}

tn_tensor *tn_bernoulli(tn_tensor *p) {
    tn_tensor *out = tn_empty(tn_dtype_is_float(p->dtype) ? p->dtype : TN_FLOAT32, p->ndim, p->shape);
    if (out && bernoulli_into(out, p, "bernoulli") < 0) {
        tn_release(out);
        return NULL;
    }
    return out;
}

int tn_bernoulli_(tn_tensor *t, tn_tensor *p) {
    char b1[64], b2[64];
    int64_t shape[TN_MAX_DIMS];
    if (tn_broadcast_shapes(t->shape, t->ndim, p->shape, p->ndim, shape, "bernoulli_") != t->ndim ||
        memcmp(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) != 0) {
        tn_error("bernoulli_: probabilities of shape %s do not broadcast to the tensor's shape %s",
                 tn_shape_str(p->shape, p->ndim, b1, sizeof b1), tn_shape_str(t->shape, t->ndim, b2, sizeof b2));
        return -1;
    }
    if (tn_inplace_check(t, "bernoulli_") < 0) return -1;
    tn_tensor *dst = tn_is_contiguous(t) ? tn_retain(t) : tn_empty(t->dtype, t->ndim, t->shape);
    if (!dst) return -1;
    int rc = bernoulli_into(dst, p, "bernoulli_");
    if (rc == 0 && dst != t) rc = tn_copy_(t, dst);
    tn_release(dst);
    if (rc == 0) tn_bump_version(t);
    return rc;
}

/* ===================== poisson ===================== */

/* one Poisson(lambda) draw from the sub-stream `s` */
static double poisson1(double lambda, uint64_t s) {
    uint64_t k = 0;
#define U() tn_rng_uniform01(s, k++)
    if (lambda <= 0) return 0;
    if (lambda < 10) {
        /* Knuth: count uniforms until their product falls below e^-lambda */
        double l = exp(-lambda), prod = 1;
        double cnt = -1;
        do {
            prod *= U();
            cnt += 1;
        } while (prod > l);
        return cnt;
    }
    /* Hormann's PTRS (transformed rejection with squeeze), for lambda >= 10 */
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = U() - 0.5, v = U();
        double us = 0.5 - fabs(u);
        double kk = floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return kk;
        if (kk < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + kk * loglam - lgamma(kk + 1))
            return kk;
    }
#undef U
}

typedef struct {
    const double *r;
    void *out;
    tn_dtype dt;
    uint64_t seed, base;
} ps_ctx;

static void ps_range(void *vc, int64_t lo, int64_t hi) {
    ps_ctx *c = vc;
    for (int64_t i = lo; i < hi; i++)
        tn_store(c->dt, c->out, i, poisson1(c->r[i], tn_rng_bits(c->seed, c->base + (uint64_t)i)));
}

tn_tensor *tn_poisson(tn_tensor *rates) {
    if (!tn_dtype_is_float(rates->dtype)) {
        tn_error("poisson: expected float rates, got %s (convert them first, e.g. t:float())",
                 tn_dtype_name(rates->dtype));
        return NULL;
    }
    bool was = tn_set_grad_enabled(false);
    tn_tensor *x = tn_to(rates, TN_FLOAT64), *c = x ? tn_contiguous(x) : NULL;
    tn_set_grad_enabled(was);
    tn_release(x);
    if (!c) return NULL;
    const double *r = tn_data(c);
    for (int64_t i = 0; i < c->numel; i++)
        if (!(r[i] >= 0) || isinf(r[i])) {
            tn_error("poisson: rates must be finite and >= 0, got %g at position %lld", r[i], (long long)i + 1);
            tn_release(c);
            return NULL;
        }
    tn_tensor *out = tn_empty(rates->dtype, rates->ndim, rates->shape);
    if (out) {
        ps_ctx p = {r, tn_data(out), out->dtype, tn_initial_seed(), tn_rng_reserve((uint64_t)out->numel)};
        tn_parallel_for(out->numel, 1024, ps_range, &p);
    }
    tn_release(c);
    return out;
}
