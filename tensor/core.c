/*
 * core.c: dtypes, errors, refcounted storage and tensors, creation and
 * element access.  Everything else in tensor/ builds on these.
 *
 * Memory: a storage is one allocation holding its header and its data
 * (64-byte aligned, so BLAS and vector loops see aligned rows).  A tensor is
 * a second small allocation.  Bytes of storage are counted so vm/ can charge
 * them to the Lua garbage collector.
 */
#include "internal.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- errors ---------- */

static _Thread_local char err_buf[512];

void tn_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
}

const char *tn_last_error(void) { return err_buf[0] ? err_buf : "unknown error"; }

char *tn_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---------- dtypes ---------- */

static const size_t dtype_sizes[TN_DTYPE_COUNT] = {4, 8, 8, 4, 1, 1};
static const char *const dtype_names[TN_DTYPE_COUNT] = {
    "float32", "float64", "int64", "int32", "uint8", "bool"};

size_t tn_dtype_size(tn_dtype dt) { return dtype_sizes[dt]; }
const char *tn_dtype_name(tn_dtype dt) {
    return (unsigned)dt < TN_DTYPE_COUNT ? dtype_names[dt] : "?";
}

int tn_dtype_from_name(const char *name) {
    static const struct { const char *alias; tn_dtype dt; } aliases[] = {
        {"float", TN_FLOAT32}, {"double", TN_FLOAT64}, {"long", TN_INT64},
        {"int", TN_INT32},     {"byte", TN_UINT8},     {"float32", TN_FLOAT32},
        {"float64", TN_FLOAT64}, {"int64", TN_INT64},  {"int32", TN_INT32},
        {"uint8", TN_UINT8},   {"bool", TN_BOOL},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0) return (int)aliases[i].dt;
    return -1;
}

bool tn_dtype_is_float(tn_dtype dt) { return dt == TN_FLOAT32 || dt == TN_FLOAT64; }
bool tn_dtype_is_int(tn_dtype dt) {
    return dt == TN_INT64 || dt == TN_INT32 || dt == TN_UINT8;
}

/* Category: 0 bool, 1 integer, 2 float. */
static int dtype_category(tn_dtype dt) {
    return dt == TN_BOOL ? 0 : tn_dtype_is_int(dt) ? 1 : 2;
}

tn_dtype tn_promote(tn_dtype a, tn_dtype b) {
    if (a == b) return a;
    int ca = dtype_category(a), cb = dtype_category(b);
    if (ca != cb) return ca > cb ? a : b;
    if (ca == 2) return TN_FLOAT64;  /* float32 + float64 */
    /* integers: the wider one; uint8 with int32 -> int32 */
    if (a == TN_INT64 || b == TN_INT64) return TN_INT64;
    if (a == TN_INT32 || b == TN_INT32) return TN_INT32;
    return TN_UINT8;
}

/* Priority tier of a tensor in promotion: 2 dimensioned, 1 zero-dim, 0 number. */
static int promo_tier(const tn_tensor *t) {
    return t->is_wrapped_number ? 0 : t->ndim == 0 ? 1 : 2;
}

tn_dtype tn_result_type(const tn_tensor *a, const tn_tensor *b) {
    int ta = promo_tier(a), tb = promo_tier(b);
    if (ta == tb) return tn_promote(a->dtype, b->dtype);
    const tn_tensor *hi = ta > tb ? a : b, *lo = ta > tb ? b : a;
    int ch = dtype_category(hi->dtype), cl = dtype_category(lo->dtype);
    if (cl <= ch) return hi->dtype;
    /* the lower tier has a higher category: it decides the category, using
     * the default dtype of that category for wrapped numbers */
    if (lo->is_wrapped_number) return cl == 2 ? TN_FLOAT32 : TN_INT64;
    return lo->dtype;
}

/* ---------- storage ---------- */

static atomic_size_t bytes_live, bytes_total;

size_t tn_bytes_live(void) { return atomic_load(&bytes_live); }
size_t tn_bytes_allocated_total(void) { return atomic_load(&bytes_total); }

#define STORAGE_HEADER 64  /* keeps data 64-byte aligned after the header */

/* Blocks of 64 KiB and up: glibc's dynamic mmap threshold rises after the
 * first large free, after which big tensors come from the brk heap, fragment
 * it, and RSS creeps up in a training loop (measured: +17% over 5,000 MLP
 * steps).  We fix the threshold (large blocks always mmap'd and returned on
 * free) and keep a cache of freed large blocks by exact size, because loops
 * allocate the same shapes over and over and page-faulting a fresh mmap
 * each time costs more than the math (a 16 MB `a + b` ran at a tenth of
 * memcpy's speed).  vm/ trims the cache at every garbage-collection step
 * (tn_cache_trim): a block not reused since the previous trim is returned to
 * the system, so the cache never holds more than one collection cycle of
 * garbage, and a one-off temporary does not stay resident. */
#define LARGE_BLOCK (64u << 10)
#define CACHE_SLOTS 256
#if defined(__SANITIZE_ADDRESS__)
#define CACHE_BYTES 0            /* let ASan see every free (use-after-free) */
#else
#define CACHE_BYTES ((size_t)512 << 20)
#endif

static struct {
    pthread_mutex_t mu;
    void *block[CACHE_SLOTS];
    size_t size[CACHE_SLOTS];
    unsigned gen[CACHE_SLOTS];   /* trim generation at which it was cached */
    unsigned current;
    size_t total;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

__attribute__((constructor)) static void fix_mmap_threshold(void) {
    mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK);
}

static void *cache_take(size_t size) {
    void *b = NULL;
    pthread_mutex_lock(&cache.mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache.block[i] && cache.size[i] == size) {
            b = cache.block[i];
            cache.block[i] = NULL;
            cache.total -= size;
            break;
        }
    pthread_mutex_unlock(&cache.mu);
    return b;
}

static bool cache_put(void *b, size_t size) {
    bool kept = false;
    pthread_mutex_lock(&cache.mu);
    if (cache.total + size <= CACHE_BYTES)
        for (int i = 0; i < CACHE_SLOTS; i++)
            if (!cache.block[i]) {
                cache.block[i] = b;
                cache.size[i] = size;
                cache.gen[i] = cache.current;
                cache.total += size;
                kept = true;
                break;
            }
    pthread_mutex_unlock(&cache.mu);
    return kept;
}

void tn_cache_trim(void) {
    pthread_mutex_lock(&cache.mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache.block[i] && cache.gen[i] != cache.current) {
            free(cache.block[i]);
            cache.block[i] = NULL;
            cache.total -= cache.size[i];
        }
    cache.current++;
    pthread_mutex_unlock(&cache.mu);
}

/* Small blocks (storage of up to a few KB: biases, scalars, losses) and
 * tensor headers come from per-thread free lists: the per-op cost of a tiny
 * tensor was mostly glibc's malloc_consolidate, triggered by mixing
 * posix_memalign with frees.  Size classes are powers of two from 128 bytes
 * (header included); each list keeps at most SMALL_KEEP blocks. */
#define SMALL_CLASSES 6          /* 128, 256, ..., 4096 */
#if defined(__SANITIZE_ADDRESS__)
#define SMALL_KEEP 0             /* let ASan see every free (use-after-free) */
#else
#define SMALL_KEEP 1024
#endif
typedef struct free_node { struct free_node *next; } free_node;
static _Thread_local struct {
    free_node *head[SMALL_CLASSES];
    int count[SMALL_CLASSES];
    free_node *headers;
    int nheaders;
} freelists;

static int small_class(size_t size) {
    size_t c = 128;
    for (int k = 0; k < SMALL_CLASSES; k++, c <<= 1)
        if (size <= c) return k;
    return -1;
}

static tn_storage *storage_new(size_t nbytes) {
    _Static_assert(sizeof(tn_storage) <= STORAGE_HEADER, "storage header too big");
    size_t size = STORAGE_HEADER + (nbytes ? nbytes : 1);
    void *block = NULL;
    int k = small_class(size);
    if (k >= 0) {
        size = (size_t)128 << k;
        if (freelists.head[k]) {
            block = freelists.head[k];
            freelists.head[k] = freelists.head[k]->next;
            freelists.count[k]--;
        }
    } else if (size >= LARGE_BLOCK) {
        block = cache_take(size);
    }
    if (!block && posix_memalign(&block, 64, size) != 0) {
        tn_error("out of memory allocating %zu bytes", nbytes);
        return NULL;
    }
    tn_storage *s = block;
    s->refcount = 1;
    s->version = 0;
    s->nbytes = nbytes;
    s->data = (char *)block + STORAGE_HEADER;
    atomic_fetch_add(&bytes_live, nbytes);
    atomic_fetch_add(&bytes_total, nbytes);
    return s;
}

static void storage_release(tn_storage *s) {
    if (s && --s->refcount == 0) {
        atomic_fetch_sub(&bytes_live, s->nbytes);
        size_t size = STORAGE_HEADER + (s->nbytes ? s->nbytes : 1);
        int k = small_class(size);
        if (k >= 0 && freelists.count[k] < SMALL_KEEP) {
            free_node *f = (free_node *)s;
            f->next = freelists.head[k];
            freelists.head[k] = f;
            freelists.count[k]++;
            return;
        }
        if (k >= 0 || size < LARGE_BLOCK || !cache_put(s, size)) free(s);
    }
}

/* tensor headers: zeroed, from the free list when possible */
static tn_tensor *header_alloc(void) {
    tn_tensor *t;
    if (freelists.headers) {
        t = (tn_tensor *)freelists.headers;
        freelists.headers = freelists.headers->next;
        freelists.nheaders--;
        memset(t, 0, sizeof *t);
        return t;
    }
    return calloc(1, sizeof *t);
}

static void header_free(tn_tensor *t) {
    if (freelists.nheaders < 4 * SMALL_KEEP) {
        free_node *f = (free_node *)t;
        f->next = freelists.headers;
        freelists.headers = f;
        freelists.nheaders++;
        return;
    }
    free(t);
}

/* ---------- tensors ---------- */

tn_tensor *tn_retain(tn_tensor *t) {
    if (t) t->refcount++;
    return t;
}

void tn_release(tn_tensor *t) {
    if (!t || --t->refcount > 0) return;
    storage_release(t->storage);
    if (t->grad) tn_release(t->grad);
    if (t->grad_fn) tn_node_release(t->grad_fn);
    header_free(t);
}

static int check_shape(int ndim, const int64_t *shape, int64_t *numel) {
    if (ndim < 0 || ndim > TN_MAX_DIMS) {
        tn_error("tensor: %d dims (at most %d)", ndim, TN_MAX_DIMS);
        return -1;
    }
    /* nz: the product of the non-zero sizes.  Strides are products of
     * sizes too, so it must stay bounded even when some size is 0 (an
     * empty [0, 2^40, 2^40] would otherwise overflow the strides). */
    int64_t n = 1, nz = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char b[128];
            tn_error("tensor: negative size in shape %s", tn_shape_str(shape, ndim, b, sizeof b));
            return -1;
        }
        if (shape[i] && nz > INT64_MAX / 16 / shape[i]) {
            char b[160];
            tn_error("tensor: shape %s is too large", tn_shape_str(shape, ndim, b, sizeof b));
            return -1;
        }
        if (shape[i]) nz *= shape[i];
        n *= shape[i];
    }
    *numel = n;
    return 0;
}

/* A tensor header viewing `s` (takes the caller's storage reference). */
static tn_tensor *tensor_header(tn_dtype dt, int ndim, const int64_t *shape, tn_storage *s) {
    tn_tensor *t = header_alloc();
    if (!t) {
        storage_release(s);
        tn_error("out of memory");
        return NULL;
    }
    t->refcount = 1;
    t->dtype = dt;
    t->ndim = ndim;
    t->storage = s;
    int64_t st = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = st;
        st *= shape[i] ? shape[i] : 1;
    }
    t->numel = 1;
    for (int i = 0; i < ndim; i++) t->numel *= shape[i];
    return t;
}

tn_tensor *tn_empty(tn_dtype dt, int ndim, const int64_t *shape) {
    int64_t n;
    if ((unsigned)dt >= TN_DTYPE_COUNT) {
        tn_error("tensor: bad dtype %d", (int)dt);
        return NULL;
    }
    if (check_shape(ndim, shape, &n) < 0) return NULL;
    tn_storage *s = storage_new((size_t)n * tn_dtype_size(dt));
    if (!s) return NULL;
    return tensor_header(dt, ndim, shape, s);
}

tn_tensor *tn_zeros(tn_dtype dt, int ndim, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, ndim, shape);
    if (t) memset(t->storage->data, 0, t->storage->nbytes);
    return t;
}

tn_tensor *tn_full(tn_dtype dt, int ndim, const int64_t *shape, double v) {
    tn_tensor *t = tn_empty(dt, ndim, shape);
    if (t && tn_fill_(t, v) < 0) {
        tn_release(t);
        return NULL;
    }
    return t;
}

tn_tensor *tn_ones(tn_dtype dt, int ndim, const int64_t *shape) {
    return tn_full(dt, ndim, shape, 1.0);
}

tn_tensor *tn_scalar(tn_dtype dt, double v) { return tn_full(dt, 0, NULL, v); }

tn_tensor *tn_scalar_i64(int64_t v) {
    tn_tensor *t = tn_empty(TN_INT64, 0, NULL);
    if (t) *(int64_t *)t->storage->data = v;
    return t;
}

tn_tensor *tn_wrap_number(double v, bool is_integer) {
    tn_tensor *t = is_integer ? tn_scalar_i64((int64_t)v) : tn_scalar(TN_FLOAT64, v);
    if (t) t->is_wrapped_number = true;
    return t;
}

tn_tensor *tn_from_data(tn_dtype dt, int ndim, const int64_t *shape, const void *data) {
    tn_tensor *t = tn_empty(dt, ndim, shape);
    if (t && t->storage->nbytes) memcpy(t->storage->data, data, t->storage->nbytes);
    return t;
}

tn_tensor *tn_arange(double start, double stop, double step, tn_dtype dt) {
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        tn_error("arange: bad range (start %g, stop %g, step %g)", start, stop, step);
        return NULL;
    }
    double len = ceil((stop - start) / step);
    if (len < 0) len = 0;
    if (len > 1e12) {
        tn_error("arange: %g elements is too many", len);
        return NULL;
    }
    int64_t n = (int64_t)len;
    tn_tensor *t = tn_empty(dt, 1, &n);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) tn_store(dt, t->storage->data, i, start + (double)i * step);
    return t;
}

tn_tensor *tn_linspace(double a, double b, int64_t n, tn_dtype dt) {
    if (n < 0) {
        tn_error("linspace: number of points must be >= 0, got %lld", (long long)n);
        return NULL;
    }
    tn_tensor *t = tn_empty(dt, 1, &n);
    if (!t) return NULL;
    double step = n > 1 ? (b - a) / (double)(n - 1) : 0;
    /* symmetric formula, as numpy: exact endpoints */
    for (int64_t i = 0; i < n; i++) {
        double v = i < n / 2 ? a + step * (double)i : b - step * (double)(n - 1 - i);
        tn_store(dt, t->storage->data, i, v);
    }
    return t;
}

tn_tensor *tn_eye(int64_t n, int64_t m, tn_dtype dt) {
    int64_t shape[2] = {n, m};
    tn_tensor *t = tn_zeros(dt, 2, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < n && i < m; i++) tn_store(dt, t->storage->data, i * m + i, 1.0);
    return t;
}

/* ---------- element access ---------- */

double tn_load(tn_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case TN_FLOAT32: return ((const float *)p)[i];
    case TN_FLOAT64: return ((const double *)p)[i];
    case TN_INT64: return (double)((const int64_t *)p)[i];
    case TN_INT32: return ((const int32_t *)p)[i];
    case TN_UINT8: return ((const uint8_t *)p)[i];
    case TN_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0;
    }
}

/* Float-to-integer stores saturate instead of invoking undefined behaviour
 * on NaN or out-of-range values (what a user types must never be UB). */
static int64_t sat_i64(double v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)v;
}

void tn_store(tn_dtype dt, void *p, int64_t i, double v) {
    switch (dt) {
    case TN_FLOAT32: ((float *)p)[i] = (float)v; break;
    case TN_FLOAT64: ((double *)p)[i] = v; break;
    case TN_INT64: ((int64_t *)p)[i] = sat_i64(v); break;
    case TN_INT32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(uint64_t)sat_i64(v); break;
    case TN_UINT8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)sat_i64(v); break;
    case TN_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: break;
    }
}

bool tn_is_contiguous(const tn_tensor *t) {
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != st) return false;
        st *= t->shape[i];
    }
    return true;
}

static int64_t flat_offset(const tn_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t sz = t->shape[d];
        off += (i % sz) * t->stride[d];
        i /= sz;
    }
    return off;
}

double tn_get_flat(const tn_tensor *t, int64_t i) {
    return tn_load(t->dtype, tn_data(t), flat_offset(t, i));
}

int64_t tn_get_flat_i64(const tn_tensor *t, int64_t i) {
    const char *p = tn_data(t);
    int64_t off = flat_offset(t, i);
    switch (t->dtype) {
    case TN_INT64: return ((const int64_t *)p)[off];
    case TN_INT32: return ((const int32_t *)p)[off];
    case TN_UINT8:
    case TN_BOOL: return ((const uint8_t *)p)[off];
    default: return sat_i64(tn_load(t->dtype, p, off));
    }
}

double tn_item(const tn_tensor *t) {
    if (t->numel != 1) {
        char b[128];
        tn_error("item: tensor of shape %s has %lld elements, not 1",
                 tn_shape_str(t->shape, t->ndim, b, sizeof b), (long long)t->numel);
        return NAN;
    }
    return tn_get_flat(t, 0);
}

/* ---------- shape helpers ---------- */

int tn_wrap_dim(int dim, int ndim, const char *op) {
    int n = ndim > 0 ? ndim : 1;  /* a 0-dim tensor accepts dim 0 / -1 */
    int d = dim < 0 ? dim + n : dim;
    if (d < 0 || d >= n) {
        tn_error("%s: dim %d out of range for a tensor with %d dims", op,
                 dim < 0 ? dim : dim + 1, ndim);
        return -1;
    }
    return d;
}

int tn_broadcast_shapes(const int64_t *a, int na, const int64_t *b, int nb,
                        int64_t *out, const char *op) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[128], s2[128];
            tn_error("%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", op,
                     tn_shape_str(a, na, s1, sizeof s1), tn_shape_str(b, nb, s2, sizeof s2),
                     i + 1, (long long)sa, (long long)sb);
            return -1;
        }
        out[i] = sa == 1 ? sb : sa;
    }
    return n;
}

bool tn_same_shape(const tn_tensor *a, const tn_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* ---------- aliases (shared by views and autograd) ---------- */

/* A new header over t's storage with the given geometry (no history). */
tn_tensor *tn_alias(tn_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset) {
    int64_t numel;
    if (check_shape(ndim, shape, &numel) < 0) return NULL;  /* expand can ask for 2^120 elements */
    tn_tensor *v = header_alloc();
    if (!v) {
        tn_error("out of memory");
        return NULL;
    }
    v->refcount = 1;
    v->dtype = t->dtype;
    v->ndim = ndim;
    v->offset = offset;
    v->numel = numel;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->stride[i] = stride[i];
    }
    v->storage = t->storage;
    t->storage->refcount++;
    return v;
}

tn_tensor *tn_detach(tn_tensor *t) {
    return tn_alias(t, t->ndim, t->shape, t->stride, t->offset);
}
