/*
 * helpers.h: small helpers shared by the Check suites in tests/c/.
 * Each suite is one test_*.c file with its own main() built from
 * TN_SUITE_MAIN; tests/run.sh runs every suite and counts the results.
 */
#ifndef TESTS_HELPERS_H
#define TESTS_HELPERS_H

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"
#include "tensor/autograd.h"

/* A tensor from a literal list, e.g. T2(TN_FLOAT32, 2, 3, ((double[]){1,2,3,4,5,6})) */
static inline tn_tensor *t_from(tn_dtype dt, int ndim, const int64_t *shape, const double *v) {
    tn_tensor *t = tn_empty(dt, ndim, shape);
    for (int64_t i = 0; i < t->numel; i++) tn_store(dt, t->storage->data, i, v[i]);
    return t;
}
#define T1(dt, n, ...) t_from(dt, 1, (int64_t[]){n}, (double[])__VA_ARGS__)
#define T2(dt, a, b, ...) t_from(dt, 2, (int64_t[]){a, b}, (double[])__VA_ARGS__)

/* Asserts that t has the given values (row-major) within tol. */
static inline void t_expect(const tn_tensor *t, const double *v, int64_t n, double tol) {
    ck_assert_msg(t != NULL, "tensor is NULL: %s", tn_last_error());
    ck_assert_int_eq(t->numel, n);
    for (int64_t i = 0; i < n; i++) {
        double got = tn_get_flat(t, i);
        ck_assert_msg(fabs(got - v[i]) <= tol || (isnan(got) && isnan(v[i])),
                      "element %lld: got %.9g, expected %.9g", (long long)i, got, v[i]);
    }
}
#define EXPECT(t, tol, ...) \
    t_expect(t, (double[])__VA_ARGS__, (int64_t)(sizeof((double[])__VA_ARGS__) / sizeof(double)), tol)

/* Asserts t is non-NULL with the given shape, e.g. EXPECT_SHAPE(t, 2, 3). */
#define EXPECT_SHAPE(t, ...)                                                       \
    do {                                                                           \
        int64_t want_[] = {__VA_ARGS__};                                           \
        int n_ = (int)(sizeof want_ / sizeof want_[0]);                            \
        ck_assert_msg((t) != NULL, "NULL: %s", tn_last_error());                   \
        ck_assert_int_eq((t)->ndim, n_);                                           \
        for (int i_ = 0; i_ < n_; i_++) ck_assert_int_eq((t)->shape[i_], want_[i_]); \
    } while (0)

/* Asserts that expr (returning a tensor) fails with a message containing substr. */
#define EXPECT_ERROR(expr, substr)                                                 \
    do {                                                                           \
        tn_tensor *r_ = (expr);                                                    \
        ck_assert_msg(r_ == NULL, "expected an error from %s", #expr);             \
        ck_assert_msg(strstr(tn_last_error(), substr) != NULL, "message '%s' lacks '%s'", \
                      tn_last_error(), substr);                                    \
    } while (0)

/* PyTorch cross-checks (test_conv.c, test_pool.c): deterministic inputs
 * det(shape, s)[i] = sin(0.37 * s * i), results summarised by sum(r) and
 * sum(r * det(r.shape, 0.5)) and compared with numbers PyTorch printed
 * (each suite keeps the script that printed them). */
static inline tn_tensor *det(int nd, const int64_t *shape, double s) {
    tn_tensor *t = tn_empty(TN_FLOAT64, nd, shape);
    double *p = tn_data(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = sin((double)i * 0.37 * s);
    return t;
}

static inline void torch_expect(const char *name, tn_tensor *t, double sum, double proj) {
    ck_assert_msg(t != NULL, "%s: NULL (%s)", name, tn_last_error());
    tn_tensor *r = det(t->ndim, t->shape, 0.5);
    double a = 0, b = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = tn_get_flat(t, i);
        a += v;
        b += v * tn_get_flat(r, i);
    }
    tn_release(r);
    ck_assert_msg(fabs(a - sum) <= 1e-9 * (1 + fabs(sum)) && fabs(b - proj) <= 1e-9 * (1 + fabs(proj)),
                  "%s: got (%.12g, %.12g), PyTorch (%.12g, %.12g)", name, a, b, sum, proj);
}

static inline void torch_backward(tn_tensor *y) {
    ck_assert_msg(y != NULL, "%s", tn_last_error());
    tn_tensor *g = det(y->ndim, y->shape, 0.9);
    ck_assert_msg(tn_backward(y, g, false) == 0, "%s", tn_last_error());
    tn_release(g);
}
#define TORCH(name, t) torch_expect(#name, t, name##_SUM, name##_PROJ)

/* main() of a suite: TN_SUITE_MAIN("name", add_tests) where
 * add_tests(TCase *tc) calls tcase_add_test. */
#define TN_SUITE_MAIN(name, adder)                                  \
    int main(void) {                                                \
        Suite *s = suite_create(name);                              \
        TCase *tc = tcase_create("core");                           \
        tcase_set_timeout(tc, 60);                                  \
        adder(tc);                                                  \
        suite_add_tcase(s, tc);                                     \
        SRunner *sr = srunner_create(s);                            \
        srunner_run_all(sr, CK_NORMAL);                             \
        int failed = srunner_ntests_failed(sr);                     \
        srunner_free(sr);                                           \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                \
    }

#endif
