/*
 * conv_bench.c: forward + backward time of the convolution and pooling
 * layers of the reference CNNs (DESIGN.md workloads 4 and 5), for tuning
 * nn/conv.c and nn/pool.c.  Not part of `make test`; build it by hand
 * against a built library:
 *
 *   make BUILD=build build/libember.a
 *   cc -O2 -march=x86-64-v3 -I. $(pkg-config --cflags openblas) tests/bench/conv_bench.c \
 *      build/libember.a $(pkg-config --libs lua5.4 openblas libcjson zlib) -lreadline -lm \
 *      -pthread -o conv_bench
 *   ./conv_bench [threads [auto]]   (default 1 thread; "auto": only the
 *                                    algorithm ember picks, no comparisons)
 *
 * Each line: the layer, the algorithm, microseconds per batch for forward
 * and for forward + backward, samples/s and GFLOP/s of the convolution
 * (2 flops per multiply-add; backward counts only the gradients computed,
 * as in training: the first layer's input needs no gradient).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn.h"

/* With one thread the clock is the process's CPU time, which other jobs on
 * a shared machine disturb far less than wall time. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *name;
    int64_t N, C, H, W, O, k, pad;
    bool input_grad;     /* false for a first layer (its input is data) */
} layer;

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, tn_last_error());
    exit(1);
}

/* Runs forward (and backward when `bwd`) `iters` times; seconds per iteration. */
static double run_conv(const layer *l, tn_tensor *x, tn_tensor *w, tn_tensor *b, bool bwd, int iters) {
    int64_t pad[2] = {l->pad, l->pad};
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int i = 0; i < iters; i++) {
            tn_tensor *y = nn_conv2d(x, w, b, NULL, pad, NULL);
            if (!y) die("conv2d");
            if (bwd) {
                tn_tensor *g = tn_ones(y->dtype, y->ndim, y->shape);
                if (tn_backward(y, g, false) < 0) die("backward");
                tn_release(g);
            }
            tn_release(y);
        }
        double t = (now() - t0) / iters;
        if (t < best) best = t;
    }
    return best;
}

static void bench_conv(const layer *l, const char *algo) {
    int64_t xs[4] = {l->N, l->C, l->H, l->W}, ws[4] = {l->O, l->C, l->k, l->k};
    tn_tensor *x = tn_randn(TN_FLOAT32, 4, xs), *w = tn_randn(TN_FLOAT32, 4, ws);
    tn_tensor *b = tn_randn(TN_FLOAT32, 1, &l->O);
    w->requires_grad = b->requires_grad = true;
    x->requires_grad = l->input_grad;
    /* about 0.1 s per measurement, between 3 and 200 iterations */
    double t1 = run_conv(l, x, w, b, true, 1);
    int iters = t1 > 0.1 / 3 ? 3 : t1 < 0.1 / 200 ? 200 : (int)(0.1 / t1);
    double tf = run_conv(l, x, w, b, false, iters), tfb = run_conv(l, x, w, b, true, iters);
    int64_t OH = l->H + 2 * l->pad - l->k + 1, OW = l->W + 2 * l->pad - l->k + 1;
    double fma = (double)(l->N * l->O * OH * OW * l->C * l->k * l->k);
    double flops = 2 * fma * (2 + (l->input_grad ? 1 : 0));
    printf("%-28s %-7s fwd %8.1f us  fwd+bwd %8.1f us  %9.0f samples/s  %6.1f GFLOP/s\n", l->name,
           algo, tf * 1e6, tfb * 1e6, (double)l->N / tfb, flops / tfb * 1e-9);
    tn_release(x); tn_release(w); tn_release(b);
}

static void bench_pool(const char *name, int64_t N, int64_t C, int64_t H, int64_t W) {
    int64_t xs[4] = {N, C, H, W}, k[2] = {2, 2};
    tn_tensor *x = tn_randn(TN_FLOAT32, 4, xs);
    x->requires_grad = true;
    int iters = 500;
    double best = 1e30, bestf = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int i = 0; i < iters; i++) {
            tn_tensor *y = nn_max_pool2d(x, k, NULL, NULL, false);
            if (!y) die("max_pool2d");
            tn_release(y);
        }
        double tf = (now() - t0) / iters;
        t0 = now();
        for (int i = 0; i < iters; i++) {
            tn_tensor *y = nn_max_pool2d(x, k, NULL, NULL, false);
            tn_tensor *g = tn_ones(y->dtype, y->ndim, y->shape);
            if (tn_backward(y, g, false) < 0) die("backward");
            tn_release(g);
            tn_release(y);
        }
        double t = (now() - t0) / iters;
        if (t < best) best = t;
        if (tf < bestf) bestf = tf;
    }
    printf("%-28s %-7s fwd %8.1f us  fwd+bwd %8.1f us  %9.0f samples/s\n", name, "", bestf * 1e6,
           best * 1e6, (double)N / best);
    tn_release(x);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    tn_set_num_threads(threads);
    if (tn_get_num_threads() == 1) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    tn_manual_seed(1);
    printf("threads: %d (%s time)\n", tn_get_num_threads(),
           bench_clock == CLOCK_MONOTONIC ? "wall" : "CPU");
    const layer layers[] = {
        {"CNN conv1 1->32 3x3 b32", 32, 1, 28, 28, 32, 3, 0, false},
        {"LeNet conv1 1->6 5x5 p2 b64", 64, 1, 28, 28, 6, 5, 2, false},
        {"LeNet conv2 6->16 5x5 b64", 64, 6, 14, 14, 16, 5, 0, true},
        {"LeNet conv2 6->16 5x5 b32", 32, 6, 14, 14, 16, 5, 0, true},
        /* the CIFAR-style CNN (workload 6), for the direct/GEMM threshold */
        {"CIFAR conv1 3->32 3x3 b32", 32, 3, 32, 32, 32, 3, 0, false},
        {"CIFAR conv2 32->64 3x3 b32", 32, 32, 15, 15, 64, 3, 0, true},
        {"CIFAR conv3 64->64 3x3 b32", 32, 64, 6, 6, 64, 3, 0, true},
        {"conv 64->64 3x3 p1 28x28 b32", 32, 64, 28, 28, 64, 3, 1, true},
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        bench_conv(&layers[i], "auto");
        if (argc > 2 && strcmp(argv[2], "auto") == 0) continue;
        int64_t was = nn_conv_set_direct_max_k(0);
        bench_conv(&layers[i], "gemm");
        nn_conv_set_direct_max_k(1000000);
        bench_conv(&layers[i], "direct");
        int isa = nn_conv_set_avx512(0);
        bench_conv(&layers[i], "d-avx2");
        nn_conv_set_avx512(isa);
        nn_conv_set_direct_max_k(was);
    }
    bench_pool("max_pool2d CNN (32,32,26,26)", 32, 32, 26, 26);
    bench_pool("max_pool2d LeNet1 (64,6,28,28)", 64, 6, 28, 28);
    bench_pool("max_pool2d LeNet2 (64,16,10,10)", 64, 16, 10, 10);
    return 0;
}
