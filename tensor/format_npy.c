/*
 * format_npy.c: numpy's .npy format, and the atomic file writer that all
 * of formats.h's writers share.
 *
 * A .npy file is: the magic "\x93NUMPY", a major and minor version byte, a
 * little-endian header length (2 bytes in version 1, 4 in versions 2 and
 * 3), a header that is a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a newline, then the raw elements.  The dict is
 * parsed by a small strict parser (three known keys, string / bool / tuple
 * values): never evaluated, so a file cannot run code.  The payload size
 * must equal shape * itemsize exactly, and it is checked against the file's
 * size before anything is allocated.
 */
#include "formats.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "formats: the readers and writers assume a little-endian host"
#endif

/* ===================== the atomic writer ===================== */

int tn_atomic_open(tn_atomic_file *af, const char *path, const char *op) {
    af->fd = -1;
    af->path = path;
    af->op = op;
    size_t n = strlen(path);
    af->tmp = malloc(n + 16);
    if (!af->tmp) {
        tn_error("%s: %s: out of memory", op, path);
        return -1;
    }
    /* same directory as the target, so rename() cannot cross filesystems */
    snprintf(af->tmp, n + 16, "%s.tmp-XXXXXX", path);
    af->fd = mkstemp(af->tmp);
    if (af->fd < 0) {
        tn_error("%s: %s: cannot create a temporary file beside it: %s", op, path, strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        return -1;
    }
    fchmod(af->fd, 0644);  /* mkstemp makes 0600; a saved model is ordinary data */
    return 0;
}

int tn_atomic_write(tn_atomic_file *af, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t w = write(af->fd, c, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            tn_error("%s: %s: write failed: %s", af->op, af->path, w < 0 ? strerror(errno) : "no space");
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int tn_atomic_write_tensor(tn_atomic_file *af, tn_tensor *t) {
    if (t->numel == 0) return 0;
    bool was = tn_set_grad_enabled(false);
    tn_tensor *c = tn_contiguous(t);
    tn_set_grad_enabled(was);
    if (!c) return -1;
    int rc = tn_atomic_write(af, tn_data(c), (size_t)c->numel * tn_dtype_size(c->dtype));
    tn_release(c);
    return rc;
}

void tn_atomic_abort(tn_atomic_file *af) {
    if (af->fd >= 0) close(af->fd);
    af->fd = -1;
    if (af->tmp) {
        unlink(af->tmp);
        free(af->tmp);
        af->tmp = NULL;
    }
}

int tn_atomic_commit(tn_atomic_file *af) {
    const char *why = NULL;
    if (fsync(af->fd) != 0) why = "fsync";
    int fd = af->fd;
    af->fd = -1;
    if (close(fd) != 0 && !why) why = "close";
    if (!why && rename(af->tmp, af->path) != 0) why = "rename";
    if (why) {
        tn_error("%s: %s: %s failed: %s", af->op, af->path, why, strerror(errno));
        tn_atomic_abort(af);
        return -1;
    }
    /* make the rename itself durable (best effort: not every fs allows it) */
    char *dir = strdup(af->path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
        int dfd = open(d, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    free(af->tmp);
    af->tmp = NULL;
    return 0;
}

/* ===================== reading ===================== */

#define NPY_MAX_HEADER (1 << 20)   /* numpy itself refuses headers over 10 kB by default */

/* Reads exactly n bytes; returns 0, or -1 on a short read or error. */
static int read_full(int fd, void *buf, size_t n) {
    char *c = buf;
    while (n > 0) {
        ssize_t r = read(fd, c, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A cursor over the header text, for the dict parser. */
typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool accept(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted string ('...' or "...", no escapes) into buf; false if malformed. */
static bool parse_str(cursor *c, char *buf, size_t n) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
    char q = *c->p++;
    size_t len = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || len + 1 >= n) return false;
        buf[len++] = *c->p++;
    }
    if (c->p >= c->end) return false;
    c->p++;
    buf[len] = 0;
    return true;
}

static bool parse_word(cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
    c->p += n;
    return true;
}

/* A shape tuple: (), (3,), (2, 3) ... dims < 2^62. */
static bool parse_shape(cursor *c, int64_t *shape, int *ndim) {
    if (!accept(c, '(')) return false;
    *ndim = 0;
    for (;;) {
        if (accept(c, ')')) return true;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return false;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > ((int64_t)1 << 58)) return false;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') c->p++;  /* Python 2 longs */
        if (*ndim >= TN_MAX_DIMS) return false;
        shape[(*ndim)++] = v;
        if (!accept(c, ',')) return accept(c, ')');
    }
}

/* descr -> dtype and whether it is big-endian; -1 if unsupported. */
static int npy_dtype(const char *descr, bool *swap) {
    static const struct { const char *code; tn_dtype dt; } codes[] = {
        {"f4", TN_FLOAT32}, {"f8", TN_FLOAT64}, {"i8", TN_INT64},
        {"i4", TN_INT32},   {"u1", TN_UINT8},   {"b1", TN_BOOL},
    };
    if (strlen(descr) != 3 || (descr[0] != '<' && descr[0] != '>' && descr[0] != '|' && descr[0] != '='))
        return -1;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(descr + 1, codes[i].code) == 0) {
            *swap = descr[0] == '>' && tn_dtype_size(codes[i].dt) > 1;
            return (int)codes[i].dt;
        }
    return -1;
}

static void byteswap(void *data, int64_t n, size_t es) {
    unsigned char *p = data;
    for (int64_t i = 0; i < n; i++, p += es)
        for (size_t j = 0; j < es / 2; j++) {
            unsigned char t = p[j];
            p[j] = p[es - 1 - j];
            p[es - 1 - j] = t;
        }
}

/* Forces bool bytes to 0/1 (other values would break the dtype's invariant). */
static void normalize_bool(tn_tensor *t) {
    unsigned char *p = tn_data(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = p[i] != 0;
}

#define FAIL(...) do { tn_error(__VA_ARGS__); goto fail; } while (0)
/* A tensor-core failure (e.g. out of memory): its message, prefixed with
 * the op and the file (copied first: tn_error writes the same buffer). */
#define FAIL_CORE() do { \
        char why_[200]; \
        snprintf(why_, sizeof why_, "%s", tn_last_error()); \
        FAIL("%s: %s: %s", op, path, why_); \
    } while (0)

tn_tensor *tn_load_npy(const char *path) {
    const char *op = "load_npy";
    char *hdr = NULL;
    tn_tensor *t = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        tn_error("%s: %s: cannot open: %s", op, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) FAIL("%s: %s: not a regular file", op, path);
    unsigned char pre[12];
    if (st.st_size < 10 || read_full(fd, pre, 8) < 0) FAIL("%s: %s: too short to be a .npy file", op, path);
    if (memcmp(pre, "\x93NUMPY", 6) != 0) FAIL("%s: %s: not a .npy file (bad magic)", op, path);
    int major = pre[6];
    size_t prefix, hlen;
    if (major == 1) {
        if (read_full(fd, pre + 8, 2) < 0) FAIL("%s: %s: truncated header", op, path);
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        prefix = 10;
    } else if (major == 2 || major == 3) {
        if (read_full(fd, pre + 8, 4) < 0) FAIL("%s: %s: truncated header", op, path);
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        prefix = 12;
    } else {
        FAIL("%s: %s: unsupported .npy format version %d.%d", op, path, major, pre[7]);
    }
    if (hlen > NPY_MAX_HEADER || (uint64_t)prefix + hlen > (uint64_t)st.st_size)
        FAIL("%s: %s: header length %zu does not fit the file (%lld bytes)", op, path, hlen, (long long)st.st_size);
    hdr = malloc(hlen + 1);
    if (!hdr) FAIL("%s: %s: out of memory", op, path);
    if (read_full(fd, hdr, hlen) < 0) FAIL("%s: %s: truncated header", op, path);
    hdr[hlen] = 0;

    /* the dict: exactly the keys descr, fortran_order, shape */
    cursor c = {hdr, hdr + hlen};
    char key[32], descr[32];
    bool have_descr = false, have_fo = false, have_shape = false, fortran = false;
    int64_t shape[TN_MAX_DIMS];
    int ndim = 0;
    if (!accept(&c, '{')) FAIL("%s: %s: header is not a dict", op, path);
    while (!accept(&c, '}')) {
        if (!parse_str(&c, key, sizeof key) || !accept(&c, ':')) FAIL("%s: %s: malformed header", op, path);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_str(&c, descr, sizeof descr)) FAIL("%s: %s: malformed 'descr' (structured dtypes are not supported)", op, path);
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fo) {
            if (parse_word(&c, "True")) fortran = true;
            else if (!parse_word(&c, "False")) FAIL("%s: %s: malformed 'fortran_order'", op, path);
            have_fo = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!parse_shape(&c, shape, &ndim))
                FAIL("%s: %s: malformed 'shape' (at most %d dims)", op, path, TN_MAX_DIMS);
            have_shape = true;
        } else {
            FAIL("%s: %s: unexpected or repeated key '%s' in header", op, path, key);
        }
        if (!accept(&c, ',')) {
            if (!accept(&c, '}')) FAIL("%s: %s: malformed header", op, path);
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end || !have_descr || !have_fo || !have_shape)
        FAIL("%s: %s: header must hold exactly 'descr', 'fortran_order' and 'shape'", op, path);
    bool swap = false;
    int dt = npy_dtype(descr, &swap);
    if (dt < 0) FAIL("%s: %s: unsupported dtype '%s' (supported: <f4 <f8 <i8 <i4 |u1 |b1)", op, path, descr);

    /* size checks before allocating: the file must hold exactly the data */
    uint64_t numel = 1, span = 1;
    for (int i = 0; i < ndim; i++) {
        /* span: the product of the dims with zeros counted as 1, which the
         * strides reach even when numel is 0 (shape (0, 2^40, 2^40) would
         * overflow them) */
        uint64_t d = shape[i] ? (uint64_t)shape[i] : 1;
        if (span > (uint64_t)INT64_MAX / 16 / d) FAIL("%s: %s: shape is too large", op, path);  /* tn_empty's limit */
        span *= d;
        numel *= (uint64_t)shape[i];
    }
    uint64_t need = numel * tn_dtype_size((tn_dtype)dt), have = (uint64_t)st.st_size - prefix - hlen;
    if (need != have)
        FAIL("%s: %s: data is %llu bytes, but %s of %llu elements needs %llu", op, path,
             (unsigned long long)have, tn_dtype_name((tn_dtype)dt), (unsigned long long)numel,
             (unsigned long long)need);
    int64_t fshape[TN_MAX_DIMS];
    for (int i = 0; i < ndim; i++) fshape[i] = fortran ? shape[ndim - 1 - i] : shape[i];
    t = tn_empty((tn_dtype)dt, ndim, fshape);
    if (!t) FAIL_CORE();
    if (need && read_full(fd, tn_data(t), (size_t)need) < 0) FAIL("%s: %s: truncated data", op, path);
    if (swap) byteswap(tn_data(t), t->numel, tn_dtype_size(t->dtype));
    if (dt == TN_BOOL) normalize_bool(t);
    if (fortran && ndim > 1) {
        /* column-major data is the C-order data of the reversed shape: read it
         * through reversed strides and copy into C order */
        int64_t rs[TN_MAX_DIMS];
        for (int i = 0; i < ndim; i++) rs[i] = t->stride[ndim - 1 - i];
        tn_tensor *v = tn_alias(t, ndim, shape, rs, 0);
        tn_tensor *cc = v ? tn_clone(v) : NULL;
        tn_release(v);
        tn_release(t);
        t = cc;
        if (!t) FAIL_CORE();
    }
    free(hdr);
    close(fd);
    return t;
fail:
    tn_release(t);
    free(hdr);
    close(fd);
    return NULL;
}

/* ===================== writing ===================== */

static const char *npy_descr(tn_dtype dt) {
    static const char *const d[TN_DTYPE_COUNT] = {"<f4", "<f8", "<i8", "<i4", "|u1", "|b1"};
    return d[dt];
}

int tn_save_npy(const char *path, tn_tensor *t) {
    const char *op = "save_npy";
    /* the header: dict, spaces, newline; total prefix + header a multiple of 64 */
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy_descr(t->dtype));
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->ndim == 1 ? "," : "");
    size_t prefix = 10, total = prefix + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - prefix;
    unsigned char head[640];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + prefix, dict, (size_t)n);
    memset(head + prefix + n, ' ', padded - prefix - (size_t)n - 1);
    head[padded - 1] = '\n';

    tn_atomic_file af;
    if (tn_atomic_open(&af, path, op) < 0) return -1;
    if (tn_atomic_write(&af, head, padded) < 0 || tn_atomic_write_tensor(&af, t) < 0) {
        tn_atomic_abort(&af);
        return -1;
    }
    return tn_atomic_commit(&af);
}
