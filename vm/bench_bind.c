/*
 * bench_bind.c: the reference half of tests/bench/core.lua, registered as
 * the table ember._bench.  The core benchmark sets ember's own matmul and
 * elementwise throughput beside what the machine gives to a program that
 * skips ember altogether: a direct cblas_sgemm on preallocated matrices and
 * a plain memcpy of the same bytes.  Both are timed here in C, with the same
 * monotonic clock as ember.wall_time(), so the ratio the benchmark prints
 * measures ember's overhead (allocation, dispatch, the Lua binding) and not
 * a difference in how the two sides were timed.
 *
 * Not part of the API contract: the leading underscore says so.
 */
#include "vm/lt.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ember._bench.sgemm_gflops(n, seconds): C = A B on n x n float32 matrices
 * (row-major, allocated and filled once), repeated for about `seconds`
 * after one warm-up call; returns the best single call's GFLOP/s (2 n^3
 * flops per call) and the mean over all calls. */
static int l_sgemm_gflops(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    double seconds = luaL_optnumber(L, 2, 1.0);
    if (n <= 0 || n > 16384) return luaL_error(L, "_bench.sgemm_gflops: n must be in 1..16384, got %d", (int)n);
    size_t count = (size_t)n * (size_t)n;
    /* A, B, C: [n, n] float32 each */
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b), *c = malloc(count * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return luaL_error(L, "_bench.sgemm_gflops: out of memory for n = %d", (int)n);
    }
    for (size_t i = 0; i < count; i++) {
        a[i] = (float)((i * 7u) % 13u) * 0.1f;
        b[i] = (float)((i * 5u) % 11u) * 0.1f;
        c[i] = 0.0f;
    }
    int ni = (int)n;
    double flops = 2.0 * (double)n * (double)n * (double)n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a, ni, b, ni, 0.0f, c, ni);
    double best = 1e300, total = 0;
    int calls = 0;
    double start = now();
    do {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a, ni, b, ni, 0.0f, c, ni);
        double dt = now() - t0;
        if (dt < best) best = dt;
        total += dt;
        calls++;
    } while (now() - start < seconds);
    free(a), free(b), free(c);
    lua_pushnumber(L, flops / best * 1e-9);
    lua_pushnumber(L, flops * calls / total * 1e-9);
    return 2;
}

typedef struct {
    char *dst;
    const char *src;
} copy_job;

static void copy_range(void *ctx, int64_t lo, int64_t hi) {
    copy_job *j = ctx;
    memcpy(j->dst + lo, j->src + lo, (size_t)(hi - lo));
}

/* ember._bench.memcpy_gbs(bytes, seconds [, pooled]): copies a buffer of
 * `bytes` bytes into another, repeatedly for about `seconds`; returns the
 * best and the mean rate in GB/s counting bytes read plus bytes written
 * (2 * bytes per copy), the convention the benchmark uses for ember's ops.
 * With pooled = true the copy is split over ember's thread pool
 * (tn_parallel_for, the current thread count) like ember's own kernels;
 * otherwise one thread copies. */
static int l_memcpy_gbs(lua_State *L) {
    lua_Integer bytes = luaL_checkinteger(L, 1);
    double seconds = luaL_optnumber(L, 2, 1.0);
    bool pooled = lua_toboolean(L, 3);
    if (bytes <= 0) return luaL_error(L, "_bench.memcpy_gbs: bytes must be positive, got %d", (int)bytes);
    char *src = malloc((size_t)bytes), *dst = malloc((size_t)bytes);
    if (!src || !dst) {
        free(src), free(dst);
        return luaL_error(L, "_bench.memcpy_gbs: out of memory for %f bytes", (double)bytes);
    }
    memset(src, 1, (size_t)bytes);  /* touch every page of both buffers first */
    memset(dst, 0, (size_t)bytes);
    copy_job job = {dst, src};
    double best = 1e300, total = 0;
    int copies = 0;
    double start = now();
    do {
        double t0 = now();
        if (pooled) tn_parallel_for(bytes, 1 << 20, copy_range, &job);
        else memcpy(dst, src, (size_t)bytes);
        double dt = now() - t0;
        if (dt < best) best = dt;
        total += dt;
        copies++;
    } while (now() - start < seconds);
    free(src), free(dst);
    double moved = 2.0 * (double)bytes;
    lua_pushnumber(L, moved / best * 1e-9);
    lua_pushnumber(L, moved * copies / total * 1e-9);
    return 2;
}

static const lt_reg bench_fns[] = {
    {"sgemm_gflops", l_sgemm_gflops, "ember._bench.sgemm_gflops(n, seconds): best and mean GFLOP/s of a direct cblas_sgemm on n x n float32 (benchmark reference)."},
    {"memcpy_gbs", l_memcpy_gbs, "ember._bench.memcpy_gbs(bytes, seconds [, pooled]): best and mean GB/s (read + written) of memcpy of `bytes` bytes (benchmark reference)."},
    {NULL, NULL, NULL}};

void lt_open_bench(lua_State *L, int module) {
    lua_newtable(L);
    lt_register(L, bench_fns);
    lua_setfield(L, module, "_bench");
}
