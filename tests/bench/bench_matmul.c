/*
 * bench_matmul.c: GFLOP/s of tn_mm (float32) against cblas_sgemm called
 * directly on the same buffers, at n = 1024 and 2048, plus a transposed
 * operand (which must cost nothing extra: it goes to BLAS as CblasTrans).
 * Not part of `make test`.  Build by hand from the repository root:
 *
 *   make BUILD=build build/libember.a
 *   cc -O2 -I. $(pkg-config --cflags openblas) tests/bench/bench_matmul.c \
 *      build/libember.a $(pkg-config --libs openblas libcjson zlib lua5.4) \
 *      -lreadline -lm -pthread -o build/bench_matmul && ./build/bench_matmul
 */
#include <cblas.h>
#include <stdio.h>
#include <time.h>

#include "tensor/tensor.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* best of `reps` runs, in GFLOP/s */
static double gflops(double secs, int64_t n) { return 2.0 * (double)n * (double)n * (double)n / secs * 1e-9; }

int main(void) {
    int64_t sizes[] = {1024, 2048};
    printf("threads: %d\n", tn_get_num_threads());
    for (int si = 0; si < 2; si++) {
        int64_t n = sizes[si];
        int reps = n <= 1024 ? 10 : 4;
        tn_tensor *a = tn_rand(TN_FLOAT32, 2, (int64_t[]){n, n});
        tn_tensor *b = tn_rand(TN_FLOAT32, 2, (int64_t[]){n, n});
        tn_tensor *c = tn_empty(TN_FLOAT32, 2, (int64_t[]){n, n});
        tn_tensor *bt = tn_transpose(b, 0, 1);
        if (!a || !b || !c || !bt) {
            fprintf(stderr, "bench_matmul: %s\n", tn_last_error());
            return 1;
        }
        double best_blas = 1e9, best_mm = 1e9, best_mt = 1e9;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, tn_data(a),
                        (int)n, tn_data(b), (int)n, 0.0f, tn_data(c), (int)n);
            double t1 = now();
            tn_tensor *o = tn_mm(a, b);
            double t2 = now();
            tn_tensor *ot = tn_mm(a, bt);
            double t3 = now();
            if (!o || !ot) {
                fprintf(stderr, "bench_matmul: %s\n", tn_last_error());
                return 1;
            }
            tn_release(o);
            tn_release(ot);
            if (t1 - t0 < best_blas) best_blas = t1 - t0;
            if (t2 - t1 < best_mm) best_mm = t2 - t1;
            if (t3 - t2 < best_mt) best_mt = t3 - t2;
        }
        printf("n=%lld  cblas_sgemm %7.1f GFLOP/s   tn_mm %7.1f GFLOP/s (%.0f%%)   tn_mm(a, b^T) %7.1f GFLOP/s\n",
               (long long)n, gflops(best_blas, n), gflops(best_mm, n), 100.0 * best_blas / best_mm,
               gflops(best_mt, n));
        tn_release(a);
        tn_release(b);
        tn_release(c);
        tn_release(bt);
    }
    return 0;
}
