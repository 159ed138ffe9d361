/*
 * test_linalg.c: Check suite for tensor/linalg.c: matmul / mm / bmm / mv /
 * dot / outer values against naive loops (contiguous, transposed, strided,
 * expanded and broadcast-batched operands, 1-D cases, integer dtypes, empty
 * shapes), error messages, interruption, and finite-difference gradient
 * checks of every case.
 */
#include "helpers.h"
#include "tensor/internal.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* ---------- helpers ---------- */

static tn_tensor *randt(tn_dtype dt, int nd, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, nd, shape);
    for (int64_t i = 0; i < t->numel; i++)
        tn_store(dt, t->storage->data, i, tn_rng_uniform01(0x1234 + (uint64_t)nd, (uint64_t)i * 7 + (uint64_t)t->numel) * 2 - 1);
    return t;
}
#define RAND(dt, ...) randt(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static double at(const tn_tensor *t, const int64_t *idx) {
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return tn_load(t->dtype, t->storage->data, off);
}

/* Checks out == matmul(a, b) by naive loops (numpy rules). */
static void check_naive(const tn_tensor *out, const tn_tensor *a, const tn_tensor *b, double tol) {
    ck_assert_msg(out != NULL, "NULL: %s", tn_last_error());
    int nba = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    int nl = nba > nbb ? nba : nbb;
    int64_t L[TN_MAX_DIMS];
    for (int d = 0; d < nl; d++) {
        int ia = d - (nl - nba), ib = d - (nl - nbb);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        L[d] = sa == 1 ? sb : sa;
    }
    int64_t m = a->ndim == 1 ? 1 : a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
    int64_t n = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
    int64_t items = 1;
    for (int d = 0; d < nl; d++) items *= L[d];
    ck_assert_int_eq(out->numel, items * m * n);
    int expect_nd = nl + (a->ndim >= 2) + (b->ndim >= 2);
    ck_assert_int_eq(out->ndim, expect_nd);
    for (int64_t it = 0; it < items; it++) {
        int64_t li[TN_MAX_DIMS], r = it;
        for (int d = nl - 1; d >= 0; d--) {
            li[d] = r % L[d];
            r /= L[d];
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++) {
                    int64_t ia[TN_MAX_DIMS], ib[TN_MAX_DIMS];
                    for (int d = 0; d < nba; d++) ia[d] = a->shape[d] == 1 ? 0 : li[d + nl - nba];
                    for (int d = 0; d < nbb; d++) ib[d] = b->shape[d] == 1 ? 0 : li[d + nl - nbb];
                    if (a->ndim == 1) ia[0] = q;
                    else ia[nba] = i, ia[nba + 1] = q;
                    if (b->ndim == 1) ib[0] = q;
                    else ib[nbb] = q, ib[nbb + 1] = j;
                    s += at(a, ia) * at(b, ib);
                }
                double got = tn_get_flat(out, (it * m + i) * n + j);
                ck_assert_msg(fabs(got - s) <= tol * (1 + fabs(s)), "item %lld (%lld,%lld): got %.9g expected %.9g",
                              (long long)it, (long long)i, (long long)j, got, s);
            }
    }
}

static void check_mm(tn_tensor *a, tn_tensor *b, double tol) {
    tn_tensor *o = tn_matmul(a, b);
    check_naive(o, a, b, tol);
    tn_release(o);
    tn_release(a);
    tn_release(b);
}

/* A 2-D transposed view of t (no history). */
static tn_tensor *tview(tn_tensor *t) {
    tn_tensor *v = tn_alias(t, 2, (int64_t[]){t->shape[1], t->shape[0]}, (int64_t[]){t->stride[1], t->stride[0]},
                            t->offset);
    return v;
}

/* ---------- values ---------- */

START_TEST(test_mm_values) {
    check_mm(RAND(TN_FLOAT32, 5, 7), RAND(TN_FLOAT32, 7, 3), 1e-5);
    check_mm(RAND(TN_FLOAT64, 65, 33), RAND(TN_FLOAT64, 33, 17), 1e-12);
    check_mm(RAND(TN_FLOAT32, 1, 9), RAND(TN_FLOAT32, 9, 4), 1e-5);   /* row: gemv */
    check_mm(RAND(TN_FLOAT32, 6, 9), RAND(TN_FLOAT32, 9, 1), 1e-5);   /* column: gemv */
    check_mm(RAND(TN_FLOAT64, 1, 9), RAND(TN_FLOAT64, 9, 1), 1e-12);  /* 1x1: dot */
    tn_tensor *a = T2(TN_FLOAT32, 2, 2, {1, 2, 3, 4}), *b = T2(TN_FLOAT32, 2, 2, {5, 6, 7, 8});
    tn_tensor *o = tn_mm(a, b);
    EXPECT(o, 0, {19, 22, 43, 50});
    ck_assert_int_eq(o->dtype, TN_FLOAT32);
    tn_release(o);
    tn_release(a);
    tn_release(b);
}
END_TEST

START_TEST(test_transposed_inputs) {
    /* a^T, b^T and both: passed to BLAS with CblasTrans */
    for (int mask = 1; mask < 4; mask++) {
        for (int dt = 0; dt < 2; dt++) {
            tn_tensor *a0 = (mask & 1) ? RAND((tn_dtype)dt, 7, 5) : RAND((tn_dtype)dt, 5, 7);
            tn_tensor *b0 = (mask & 2) ? RAND((tn_dtype)dt, 3, 7) : RAND((tn_dtype)dt, 7, 3);
            tn_tensor *a = (mask & 1) ? tview(a0) : tn_retain(a0);
            tn_tensor *b = (mask & 2) ? tview(b0) : tn_retain(b0);
            check_mm(a, b, 1e-5);
            tn_release(a0);
            tn_release(b0);
        }
    }
    /* transposed vectors-as-matrices and a transposed matrix times a vector */
    tn_tensor *a0 = RAND(TN_FLOAT32, 9, 6), *v = RAND(TN_FLOAT32, 9);
    check_mm(tview(a0), tn_retain(v), 1e-5);
    tn_tensor *b0 = RAND(TN_FLOAT32, 4, 6);
    check_mm(RAND(TN_FLOAT32, 6), tview(b0), 1e-5);
    tn_release(a0);
    tn_release(b0);
    tn_release(v);
}
END_TEST

START_TEST(test_strided_inputs) {
    /* a column slice (row stride > cols): no copy needed */
    tn_tensor *big = RAND(TN_FLOAT32, 6, 10);
    tn_tensor *a = tn_alias(big, 2, (int64_t[]){6, 4}, (int64_t[]){10, 1}, 3);
    check_mm(a, RAND(TN_FLOAT32, 4, 5), 1e-5);
    /* every other element in both dims: BLAS cannot read it, copied */
    tn_tensor *s = tn_alias(big, 2, (int64_t[]){3, 5}, (int64_t[]){20, 2}, 1);
    check_mm(s, RAND(TN_FLOAT32, 5, 2), 1e-5);
    /* a strided vector */
    tn_tensor *v = tn_alias(big, 1, (int64_t[]){6}, (int64_t[]){10}, 2);
    check_mm(RAND(TN_FLOAT32, 3, 6), v, 1e-5);
    tn_tensor *v2 = tn_alias(big, 1, (int64_t[]){6}, (int64_t[]){10}, 2);
    check_mm(v2, RAND(TN_FLOAT32, 6, 4), 1e-5);
    /* an expanded (stride 0) matrix: copied */
    tn_tensor *row = RAND(TN_FLOAT64, 1, 4);
    tn_tensor *e = tn_alias(row, 2, (int64_t[]){3, 4}, (int64_t[]){0, 1}, 0);
    check_mm(e, RAND(TN_FLOAT64, 4, 2), 1e-12);
    /* expanded batch dim: no copy, stride 0 per item */
    tn_tensor *m = RAND(TN_FLOAT64, 3, 4);
    tn_tensor *eb = tn_alias(m, 3, (int64_t[]){5, 3, 4}, (int64_t[]){0, 4, 1}, 0);
    check_mm(eb, RAND(TN_FLOAT64, 5, 4, 2), 1e-12);
    tn_release(big);
    tn_release(row);
    tn_release(m);
}
END_TEST

START_TEST(test_one_d_cases) {
    tn_tensor *a = T1(TN_FLOAT32, 3, {1, 2, 3}), *b = T1(TN_FLOAT32, 3, {4, 5, 6});
    tn_tensor *d = tn_matmul(a, b);
    ck_assert_int_eq(d->ndim, 0);
    EXPECT(d, 0, {32});
    tn_release(d);
    d = tn_dot(a, b);
    ck_assert_int_eq(d->ndim, 0);
    EXPECT(d, 0, {32});
    tn_release(d);
    tn_tensor *o = tn_outer(a, b);
    ck_assert_int_eq(o->ndim, 2);
    EXPECT(o, 0, {4, 5, 6, 8, 10, 12, 12, 15, 18});
    tn_release(o);
    tn_release(a);
    tn_release(b);
    check_mm(RAND(TN_FLOAT32, 4), RAND(TN_FLOAT32, 4, 3), 1e-5);        /* (k) x (k,n) -> (n) */
    check_mm(RAND(TN_FLOAT32, 3, 4), RAND(TN_FLOAT32, 4), 1e-5);        /* (m,k) x (k) -> (m) */
    check_mm(RAND(TN_FLOAT64, 4), RAND(TN_FLOAT64, 2, 4, 3), 1e-12);    /* (k) x (B,k,n) -> (B,n) */
    check_mm(RAND(TN_FLOAT64, 2, 3, 4), RAND(TN_FLOAT64, 4), 1e-12);    /* (B,m,k) x (k) -> (B,m) */
    tn_tensor *m = RAND(TN_FLOAT32, 3, 4), *v = RAND(TN_FLOAT32, 4);
    tn_tensor *mv = tn_mv(m, v);
    check_naive(mv, m, v, 1e-5);
    ck_assert_int_eq(mv->ndim, 1);
    tn_release(mv);
    tn_release(m);
    tn_release(v);
}
END_TEST

START_TEST(test_batched_broadcast) {
    check_mm(RAND(TN_FLOAT64, 2, 1, 3, 4), RAND(TN_FLOAT64, 5, 4, 2), 1e-12);
    check_mm(RAND(TN_FLOAT32, 4, 6, 8), RAND(TN_FLOAT32, 8, 3), 1e-5);     /* folds into one gemm */
    check_mm(RAND(TN_FLOAT32, 6, 8), RAND(TN_FLOAT32, 4, 8, 3), 1e-5);     /* a shared, b batched */
    check_mm(RAND(TN_FLOAT32, 3, 1, 2, 5), RAND(TN_FLOAT32, 1, 4, 5, 2), 1e-5);
    tn_tensor *a = RAND(TN_FLOAT32, 3, 2, 5), *b = RAND(TN_FLOAT32, 3, 5, 4);
    tn_tensor *o = tn_bmm(a, b);
    check_naive(o, a, b, 1e-5);
    ck_assert_int_eq(o->ndim, 3);
    ck_assert_int_eq(o->shape[0], 3);
    tn_release(o);
    tn_release(a);
    tn_release(b);
    /* many small items: run one per thread */
    check_mm(RAND(TN_FLOAT64, 2000, 8, 8), RAND(TN_FLOAT64, 2000, 8, 8), 1e-12);
    check_mm(RAND(TN_FLOAT32, 3000, 1, 5), RAND(TN_FLOAT32, 5), 1e-5);
    /* batch of transposed matrices: (B,k,m) permuted to (B,m,k) */
    tn_tensor *base = RAND(TN_FLOAT64, 3, 5, 2);
    tn_tensor *at = tn_alias(base, 3, (int64_t[]){3, 2, 5}, (int64_t[]){10, 1, 2}, 0);
    check_mm(at, RAND(TN_FLOAT64, 3, 5, 4), 1e-12);
    tn_release(base);
}
END_TEST

START_TEST(test_dtypes) {
    tn_tensor *a = T2(TN_INT64, 2, 2, {1, 2, 3, 4}), *b = T2(TN_INT64, 2, 2, {5, 6, 7, 8});
    tn_tensor *o = tn_matmul(a, b);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->dtype, TN_INT64);
    EXPECT(o, 0, {19, 22, 43, 50});
    tn_release(o);
    tn_tensor *f = T2(TN_FLOAT64, 2, 2, {0.5, 0, 0, 0.5});
    o = tn_matmul(a, f);  /* promoted to float64 */
    ck_assert_int_eq(o->dtype, TN_FLOAT64);
    EXPECT(o, 0, {0.5, 1, 1.5, 2});
    tn_release(o);
    tn_tensor *u = T1(TN_UINT8, 2, {3, 4});
    o = tn_dot(u, u);
    ck_assert_int_eq(o->dtype, TN_UINT8);
    EXPECT(o, 0, {25});
    tn_release(o);
    tn_tensor *bb = T1(TN_BOOL, 2, {1, 0});
    ck_assert_ptr_null(tn_dot(bb, bb));
    ck_assert_str_eq(tn_last_error(), "dot: not supported for dtype bool");
    tn_tensor *x32 = RAND(TN_FLOAT32, 2, 3), *x64 = RAND(TN_FLOAT64, 3, 2);
    o = tn_matmul(x32, x64);
    ck_assert_int_eq(o->dtype, TN_FLOAT64);
    check_naive(o, x32, x64, 1e-6);
    tn_release(o);
    tn_release(x32);
    tn_release(x64);
    tn_release(bb);
    tn_release(u);
    tn_release(f);
    tn_release(a);
    tn_release(b);
}
END_TEST

START_TEST(test_empty) {
    tn_tensor *e0 = RAND(TN_FLOAT32, 0, 3), *e1 = RAND(TN_FLOAT32, 3, 4);
    tn_tensor *o = tn_matmul(e0, e1);
    tn_release(e0);
    tn_release(e1);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->shape[0], 0);
    ck_assert_int_eq(o->shape[1], 4);
    tn_release(o);
    tn_tensor *a = tn_empty(TN_FLOAT64, 2, (int64_t[]){2, 0}), *b = tn_empty(TN_FLOAT64, 2, (int64_t[]){0, 3});
    o = tn_matmul(a, b);
    EXPECT(o, 0, {0, 0, 0, 0, 0, 0});
    tn_release(o);
    tn_release(a);
    tn_release(b);
    a = tn_empty(TN_FLOAT32, 3, (int64_t[]){0, 2, 3});
    b = RAND(TN_FLOAT32, 3, 4);
    o = tn_matmul(a, b);
    ck_assert_int_eq(o->ndim, 3);
    ck_assert_int_eq(o->numel, 0);
    tn_release(o);
    tn_release(a);
    tn_release(b);
}
END_TEST

/* tril / triu (triangle.c): kept elements by offset, batches, the backward
 * masks the gradient the same way, and a vector is an error. */
START_TEST(test_triangles) {
    tn_tensor *a = tn_ones(TN_FLOAT64, 3, (int64_t[]){2, 2, 3});
    tn_tensor *lo = tn_tril(a, 0), *up = tn_triu(a, 1), *none = tn_tril(a, -2), *all = tn_triu(a, -5);
    EXPECT(lo, 0, {1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0});
    EXPECT(up, 0, {0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1});
    EXPECT(none, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    EXPECT(all, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    tn_release(lo);
    tn_release(up);
    tn_release(none);
    tn_release(all);
    tn_release(a);
    tn_tensor *x = tn_ones(TN_FLOAT64, 2, (int64_t[]){2, 2});
    x->requires_grad = true;
    tn_tensor *y = tn_tril(x, 0), *s = y ? tn_sum(y, TN_ALL_DIMS, false) : NULL;
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    EXPECT(x->grad, 0, {1, 0, 1, 1});
    tn_release(s);
    tn_release(y);
    tn_release(x);
    tn_tensor *v = tn_ones(TN_FLOAT32, 1, (int64_t[]){4});
    EXPECT_ERROR(tn_triu(v, 0), "triu: expected a tensor of at least 2 dims");
    tn_release(v);
}
END_TEST

START_TEST(test_errors) {
    tn_tensor *a = tn_zeros(TN_FLOAT32, 2, (int64_t[]){64, 784}), *b = tn_zeros(TN_FLOAT32, 2, (int64_t[]){512, 10});
    ck_assert_ptr_null(tn_matmul(a, b));
    ck_assert_str_eq(tn_last_error(), "matmul: shapes [64, 784] and [512, 10] do not match (784 vs 512)");
    ck_assert_ptr_null(tn_mm(a, b));
    ck_assert_str_eq(tn_last_error(), "mm: shapes [64, 784] and [512, 10] do not match (784 vs 512)");
    tn_release(a);
    tn_release(b);
    tn_tensor *v3 = tn_zeros(TN_FLOAT32, 1, (int64_t[]){3}), *v4 = tn_zeros(TN_FLOAT32, 1, (int64_t[]){4});
    ck_assert_ptr_null(tn_dot(v3, v4));
    ck_assert_str_eq(tn_last_error(), "dot: shapes [3] and [4] do not match (3 vs 4)");
    ck_assert_ptr_null(tn_mm(v3, v3));
    ck_assert_str_eq(tn_last_error(), "mm: the first argument must be 2-D, got shape [3]");
    tn_tensor *s = tn_scalar(TN_FLOAT32, 1);
    ck_assert_ptr_null(tn_matmul(s, v3));
    ck_assert_ptr_nonnull(strstr(tn_last_error(), "at least 1 dimension"));
    tn_tensor *x = tn_zeros(TN_FLOAT32, 3, (int64_t[]){2, 3, 4}), *y = tn_zeros(TN_FLOAT32, 3, (int64_t[]){3, 4, 5});
    ck_assert_ptr_null(tn_matmul(x, y));
    ck_assert_str_eq(tn_last_error(), "matmul: batch dims of shapes [2, 3, 4] and [3, 4, 5] cannot be broadcast");
    ck_assert_ptr_null(tn_bmm(x, y));
    ck_assert_str_eq(tn_last_error(), "bmm: batch sizes of [2, 3, 4] and [3, 4, 5] differ (2 vs 3)");
    tn_tensor *m = tn_zeros(TN_FLOAT32, 2, (int64_t[]){2, 3});
    ck_assert_ptr_null(tn_mv(m, v4));
    ck_assert_str_eq(tn_last_error(), "mv: shapes [2, 3] and [4] do not match (3 vs 4)");
    ck_assert_ptr_null(tn_outer(m, v4));
    ck_assert_str_eq(tn_last_error(), "outer: the first argument must be 1-D, got shape [2, 3]");
    tn_release(m);
    tn_release(x);
    tn_release(y);
    tn_release(s);
    tn_release(v3);
    tn_release(v4);
}
END_TEST

START_TEST(test_interrupt) {
    tn_tensor *a = RAND(TN_FLOAT32, 4, 3, 3), *b = RAND(TN_FLOAT32, 4, 3, 3);
    tn_interrupt_flag = 1;
    tn_tensor *o = tn_matmul(a, b);
    tn_interrupt_flag = 0;
    ck_assert_ptr_null(o);
    ck_assert_str_eq(tn_last_error(), "interrupted");
    o = tn_matmul(a, b);
    check_naive(o, a, b, 1e-5);
    tn_release(o);
    tn_release(a);
    tn_release(b);
    /* the parallel path over many small items stops too */
    a = RAND(TN_FLOAT32, 2000, 8, 8);
    tn_interrupt_flag = 1;
    o = tn_bmm(a, a);
    tn_interrupt_flag = 0;
    ck_assert_ptr_null(o);
    ck_assert_str_eq(tn_last_error(), "interrupted");
    tn_release(a);
}
END_TEST

/* ---------- gradients ---------- */

typedef struct {
    int kind;         /* 0 matmul, 1 mm, 2 bmm, 3 mv, 4 dot, 5 outer, 6-8 see gc_fn */
    int transpose;    /* bit 0: use inputs[0]^T, bit 1: inputs[1]^T (2-D) */
} gcase;

static tn_tensor *gc_fn(void *ctx, tn_tensor **in) {
    gcase *c = ctx;
    tn_tensor *a = (c->transpose & 1) ? tn_transpose(in[0], -2, -1) : tn_retain(in[0]);
    tn_tensor *b = (c->transpose & 2) ? tn_transpose(in[1], -2, -1) : tn_retain(in[1]);
    tn_tensor *r = NULL;
    switch (c->kind) {
    case 0: r = tn_matmul(a, b); break;
    case 1: r = tn_mm(a, b); break;
    case 2: r = tn_bmm(a, b); break;
    case 3: r = tn_mv(a, b); break;
    case 4: r = tn_dot(a, b); break;
    case 5: r = tn_outer(a, b); break;
    case 6: {  /* the output transposed: the gradient reaching matmul is non-contiguous */
        tn_tensor *m = tn_matmul(a, b);
        r = m ? tn_transpose(m, -2, -1) : NULL;
        tn_release(m);
        break;
    }
    case 7: {  /* a expanded over a batch of b (stride 0, no copy) */
        int64_t shp[3] = {b->shape[0], a->shape[0], a->shape[1]};
        tn_tensor *e = tn_expand(a, 3, shp);
        r = e ? tn_matmul(e, b) : NULL;
        tn_release(e);
        break;
    }
    default: {  /* every other row and column of a (strides BLAS cannot take) */
        tn_tensor *s1 = tn_slice(a, 0, 0, a->shape[0], 2), *s2 = s1 ? tn_slice(s1, 1, 0, a->shape[1], 2) : NULL;
        r = s2 ? tn_matmul(s2, b) : NULL;
        tn_release(s1);
        tn_release(s2);
        break;
    }
    }
    tn_release(a);
    tn_release(b);
    return r;
}

static void gradcheck2(int kind, int transpose, tn_tensor *a, tn_tensor *b, bool ga, bool gb) {
    gcase c = {kind, transpose};
    a->requires_grad = ga;
    b->requires_grad = gb;
    tn_tensor *in[2] = {a, b};
    int rc = tn_gradcheck(gc_fn, &c, 2, in, 1e-6, 1e-6, 1e-5);
    char s1[64], s2[64];
    ck_assert_msg(rc == 0, "kind %d %s x %s: %s", kind, tn_shape_str(a->shape, a->ndim, s1, sizeof s1),
                  tn_shape_str(b->shape, b->ndim, s2, sizeof s2), tn_last_error());
    tn_release(a);
    tn_release(b);
}
#define GC(kind, tr, A, B) gradcheck2(kind, tr, A, B, true, true)

START_TEST(test_grad_2d) {
    GC(0, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4, 2));
    GC(1, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4, 2));
    GC(0, 1, RAND(TN_FLOAT64, 4, 3), RAND(TN_FLOAT64, 4, 2));  /* a^T */
    GC(0, 2, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 2, 4));  /* b^T */
    GC(0, 3, RAND(TN_FLOAT64, 4, 3), RAND(TN_FLOAT64, 2, 4));
    GC(0, 0, RAND(TN_FLOAT64, 1, 4), RAND(TN_FLOAT64, 4, 3));
    GC(0, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4, 1));
    gradcheck2(0, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4, 2), true, false);
    gradcheck2(0, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4, 2), false, true);
}
END_TEST

START_TEST(test_grad_1d) {
    GC(0, 0, RAND(TN_FLOAT64, 4), RAND(TN_FLOAT64, 4));
    GC(4, 0, RAND(TN_FLOAT64, 5), RAND(TN_FLOAT64, 5));
    GC(0, 0, RAND(TN_FLOAT64, 4), RAND(TN_FLOAT64, 4, 3));
    GC(0, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4));
    GC(3, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 4));
    GC(3, 1, RAND(TN_FLOAT64, 4, 3), RAND(TN_FLOAT64, 4));
    GC(0, 0, RAND(TN_FLOAT64, 4), RAND(TN_FLOAT64, 2, 4, 3));
    GC(0, 0, RAND(TN_FLOAT64, 2, 3, 4), RAND(TN_FLOAT64, 4));
    GC(5, 0, RAND(TN_FLOAT64, 3), RAND(TN_FLOAT64, 4));
}
END_TEST

START_TEST(test_grad_batched) {
    GC(2, 0, RAND(TN_FLOAT64, 2, 3, 4), RAND(TN_FLOAT64, 2, 4, 2));
    GC(2, 3, RAND(TN_FLOAT64, 2, 4, 3), RAND(TN_FLOAT64, 2, 2, 4));
    GC(0, 0, RAND(TN_FLOAT64, 2, 1, 3, 4), RAND(TN_FLOAT64, 5, 4, 2));   /* broadcast both ways */
    GC(0, 0, RAND(TN_FLOAT64, 3, 2, 4), RAND(TN_FLOAT64, 4, 5));         /* (B,T,C) x (C,D): folds */
    GC(0, 2, RAND(TN_FLOAT64, 3, 2, 4), RAND(TN_FLOAT64, 5, 4));         /* ... with a Linear's W^T */
    GC(0, 0, RAND(TN_FLOAT64, 2, 4), RAND(TN_FLOAT64, 3, 4, 5));         /* a shared over the batch */
    GC(0, 1, RAND(TN_FLOAT64, 3, 4, 2), RAND(TN_FLOAT64, 4, 5));
    GC(0, 0, RAND(TN_FLOAT64, 1, 2, 4), RAND(TN_FLOAT64, 3, 4, 2));
    GC(6, 0, RAND(TN_FLOAT64, 2, 3, 4), RAND(TN_FLOAT64, 4, 5));
    GC(6, 2, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 2, 5, 4));
    GC(7, 0, RAND(TN_FLOAT64, 3, 4), RAND(TN_FLOAT64, 5, 4, 2));
    GC(8, 0, RAND(TN_FLOAT64, 6, 8), RAND(TN_FLOAT64, 4, 3));
}
END_TEST

/* A single huge product stops at the next block of rows once the interrupt
 * flag is raised (Ctrl-C), instead of running to the end of one long GEMM. */
static void *raise_interrupt_later(void *arg) {
    (void)arg;
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    tn_interrupt_flag = 1;
    return NULL;
}

START_TEST(test_huge_product_is_interruptible) {
    int64_t shape[2] = {3000, 3000};  /* 54 GFLOP: many blocks of rows */
    tn_tensor *a = tn_ones(TN_FLOAT32, 2, shape);
    pthread_t th;
    tn_interrupt_flag = 0;
    pthread_create(&th, NULL, raise_interrupt_later, NULL);
    tn_tensor *c = tn_mm(a, a);
    pthread_join(th, NULL);
    ck_assert_msg(c == NULL, "the product ran to the end despite the interrupt");
    ck_assert_str_eq(tn_last_error(), "interrupted");
    tn_interrupt_flag = 0;
    c = tn_mm(a, a);  /* and works again afterwards */
    ck_assert_ptr_nonnull(c);
    ck_assert_double_eq(tn_get_flat(c, 0), 3000);
    tn_release(c);
    tn_release(a);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_huge_product_is_interruptible);
    tcase_add_test(tc, test_mm_values);
    tcase_add_test(tc, test_transposed_inputs);
    tcase_add_test(tc, test_strided_inputs);
    tcase_add_test(tc, test_one_d_cases);
    tcase_add_test(tc, test_batched_broadcast);
    tcase_add_test(tc, test_dtypes);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_triangles);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_interrupt);
    tcase_add_test(tc, test_grad_2d);
    tcase_add_test(tc, test_grad_1d);
    tcase_add_test(tc, test_grad_batched);
}

TN_SUITE_MAIN("linalg", add_tests)
