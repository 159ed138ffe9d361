/*
 * parallel.c: ember's thread pool and the one notion of "threads".
 *
 * Why a pool of our own and not OpenMP: the peer's lesson on these 2-core
 * machines is that two pools which spin while idle (OpenMP's and OpenBLAS's)
 * fight for the cores and run 3x slower.  Here workers sleep on a condition
 * variable between jobs, the main thread always takes a share of the work,
 * and tn_set_num_threads() sets OpenBLAS's thread count too, so the two
 * never oversubscribe.
 *
 * Determinism: tn_parallel_for splits [0, n) into chunks whose boundaries
 * depend only on n and the grain, never on the thread count, so a reduction
 * that combines per-chunk partials in chunk order gives the same bits with
 * 1 or 2 threads.
 *
 * Fork: only the forking thread survives in a child.  pthread_atfork marks
 * the pool as not started in the child; it restarts lazily on first use.
 */
#include "tensor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);

#define MAX_THREADS 64

volatile int tn_interrupt_flag = 0;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    pthread_t threads[MAX_THREADS];
    int nworkers;          /* started worker threads */
    int want;              /* requested total threads (incl. the caller) */
    uint64_t generation;   /* bumped per job */
    int active;            /* workers still busy on the current job */
    bool shutdown;
    /* the current job */
    tn_range_fn fn;
    void *ctx;
    int64_t n, chunk, nchunks;
    atomic_llong next;
} pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work_cv = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
};

static _Thread_local bool in_parallel;  /* nested loops run serially */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void run_chunks(void) {
    for (;;) {
        long long c = atomic_fetch_add(&pool.next, 1);
        if (c >= pool.nchunks) break;
        int64_t lo = c * pool.chunk;
        int64_t hi = lo + pool.chunk < pool.n ? lo + pool.chunk : pool.n;
        pool.fn(pool.ctx, lo, hi);
    }
}

static void *worker_main(void *arg) {
    /* the generation current when this worker was created (under pool.mu):
     * reading it after start-up could already see the job it was made for */
    uint64_t seen = (uint64_t)(uintptr_t)arg;
    in_parallel = true;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen && !pool.shutdown) pthread_cond_wait(&pool.work_cv, &pool.mu);
        if (pool.shutdown) break;
        seen = pool.generation;
        pthread_mutex_unlock(&pool.mu);
        run_chunks();
        pthread_mutex_lock(&pool.mu);
        if (--pool.active == 0) pthread_cond_signal(&pool.done_cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static void atfork_child(void) {
    /* The workers do not exist here; forget them and reinitialise the locks
     * (the parent may have held them at fork time). */
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.work_cv, NULL);
    pthread_cond_init(&pool.done_cv, NULL);
    pool.nworkers = 0;
    pool.active = 0;
    pool.shutdown = false;
    in_parallel = false;
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }

static int default_threads(void) {
    const char *env = getenv("EMBER_NUM_THREADS");
    long n = env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    return (int)n;
}

static void ensure_workers(void) {
    pthread_once(&atfork_once, install_atfork);
    if (pool.want == 0) tn_set_num_threads(default_threads());
    while (pool.nworkers < pool.want - 1) {
        if (pthread_create(&pool.threads[pool.nworkers], NULL, worker_main,
                           (void *)(uintptr_t)pool.generation) != 0)
            break;
        pthread_detach(pool.threads[pool.nworkers]);
        pool.nworkers++;
    }
}

void tn_set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    pool.want = n;
    openblas_set_num_threads(n);
}

int tn_get_num_threads(void) {
    if (pool.want == 0) tn_set_num_threads(default_threads());
    return pool.want;
}

void tn_parallel_for(int64_t n, int64_t grain, tn_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t nchunks = (n + grain - 1) / grain;
    int threads = tn_get_num_threads();
    if (nchunks < 2 || threads < 2 || in_parallel) {
        /* serial, but over the same chunk boundaries (determinism) */
        for (int64_t lo = 0; lo < n; lo += grain) fn(ctx, lo, lo + grain < n ? lo + grain : n);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    ensure_workers();
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.chunk = grain;
    pool.nchunks = nchunks;
    atomic_store(&pool.next, 0);
    pool.active = pool.nworkers;
    pool.generation++;
    pthread_cond_broadcast(&pool.work_cv);
    pthread_mutex_unlock(&pool.mu);

    in_parallel = true;
    run_chunks();
    in_parallel = false;

    pthread_mutex_lock(&pool.mu);
    while (pool.active > 0) pthread_cond_wait(&pool.done_cv, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
}
