/*
 * test_conv.c: Check suite for nn/conv.c.  Forward values and all three
 * gradients (input, weight, bias) of conv1d, conv2d and conv_transpose2d
 * against naive reference loops written here, over configurations with
 * stride, padding, dilation, non-square kernels and inputs, bias or not,
 * batch > 1, unbatched and non-contiguous inputs, both dtypes, and both
 * algorithms (the direct stride-1 kernel and im2col + GEMM); finite-
 * difference checks (tn_gradcheck) for every kernel and input; the input
 * gradient skipped when the input needs none; and error messages.
 */
#include "helpers.h"
#include "nn/nn.h"

#include <string.h>

typedef struct {
    int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, oph, opw;
    bool bias;
} cfg;

enum { K1D, K2D, KT2D };

/* ---------- naive references (double) ---------- */

/* conv2d: y (N,O,OH,OW); grads given gy.  Any of the outputs may be NULL. */
static void ref_conv(const cfg *c, int64_t OH, int64_t OW, const double *x, const double *w,
                     const double *b, double *y, const double *gy, double *dx, double *dw,
                     double *db) {
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->O; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    int64_t yi = ((n * c->O + o) * OH + oy) * OW + ox;
                    double s = b ? b[o] : 0;
                    if (db) db[o] += gy[yi];
                    for (int64_t ch = 0; ch < c->C; ch++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t iy = oy * c->sh - c->ph + ky * c->dh;
                                int64_t ix = ox * c->sw - c->pw + kx * c->dw;
                                if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) continue;
                                int64_t xi = ((n * c->C + ch) * c->H + iy) * c->W + ix;
                                int64_t wi = ((o * c->C + ch) * c->kh + ky) * c->kw + kx;
                                s += w[wi] * x[xi];
                                if (dx) dx[xi] += w[wi] * gy[yi];
                                if (dw) dw[wi] += x[xi] * gy[yi];
                            }
                    if (y) y[yi] = s;
                }
}

/* conv_transpose2d: x (N,C,H,W), w (C,O,kh,kw), y (N,O,OH,OW) */
static void ref_convt(const cfg *c, int64_t OH, int64_t OW, const double *x, const double *w,
                      const double *b, double *y, const double *gy, double *dx, double *dw,
                      double *db) {
    if (y)
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t o = 0; o < c->O; o++)
                for (int64_t i = 0; i < OH * OW; i++) y[(n * c->O + o) * OH * OW + i] = b ? b[o] : 0;
    if (db)
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t o = 0; o < c->O; o++)
                for (int64_t i = 0; i < OH * OW; i++) db[o] += gy[(n * c->O + o) * OH * OW + i];
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t ch = 0; ch < c->C; ch++)
            for (int64_t iy = 0; iy < c->H; iy++)
                for (int64_t ix = 0; ix < c->W; ix++) {
                    int64_t xi = ((n * c->C + ch) * c->H + iy) * c->W + ix;
                    for (int64_t o = 0; o < c->O; o++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t oy = iy * c->sh - c->ph + ky * c->dh;
                                int64_t ox = ix * c->sw - c->pw + kx * c->dw;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                                int64_t yi = ((n * c->O + o) * OH + oy) * OW + ox;
                                int64_t wi = ((ch * c->O + o) * c->kh + ky) * c->kw + kx;
                                if (y) y[yi] += x[xi] * w[wi];
                                if (dx) dx[xi] += w[wi] * gy[yi];
                                if (dw) dw[wi] += x[xi] * gy[yi];
                            }
                }
}

/* ---------- helpers ---------- */

static double *values(const tn_tensor *t) {
    double *v = malloc(sizeof(double) * (size_t)(t->numel ? t->numel : 1));
    for (int64_t i = 0; i < t->numel; i++) v[i] = tn_get_flat(t, i);
    return v;
}

static double *zeros_d(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }

static void expect_close(const char *what, const tn_tensor *t, const double *ref, int64_t n,
                         double tol) {
    ck_assert_msg(t != NULL, "%s: NULL (%s)", what, tn_last_error());
    ck_assert_int_eq(t->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double got = tn_get_flat(t, i);
        ck_assert_msg(fabs(got - ref[i]) <= tol * (1 + fabs(ref[i])),
                      "%s[%lld]: got %.9g, expected %.9g", what, (long long)i, got, ref[i]);
    }
}

static tn_tensor *randn(tn_dtype dt, int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(dt, nd, shape);
    ck_assert_msg(t != NULL, "randn: %s", tn_last_error());
    return t;
}

static void shapes(int kind, const cfg *c, int64_t xs[4], int64_t ws[4], int64_t *OH, int64_t *OW) {
    if (kind == KT2D) {
        *OH = (c->H - 1) * c->sh - 2 * c->ph + c->dh * (c->kh - 1) + c->oph + 1;
        *OW = (c->W - 1) * c->sw - 2 * c->pw + c->dw * (c->kw - 1) + c->opw + 1;
        ws[0] = c->C, ws[1] = c->O;
    } else {
        *OH = (c->H + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1;
        *OW = (c->W + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1;
        ws[0] = c->O, ws[1] = c->C;
    }
    xs[0] = c->N, xs[1] = c->C, xs[2] = c->H, xs[3] = c->W;
    ws[2] = c->kh, ws[3] = c->kw;
}

static tn_tensor *call(int kind, const cfg *c, tn_tensor *x, tn_tensor *w, tn_tensor *b) {
    int64_t s[2] = {c->sh, c->sw}, p[2] = {c->ph, c->pw}, d[2] = {c->dh, c->dw},
            op[2] = {c->oph, c->opw};
    if (kind == K1D) return nn_conv1d(x, w, b, c->sw, c->pw, c->dw);
    if (kind == K2D) return nn_conv2d(x, w, b, s, p, d);
    return nn_conv_transpose2d(x, w, b, s, p, op, d);
}

/* Forward and backward of one configuration against the reference. */
static void check_config(int kind, const cfg *c0, tn_dtype dt, bool need_x) {
    cfg cc = *c0, *c = &cc;
    if (kind == K1D) cc.sh = cc.dh = 1, cc.ph = 0;   /* the height dims of conv1d */
    int64_t xs[4], ws[4], OH, OW;
    shapes(kind, c, xs, ws, &OH, &OW);
    /* conv1d: drop the height dims (H = kh = 1 in the config) */
    int64_t xs1[3] = {c->N, c->C, c->W}, ws1[3] = {ws[0], ws[1], c->kw};
    tn_tensor *x = kind == K1D ? randn(dt, 3, xs1) : randn(dt, 4, xs);
    tn_tensor *w = kind == K1D ? randn(dt, 3, ws1) : randn(dt, 4, ws);
    tn_tensor *b = c->bias ? randn(dt, 1, (int64_t[]){c->O}) : NULL;
    x->requires_grad = need_x;
    w->requires_grad = true;
    if (b) b->requires_grad = true;
    tn_tensor *y = call(kind, c, x, w, b);
    ck_assert_msg(y != NULL, "forward: %s", tn_last_error());
    int64_t ny = c->N * c->O * OH * OW;
    ck_assert_int_eq(y->numel, ny);
    ck_assert_int_eq(y->shape[1], c->O);
    ck_assert_int_eq(y->shape[y->ndim - 1], OW);

    double *xv = values(x), *wv = values(w), *bv = b ? values(b) : NULL;
    double *yr = zeros_d(ny), *dx = zeros_d(x->numel), *dw = zeros_d(w->numel), *db = zeros_d(c->O);
    tn_tensor *gy = randn(dt, y->ndim, y->shape);
    double *gv = values(gy);
    if (kind == KT2D) ref_convt(c, OH, OW, xv, wv, bv, yr, gv, dx, dw, db);
    else ref_conv(c, OH, OW, xv, wv, bv, yr, gv, dx, dw, db);
    double tol = dt == TN_FLOAT32 ? 2e-5 * sqrt((double)(c->C * c->kh * c->kw + 1)) : 1e-10;
    expect_close("forward", y, yr, ny, tol);

    ck_assert_msg(tn_backward(y, gy, false) == 0, "backward: %s", tn_last_error());
    double gtol = dt == TN_FLOAT32 ? 1e-4 : 1e-10;
    if (need_x) expect_close("grad input", x->grad, dx, x->numel, gtol);
    else ck_assert_ptr_null(x->grad);
    expect_close("grad weight", w->grad, dw, w->numel, gtol * 4);
    if (b) expect_close("grad bias", b->grad, db, c->O, gtol * 4);

    free(xv); free(wv); free(bv); free(yr); free(dx); free(dw); free(db); free(gv);
    tn_release(gy); tn_release(y); tn_release(x); tn_release(w); tn_release(b);
}

/* The algorithm settings every value test runs under: the default choice,
 * im2col + GEMM only, the direct kernels wherever they apply (input
 * gradient included), and the same with the AVX2 float kernels forced. */
static const struct {
    int64_t max_k;
    int avx512;
} algos[] = {{-1, -1}, {0, -1}, {1 << 30, -1}, {-1, 0}, {1 << 30, 0}};
#define NALGO ((int)(sizeof algos / sizeof algos[0]))

/* Every config under every algorithm, both dtypes, with and without input grad. */
static void check_all(int kind, const cfg *cs, int n) {
    tn_manual_seed(42);
    for (int a = 0; a < NALGO; a++) {
        int64_t was = nn_conv_set_direct_max_k(algos[a].max_k);
        int was_isa = nn_conv_set_avx512(algos[a].avx512);
        for (int i = 0; i < n; i++) {
            check_config(kind, &cs[i], TN_FLOAT32, true);
            check_config(kind, &cs[i], TN_FLOAT64, true);
            check_config(kind, &cs[i], TN_FLOAT32, false);
        }
        nn_conv_set_direct_max_k(was);
        nn_conv_set_avx512(was_isa);
    }
}

/* ---------- values ---------- */

/*                  N  C  H  W  O kh kw sh sw ph pw dh dw op op bias */
static const cfg conv2d_cfgs[] = {
    {2, 1, 8, 8, 5, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0, true},    /* first layer, direct */
    {3, 1, 28, 28, 32, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0, true}, /* the CNN's first conv */
    {2, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0, true}, /* LeNet conv1 */
    {2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 0, 0, true}, /* LeNet conv2 */
    {2, 3, 9, 7, 4, 3, 2, 2, 1, 1, 0, 1, 1, 0, 0, false},  /* stride, non-square */
    {1, 2, 10, 11, 3, 3, 3, 2, 3, 1, 1, 1, 1, 0, 0, true}, /* stride 2 and 3, padding */
    {2, 2, 9, 9, 3, 3, 3, 1, 1, 2, 1, 2, 3, 0, 0, true},   /* dilation, padding, direct */
    {2, 3, 7, 6, 5, 2, 3, 1, 1, 1, 1, 1, 1, 0, 0, false},  /* padding, no bias */
    {1, 4, 5, 5, 7, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, true},   /* 1x1 */
    {2, 2, 5, 5, 2, 5, 5, 1, 1, 0, 0, 1, 1, 0, 0, true},   /* kernel = input */
    {2, 20, 6, 6, 9, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, true},  /* K = 180: GEMM even at stride 1 */
    {1, 2, 4, 4, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, true},   /* padding beyond the kernel */
    {3, 5, 11, 13, 17, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, true}, /* odd channel counts (tiles' tails) */
};

START_TEST(test_conv2d_values) {
    check_all(K2D, conv2d_cfgs, (int)(sizeof conv2d_cfgs / sizeof conv2d_cfgs[0]));
}
END_TEST

static const cfg conv1d_cfgs[] = {
    {2, 3, 1, 12, 4, 1, 3, 1, 1, 0, 0, 1, 1, 0, 0, true},
    {3, 16, 1, 20, 8, 1, 5, 1, 1, 2, 2, 1, 1, 0, 0, true},  /* text CNN-like */
    {2, 2, 1, 15, 3, 1, 3, 1, 2, 1, 1, 1, 2, 0, 0, false},  /* stride, dilation, padding */
    {1, 1, 1, 9, 2, 1, 4, 1, 3, 0, 0, 1, 1, 0, 0, true},
};

START_TEST(test_conv1d_values) {
    check_all(K1D, conv1d_cfgs, (int)(sizeof conv1d_cfgs / sizeof conv1d_cfgs[0]));
}
END_TEST

static const cfg convt_cfgs[] = {
    {2, 3, 4, 4, 2, 3, 3, 1, 1, 0, 0, 1, 1, 0, 0, true},
    {2, 4, 3, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, true},   /* stride 2, output_padding */
    {1, 2, 4, 3, 3, 2, 3, 2, 1, 0, 1, 1, 2, 1, 1, false},  /* dilation, op < dilation */
    {3, 8, 7, 7, 1, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, true},   /* autoencoder-like */
};

START_TEST(test_conv_transpose2d_values) {
    check_all(KT2D, convt_cfgs, (int)(sizeof convt_cfgs / sizeof convt_cfgs[0]));
}
END_TEST

/* A non-contiguous input gives the same result as its contiguous copy, and
 * an unbatched (C,H,W) input the same as a batch of one. */
START_TEST(test_conv2d_layouts) {
    tn_manual_seed(7);
    int64_t s[2] = {1, 1}, p[2] = {1, 1};
    tn_tensor *base = randn(TN_FLOAT32, 4, (int64_t[]){2, 3, 6, 5});
    tn_tensor *xt = tn_transpose(base, 2, 3);   /* (2,3,5,6), strided */
    ck_assert(!tn_is_contiguous(xt));
    tn_tensor *xc = tn_contiguous(xt);
    tn_tensor *w = randn(TN_FLOAT32, 4, (int64_t[]){4, 3, 3, 3});
    tn_tensor *wt = tn_transpose(w, 2, 3);       /* a strided weight too */
    tn_tensor *wc = tn_contiguous(wt);
    for (int algo = 0; algo < 2; algo++) {
        int64_t was = nn_conv_set_direct_max_k(algo ? 0 : 64);
        tn_tensor *y1 = nn_conv2d(xt, wt, NULL, s, p, NULL), *y2 = nn_conv2d(xc, wc, NULL, s, p, NULL);
        double *v2 = values(y2);
        expect_close("strided", y1, v2, y2->numel, 1e-6);
        /* unbatched */
        tn_tensor *x0 = tn_select(xc, 0, 1);
        tn_tensor *y0 = nn_conv2d(x0, wc, NULL, s, p, NULL);
        ck_assert_msg(y0 != NULL, "%s", tn_last_error());
        ck_assert_int_eq(y0->ndim, 3);
        expect_close("unbatched", y0, v2 + y0->numel, y0->numel, 1e-6);
        free(v2);
        tn_release(y0); tn_release(x0); tn_release(y1); tn_release(y2);
        nn_conv_set_direct_max_k(was);
    }
    tn_release(base); tn_release(xt); tn_release(xc); tn_release(w); tn_release(wt); tn_release(wc);
}
END_TEST

/* Unbatched inputs keep their shape through backward too. */
START_TEST(test_conv_unbatched_backward) {
    tn_manual_seed(3);
    tn_tensor *x = randn(TN_FLOAT64, 2, (int64_t[]){2, 9});
    tn_tensor *w = randn(TN_FLOAT64, 3, (int64_t[]){3, 2, 3});
    x->requires_grad = w->requires_grad = true;
    tn_tensor *y = nn_conv1d(x, w, NULL, 1, 1, 1);
    ck_assert_msg(y != NULL, "%s", tn_last_error());
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], 3);
    ck_assert_int_eq(y->shape[1], 9);
    tn_tensor *gy = tn_ones(TN_FLOAT64, 2, y->shape);
    ck_assert_int_eq(tn_backward(y, gy, false), 0);
    ck_assert_int_eq(x->grad->ndim, 2);
    ck_assert_int_eq(x->grad->shape[1], 9);
    ck_assert_int_eq(w->grad->ndim, 3);
    ck_assert_str_eq(y->grad_fn ? y->grad_fn->name : "", "conv1d");
    tn_release(gy); tn_release(y); tn_release(x); tn_release(w);
}
END_TEST

/* ---------- gradient checks ---------- */

typedef struct {
    int kind;
    cfg c;
} gc_ctx;

static tn_tensor *gc_fn(void *p, tn_tensor **in) {
    gc_ctx *g = p;
    return call(g->kind, &g->c, in[0], in[1], g->c.bias ? in[2] : NULL);
}

static void gradcheck(int kind, const cfg *c0) {
    cfg cc = *c0, *c = &cc;
    if (kind == K1D) cc.sh = cc.dh = 1, cc.ph = 0;
    int64_t xs[4], ws[4], OH, OW;
    shapes(kind, c, xs, ws, &OH, &OW);
    int64_t xs1[3] = {c->N, c->C, c->W}, ws1[3] = {ws[0], ws[1], c->kw};
    tn_tensor *in[3];
    in[0] = kind == K1D ? randn(TN_FLOAT64, 3, xs1) : randn(TN_FLOAT64, 4, xs);
    in[1] = kind == K1D ? randn(TN_FLOAT64, 3, ws1) : randn(TN_FLOAT64, 4, ws);
    in[2] = randn(TN_FLOAT64, 1, (int64_t[]){c->O});
    for (int i = 0; i < 3; i++) in[i]->requires_grad = true;
    gc_ctx g = {kind, *c};
    int rc = tn_gradcheck(gc_fn, &g, c->bias ? 3 : 2, in, 1e-6, 1e-7, 1e-5);
    ck_assert_msg(rc == 0, "gradcheck (kind %d): %s", kind, tn_last_error());
    for (int i = 0; i < 3; i++) tn_release(in[i]);
}

START_TEST(test_conv_gradcheck) {
    tn_manual_seed(11);
    for (int a = 0; a < NALGO; a++) {
        int64_t was = nn_conv_set_direct_max_k(algos[a].max_k);
        int was_isa = nn_conv_set_avx512(algos[a].avx512);
        gradcheck(K2D, &(cfg){2, 2, 5, 6, 3, 3, 2, 1, 1, 1, 0, 1, 1, 0, 0, true});
        gradcheck(K2D, &(cfg){1, 2, 7, 6, 2, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, true});
        gradcheck(K2D, &(cfg){2, 1, 6, 6, 2, 2, 2, 1, 1, 0, 1, 2, 2, 0, 0, false});
        gradcheck(K1D, &(cfg){2, 3, 1, 8, 2, 1, 3, 1, 1, 0, 1, 1, 1, 0, 0, true});
        gradcheck(K1D, &(cfg){1, 2, 1, 9, 3, 1, 2, 1, 2, 0, 1, 1, 2, 0, 0, false});
        gradcheck(KT2D, &(cfg){2, 2, 3, 4, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 0, true});
        gradcheck(KT2D, &(cfg){1, 3, 3, 3, 2, 2, 2, 1, 2, 0, 1, 2, 1, 0, 1, false});
        nn_conv_set_direct_max_k(was);
        nn_conv_set_avx512(was_isa);
    }
}
END_TEST

/* ---------- errors ---------- */

static void expect_error(tn_tensor *r, const char *needle) {
    ck_assert_msg(r == NULL, "expected an error containing '%s'", needle);
    ck_assert_msg(strstr(tn_last_error(), needle) != NULL, "error '%s' does not contain '%s'",
                  tn_last_error(), needle);
}

START_TEST(test_conv_errors) {
    tn_tensor *x = tn_zeros(TN_FLOAT32, 4, (int64_t[]){2, 3, 8, 8});
    tn_tensor *w1 = tn_zeros(TN_FLOAT32, 4, (int64_t[]){4, 1, 3, 3});
    tn_tensor *w3 = tn_zeros(TN_FLOAT32, 4, (int64_t[]){4, 3, 3, 3});
    tn_tensor *wbig = tn_zeros(TN_FLOAT32, 4, (int64_t[]){4, 3, 9, 3});
    tn_tensor *wd = tn_zeros(TN_FLOAT64, 4, (int64_t[]){4, 3, 3, 3});
    tn_tensor *xi = tn_zeros(TN_INT64, 4, (int64_t[]){2, 3, 8, 8});
    tn_tensor *b5 = tn_zeros(TN_FLOAT32, 1, (int64_t[]){5});
    tn_tensor *x2 = tn_zeros(TN_FLOAT32, 2, (int64_t[]){8, 8});
    tn_tensor *w3d = tn_zeros(TN_FLOAT32, 3, (int64_t[]){4, 3, 3});
    expect_error(nn_conv2d(x, w1, NULL, NULL, NULL, NULL), "conv2d: input has 3 channels, weight expects 1");
    expect_error(nn_conv2d(x, wbig, NULL, NULL, NULL, NULL), "conv2d: kernel size 9x3");
    expect_error(nn_conv2d(x, wbig, NULL, NULL, NULL, NULL), "larger than the padded input 8x8");
    expect_error(nn_conv2d(x, wd, NULL, NULL, NULL, NULL), "conv2d: input is float32 but weight is float64");
    expect_error(nn_conv2d(xi, w3, NULL, NULL, NULL, NULL), "conv2d: input must be float32 or float64, got int64");
    expect_error(nn_conv2d(x, w3, b5, NULL, NULL, NULL), "conv2d: bias must have shape [4], got [5]");
    expect_error(nn_conv2d(x2, w3, NULL, NULL, NULL, NULL), "conv2d: expected a 3-D (C,H,W) or 4-D (N,C,H,W) input, got shape [8, 8]");
    expect_error(nn_conv2d(x, w3d, NULL, NULL, NULL, NULL), "conv2d: expected a 4-D weight");
    expect_error(nn_conv2d(x, w3, NULL, (int64_t[]){0, 1}, NULL, NULL), "stride and dilation must be positive");
    expect_error(nn_conv2d(x, w3, NULL, NULL, (int64_t[]){-1, 0}, NULL), "padding non-negative");
    expect_error(nn_conv2d(x, w3, NULL, NULL, NULL, (int64_t[]){1, 0}), "conv2d: stride and dilation");
    expect_error(nn_conv2d(NULL, w3, NULL, NULL, NULL, NULL), "conv2d: input and weight are required");
    expect_error(nn_conv2d(x, w3, NULL, NULL, NULL, (int64_t[]){INT64_MAX, 1}), "conv2d: stride, padding or dilation too large");
    expect_error(nn_conv_transpose2d(x, w3, NULL, (int64_t[]){INT64_MAX / 2, 1}, NULL, NULL, NULL), "too large");
    /* conv1d */
    tn_tensor *x1 = tn_zeros(TN_FLOAT32, 3, (int64_t[]){2, 3, 4});
    tn_tensor *w15 = tn_zeros(TN_FLOAT32, 3, (int64_t[]){2, 3, 6});
    expect_error(nn_conv1d(x1, w15, NULL, 1, 0, 1), "conv1d: kernel size 6 (dilated: 6) is larger than the padded input length 4");
    expect_error(nn_conv1d(x1, w1, NULL, 1, 0, 1), "conv1d: expected a 3-D weight");
    expect_error(nn_conv1d(x, w15, NULL, 1, 0, 1), "conv1d: expected a 2-D (C,L) or 3-D (N,C,L) input");
    /* conv_transpose2d: weight is (in, out, kh, kw) */
    tn_tensor *wt = tn_zeros(TN_FLOAT32, 4, (int64_t[]){2, 3, 3, 3});
    expect_error(nn_conv_transpose2d(x, wt, NULL, NULL, NULL, NULL, NULL),
                 "conv_transpose2d: input has 3 channels, weight expects 2");
    tn_tensor *wt3 = tn_zeros(TN_FLOAT32, 4, (int64_t[]){3, 2, 3, 3});   /* 3 -> 2 channels */
    expect_error(nn_conv_transpose2d(x, wt3, NULL, (int64_t[]){2, 2}, NULL, (int64_t[]){2, 0}, NULL),
                 "output_padding (2) must be smaller than either stride (2) or dilation (1)");
    expect_error(nn_conv_transpose2d(x, wt3, NULL, NULL, (int64_t[]){5, 5}, NULL, NULL),
                 "conv_transpose2d: the output size");
    tn_tensor *bt = tn_zeros(TN_FLOAT32, 1, (int64_t[]){4});
    expect_error(nn_conv_transpose2d(x, wt3, bt, NULL, NULL, NULL, NULL),
                 "conv_transpose2d: bias must have shape [2], got [4]");
    tn_release(wt3);
    tn_release(x); tn_release(w1); tn_release(w3); tn_release(wbig); tn_release(wd); tn_release(xi);
    tn_release(b5); tn_release(x2); tn_release(w3d); tn_release(x1); tn_release(w15);
    tn_release(wt); tn_release(bt);
}
END_TEST

/* Empty batch: an empty output, and backward gives zero weight gradients. */
START_TEST(test_conv_empty_batch) {
    tn_tensor *x = tn_zeros(TN_FLOAT32, 4, (int64_t[]){0, 2, 5, 5});
    tn_tensor *w = tn_ones(TN_FLOAT32, 4, (int64_t[]){3, 2, 3, 3});
    w->requires_grad = true;
    tn_tensor *y = nn_conv2d(x, w, NULL, NULL, NULL, NULL);
    ck_assert_msg(y != NULL, "%s", tn_last_error());
    ck_assert_int_eq(y->numel, 0);
    ck_assert_int_eq(y->shape[1], 3);
    tn_tensor *gy = tn_zeros(TN_FLOAT32, 4, y->shape);
    ck_assert_int_eq(tn_backward(y, gy, false), 0);
    ck_assert_ptr_nonnull(w->grad);
    ck_assert_double_eq(tn_get_flat(w->grad, 0), 0);
    tn_release(gy); tn_release(y); tn_release(x); tn_release(w);
}
END_TEST

/* The direct kernels give the same bits with 1 and 2 threads (chunk
 * boundaries and partial sums do not depend on the thread count).  The
 * GEMM path is left out: OpenBLAS itself picks different kernels (and
 * summation orders) for different thread counts. */
START_TEST(test_conv_threads_deterministic) {
    int threads = tn_get_num_threads();
    for (int a = 0; a < 3; a += 2) {
        int64_t was = nn_conv_set_direct_max_k(algos[a].max_k);
        tn_tensor *res[2][4];
        for (int t = 0; t < 2; t++) {
            tn_set_num_threads(t + 1);
            tn_manual_seed(21);
            tn_tensor *x = randn(TN_FLOAT32, 4, (int64_t[]){19, 3, 12, 12});
            tn_tensor *w = randn(TN_FLOAT32, 4, (int64_t[]){5, 3, 3, 3});
            tn_tensor *b = randn(TN_FLOAT32, 1, (int64_t[]){5});
            x->requires_grad = w->requires_grad = b->requires_grad = true;
            tn_tensor *y = nn_conv2d(x, w, b, NULL, (int64_t[]){1, 1}, NULL);
            tn_tensor *gy = randn(TN_FLOAT32, 4, y->shape);
            ck_assert_int_eq(tn_backward(y, gy, true), 0);
            res[t][0] = tn_retain(y), res[t][1] = tn_retain(x->grad);
            res[t][2] = tn_retain(w->grad), res[t][3] = tn_retain(b->grad);
            tn_release(gy); tn_release(y); tn_release(x); tn_release(w); tn_release(b);
        }
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(res[0][i]->numel, res[1][i]->numel);
            ck_assert_msg(memcmp(tn_data(res[0][i]), tn_data(res[1][i]),
                                 sizeof(float) * (size_t)res[0][i]->numel) == 0,
                          "algo %d, result %d differs between 1 and 2 threads", a, i);
            tn_release(res[0][i]);
            tn_release(res[1][i]);
        }
        nn_conv_set_direct_max_k(was);
    }
    tn_set_num_threads(threads);
}
END_TEST

/* A pending Ctrl-C stops a convolution with "interrupted", nothing leaked. */
START_TEST(test_conv_interrupted) {
    tn_tensor *x = tn_ones(TN_FLOAT32, 4, (int64_t[]){4, 2, 9, 9});
    tn_tensor *w = tn_ones(TN_FLOAT32, 4, (int64_t[]){3, 2, 3, 3});
    for (int a = 0; a < 3; a++) {
        int64_t was = nn_conv_set_direct_max_k(algos[a].max_k);
        tn_interrupt_flag = 1;
        tn_tensor *y = nn_conv2d(x, w, NULL, NULL, NULL, NULL);
        tn_interrupt_flag = 0;
        ck_assert_ptr_null(y);
        ck_assert_str_eq(tn_last_error(), "interrupted");
        nn_conv_set_direct_max_k(was);
    }
    tn_release(x);
    tn_release(w);
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
 *   x = det(2, 3, 9, 8).requires_grad_(); w = det(4, 3, 3, 2, s=1.3).requires_grad_()
 *   b = det(4, s=0.7).requires_grad_()
 *   y = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 1), dilation=(1, 2)); run(y)
 *   rep("conv2d.y", y); rep("conv2d.dx", x.grad); rep("conv2d.dw", w.grad); rep("conv2d.db", b.grad)
 *   x = det(2, 4, 5, 4).requires_grad_(); w = det(4, 3, 3, 3, s=1.3).requires_grad_()
 *   b = det(3, s=0.7).requires_grad_()
 *   y = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1); run(y)
 *   rep("convt.y", y); rep("convt.dx", x.grad); rep("convt.dw", w.grad); rep("convt.db", b.grad)
 *   x = det(2, 3, 11).requires_grad_(); w = det(5, 3, 4, s=1.3).requires_grad_()
 *   y = F.conv1d(x, w, None, stride=2, padding=2, dilation=2); run(y)
 *   rep("conv1d.y", y); rep("conv1d.dx", x.grad); rep("conv1d.dw", w.grad)
 */
/* det, torch_expect, torch_backward and TORCH come from helpers.h */
#define conv2d_y_SUM 114.323868892
#define conv2d_y_PROJ 9.13211840366
#define conv2d_dx_SUM 0.00150945552787
#define conv2d_dx_PROJ 0.032088809402
#define conv2d_dw_SUM 2.334321043
#define conv2d_dw_PROJ -16.8929077126
#define conv2d_db_SUM 0.221283020576
#define conv2d_db_PROJ -0.0865747653714
#define convt_y_SUM 126.130398299
#define convt_y_PROJ -8.27652469865
#define convt_dx_SUM -12.4351225486
#define convt_dx_PROJ -13.3690312746
#define convt_dw_SUM 11.9458983419
#define convt_dw_PROJ -52.7691786899
#define convt_db_SUM 5.55078270968
#define convt_db_PROJ 1.68227857031
#define conv1d_y_SUM -23.3385220811
#define conv1d_y_PROJ -5.10546424198
#define conv1d_dx_SUM 0.702210738066
#define conv1d_dx_PROJ -3.52887745303
#define conv1d_dw_SUM 0.919289621002
#define conv1d_dw_PROJ 2.84131941803

START_TEST(test_conv_matches_pytorch) {
    for (int a = 0; a < NALGO; a++) {
        int64_t was = nn_conv_set_direct_max_k(algos[a].max_k);
        tn_tensor *x = det(4, (int64_t[]){2, 3, 9, 8}, 1), *w = det(4, (int64_t[]){4, 3, 3, 2}, 1.3);
        tn_tensor *b = det(1, (int64_t[]){4}, 0.7);
        x->requires_grad = w->requires_grad = b->requires_grad = true;
        tn_tensor *y = nn_conv2d(x, w, b, (int64_t[]){2, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 2});
        torch_backward(y);
        TORCH(conv2d_y, y); TORCH(conv2d_dx, x->grad); TORCH(conv2d_dw, w->grad); TORCH(conv2d_db, b->grad);
        tn_release(x); tn_release(w); tn_release(b); tn_release(y);

        x = det(4, (int64_t[]){2, 4, 5, 4}, 1), w = det(4, (int64_t[]){4, 3, 3, 3}, 1.3);
        b = det(1, (int64_t[]){3}, 0.7);
        x->requires_grad = w->requires_grad = b->requires_grad = true;
        y = nn_conv_transpose2d(x, w, b, (int64_t[]){2, 2}, (int64_t[]){1, 1}, (int64_t[]){1, 1}, NULL);
        torch_backward(y);
        TORCH(convt_y, y); TORCH(convt_dx, x->grad); TORCH(convt_dw, w->grad); TORCH(convt_db, b->grad);
        tn_release(x); tn_release(w); tn_release(b); tn_release(y);

        x = det(3, (int64_t[]){2, 3, 11}, 1), w = det(3, (int64_t[]){5, 3, 4}, 1.3);
        x->requires_grad = w->requires_grad = true;
        y = nn_conv1d(x, w, NULL, 2, 2, 2);
        torch_backward(y);
        TORCH(conv1d_y, y); TORCH(conv1d_dx, x->grad); TORCH(conv1d_dw, w->grad);
        tn_release(x); tn_release(w); tn_release(y);
        nn_conv_set_direct_max_k(was);
    }
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_conv_matches_pytorch);
    tcase_add_test(tc, test_conv_threads_deterministic);
    tcase_add_test(tc, test_conv_interrupted);
    tcase_add_test(tc, test_conv2d_values);
    tcase_add_test(tc, test_conv1d_values);
    tcase_add_test(tc, test_conv_transpose2d_values);
    tcase_add_test(tc, test_conv2d_layouts);
    tcase_add_test(tc, test_conv_unbatched_backward);
    tcase_add_test(tc, test_conv_gradcheck);
    tcase_add_test(tc, test_conv_errors);
    tcase_add_test(tc, test_conv_empty_batch);
}

TN_SUITE_MAIN("conv", add_tests)
