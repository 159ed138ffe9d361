/*
 * format_idx.c: the IDX format of MNIST and Fashion-MNIST (Debian's
 * dataset-fashion-mnist ships it gzip-compressed).
 *
 * Layout: a 4-byte magic 0x00 0x00 TYPE NDIM, NDIM big-endian uint32 dims,
 * then the elements, big-endian, row-major.  zlib's gzopen/gzread read a
 * gzip file and a plain one alike (gzdirect tells which it was).  Before
 * allocating, the payload size the header claims is checked against the
 * file: exactly for a plain file, and against deflate's maximum ratio
 * (about 1032:1) for a compressed one, so a 100-byte file cannot make us
 * reserve terabytes.  Trailing bytes after the payload are an error.
 */
#include "formats.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Reads exactly n bytes; 0, or -1 on a short read or a zlib error. */
static int gz_read_full(gzFile gz, void *buf, size_t n) {
    char *c = buf;
    while (n > 0) {
        unsigned chunk = n < (1u << 30) ? (unsigned)n : (1u << 30);
        int r = gzread(gz, c, chunk);
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static const char *gz_why(gzFile gz) {
    int err;
    const char *msg = gzerror(gz, &err);
    return err == Z_OK || err == Z_BUF_ERROR ? "file is truncated" : msg;
}

#define FAIL(...) do { tn_error(__VA_ARGS__); goto fail; } while (0)

/* Big-endian element i of a block of `disk`-byte elements of IDX type
 * `type`, as a double. */
static double idx_element(const unsigned char *b, int type, size_t i) {
    switch (type) {
    case 0x08: return b[i];
    case 0x09: return (int8_t)b[i];
    case 0x0B: return (int16_t)(uint16_t)((unsigned)b[2 * i] << 8 | b[2 * i + 1]);
    case 0x0C: {
        uint32_t u = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
        return (int32_t)u;
    }
    case 0x0D: {
        uint32_t u = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        uint64_t u = 0;
        for (int k = 0; k < 8; k++) u = u << 8 | b[8 * i + (size_t)k];
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
}

static tn_tensor *load_idx(const char *path, bool as_float, double scale);

tn_tensor *tn_load_idx(const char *path) { return load_idx(path, false, 1.0); }
tn_tensor *tn_load_idx_float(const char *path, double scale) { return load_idx(path, true, scale); }

/* as_float: decode straight into float32 times `scale`, a block at a time,
 * so loading Fashion-MNIST's 47 MB of bytes as 188 MB of floats never holds
 * both (the peak memory of a training run is mostly its dataset). */
static tn_tensor *load_idx(const char *path, bool as_float, double scale) {
    const char *op = "load_idx";
    tn_tensor *t = NULL;
    unsigned char *tmp = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        tn_error("%s: %s: cannot open: %s", op, path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        tn_error("%s: %s: not a regular file", op, path);
        return NULL;
    }
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        tn_error("%s: %s: cannot open: %s", op, path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    unsigned char magic[4];
    if (gz_read_full(gz, magic, 4) < 0) FAIL("%s: %s: too short to be an IDX file", op, path);
    if (magic[0] != 0 || magic[1] != 0) FAIL("%s: %s: not an IDX file (bad magic)", op, path);
    int type = magic[2], nd = magic[3];
    tn_dtype dt;
    size_t disk;  /* bytes per element on disk */
    switch (type) {
    case 0x08: dt = TN_UINT8, disk = 1; break;
    case 0x09: dt = TN_INT32, disk = 1; break;
    case 0x0B: dt = TN_INT32, disk = 2; break;
    case 0x0C: dt = TN_INT32, disk = 4; break;
    case 0x0D: dt = TN_FLOAT32, disk = 4; break;
    case 0x0E: dt = TN_FLOAT64, disk = 8; break;
    default: FAIL("%s: %s: unknown IDX element type 0x%02x", op, path, type);
    }
    if (nd < 1 || nd > TN_MAX_DIMS) FAIL("%s: %s: %d dims (IDX files here have 1 to %d)", op, path, nd, TN_MAX_DIMS);
    unsigned char db[4 * TN_MAX_DIMS];
    if (gz_read_full(gz, db, 4 * (size_t)nd) < 0) FAIL("%s: %s: truncated header", op, path);
    int64_t shape[TN_MAX_DIMS];
    uint64_t numel = 1, span = 1;  /* span: zero dims counted as 1, as the strides see them */
    for (int i = 0; i < nd; i++) {
        uint64_t v = (uint64_t)db[4 * i] << 24 | (uint64_t)db[4 * i + 1] << 16 | (uint64_t)db[4 * i + 2] << 8 |
                     db[4 * i + 3];
        shape[i] = (int64_t)v;
        if (span > ((uint64_t)1 << 56) / (v ? v : 1)) FAIL("%s: %s: shape is too large", op, path);
        span *= v ? v : 1;
        numel *= v;
    }
    uint64_t payload = numel * disk, fsize = (uint64_t)sb.st_size;
    if (gzdirect(gz)) {
        if (payload != fsize - 4 - 4 * (uint64_t)nd)
            FAIL("%s: %s: header promises %llu bytes of data, the file has %llu", op, path,
                 (unsigned long long)payload, (unsigned long long)(fsize - 4 - 4 * (uint64_t)nd));
    } else if (payload / 1100 > fsize + 1024) {
        FAIL("%s: %s: header promises %llu bytes of data, more than a %llu-byte gzip file can hold", op, path,
             (unsigned long long)payload, (unsigned long long)fsize);
    }
    if (as_float) dt = TN_FLOAT32;
    t = tn_empty(dt, nd, shape);
    if (!t) goto fail;
    if (as_float) {
        enum { FBLOCK = 1 << 16 };
        tmp = malloc(FBLOCK * disk);
        if (!tmp) FAIL("%s: %s: out of memory", op, path);
        float *out = tn_data(t);
        for (uint64_t done = 0; done < numel;) {
            size_t n = numel - done < FBLOCK ? (size_t)(numel - done) : FBLOCK;
            if (gz_read_full(gz, tmp, n * disk) < 0) FAIL("%s: %s: reading the data failed: %s", op, path, gz_why(gz));
            if (type == 0x08) {  /* the image case; the product in double rounds like x / 255 */
                for (size_t i = 0; i < n; i++) out[done + i] = (float)((double)tmp[i] * scale);
            } else {
                for (size_t i = 0; i < n; i++) out[done + i] = (float)(idx_element(tmp, type, i) * scale);
            }
            done += n;
        }
    } else if (disk == tn_dtype_size(dt)) {
        /* same width: read in place, then fix the byte order */
        if (payload && gz_read_full(gz, tn_data(t), (size_t)payload) < 0)
            FAIL("%s: %s: reading the data failed: %s", op, path, gz_why(gz));
        if (disk > 1) {
            unsigned char *p = tn_data(t);
            for (uint64_t i = 0; i < numel; i++, p += disk)
                for (size_t j = 0; j < disk / 2; j++) {
                    unsigned char x = p[j];
                    p[j] = p[disk - 1 - j];
                    p[disk - 1 - j] = x;
                }
        }
    } else {
        /* signed bytes and shorts widen to int32, a block at a time */
        enum { BLOCK = 1 << 16 };
        tmp = malloc(BLOCK * disk);
        if (!tmp) FAIL("%s: %s: out of memory", op, path);
        int32_t *out = tn_data(t);
        for (uint64_t done = 0; done < numel;) {
            size_t n = numel - done < BLOCK ? (size_t)(numel - done) : BLOCK;
            if (gz_read_full(gz, tmp, n * disk) < 0) FAIL("%s: %s: reading the data failed: %s", op, path, gz_why(gz));
            for (size_t i = 0; i < n; i++)
                out[done + i] = disk == 1 ? (int32_t)(int8_t)tmp[i]
                                          : (int32_t)(int16_t)(uint16_t)((unsigned)tmp[2 * i] << 8 | tmp[2 * i + 1]);
            done += n;
        }
    }
    unsigned char extra;
    int r = gzread(gz, &extra, 1), zerr;
    gzerror(gz, &zerr);
    /* a gzip stream cut inside its trailer still yields all the data: only
     * the error state (Z_BUF_ERROR) tells it was truncated */
    if (r != 0 || zerr != Z_OK) FAIL("%s: %s: %s", op, path, r > 0 ? "trailing bytes after the data" : gz_why(gz));
    free(tmp);
    gzclose(gz);
    return t;
fail:
    free(tmp);
    tn_release(t);
    gzclose(gz);
    return NULL;
}
