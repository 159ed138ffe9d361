/*
 * optim.c: fused optimizer updates, one C call per parameter tensor.
 *
 * Each step function reads the gradient and updates the parameter and the
 * optimizer's state tensors in place, in a single pass over the elements,
 * with no temporaries: what PyTorch does in 5 to 10 tensor ops (each a full
 * pass over memory) is one loop here, which matters because an optimizer
 * step is memory-bound (Adam streams 4 tensors).  The formulas are
 * PyTorch's (torch.optim, 1.13, the single-tensor code path); the scalar
 * parts (bias corrections, the learning rate after decay) are computed once
 * in double, then the loop runs in the parameter's dtype like PyTorch does.
 *
 * The caller (lua/optim) owns the state tensors: it creates them (zeros, or
 * initial_accumulator_value for Adagrad), keeps the step count, and passes
 * them in.  All tensors must be contiguous, of the parameter's shape and
 * float dtype.  These are not autograd ops: the caller runs them with
 * gradients off; they bump the storage versions of what they write so that
 * a graph that saved a parameter refuses to backward through stale values.
 */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

/* Elements per parallel chunk: the update is a few flops per element and
 * memory-bound, so split only tensors large enough to pay for a wake-up. */
#define OPT_GRAIN 16384

/* ---------- argument checks ---------- */

/* Checks that t (named `what`) matches the parameter p: contiguous, same
 * shape, same dtype. */
static int check_like(const char *op, const char *what, tn_tensor *p, tn_tensor *t) {
    char s1[128], s2[128];
    if (!t) {
        tn_error("%s: %s is missing", op, what);
        return -1;
    }
    if (!tn_same_shape(p, t)) {
        tn_error("%s: %s has shape %s but the parameter has shape %s", op, what,
                 tn_shape_str(t->shape, t->ndim, s1, sizeof s1),
                 tn_shape_str(p->shape, p->ndim, s2, sizeof s2));
        return -1;
    }
    if (t->dtype != p->dtype) {
        tn_error("%s: %s is %s but the parameter is %s", op, what, tn_dtype_name(t->dtype),
                 tn_dtype_name(p->dtype));
        return -1;
    }
    if (!tn_is_contiguous(t)) {
        tn_error("%s: %s must be contiguous", op, what);
        return -1;
    }
    return 0;
}

static int check_param(const char *op, tn_tensor *p, tn_tensor *g) {
    if (!p) {
        tn_error("%s: the parameter is missing", op);
        return -1;
    }
    if (p->dtype != TN_FLOAT32 && p->dtype != TN_FLOAT64) {
        tn_error("%s: parameters must be float32 or float64, got %s", op, tn_dtype_name(p->dtype));
        return -1;
    }
    if (!tn_is_contiguous(p)) {
        tn_error("%s: the parameter must be contiguous", op);
        return -1;
    }
    return check_like(op, "the gradient", p, g);
}

static int check_hyper(const char *op, const char *name, double v, double lo) {
    if (!(v >= lo) || isinf(v)) {
        tn_error("%s: invalid %s %g (must be a finite number >= %g)", op, name, v, lo);
        return -1;
    }
    return 0;
}

static void bump(tn_tensor *t) {
    if (t) tn_bump_version(t);
}

/* ---------- SGD ----------
 *   g = grad + weight_decay * p
 *   momentum != 0:  buf = g (first step) | momentum * buf + (1 - dampening) * g
 *                   g = nesterov ? g + momentum * buf : buf
 *   p -= lr * g */

typedef struct {
    void *p;
    const void *g;
    void *buf;
    double lr, mom, damp, wd;
    bool nesterov, init;
} sgd_ctx;

/* The loops take restrict parameters and are not inlined: GCC honours
 * restrict only on the parameters of a function it compiles on its own, and
 * without it the loops do not vectorise (aliasing checks are too costly for
 * its -O2 cost model). */
#define NOINLINE __attribute__((noinline))
#define DEF_SGD(T, sfx)                                                                   \
    NOINLINE static void sgd_plain_##sfx(int64_t n, T *restrict p, const T *restrict g, T lr, T wd) { \
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);                  \
    }                                                                                     \
    NOINLINE static void sgd_mom_##sfx(int64_t n, T *restrict p, const T *restrict g, T *restrict b, \
                              T lr, T wd, T mom, T damp1, bool nesterov, bool init) {     \
        if (init) {                                                                       \
            T k = nesterov ? 1 + mom : 1;                                                 \
            for (int64_t i = 0; i < n; i++) {                                             \
                T d = g[i] + wd * p[i];                                                   \
                b[i] = d;                                                                 \
                p[i] -= lr * (k * d);                                                     \
            }                                                                             \
        } else if (nesterov) {                                                            \
            for (int64_t i = 0; i < n; i++) {                                             \
                T d = g[i] + wd * p[i];                                                   \
                T nb = mom * b[i] + damp1 * d;                                            \
                b[i] = nb;                                                                \
                p[i] -= lr * (d + mom * nb);                                              \
            }                                                                             \
        } else {                                                                          \
            for (int64_t i = 0; i < n; i++) {                                             \
                T d = g[i] + wd * p[i];                                                   \
                T nb = mom * b[i] + damp1 * d;                                            \
                b[i] = nb;                                                                \
                p[i] -= lr * nb;                                                          \
            }                                                                             \
        }                                                                                 \
    }                                                                                     \
    static void sgd_##sfx(void *vctx, int64_t lo, int64_t hi) {                           \
        sgd_ctx *c = vctx;                                                                \
        if (!c->buf)                                                                      \
            sgd_plain_##sfx(hi - lo, (T *)c->p + lo, (const T *)c->g + lo, (T)c->lr, (T)c->wd); \
        else                                                                              \
            sgd_mom_##sfx(hi - lo, (T *)c->p + lo, (const T *)c->g + lo, (T *)c->buf + lo,  \
                          (T)c->lr, (T)c->wd, (T)c->mom, (T)(1 - c->damp), c->nesterov, c->init); \
    }
DEF_SGD(float, f32)
DEF_SGD(double, f64)

int nn_sgd_step(tn_tensor *param, tn_tensor *grad, tn_tensor *momentum_buf, bool init_buf,
                const nn_sgd_opts *o) {
    const char *op = "sgd";
    if (check_param(op, param, grad) < 0 || check_hyper(op, "lr", o->lr, 0) < 0 ||
        check_hyper(op, "momentum", o->momentum, 0) < 0 ||
        check_hyper(op, "weight_decay", o->weight_decay, 0) < 0 ||
        check_hyper(op, "dampening", o->dampening, -INFINITY) < 0)
        return -1;
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
        tn_error("sgd: nesterov momentum requires a momentum > 0 and zero dampening "
                 "(got momentum %g, dampening %g)", o->momentum, o->dampening);
        return -1;
    }
    tn_tensor *buf = o->momentum != 0 ? momentum_buf : NULL;
    if (buf && check_like(op, "momentum_buffer", param, buf) < 0) return -1;
    if (o->momentum != 0 && !buf) return check_like(op, "momentum_buffer", param, NULL);
    sgd_ctx c = {tn_data(param), tn_data(grad), buf ? tn_data(buf) : NULL,
                 o->lr, o->momentum, o->dampening, o->weight_decay, o->nesterov, init_buf};
    tn_parallel_for(param->numel, OPT_GRAIN, param->dtype == TN_FLOAT32 ? sgd_f32 : sgd_f64, &c);
    bump(param);
    bump(buf);
    return 0;
}

/* ---------- Adam / AdamW ----------
 *   adamw: p *= 1 - lr * weight_decay       adam: g = grad + weight_decay * p
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   amsgrad: vmax = max(vmax, v), and vmax replaces v below
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */

typedef struct {
    void *p;
    const void *g;
    void *m, *v, *vmax;
    double wd_mul;      /* 1 - lr * wd for AdamW, else 1 */
    double wd;          /* L2 term added to the gradient (Adam), else 0 */
    double b1, b2, step_size, inv_bc2_sqrt, eps;
} adam_ctx;

#define DEF_ADAM(T, sfx, SQRT)                                                            \
    NOINLINE static void adam_loop_##sfx(int64_t n, T *restrict p, const T *restrict g, T *restrict m, \
                                T *restrict v, const adam_ctx *c) {                       \
        const T wd_mul = (T)c->wd_mul, wd = (T)c->wd, b1 = (T)c->b1, b2 = (T)c->b2;       \
        const T b1c = (T)(1 - c->b1), b2c = (T)(1 - c->b2);                               \
        const T ss = (T)c->step_size, ibc2 = (T)c->inv_bc2_sqrt, eps = (T)c->eps;         \
        for (int64_t i = 0; i < n; i++) {                                                 \
            T pi = p[i] * wd_mul;                                                         \
            T d = g[i] + wd * pi;                                                         \
            T mi = b1 * m[i] + b1c * d;                                                   \
            T vi = b2 * v[i] + b2c * d * d;                                               \
            m[i] = mi;                                                                    \
            v[i] = vi;                                                                    \
            p[i] = pi - ss * mi / (SQRT(vi) * ibc2 + eps);                                \
        }                                                                                 \
    }                                                                                     \
    NOINLINE static void adam_ams_##sfx(int64_t n, T *restrict p, const T *restrict g, T *restrict m, \
                               T *restrict v, T *restrict vm, const adam_ctx *c) {        \
        const T wd_mul = (T)c->wd_mul, wd = (T)c->wd, b1 = (T)c->b1, b2 = (T)c->b2;       \
        const T b1c = (T)(1 - c->b1), b2c = (T)(1 - c->b2);                               \
        const T ss = (T)c->step_size, ibc2 = (T)c->inv_bc2_sqrt, eps = (T)c->eps;         \
        for (int64_t i = 0; i < n; i++) {                                                 \
            T pi = p[i] * wd_mul;                                                         \
            T d = g[i] + wd * pi;                                                         \
            T mi = b1 * m[i] + b1c * d;                                                   \
            T vi = b2 * v[i] + b2c * d * d;                                               \
            T mx = vm[i] > vi ? vm[i] : vi;                                               \
            m[i] = mi;                                                                    \
            v[i] = vi;                                                                    \
            vm[i] = mx;                                                                   \
            p[i] = pi - ss * mi / (SQRT(mx) * ibc2 + eps);                                \
        }                                                                                 \
    }                                                                                     \
    static void adam_##sfx(void *vctx, int64_t lo, int64_t hi) {                          \
        adam_ctx *c = vctx;                                                               \
        if (c->vmax)                                                                      \
            adam_ams_##sfx(hi - lo, (T *)c->p + lo, (const T *)c->g + lo, (T *)c->m + lo,   \
                           (T *)c->v + lo, (T *)c->vmax + lo, c);                         \
        else                                                                              \
            adam_loop_##sfx(hi - lo, (T *)c->p + lo, (const T *)c->g + lo, (T *)c->m + lo,  \
                            (T *)c->v + lo, c);                                           \
    }
DEF_ADAM(float, f32, sqrtf)
DEF_ADAM(double, f64, sqrt)

int nn_adam_step(tn_tensor *param, tn_tensor *grad, tn_tensor *exp_avg, tn_tensor *exp_avg_sq,
                 tn_tensor *max_exp_avg_sq, int64_t step, const nn_adam_opts *o) {
    const char *op = o->decoupled ? "adamw" : "adam";
    if (check_param(op, param, grad) < 0 || check_like(op, "exp_avg", param, exp_avg) < 0 ||
        check_like(op, "exp_avg_sq", param, exp_avg_sq) < 0 ||
        (o->amsgrad && check_like(op, "max_exp_avg_sq", param, max_exp_avg_sq) < 0) ||
        check_hyper(op, "lr", o->lr, 0) < 0 || check_hyper(op, "eps", o->eps, 0) < 0 ||
        check_hyper(op, "weight_decay", o->weight_decay, 0) < 0)
        return -1;
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1)) {
        tn_error("%s: invalid betas (%g, %g): each must be in [0, 1)", op, o->beta1, o->beta2);
        return -1;
    }
    if (step < 1) {
        tn_error("%s: step must be >= 1 (the count after this update), got %lld", op, (long long)step);
        return -1;
    }
    double bc1 = 1 - pow(o->beta1, (double)step), bc2 = 1 - pow(o->beta2, (double)step);
    adam_ctx c = {
        .p = tn_data(param), .g = tn_data(grad), .m = tn_data(exp_avg), .v = tn_data(exp_avg_sq),
        .vmax = o->amsgrad ? tn_data(max_exp_avg_sq) : NULL,
        .wd_mul = o->decoupled ? 1 - o->lr * o->weight_decay : 1,
        .wd = o->decoupled ? 0 : o->weight_decay,
        .b1 = o->beta1, .b2 = o->beta2, .step_size = o->lr / bc1,
        .inv_bc2_sqrt = 1 / sqrt(bc2), .eps = o->eps,
    };
    tn_parallel_for(param->numel, OPT_GRAIN, param->dtype == TN_FLOAT32 ? adam_f32 : adam_f64, &c);
    bump(param);
    bump(exp_avg);
    bump(exp_avg_sq);
    if (o->amsgrad) bump(max_exp_avg_sq);
    return 0;
}

/* ---------- RMSprop ----------
 *   g = grad + weight_decay * p
 *   sq = alpha * sq + (1 - alpha) * g^2
 *   centered: ga = alpha * ga + (1 - alpha) * g;  avg = sqrt(sq - ga^2) + eps
 *   else:     avg = sqrt(sq) + eps
 *   momentum > 0: buf = momentum * buf + g / avg;  p -= lr * buf
 *   else:         p -= lr * g / avg */

typedef struct {
    void *p;
    const void *g;
    void *sq, *buf, *ga;
    double lr, alpha, eps, wd, mom;
} rmsprop_ctx;

#define DEF_RMSPROP(T, sfx, SQRT)                                                         \
    NOINLINE static void rmsprop_loop_##sfx(int64_t n, T *restrict p, const T *restrict g,         \
                                   T *restrict sq, T *restrict buf, T *restrict ga,       \
                                   const rmsprop_ctx *c) {                                \
        const T lr = (T)c->lr, a = (T)c->alpha, a1 = (T)(1 - c->alpha), eps = (T)c->eps;  \
        const T wd = (T)c->wd, mom = (T)c->mom;                                           \
        for (int64_t i = 0; i < n; i++) {                                                 \
            T d = g[i] + wd * p[i];                                                       \
            T s = a * sq[i] + a1 * d * d;                                                 \
            sq[i] = s;                                                                    \
            T var = s;                                                                    \
            if (ga) {                                                                     \
                T gi = a * ga[i] + a1 * d;                                                \
                ga[i] = gi;                                                               \
                var = s - gi * gi;                                                        \
            }                                                                             \
            T step = d / (SQRT(var) + eps);                                               \
            if (buf) {                                                                    \
                step += mom * buf[i];                                                     \
                buf[i] = step;                                                            \
            }                                                                             \
            p[i] -= lr * step;                                                            \
        }                                                                                 \
    }                                                                                     \
    static void rmsprop_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        rmsprop_ctx *c = vctx;                                                            \
        rmsprop_loop_##sfx(hi - lo, (T *)c->p + lo, (const T *)c->g + lo, (T *)c->sq + lo, \
                           c->buf ? (T *)c->buf + lo : NULL, c->ga ? (T *)c->ga + lo : NULL, c); \
    }
DEF_RMSPROP(float, f32, sqrtf)
DEF_RMSPROP(double, f64, sqrt)

int nn_rmsprop_step(tn_tensor *param, tn_tensor *grad, tn_tensor *square_avg,
                    tn_tensor *momentum_buf, tn_tensor *grad_avg, const nn_rmsprop_opts *o) {
    const char *op = "rmsprop";
    if (check_param(op, param, grad) < 0 || check_like(op, "square_avg", param, square_avg) < 0 ||
        (o->momentum > 0 && check_like(op, "momentum_buffer", param, momentum_buf) < 0) ||
        (o->centered && check_like(op, "grad_avg", param, grad_avg) < 0) ||
        check_hyper(op, "lr", o->lr, 0) < 0 || check_hyper(op, "eps", o->eps, 0) < 0 ||
        check_hyper(op, "alpha", o->alpha, 0) < 0 ||
        check_hyper(op, "momentum", o->momentum, 0) < 0 ||
        check_hyper(op, "weight_decay", o->weight_decay, 0) < 0)
        return -1;
    rmsprop_ctx c = {tn_data(param), tn_data(grad), tn_data(square_avg),
                     o->momentum > 0 ? tn_data(momentum_buf) : NULL,
                     o->centered ? tn_data(grad_avg) : NULL,
                     o->lr, o->alpha, o->eps, o->weight_decay, o->momentum};
    tn_parallel_for(param->numel, OPT_GRAIN, param->dtype == TN_FLOAT32 ? rmsprop_f32 : rmsprop_f64, &c);
    bump(param);
    bump(square_avg);
    if (o->momentum > 0) bump(momentum_buf);
    if (o->centered) bump(grad_avg);
    return 0;
}

/* ---------- Adagrad ----------
 *   g = grad + weight_decay * p
 *   clr = lr / (1 + (t - 1) * lr_decay)
 *   sum += g^2          (sum starts at initial_accumulator_value: the caller's job)
 *   p -= clr * g / (sqrt(sum) + eps) */

typedef struct {
    void *p;
    const void *g;
    void *sum;
    double clr, wd, eps;
} adagrad_ctx;

#define DEF_ADAGRAD(T, sfx, SQRT)                                                         \
    NOINLINE static void adagrad_loop_##sfx(int64_t n, T *restrict p, const T *restrict g,         \
                                   T *restrict s, T clr, T wd, T eps) {                   \
        for (int64_t i = 0; i < n; i++) {                                                 \
            T d = g[i] + wd * p[i];                                                       \
            T si = s[i] + d * d;                                                          \
            s[i] = si;                                                                    \
            p[i] -= clr * d / (SQRT(si) + eps);                                           \
        }                                                                                 \
    }                                                                                     \
    static void adagrad_##sfx(void *vctx, int64_t lo, int64_t hi) {                       \
        adagrad_ctx *c = vctx;                                                            \
        adagrad_loop_##sfx(hi - lo, (T *)c->p + lo, (const T *)c->g + lo, (T *)c->sum + lo, \
                           (T)c->clr, (T)c->wd, (T)c->eps);                               \
    }
DEF_ADAGRAD(float, f32, sqrtf)
DEF_ADAGRAD(double, f64, sqrt)

int nn_adagrad_step(tn_tensor *param, tn_tensor *grad, tn_tensor *sum, int64_t step,
                    const nn_adagrad_opts *o) {
    const char *op = "adagrad";
    if (check_param(op, param, grad) < 0 || check_like(op, "sum", param, sum) < 0 ||
        check_hyper(op, "lr", o->lr, 0) < 0 || check_hyper(op, "lr_decay", o->lr_decay, 0) < 0 ||
        check_hyper(op, "eps", o->eps, 0) < 0 ||
        check_hyper(op, "weight_decay", o->weight_decay, 0) < 0)
        return -1;
    if (step < 1) {
        tn_error("adagrad: step must be >= 1 (the count after this update), got %lld", (long long)step);
        return -1;
    }
    adagrad_ctx c = {tn_data(param), tn_data(grad), tn_data(sum),
                     o->lr / (1 + (double)(step - 1) * o->lr_decay), o->weight_decay, o->eps};
    tn_parallel_for(param->numel, OPT_GRAIN, param->dtype == TN_FLOAT32 ? adagrad_f32 : adagrad_f64, &c);
    bump(param);
    bump(sum);
    return 0;
}
