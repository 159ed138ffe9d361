/*
 * test_view.c: Check suite for tensor/view.c: values of every view and join,
 * negative dims, non-contiguous inputs, storage sharing (a write through a
 * view shows in the base), error messages, and finite-difference gradient
 * checks of each differentiable view op.
 */
#include "helpers.h"

#include <string.h>

#include "tensor/internal.h"

/* 0, 1, 2, ... as a float32 tensor of the given shape */
static tn_tensor *iota(int nd, const int64_t *shape) {
    tn_tensor *t = tn_empty(TN_FLOAT32, nd, shape);
    for (int64_t i = 0; i < t->numel; i++) ((float *)t->storage->data)[i] = (float)i;
    return t;
}
#define IOTA(...) iota((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* a float64 leaf that requires grad, values from the seeded stream */
static tn_tensor *leaf64(int nd, const int64_t *shape) {
    tn_tensor *t = tn_randn(TN_FLOAT64, nd, shape);
    t->requires_grad = true;
    return t;
}
#define LEAF(...) leaf64((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static int check_grad(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **in) {
    int rc = tn_gradcheck(fn, ctx, n, in, 1e-6, 1e-6, 1e-5);
    ck_assert_msg(rc == 0, "gradcheck: %s", tn_last_error());
    return rc;
}

/* ---------- view / reshape / flatten ---------- */

START_TEST(test_view_values_and_sharing) {
    tn_tensor *t = IOTA(2, 6);
    tn_tensor *v = tn_view(t, 3, (int64_t[]){3, -1, 2});
    EXPECT_SHAPE(v, 3, 2, 2);
    ck_assert(v->is_view);
    ck_assert_ptr_eq(v->storage, t->storage);
    EXPECT(v, 0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    ((float *)tn_data(v))[5] = 42;  /* write through the view */
    ck_assert_double_eq(tn_get_flat(t, 5), 42);
    tn_release(v);
    EXPECT_ERROR(tn_view(t, 2, (int64_t[]){-1, -1}), "only one dimension can be -1");
    EXPECT_ERROR(tn_view(t, 2, (int64_t[]){5, -1}), "invalid for input of size 12");
    EXPECT_ERROR(tn_view(t, 2, (int64_t[]){3, 5}), "[3, 5] is invalid");
    EXPECT_ERROR(tn_view(t, 1, (int64_t[]){-3}), "invalid size");
    tn_release(t);
}
END_TEST

START_TEST(test_view_noncontiguous) {
    tn_tensor *t = IOTA(4, 6);
    tn_tensor *tt = tn_transpose(t, 0, 1);  /* [6, 4] */
    EXPECT_ERROR(tn_view(tt, 1, (int64_t[]){24}), "use reshape");
    /* splitting a dim keeps within one contiguous chunk: allowed */
    tn_tensor *v = tn_view(tt, 3, (int64_t[]){3, 2, 4});
    EXPECT_SHAPE(v, 3, 2, 4);
    ck_assert_ptr_eq(v->storage, t->storage);
    for (int64_t i = 0; i < 24; i++) ck_assert_double_eq(tn_get_flat(v, i), tn_get_flat(tt, i));
    /* a narrowed (non-contiguous) tensor: merging the outer dims works */
    tn_tensor *t3 = IOTA(2, 3, 4);
    tn_tensor *nw = tn_narrow(t3, 2, 1, 2);  /* [2, 3, 2], rows of stride 4 */
    EXPECT_ERROR(tn_view(nw, 1, (int64_t[]){12}), "reshape");
    tn_tensor *v2 = tn_view(nw, 2, (int64_t[]){6, 2});
    EXPECT_SHAPE(v2, 6, 2);
    EXPECT(v2, 0, {1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
    tn_release(v2); tn_release(nw); tn_release(t3);
    tn_release(v); tn_release(tt); tn_release(t);
}
END_TEST

START_TEST(test_reshape_copy_and_view) {
    tn_tensor *t = IOTA(2, 3);
    tn_tensor *r = tn_reshape(t, 1, (int64_t[]){-1});
    EXPECT_SHAPE(r, 6);
    ck_assert_ptr_eq(r->storage, t->storage);
    tn_tensor *tt = tn_transpose(t, 0, 1);
    tn_tensor *c = tn_reshape(tt, 1, (int64_t[]){6});
    EXPECT_SHAPE(c, 6);
    ck_assert_ptr_ne(c->storage, t->storage);  /* had to copy */
    ck_assert(!c->is_view);
    EXPECT(c, 0, {0, 3, 1, 4, 2, 5});
    /* 0-dim <-> 1 element */
    tn_tensor *s = tn_scalar(TN_FLOAT32, 7);
    tn_tensor *s1 = tn_reshape(s, 2, (int64_t[]){1, 1});
    EXPECT_SHAPE(s1, 1, 1);
    tn_tensor *s0 = tn_view(s1, 0, NULL);
    ck_assert_int_eq(s0->ndim, 0);
    ck_assert_double_eq(tn_item(s0), 7);
    /* empty tensors */
    tn_tensor *e = tn_empty(TN_FLOAT32, 2, (int64_t[]){0, 4});
    tn_tensor *e2 = tn_view(e, 3, (int64_t[]){2, 0, -1});
    ck_assert_ptr_null(e2);  /* -1 cannot be inferred next to a 0 */
    tn_tensor *e3 = tn_view(e, 2, (int64_t[]){4, 0});
    EXPECT_SHAPE(e3, 4, 0);
    tn_release(e); tn_release(e3);
    tn_release(s); tn_release(s1); tn_release(s0);
    tn_release(r); tn_release(c); tn_release(tt); tn_release(t);
}
END_TEST

START_TEST(test_flatten) {
    tn_tensor *t = IOTA(2, 3, 4);
    tn_tensor *a = tn_flatten(t, 1, -1);
    EXPECT_SHAPE(a, 2, 12);
    tn_tensor *b = tn_flatten(t, 0, -1);
    EXPECT_SHAPE(b, 24);
    tn_tensor *c = tn_flatten(t, 0, 1);
    EXPECT_SHAPE(c, 6, 4);
    tn_tensor *d = tn_flatten(t, -2, -2);
    EXPECT_SHAPE(d, 2, 3, 4);
    EXPECT_ERROR(tn_flatten(t, 2, 1), "start dim 3 comes after end dim 2");
    EXPECT_ERROR(tn_flatten(t, 0, 3), "out of range");
    tn_tensor *s = tn_scalar(TN_FLOAT32, 1);
    tn_tensor *fs = tn_flatten(s, 0, -1);
    EXPECT_SHAPE(fs, 1);
    /* non-contiguous input is copied */
    tn_tensor *p = tn_permute(t, (int[]){2, 0, 1});
    tn_tensor *fp = tn_flatten(p, 1, 2);
    EXPECT_SHAPE(fp, 4, 6);
    EXPECT(fp, 0, {0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
    tn_release(p); tn_release(fp); tn_release(s); tn_release(fs);
    tn_release(a); tn_release(b); tn_release(c); tn_release(d); tn_release(t);
}
END_TEST

/* ---------- squeeze / unsqueeze ---------- */

START_TEST(test_squeeze_unsqueeze) {
    tn_tensor *t = IOTA(1, 3, 1, 2);
    tn_tensor *a = tn_squeeze(t, 0);
    EXPECT_SHAPE(a, 3, 1, 2);
    tn_tensor *b = tn_squeeze(t, -2);
    EXPECT_SHAPE(b, 1, 3, 2);
    tn_tensor *c = tn_squeeze(t, 1);  /* size 3: unchanged */
    EXPECT_SHAPE(c, 1, 3, 1, 2);
    tn_tensor *d = tn_squeeze_all(t);
    EXPECT_SHAPE(d, 3, 2);
    tn_tensor *d2 = tn_squeeze(t, TN_ALL_DIMS);
    EXPECT_SHAPE(d2, 3, 2);
    ck_assert_ptr_eq(d->storage, t->storage);
    EXPECT_ERROR(tn_squeeze(t, 4), "dim 5 out of range");
    tn_tensor *u0 = tn_unsqueeze(d, 0);
    EXPECT_SHAPE(u0, 1, 3, 2);
    tn_tensor *u1 = tn_unsqueeze(d, -1);
    EXPECT_SHAPE(u1, 3, 2, 1);
    tn_tensor *u2 = tn_unsqueeze(d, 1);
    EXPECT_SHAPE(u2, 3, 1, 2);
    ck_assert(tn_is_contiguous(u2));
    EXPECT(u2, 0, {0, 1, 2, 3, 4, 5});
    EXPECT_ERROR(tn_unsqueeze(d, 3), "out of range");
    EXPECT_ERROR(tn_unsqueeze(d, -4), "out of range");
    /* unsqueeze of a transposed tensor keeps the right elements */
    tn_tensor *tt = tn_transpose(d, 0, 1);
    tn_tensor *u3 = tn_unsqueeze(tt, 1);
    EXPECT_SHAPE(u3, 2, 1, 3);
    EXPECT(u3, 0, {0, 2, 4, 1, 3, 5});
    tn_tensor *s = tn_scalar(TN_FLOAT32, 3);
    tn_tensor *us = tn_unsqueeze(s, 0);
    EXPECT_SHAPE(us, 1);
    tn_release(s); tn_release(us); tn_release(tt); tn_release(u3);
    tn_release(a); tn_release(b); tn_release(c); tn_release(d); tn_release(d2);
    tn_release(u0); tn_release(u1); tn_release(u2); tn_release(t);
}
END_TEST

/* ---------- transpose / permute ---------- */

START_TEST(test_transpose_permute) {
    tn_tensor *t = IOTA(2, 3);
    tn_tensor *tt = tn_transpose(t, -1, -2);
    EXPECT_SHAPE(tt, 3, 2);
    ck_assert(!tn_is_contiguous(tt));
    EXPECT(tt, 0, {0, 3, 1, 4, 2, 5});
    tn_store(TN_FLOAT32, tn_data(tt), tt->stride[0] * 2 + tt->stride[1] * 1, -1);  /* tt[2][1] */
    ck_assert_double_eq(tn_get_flat(t, 5), -1);
    EXPECT_ERROR(tn_transpose(t, 0, 2), "dim 3 out of range");
    tn_tensor *t3 = IOTA(2, 3, 4);
    tn_tensor *p = tn_permute(t3, (int[]){2, -3, 1});
    EXPECT_SHAPE(p, 4, 2, 3);
    ck_assert_int_eq(p->stride[0], 1);
    ck_assert_int_eq(p->stride[1], 12);
    ck_assert_int_eq(p->stride[2], 4);
    ck_assert_double_eq(tn_get_flat(p, 1 * 6 + 1 * 3 + 2), 12 + 8 + 1);  /* p[1][1][2] = t3[1][2][1] */
    EXPECT_ERROR(tn_permute(t3, (int[]){0, 0, 1}), "appears twice");
    EXPECT_ERROR(tn_permute(t3, (int[]){0, 1, 3}), "out of range");
    tn_release(p); tn_release(t3); tn_release(tt); tn_release(t);
}
END_TEST

/* ---------- narrow / slice / select ---------- */

START_TEST(test_narrow) {
    tn_tensor *t = IOTA(3, 4);
    tn_tensor *a = tn_narrow(t, 1, 1, 2);
    EXPECT_SHAPE(a, 3, 2);
    EXPECT(a, 0, {1, 2, 5, 6, 9, 10});
    ck_assert_ptr_eq(a->storage, t->storage);
    tn_fill_(a, 0);  /* fills through into t */
    EXPECT(t, 0, {0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0, 11});
    tn_tensor *b = tn_narrow(t, -2, -1, 1);  /* last row */
    EXPECT(b, 0, {8, 0, 0, 11});
    tn_tensor *z = tn_narrow(t, 0, 3, 0);
    EXPECT_SHAPE(z, 0, 4);
    EXPECT_ERROR(tn_narrow(t, 0, 2, 2), "start 3 with length 2 is out of range for dim 1 of size 3");
    EXPECT_ERROR(tn_narrow(t, 1, 0, -1), "out of range");
    tn_tensor *s = tn_scalar(TN_FLOAT32, 1);
    EXPECT_ERROR(tn_narrow(s, 0, 0, 1), "0-dim");
    tn_release(s); tn_release(a); tn_release(b); tn_release(z); tn_release(t);
}
END_TEST

START_TEST(test_slice) {
    tn_tensor *t = IOTA(10);
    tn_tensor *a = tn_slice(t, 0, 1, 8, 3);  /* 1, 4, 7 */
    EXPECT(a, 0, {1, 4, 7});
    tn_tensor *b = tn_slice(t, 0, -3, 100, 1);  /* clamped: 7, 8, 9 */
    EXPECT(b, 0, {7, 8, 9});
    tn_tensor *c = tn_slice(t, -1, -100, 2, 1);
    EXPECT(c, 0, {0, 1});
    tn_tensor *d = tn_slice(t, 0, 6, 3, 1);
    EXPECT_SHAPE(d, 0);
    tn_tensor *e = tn_slice(t, 0, 0, 10, 4);
    EXPECT(e, 0, {0, 4, 8});
    EXPECT_ERROR(tn_slice(t, 0, 0, 5, 0), "step must be positive");
    EXPECT_ERROR(tn_slice(t, 0, 0, 5, -1), "step must be positive");
    /* slice of a 2-D tensor along dim 1, with a write through it */
    tn_tensor *m = IOTA(2, 5);
    tn_tensor *ms = tn_slice(m, 1, 0, 5, 2);
    EXPECT_SHAPE(ms, 2, 3);
    EXPECT(ms, 0, {0, 2, 4, 5, 7, 9});
    tn_fill_(ms, -1);
    EXPECT(m, 0, {-1, 1, -1, 3, -1, -1, 6, -1, 8, -1});
    tn_release(m); tn_release(ms);
    tn_release(a); tn_release(b); tn_release(c); tn_release(d); tn_release(e); tn_release(t);
}
END_TEST

START_TEST(test_select) {
    tn_tensor *t = IOTA(3, 5);
    tn_tensor *a = tn_select(t, 1, -1);
    EXPECT_SHAPE(a, 3);
    EXPECT(a, 0, {4, 9, 14});
    tn_tensor *b = tn_select(t, 0, 1);
    EXPECT(b, 0, {5, 6, 7, 8, 9});
    tn_tensor *c = tn_select(b, 0, 2);
    ck_assert_int_eq(c->ndim, 0);
    ck_assert_double_eq(tn_item(c), 7);
    tn_fill_(c, 100);
    ck_assert_double_eq(tn_get_flat(t, 7), 100);
    EXPECT_ERROR(tn_select(t, 1, 5), "select: index 6 is out of range for dim 2 of size 5");
    EXPECT_ERROR(tn_select(t, 1, -6), "out of range");
    EXPECT_ERROR(tn_select(t, 2, 0), "out of range");
    EXPECT_ERROR(tn_select(c, 0, 0), "0-dim");
    /* select on a transposed tensor */
    tn_tensor *tt = tn_transpose(t, 0, 1);
    tn_tensor *d = tn_select(tt, 0, 3);
    EXPECT(d, 0, {3, 8, 13});
    tn_release(tt); tn_release(d);
    tn_release(a); tn_release(b); tn_release(c); tn_release(t);
}
END_TEST

/* ---------- expand ---------- */

START_TEST(test_expand) {
    tn_tensor *t = IOTA(3, 1);
    tn_tensor *e = tn_expand(t, 3, (int64_t[]){2, -1, 4});
    EXPECT_SHAPE(e, 2, 3, 4);
    ck_assert_int_eq(e->stride[0], 0);
    ck_assert_int_eq(e->stride[2], 0);
    EXPECT(e, 0, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
    ck_assert_ptr_eq(e->storage, t->storage);
    EXPECT_ERROR(tn_expand(t, 2, (int64_t[]){4, 4}), "size of dim 1 (3) must match the new size 4");
    EXPECT_ERROR(tn_expand(t, 1, (int64_t[]){3}), "at least");
    EXPECT_ERROR(tn_expand(t, 3, (int64_t[]){-1, 3, 1}), "new leading dim 1");
    tn_tensor *s = tn_scalar(TN_FLOAT32, 5);
    tn_tensor *es = tn_expand(s, 2, (int64_t[]){2, 2});
    EXPECT(es, 0, {5, 5, 5, 5});
    tn_tensor *z = tn_expand(t, 2, (int64_t[]){3, 0});
    EXPECT_SHAPE(z, 3, 0);
    tn_release(z); tn_release(s); tn_release(es); tn_release(e); tn_release(t);
}
END_TEST

/* ---------- cat / stack ---------- */

START_TEST(test_cat) {
    tn_tensor *a = IOTA(2, 2), *b = IOTA(1, 2);
    tn_tensor *c0 = tn_cat((tn_tensor *[]){a, b}, 2, 0);
    EXPECT_SHAPE(c0, 3, 2);
    EXPECT(c0, 0, {0, 1, 2, 3, 0, 1});
    tn_tensor *bt = tn_transpose(b, 0, 1);  /* [2, 1], non-contiguous-ish */
    tn_tensor *c1 = tn_cat((tn_tensor *[]){a, bt, a}, 3, -1);
    EXPECT_SHAPE(c1, 2, 5);
    EXPECT(c1, 0, {0, 1, 0, 0, 1, 2, 3, 1, 2, 3});
    /* dtype promotion: int64 with float32 -> float32; int32 with float64 -> float64 */
    tn_tensor *i = tn_arange(0, 2, 1, TN_INT64);
    tn_tensor *f = tn_full(TN_FLOAT32, 1, (int64_t[]){1}, 0.5);
    tn_tensor *cf = tn_cat((tn_tensor *[]){i, f}, 2, 0);
    ck_assert_int_eq(cf->dtype, TN_FLOAT32);
    EXPECT(cf, 0, {0, 1, 0.5});
    tn_tensor *d = tn_full(TN_FLOAT64, 1, (int64_t[]){1}, 0.25);
    tn_tensor *i32 = tn_to(i, TN_INT32);
    tn_tensor *cd = tn_cat((tn_tensor *[]){i32, d}, 2, 0);
    ck_assert_int_eq(cd->dtype, TN_FLOAT64);
    EXPECT(cd, 0, {0, 1, 0.25});
    /* errors */
    EXPECT_ERROR(tn_cat((tn_tensor *[]){a, b}, 2, 1), "must match except in dim 2");
    EXPECT_ERROR(tn_cat((tn_tensor *[]){a, i}, 2, 0), "entry 2 has shape [2]");
    EXPECT_ERROR(tn_cat((tn_tensor *[]){a}, 1, 2), "out of range");
    EXPECT_ERROR(tn_cat(NULL, 0, 0), "non-empty");
    tn_tensor *s = tn_scalar(TN_FLOAT32, 1);
    EXPECT_ERROR(tn_cat((tn_tensor *[]){s, s}, 2, 0), "zero-dimensional");
    /* an empty 1-D tensor is skipped */
    tn_tensor *e = tn_empty(TN_FLOAT32, 1, (int64_t[]){0});
    tn_tensor *ce = tn_cat((tn_tensor *[]){e, a}, 2, 0);
    EXPECT_SHAPE(ce, 2, 2);
    EXPECT(ce, 0, {0, 1, 2, 3});
    /* the result owns fresh storage */
    ck_assert_ptr_ne(c0->storage, a->storage);
    tn_release(e); tn_release(ce); tn_release(s);
    tn_release(d); tn_release(i32); tn_release(cd);
    tn_release(i); tn_release(f); tn_release(cf);
    tn_release(bt); tn_release(c1); tn_release(c0); tn_release(a); tn_release(b);
}
END_TEST

START_TEST(test_stack) {
    tn_tensor *a = IOTA(2, 3), *b = tn_full(TN_FLOAT32, 2, (int64_t[]){2, 3}, 9);
    tn_tensor *s0 = tn_stack((tn_tensor *[]){a, b}, 2, 0);
    EXPECT_SHAPE(s0, 2, 2, 3);
    EXPECT(s0, 0, {0, 1, 2, 3, 4, 5, 9, 9, 9, 9, 9, 9});
    tn_tensor *s2 = tn_stack((tn_tensor *[]){a, b}, 2, -1);
    EXPECT_SHAPE(s2, 2, 3, 2);
    EXPECT(s2, 0, {0, 9, 1, 9, 2, 9, 3, 9, 4, 9, 5, 9});
    tn_tensor *s1 = tn_stack((tn_tensor *[]){a, b, a}, 3, 1);
    EXPECT_SHAPE(s1, 2, 3, 3);
    tn_tensor *c = IOTA(3, 2);
    EXPECT_ERROR(tn_stack((tn_tensor *[]){a, c}, 2, 0), "entry 2 has [3, 2]");
    EXPECT_ERROR(tn_stack((tn_tensor *[]){a, b}, 2, 3), "out of range");
    /* stack of 0-dim tensors gives a vector */
    tn_tensor *x = tn_scalar(TN_FLOAT32, 1), *y = tn_scalar(TN_FLOAT32, 2);
    tn_tensor *v = tn_stack((tn_tensor *[]){x, y}, 2, 0);
    EXPECT_SHAPE(v, 2);
    EXPECT(v, 0, {1, 2});
    tn_release(x); tn_release(y); tn_release(v);
    tn_release(c); tn_release(s0); tn_release(s1); tn_release(s2); tn_release(a); tn_release(b);
}
END_TEST

/* ---------- autograd ---------- */

static tn_tensor *g_view_t(void *ctx, tn_tensor **in) {
    /* transpose (non-contiguous) then a view that splits a dim, then reshape (copies) */
    tn_tensor *t = tn_transpose(in[0], 0, 1);              /* [4, 6] */
    tn_tensor *v = tn_view(t, 3, (int64_t[]){2, 2, 6});
    tn_tensor *r = tn_reshape(v, 2, (int64_t[]){6, -1});   /* needs a copy */
    tn_release(t); tn_release(v);
    return r;
}
START_TEST(test_grad_view_reshape) {
    tn_tensor *x = LEAF(6, 4);
    check_grad(g_view_t, NULL, 1, &x);
    tn_release(x);
}
END_TEST

static tn_tensor *g_flatten_squeeze(void *ctx, tn_tensor **in) {
    tn_tensor *a = tn_unsqueeze(in[0], 1);       /* [2, 1, 3, 1] */
    tn_tensor *b = tn_flatten(a, 1, 2);          /* [2, 3, 1] */
    tn_tensor *c = tn_squeeze(b, -1);            /* [2, 3] */
    tn_tensor *d = tn_squeeze_all(c);
    tn_tensor *e = tn_mul(d, d);                 /* nonlinear, so the path matters */
    tn_release(a); tn_release(b); tn_release(c); tn_release(d);
    return e;
}
START_TEST(test_grad_flatten_squeeze) {
    tn_tensor *x = LEAF(2, 3, 1);
    check_grad(g_flatten_squeeze, NULL, 1, &x);
    tn_tensor *y = tn_unsqueeze(x, 0);
    ck_assert_str_eq(y->grad_fn->name, "view");
    tn_release(y);
    tn_release(x);
}
END_TEST

static tn_tensor *g_permute(void *ctx, tn_tensor **in) {
    tn_tensor *p = tn_permute(in[0], (int[]){2, 0, 1});
    tn_tensor *t = tn_transpose(p, 0, -1);
    tn_tensor *w = tn_mul(t, in[1]);  /* [3, 2, 4] broadcast against [4] */
    tn_release(p); tn_release(t);
    return w;
}
START_TEST(test_grad_permute_transpose) {
    tn_tensor *in[2] = {LEAF(2, 3, 4), LEAF(4)};
    check_grad(g_permute, NULL, 2, in);
    tn_tensor *p = tn_transpose(in[0], 0, 1);
    ck_assert_str_eq(p->grad_fn->name, "permute");
    tn_release(p);
    tn_release(in[0]); tn_release(in[1]);
}
END_TEST

static tn_tensor *g_slices(void *ctx, tn_tensor **in) {
    tn_tensor *a = tn_narrow(in[0], 1, 1, 3);          /* [4, 3] */
    tn_tensor *b = tn_slice(in[0], 0, -3, 10, 2);      /* rows 1, 3: [2, 5] */
    tn_tensor *c = tn_select(in[0], 1, -1);            /* [4] */
    tn_tensor *bt = tn_transpose(b, 0, 1);             /* [5, 2] */
    tn_tensor *d = tn_slice(bt, 0, 0, 5, 2);           /* [3, 2] of a non-contiguous view */
    tn_tensor *sa = tn_sum(a, 0, false), *sd = tn_sum(d, 1, false);  /* [3], [3] */
    tn_tensor *m = tn_mul(sa, sd);
    tn_tensor *cc = tn_mul(c, c);
    tn_tensor *ms = tn_sum(m, TN_ALL_DIMS, false), *cs = tn_sum(cc, TN_ALL_DIMS, false);
    tn_tensor *r = tn_add(ms, cs);
    tn_release(a); tn_release(b); tn_release(c); tn_release(bt); tn_release(d);
    tn_release(sa); tn_release(sd); tn_release(m); tn_release(cc); tn_release(ms); tn_release(cs);
    return r;
}
START_TEST(test_grad_narrow_slice_select) {
    tn_tensor *x = LEAF(4, 5);
    check_grad(g_slices, NULL, 1, &x);
    tn_tensor *s = tn_slice(x, 0, 0, 4, 2), *t = tn_select(x, 0, 0);
    ck_assert_str_eq(s->grad_fn->name, "slice");
    ck_assert_str_eq(t->grad_fn->name, "select");
    tn_release(s); tn_release(t);
    tn_release(x);
}
END_TEST

static tn_tensor *g_expand(void *ctx, tn_tensor **in) {
    tn_tensor *e = tn_expand(in[0], 3, (int64_t[]){2, 3, 4});  /* [3, 1] -> [2, 3, 4] */
    tn_tensor *f = tn_expand(in[1], 3, (int64_t[]){-1, -1, 4}); /* [2, 3, 1] */
    tn_tensor *m = tn_mul(e, f);
    tn_release(e); tn_release(f);
    return m;
}
START_TEST(test_grad_expand) {
    tn_tensor *in[2] = {LEAF(3, 1), LEAF(2, 3, 1)};
    check_grad(g_expand, NULL, 2, in);
    tn_release(in[0]); tn_release(in[1]);
}
END_TEST

static tn_tensor *g_cat(void *ctx, tn_tensor **in) {
    tn_tensor *bt = tn_transpose(in[1], 0, 1);  /* [3, 2]: non-contiguous */
    tn_tensor *c = tn_cat((tn_tensor *[]){in[0], bt, in[2]}, 3, *(int *)ctx);
    tn_tensor *m = c ? tn_mul(c, c) : NULL;
    tn_release(bt); tn_release(c);
    return m;
}
START_TEST(test_grad_cat) {
    tn_tensor *in[3] = {LEAF(3, 1), LEAF(2, 3), LEAF(3, 4)};
    int dim = -1;
    check_grad(g_cat, &dim, 3, in);
    tn_tensor *c = tn_cat(in, 1, 0);
    ck_assert_str_eq(c->grad_fn->name, "cat");
    tn_release(c);
    /* an input that does not require grad gets none, the others still do */
    in[1]->requires_grad = false;
    check_grad(g_cat, &dim, 3, in);
    tn_release(in[0]); tn_release(in[1]); tn_release(in[2]);
}
END_TEST

/* more inputs than a node has edges: joined in groups */
static tn_tensor *g_cat_many(void *ctx, tn_tensor **in) {
    tn_tensor *list[19];
    for (int i = 0; i < 19; i++) list[i] = in[i % 3];
    tn_tensor *c = tn_cat(list, 19, 0);
    tn_tensor *m = tn_mul(c, c);
    tn_release(c);
    return m;
}
START_TEST(test_grad_cat_many) {
    tn_tensor *in[3] = {LEAF(1, 2), LEAF(2, 2), LEAF(3, 2)};
    check_grad(g_cat_many, NULL, 3, in);
    tn_tensor *c = g_cat_many(NULL, in);
    EXPECT_SHAPE(c, 37, 2);  /* 7 * 1 + 6 * 2 + 6 * 3 */
    tn_release(c);
    tn_release(in[0]); tn_release(in[1]); tn_release(in[2]);
}
END_TEST

static tn_tensor *g_stack(void *ctx, tn_tensor **in) {
    tn_tensor *s = tn_stack((tn_tensor *[]){in[0], in[1], in[0]}, 3, 1);  /* [2, 3, 3] */
    tn_tensor *m = tn_mul(s, s);
    tn_release(s);
    return m;
}
START_TEST(test_grad_stack) {
    tn_tensor *in[2] = {LEAF(2, 3), LEAF(2, 3)};
    check_grad(g_stack, NULL, 2, in);
    tn_release(in[0]); tn_release(in[1]);
}
END_TEST

START_TEST(test_view_inplace_guard) {
    /* writing into a view of a tensor with history is refused (not silently wrong) */
    tn_tensor *x = LEAF(2, 3);
    tn_tensor *y = tn_mul_scalar(x, 2);
    tn_tensor *v = tn_narrow(y, 1, 0, 2);
    ck_assert(v->is_view);
    ck_assert_int_eq(tn_fill_(v, 0), -1);
    ck_assert(strstr(tn_last_error(), "view") != NULL);
    tn_release(v); tn_release(y); tn_release(x);
}
END_TEST

START_TEST(test_no_leaks) {
    size_t before = tn_bytes_live();
    tn_tensor *x = LEAF(3, 4);
    tn_tensor *in[3] = {x, NULL, NULL};
    int dim = 0;
    in[1] = LEAF(2, 3);
    in[2] = LEAF(3, 4);
    tn_tensor *out = g_cat(&dim, in);
    ck_assert_ptr_null(out);  /* shapes [3, 4] and [3, 2] along dim 0 do not match */
    dim = 1;
    out = g_cat(&dim, in);
    tn_tensor *s = tn_sum(out, TN_ALL_DIMS, false);
    ck_assert_int_eq(tn_backward(s, NULL, false), 0);
    tn_release(s); tn_release(out);
    tn_release(in[1]); tn_release(in[2]); tn_release(x);
    ck_assert_uint_eq(tn_bytes_live(), before);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, test_view_values_and_sharing);
    tcase_add_test(tc, test_view_noncontiguous);
    tcase_add_test(tc, test_reshape_copy_and_view);
    tcase_add_test(tc, test_flatten);
    tcase_add_test(tc, test_squeeze_unsqueeze);
    tcase_add_test(tc, test_transpose_permute);
    tcase_add_test(tc, test_narrow);
    tcase_add_test(tc, test_slice);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_cat);
    tcase_add_test(tc, test_stack);
    tcase_add_test(tc, test_grad_view_reshape);
    tcase_add_test(tc, test_grad_flatten_squeeze);
    tcase_add_test(tc, test_grad_permute_transpose);
    tcase_add_test(tc, test_grad_narrow_slice_select);
    tcase_add_test(tc, test_grad_expand);
    tcase_add_test(tc, test_grad_cat);
    tcase_add_test(tc, test_grad_cat_many);
    tcase_add_test(tc, test_grad_stack);
    tcase_add_test(tc, test_view_inplace_guard);
    tcase_add_test(tc, test_no_leaks);
}

TN_SUITE_MAIN("view", add_tests)
