/*
 * test_pool.c: Check suite for nn/pool.c.  max_pool1d/2d, avg_pool1d/2d and
 * adaptive_avg_pool2d against naive reference loops (values, argmax
 * indices and input gradients) over kernels, strides, padding, ceil_mode,
 * count_include_pad, odd sizes, the vectorised 2x2 path (wide and narrow
 * planes), unbatched and non-contiguous inputs, both dtypes; NaN
 * propagation; finite-difference checks for every op; error messages.
 */
#include "helpers.h"
#include "nn/nn.h"

#include <string.h>

typedef struct {
    int64_t N, C, H, W, kh, kw, sh, sw, ph, pw;
    bool ceil_mode, cip;
} pcfg;

enum { MAX2, AVG2, MAX1, AVG1 };

static int64_t osize(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
    int64_t num = in + 2 * p - k;
    int64_t o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

/* Reference pooling of one (N*C) stack of planes: y and, for max, arg. */
static void ref_pool(int kind, const pcfg *c, int64_t OH, int64_t OW, const double *x, double *y,
                     int64_t *arg) {
    for (int64_t pl = 0; pl < c->N * c->C; pl++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t hs = oy * c->sh - c->ph, ws = ox * c->sw - c->pw;
                double m = -INFINITY, s = 0;
                int64_t mi = -1, cnt = 0;
                for (int64_t ky = 0; ky < c->kh; ky++)
                    for (int64_t kx = 0; kx < c->kw; kx++) {
                        int64_t iy = hs + ky, ix = ws + kx;
                        if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) continue;
                        double v = x[(pl * c->H + iy) * c->W + ix];
                        if (mi < 0 || v > m || isnan(v)) m = v, mi = iy * c->W + ix;
                        s += v;
                        cnt++;
                    }
                int64_t he = hs + c->kh < c->H + c->ph ? hs + c->kh : c->H + c->ph;
                int64_t we = ws + c->kw < c->W + c->pw ? ws + c->kw : c->W + c->pw;
                int64_t div = c->cip ? (he - hs) * (we - ws) : cnt;
                int64_t o = (pl * OH + oy) * OW + ox;
                if (kind == MAX2 || kind == MAX1) y[o] = m, arg[o] = mi;
                else y[o] = s / (double)div;
            }
}

static double *values(const tn_tensor *t) {
    double *v = malloc(sizeof(double) * (size_t)(t->numel ? t->numel : 1));
    for (int64_t i = 0; i < t->numel; i++) v[i] = tn_get_flat(t, i);
    return v;
}

static void expect_close(const char *what, const tn_tensor *t, const double *ref, int64_t n,
                         double tol) {
    ck_assert_msg(t != NULL, "%s: NULL (%s)", what, tn_last_error());
    ck_assert_int_eq(t->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double got = tn_get_flat(t, i);
        ck_assert_msg(fabs(got - ref[i]) <= tol * (1 + fabs(ref[i])) || (isnan(got) && isnan(ref[i])),
                      "%s[%lld]: got %.9g, expected %.9g", what, (long long)i, got, ref[i]);
    }
}

static tn_tensor *call(int kind, const pcfg *c, tn_tensor *x, tn_tensor **idx) {
    int64_t k[2] = {c->kh, c->kw}, s[2] = {c->sh, c->sw}, p[2] = {c->ph, c->pw};
    switch (kind) {
    case MAX2:
        if (idx) {
            tn_tensor *y = NULL;
            nn_max_pool2d_with_indices(x, k, s, p, c->ceil_mode, &y, idx);
            return y;
        }
        return nn_max_pool2d(x, k, s, p, c->ceil_mode);
    case AVG2: return nn_avg_pool2d(x, k, s, p, c->ceil_mode, c->cip);
    case MAX1: return nn_max_pool1d(x, c->kw, c->sw, c->pw, c->ceil_mode);
    default: return nn_avg_pool1d(x, c->kw, c->sw, c->pw, c->ceil_mode, c->cip);
    }
}

static void check_pool(int kind, const pcfg *c0, tn_dtype dt) {
    pcfg cc = *c0, *c = &cc;
    bool one = kind == MAX1 || kind == AVG1;
    if (one) cc.H = cc.kh = cc.sh = 1, cc.ph = 0;
    int64_t OH = osize(c->H, c->kh, c->sh, c->ph, c->ceil_mode);
    int64_t OW = osize(c->W, c->kw, c->sw, c->pw, c->ceil_mode);
    tn_tensor *x = one ? tn_randn(dt, 3, (int64_t[]){c->N, c->C, c->W})
                       : tn_randn(dt, 4, (int64_t[]){c->N, c->C, c->H, c->W});
    x->requires_grad = true;
    tn_tensor *idx = NULL;
    tn_tensor *y = call(kind, c, x, kind == MAX2 ? &idx : NULL);
    ck_assert_msg(y != NULL, "pool: %s", tn_last_error());
    ck_assert_int_eq(y->shape[y->ndim - 1], OW);
    if (!one) ck_assert_int_eq(y->shape[2], OH);
    int64_t ny = c->N * c->C * OH * OW;
    double *xv = values(x), *yr = calloc((size_t)ny, sizeof(double));
    int64_t *arg = calloc((size_t)ny, sizeof(int64_t));
    ref_pool(kind, c, OH, OW, xv, yr, arg);
    expect_close("forward", y, yr, ny, dt == TN_FLOAT32 ? 1e-6 : 1e-12);
    if (idx) {
        ck_assert_int_eq(idx->dtype, TN_INT64);
        for (int64_t i = 0; i < ny; i++)
            ck_assert_msg(tn_get_flat_i64(idx, i) == arg[i], "index %lld: got %lld, expected %lld",
                          (long long)i, (long long)tn_get_flat_i64(idx, i), (long long)arg[i]);
    }
    /* backward against the reference rule */
    tn_tensor *gy = tn_randn(dt, y->ndim, y->shape);
    double *gv = values(gy), *dx = calloc((size_t)x->numel, sizeof(double));
    for (int64_t pl = 0; pl < c->N * c->C; pl++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t o = (pl * OH + oy) * OW + ox;
                if (kind == MAX2 || kind == MAX1) {
                    dx[pl * c->H * c->W + arg[o]] += gv[o];
                    continue;
                }
                /* average: the gradient spread with the forward's weights */
                int64_t hs = oy * c->sh - c->ph, ws = ox * c->sw - c->pw, cnt = 0;
                for (int64_t ky = 0; ky < c->kh; ky++)
                    for (int64_t kx = 0; kx < c->kw; kx++) {
                        int64_t iy = hs + ky, ix = ws + kx;
                        if (iy >= 0 && iy < c->H && ix >= 0 && ix < c->W) cnt++;
                    }
                int64_t he = hs + c->kh < c->H + c->ph ? hs + c->kh : c->H + c->ph;
                int64_t we = ws + c->kw < c->W + c->pw ? ws + c->kw : c->W + c->pw;
                double div = (double)(c->cip ? (he - hs) * (we - ws) : cnt);
                for (int64_t ky = 0; ky < c->kh; ky++)
                    for (int64_t kx = 0; kx < c->kw; kx++) {
                        int64_t iy = hs + ky, ix = ws + kx;
                        if (iy >= 0 && iy < c->H && ix >= 0 && ix < c->W)
                            dx[(pl * c->H + iy) * c->W + ix] += gv[o] / div;
                    }
            }
    ck_assert_msg(tn_backward(y, gy, false) == 0, "backward: %s", tn_last_error());
    expect_close("grad input", x->grad, dx, x->numel, dt == TN_FLOAT32 ? 1e-5 : 1e-12);
    free(xv); free(yr); free(arg); free(gv); free(dx);
    tn_release(gy); tn_release(y); tn_release(idx); tn_release(x);
}

/*                        N  C  H   W kh kw sh sw ph pw ceil  cip */
static const pcfg cfgs[] = {
    {2, 3, 26, 26, 2, 2, 2, 2, 0, 0, false, true},   /* the CNN: vector path + overlap */
    {2, 2, 28, 28, 2, 2, 2, 2, 0, 0, false, true},   /* LeNet pool 1 */
    {2, 4, 10, 10, 2, 2, 2, 2, 0, 0, false, true},   /* LeNet pool 2: narrow planes */
    {1, 2, 27, 35, 2, 2, 2, 2, 0, 0, false, true},   /* odd sizes: last row/col dropped */
    {2, 2, 9, 8, 3, 2, 2, 1, 1, 1, false, true},     /* padding, non-square */
    {1, 3, 7, 9, 3, 3, 2, 2, 1, 0, true, true},      /* ceil_mode */
    {1, 2, 7, 9, 3, 3, 2, 2, 1, 1, true, false},     /* ceil_mode, no pad counting */
    {2, 1, 6, 7, 3, 3, 1, 1, 1, 1, false, false},    /* overlapping windows */
    {1, 1, 5, 5, 5, 5, 5, 5, 0, 0, false, true},     /* one window */
    {1, 2, 8, 11, 4, 3, 3, 2, 2, 1, true, true},
};
#define NCFG ((int)(sizeof cfgs / sizeof cfgs[0]))

START_TEST(test_max_pool2d_values) {
    tn_manual_seed(5);
    for (int i = 0; i < NCFG; i++) {
        check_pool(MAX2, &cfgs[i], TN_FLOAT32);
        check_pool(MAX2, &cfgs[i], TN_FLOAT64);
    }
}
END_TEST

START_TEST(test_avg_pool2d_values) {
    tn_manual_seed(6);
    for (int i = 0; i < NCFG; i++) {
        check_pool(AVG2, &cfgs[i], TN_FLOAT32);
        check_pool(AVG2, &cfgs[i], TN_FLOAT64);
    }
}
END_TEST

START_TEST(test_pool1d_values) {
    tn_manual_seed(8);
    for (int i = 0; i < NCFG; i++) {
        check_pool(MAX1, &cfgs[i], TN_FLOAT32);
        check_pool(AVG1, &cfgs[i], TN_FLOAT64);
    }
}
END_TEST

/* NaN wins the window (both paths), as in PyTorch. */
START_TEST(test_max_pool_nan) {
    int64_t k[2] = {2, 2};
    for (int w = 0; w < 2; w++) {
        int64_t W = w ? 20 : 4;   /* vector path and narrow path */
        tn_tensor *x = tn_zeros(TN_FLOAT32, 3, (int64_t[]){1, 2, W});
        float *p = tn_data(x);
        p[1] = NAN;          /* row 0, column 1: window 0 */
        p[W + 2] = 5;        /* row 1, column 2: window 1 */
        tn_tensor *y = NULL, *idx = NULL;
        ck_assert_int_eq(nn_max_pool2d_with_indices(x, k, NULL, NULL, false, &y, &idx), 0);
        ck_assert(isnan(tn_get_flat(y, 0)));
        ck_assert_int_eq(tn_get_flat_i64(idx, 0), 1);
        ck_assert_double_eq(tn_get_flat(y, 1), 5);
        ck_assert_int_eq(tn_get_flat_i64(idx, 1), W + 2);
        tn_release(x); tn_release(y); tn_release(idx);
    }
}
END_TEST

/* Unbatched (C,H,W) and strided inputs. */
START_TEST(test_pool_layouts) {
    tn_manual_seed(9);
    int64_t k[2] = {2, 2};
    tn_tensor *base = tn_randn(TN_FLOAT32, 4, (int64_t[]){2, 3, 12, 10});
    tn_tensor *xt = tn_transpose(base, 2, 3);
    tn_tensor *xc = tn_contiguous(xt);
    tn_tensor *y1 = nn_max_pool2d(xt, k, NULL, NULL, false), *y2 = nn_max_pool2d(xc, k, NULL, NULL, false);
    double *v2 = values(y2);
    expect_close("strided", y1, v2, y2->numel, 0);
    tn_tensor *x0 = tn_select(xc, 0, 1);
    tn_tensor *y0 = nn_avg_pool2d(x0, k, NULL, NULL, false, true);
    tn_tensor *ya = nn_avg_pool2d(xc, k, NULL, NULL, false, true);
    ck_assert_int_eq(y0->ndim, 3);
    double *va = values(ya);
    expect_close("unbatched", y0, va + y0->numel, y0->numel, 1e-7);
    free(v2); free(va);
    tn_release(base); tn_release(xt); tn_release(xc); tn_release(y1); tn_release(y2);
    tn_release(x0); tn_release(y0); tn_release(ya);
}
END_TEST

START_TEST(test_adaptive_avg_pool2d) {
    tn_manual_seed(10);
    const int64_t sizes[][4] = {{7, 9, 3, 4}, {6, 6, 1, 1}, {5, 4, 5, 4}, {3, 2, 5, 7}, {10, 13, 4, 6}};
    for (int t = 0; t < 5; t++) {
        int64_t H = sizes[t][0], W = sizes[t][1], OH = sizes[t][2], OW = sizes[t][3];
        tn_tensor *x = tn_randn(TN_FLOAT64, 4, (int64_t[]){2, 3, H, W});
        x->requires_grad = true;
        tn_tensor *y = nn_adaptive_avg_pool2d(x, (int64_t[]){OH, OW});
        ck_assert_msg(y != NULL, "%s", tn_last_error());
        ck_assert_int_eq(y->shape[2], OH);
        ck_assert_int_eq(y->shape[3], OW);
        double *xv = values(x), *yr = calloc((size_t)(6 * OH * OW), sizeof(double));
        double *dx = calloc((size_t)x->numel, sizeof(double));
        for (int64_t pl = 0; pl < 6; pl++)
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++) {
                    int64_t h0 = (int64_t)floor((double)(i * H) / (double)OH);
                    int64_t h1 = (int64_t)ceil((double)((i + 1) * H) / (double)OH);
                    int64_t w0 = (int64_t)floor((double)(j * W) / (double)OW);
                    int64_t w1 = (int64_t)ceil((double)((j + 1) * W) / (double)OW);
                    double s = 0, n = (double)((h1 - h0) * (w1 - w0));
                    for (int64_t a = h0; a < h1; a++)
                        for (int64_t b = w0; b < w1; b++) {
                            s += xv[(pl * H + a) * W + b];
                            dx[(pl * H + a) * W + b] += 1 / n;
                        }
                    yr[(pl * OH + i) * OW + j] = s / n;
                }
        expect_close("adaptive", y, yr, 6 * OH * OW, 1e-12);
        tn_tensor *g = tn_ones(TN_FLOAT64, 4, y->shape);
        ck_assert_int_eq(tn_backward(y, g, false), 0);
        expect_close("adaptive grad", x->grad, dx, x->numel, 1e-12);
        free(xv); free(yr); free(dx);
        tn_release(g); tn_release(y); tn_release(x);
    }
}
END_TEST

/* ---------- gradient checks ---------- */

typedef struct {
    int kind;     /* MAX2 AVG2 MAX1 AVG1, or 4: adaptive */
    pcfg c;
    int64_t out[2];
} gctx;

static tn_tensor *gc_fn(void *p, tn_tensor **in) {
    gctx *g = p;
    if (g->kind == 4) return nn_adaptive_avg_pool2d(in[0], g->out);
    return call(g->kind, &g->c, in[0], NULL);
}

static void gradcheck(int kind, pcfg c, int64_t oh, int64_t ow) {
    bool one = kind == MAX1 || kind == AVG1;
    tn_tensor *x = one ? tn_randn(TN_FLOAT64, 3, (int64_t[]){c.N, c.C, c.W})
                       : tn_randn(TN_FLOAT64, 4, (int64_t[]){c.N, c.C, c.H, c.W});
    x->requires_grad = true;
    gctx g = {kind, c, {oh, ow}};
    int rc = tn_gradcheck(gc_fn, &g, 1, &x, 1e-6, 1e-7, 1e-5);
    ck_assert_msg(rc == 0, "gradcheck kind %d: %s", kind, tn_last_error());
    tn_release(x);
}

START_TEST(test_pool_gradcheck) {
    tn_manual_seed(12);
    pcfg a = {2, 2, 6, 8, 2, 2, 2, 2, 0, 0, false, true};
    pcfg b = {1, 2, 7, 6, 3, 2, 2, 1, 1, 1, true, false};
    pcfg c = {1, 2, 5, 5, 3, 3, 1, 1, 1, 1, false, true};
    gradcheck(MAX2, a, 0, 0);
    gradcheck(MAX2, b, 0, 0);
    gradcheck(MAX2, c, 0, 0);
    gradcheck(AVG2, a, 0, 0);
    gradcheck(AVG2, b, 0, 0);
    gradcheck(AVG2, c, 0, 0);
    pcfg d = {2, 3, 1, 9, 1, 3, 1, 2, 0, 1, false, true};
    gradcheck(MAX1, d, 0, 0);
    gradcheck(AVG1, d, 0, 0);
    d.ceil_mode = true, d.cip = false;
    gradcheck(AVG1, d, 0, 0);
    gradcheck(4, (pcfg){2, 2, 7, 5, 0, 0, 0, 0, 0, 0, false, false}, 3, 2);
    gradcheck(4, (pcfg){1, 1, 3, 4, 0, 0, 0, 0, 0, 0, false, false}, 5, 6);
}
END_TEST

/* ---------- errors ---------- */

static void expect_error(tn_tensor *r, const char *needle) {
    ck_assert_msg(r == NULL, "expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tn_last_error(), needle) != NULL, "error '%s' does not contain '%s'",
                  tn_last_error(), needle);
}

START_TEST(test_pool_errors) {
    tn_tensor *x = tn_zeros(TN_FLOAT32, 4, (int64_t[]){1, 2, 4, 4});
    tn_tensor *xi = tn_zeros(TN_INT64, 4, (int64_t[]){1, 2, 4, 4});
    tn_tensor *x2 = tn_zeros(TN_FLOAT32, 2, (int64_t[]){4, 4});
    expect_error(nn_max_pool2d(x, (int64_t[]){3, 3}, NULL, (int64_t[]){2, 0}, false),
                 "max_pool2d: padding (2) should be at most half of the kernel size (3)");
    expect_error(nn_max_pool2d(x, (int64_t[]){5, 2}, NULL, NULL, false),
                 "max_pool2d: input size 4x4 (padding 0x0) is too small for kernel size 5x2");
    expect_error(nn_max_pool2d(x, (int64_t[]){0, 2}, NULL, NULL, false),
                 "kernel size and stride must be positive");
    expect_error(nn_max_pool2d(x, NULL, NULL, NULL, false), "max_pool2d: kernel size is required");
    expect_error(nn_max_pool2d(x, (int64_t[]){INT64_MAX, 2}, NULL, (int64_t[]){INT64_MAX / 2, 0}, false), "too large");
    expect_error(nn_avg_pool1d(x2, 2, INT64_MAX, 0, true, true), "avg_pool1d");
    expect_error(nn_max_pool2d(xi, (int64_t[]){2, 2}, NULL, NULL, false),
                 "max_pool2d: input must be float32 or float64, got int64");
    expect_error(nn_avg_pool2d(x2, (int64_t[]){2, 2}, NULL, NULL, false, true),
                 "avg_pool2d: expected a 3-D (C,H,W) or 4-D (N,C,H,W) input, got shape [4, 4]");
    expect_error(nn_max_pool1d(x, 2, 0, 0, false), "max_pool1d: expected a 2-D (C,L) or 3-D (N,C,L) input");
    tn_tensor *x1 = tn_zeros(TN_FLOAT32, 3, (int64_t[]){1, 2, 3});
    expect_error(nn_avg_pool1d(x1, 4, 0, 0, false, true),
                 "avg_pool1d: input length 3 (padding 0) is too small for kernel size 4");
    expect_error(nn_adaptive_avg_pool2d(x, (int64_t[]){0, 2}), "adaptive_avg_pool2d: output size must be positive");
    tn_tensor *xe = tn_zeros(TN_FLOAT32, 4, (int64_t[]){1, 2, 0, 4});
    expect_error(nn_adaptive_avg_pool2d(xe, (int64_t[]){1, 1}), "has an empty spatial dimension");
    tn_release(x); tn_release(xi); tn_release(x2); tn_release(x1); tn_release(xe);
}
END_TEST

START_TEST(test_pool_interrupted) {
    tn_tensor *x = tn_ones(TN_FLOAT32, 4, (int64_t[]){2, 2, 8, 8});
    tn_interrupt_flag = 1;
    tn_tensor *y = nn_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, false);
    tn_interrupt_flag = 0;
    ck_assert_ptr_null(y);
    ck_assert_str_eq(tn_last_error(), "interrupted");
    tn_release(x);
}
END_TEST

/* grad_fn names are the op table's. */
START_TEST(test_pool_names) {
    tn_tensor *x = tn_ones(TN_FLOAT32, 4, (int64_t[]){1, 1, 4, 4});
    x->requires_grad = true;
    tn_tensor *a = nn_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, false);
    tn_tensor *b = nn_avg_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, false, true);
    tn_tensor *c = nn_adaptive_avg_pool2d(x, (int64_t[]){1, 1});
    ck_assert_str_eq(a->grad_fn->name, "max_pool2d");
    ck_assert_str_eq(b->grad_fn->name, "avg_pool2d");
    ck_assert_str_eq(c->grad_fn->name, "adaptive_avg_pool2d");
    ck_assert_int_eq(a->grad_fn->op, NN_OP_BASE + NN_OP_MAX_POOL2D);
    tn_release(a); tn_release(b); tn_release(c); tn_release(x);
}
END_TEST

/* ---------- PyTorch cross-check ----------
 * Deterministic inputs det(shape, s)[i] = sin(0.37 * s * i) (row-major), the
 * output's gradient det(y.shape, 0.9); each result r is summarised by
 * sum(r) and sum(r * det(r.shape, 0.5)).  The expected numbers were printed
 * by PyTorch 1.13.1 (float64) from this script:
 *
 *   import torch, torch.nn.functional as F
 *   def det(*shape, s=1.0):
 *       n = 1
 *       for d in shape: n *= d
 *       return (torch.arange(n, dtype=torch.float64) * 0.37 * s).sin().reshape(shape)
 *   def rep(name, t):
 *       print("%s %.12g %.12g" % (name, t.sum().item(), (t * det(*t.shape, s=0.5)).sum().item()))
 *   def run(y): (y * det(*y.shape, s=0.9)).sum().backward()
 *   for name, f in [("maxpool", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
 *                   ("avgpool", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
 *                                                      count_include_pad=False)),
 *                   ("avgpoolcip", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
 *                                                         count_include_pad=True)),
 *                   ("adaptive", lambda x: F.adaptive_avg_pool2d(x, (3, 4)))]:
 *       x = det(2, 3, 7, 9).requires_grad_(); y = f(x); run(y)
 *       rep(name + ".y", y); rep(name + ".dx", x.grad)
 *   x = det(2, 3, 11).requires_grad_(); y = F.max_pool1d(x, 3, 2, 1, ceil_mode=True); run(y)
 *   rep("maxpool1d.y", y); rep("maxpool1d.dx", x.grad)
 */
/* det, torch_expect, torch_backward and TORCH come from helpers.h */
#define maxpool_y_SUM 97.3567568917
#define maxpool_y_PROJ 8.61674305426
#define maxpool_dx_SUM 4.48364493934
#define maxpool_dx_PROJ 0.199496724903
#define avgpool_y_SUM -1.12815492169
#define avgpool_y_PROJ 1.34437449494
#define avgpool_dx_SUM 4.48364493934
#define avgpool_dx_PROJ -1.85606715328
#define avgpoolcip_y_SUM -1.01673188221
#define avgpoolcip_y_PROJ 1.31666629199
#define avgpoolcip_dx_SUM -4.37314143577
#define avgpoolcip_dx_PROJ -1.14708111981
#define adaptive_y_SUM 1.31157625142
#define adaptive_y_PROJ 2.42268625355
#define adaptive_dx_SUM 2.2359518837
#define adaptive_dx_PROJ -0.0055228026555
#define maxpool1d_y_SUM 7.41085643827
#define maxpool1d_y_PROJ -0.625678730965
#define maxpool1d_dx_SUM 0.757233348661
#define maxpool1d_dx_PROJ 17.5378980071

START_TEST(test_pool_matches_pytorch) {
    int64_t k[2] = {3, 3}, s[2] = {2, 2}, p[2] = {1, 1};
    for (int kind = 0; kind < 4; kind++) {
        tn_tensor *x = det(4, (int64_t[]){2, 3, 7, 9}, 1);
        x->requires_grad = true;
        tn_tensor *y = kind == 0 ? nn_max_pool2d(x, k, s, p, true)
                     : kind == 1 ? nn_avg_pool2d(x, k, s, p, true, false)
                     : kind == 2 ? nn_avg_pool2d(x, k, s, p, true, true)
                                 : nn_adaptive_avg_pool2d(x, (int64_t[]){3, 4});
        torch_backward(y);
        if (kind == 0) { TORCH(maxpool_y, y); TORCH(maxpool_dx, x->grad); }
        if (kind == 1) { TORCH(avgpool_y, y); TORCH(avgpool_dx, x->grad); }
        if (kind == 2) { TORCH(avgpoolcip_y, y); TORCH(avgpoolcip_dx, x->grad); }
        if (kind == 3) { TORCH(adaptive_y, y); TORCH(adaptive_dx, x->grad); }
        tn_release(x); tn_release(y);
    }
    tn_tensor *x = det(3, (int64_t[]){2, 3, 11}, 1);
    x->requires_grad = true;
    tn_tensor *y = nn_max_pool1d(x, 3, 2, 1, true);
    torch_backward(y);
    TORCH(maxpool1d_y, y); TORCH(maxpool1d_dx, x->grad);
    tn_release(x); tn_release(y);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_pool_matches_pytorch);
    tcase_add_test(tc, test_pool_interrupted);
    tcase_add_test(tc, test_pool_names);
    tcase_add_test(tc, test_max_pool2d_values);
    tcase_add_test(tc, test_avg_pool2d_values);
    tcase_add_test(tc, test_pool1d_values);
    tcase_add_test(tc, test_max_pool_nan);
    tcase_add_test(tc, test_pool_layouts);
    tcase_add_test(tc, test_adaptive_avg_pool2d);
    tcase_add_test(tc, test_pool_gradcheck);
    tcase_add_test(tc, test_pool_errors);
}

TN_SUITE_MAIN("pool", add_tests)
