/*
 * format_idx.c: the IDX format of MNIST and Fashion-MNIST (Debian's
 * dataset-fashion-mnist ships it gzip-compressed).
 *
 * Layout: a 4-byte magic 0x00 0x00 TYPE NDIM, NDIM big-endian uint32 dims,
 * then the elements, big-endian, row-major.  A gzip file (magic 1f 8b) is
 * decompressed with zlib's inflate, which checks each member's CRC and
 * length; not with gzread, which takes a stream cut inside its 8-byte
 * trailer for a clean end, so a truncated file would load.  Before
 * allocating, the payload size the header claims is checked against the
 * file: exactly for a plain file, and against deflate's maximum ratio
 * (about 1032:1) for a compressed one, so a 100-byte file cannot make us
 * reserve terabytes.  Trailing bytes after the payload are an error.
 */
#include "formats.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The byte source: the file itself, or the concatenation of its gzip
 * members' decompressed data. */
typedef struct {
    int fd;
    bool gz;               /* gzip-compressed (else plain bytes) */
    bool zinit;            /* zs needs inflateEnd */
    bool member_end;       /* gz: the last member's trailer was checked */
    bool eof;              /* the file has no more bytes */
    const char *why;       /* what went wrong, for the error message */
    z_stream zs;
    unsigned char in[1 << 15];
} idx_reader;

/* Refills the input buffer when it is empty; -1 on a read error. */
static int rd_fill(idx_reader *r) {
    if (r->zs.avail_in > 0 || r->eof) return 0;
    ssize_t n;
    do n = read(r->fd, r->in, sizeof r->in);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        r->why = strerror(errno);
        return -1;
    }
    r->eof = n == 0;
    r->zs.next_in = r->in;
    r->zs.avail_in = (uInt)n;
    return 0;
}

/* Reads exactly n bytes; 0, or -1 with r->why set. */
static int rd_read_full(idx_reader *r, void *buf, size_t n) {
    unsigned char *c = buf;
    if (!r->gz) {
        while (n > 0) {
            ssize_t k = read(r->fd, c, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                r->why = k < 0 ? strerror(errno) : "file is truncated";
                return -1;
            }
            c += k;
            n -= (size_t)k;
        }
        return 0;
    }
    while (n > 0) {
        if (rd_fill(r) < 0) return -1;
        if (r->member_end) {
            /* another member may follow (gzip -c a b > c); anything else
             * fails inflate's header check */
            if (r->zs.avail_in == 0) {
                r->why = "file is truncated";
                return -1;
            }
            inflateReset(&r->zs);
            r->member_end = false;
        }
        if (r->zs.avail_in == 0) {
            r->why = "file is truncated";
            return -1;
        }
        uInt chunk = n < ((size_t)1 << 30) ? (uInt)n : (1u << 30);
        r->zs.next_out = c;
        r->zs.avail_out = chunk;
        int ret = inflate(&r->zs, Z_NO_FLUSH);
        size_t got = chunk - r->zs.avail_out;
        c += got;
        n -= got;
        if (ret == Z_STREAM_END) {
            r->member_end = true;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            r->why = ret == Z_MEM_ERROR ? "out of memory" : r->zs.msg ? r->zs.msg : "corrupt gzip data";
            return -1;
        }
    }
    return 0;
}

/* After the data: 0 at a clean end of file (for gzip: the last member's
 * trailer checked, nothing after it), -1 with r->why set otherwise. */
static int rd_finish(idx_reader *r) {
    unsigned char extra;
    if (!r->gz) {
        ssize_t k;
        do k = read(r->fd, &extra, 1);
        while (k < 0 && errno == EINTR);
        if (k == 0) return 0;
        r->why = k < 0 ? strerror(errno) : "trailing bytes after the data";
        return -1;
    }
    /* finish the member: inflate reads (and checks) its trailer */
    while (!r->member_end) {
        if (rd_fill(r) < 0) return -1;
        if (r->zs.avail_in == 0) {
            r->why = "file is truncated";
            return -1;
        }
        r->zs.next_out = &extra;
        r->zs.avail_out = 1;
        int ret = inflate(&r->zs, Z_NO_FLUSH);
        if (r->zs.avail_out == 0) {
            r->why = "trailing bytes after the data";
            return -1;
        }
        if (ret == Z_STREAM_END) r->member_end = true;
        else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            r->why = r->zs.msg ? r->zs.msg : "corrupt gzip data";
            return -1;
        }
    }
    /* further members must decompress to nothing */
    for (;;) {
        if (rd_fill(r) < 0) return -1;
        if (r->zs.avail_in == 0) return 0;
        if (rd_read_full(r, &extra, 1) == 0) {
            r->why = "trailing bytes after the data";
            return -1;
        }
        if (r->member_end) continue;  /* an empty member */
        return -1;
    }
}

static void rd_close(idx_reader *r) {
    if (r->zinit) inflateEnd(&r->zs);
    close(r->fd);
    free(r);
}

#define FAIL(...) do { tn_error(__VA_ARGS__); goto fail; } while (0)
/* A tensor-core failure (e.g. out of memory): its message, prefixed with
 * the op and the file (copied first: tn_error writes the same buffer). */
#define FAIL_CORE() do { \
        char why_[200]; \
        snprintf(why_, sizeof why_, "%s", tn_last_error()); \
        FAIL("%s: %s: %s", op, path, why_); \
    } while (0)

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
    idx_reader *rd = calloc(1, sizeof *rd);
    if (!rd) {
        tn_error("%s: %s: out of memory", op, path);
        return NULL;
    }
    rd->fd = open(path, O_RDONLY);
    if (rd->fd < 0) {
        tn_error("%s: %s: cannot open: %s", op, path, strerror(errno));
        free(rd);
        return NULL;
    }
    if (rd_fill(rd) < 0) FAIL("%s: %s: cannot read: %s", op, path, rd->why);
    if (rd->zs.avail_in >= 2 && rd->in[0] == 0x1f && rd->in[1] == 0x8b) {
        rd->gz = true;
        if (inflateInit2(&rd->zs, 16 + MAX_WBITS) != Z_OK) FAIL("%s: %s: out of memory", op, path);
        rd->zinit = true;
    } else {
        /* plain: start again at byte 0 (read() below, not the buffer) */
        if (lseek(rd->fd, 0, SEEK_SET) != 0) FAIL("%s: %s: cannot seek: %s", op, path, strerror(errno));
    }
    unsigned char magic[4];
    if (rd_read_full(rd, magic, 4) < 0) FAIL("%s: %s: too short to be an IDX file", op, path);
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
    if (rd_read_full(rd, db, 4 * (size_t)nd) < 0) FAIL("%s: %s: truncated header", op, path);
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
    if (!rd->gz) {
        if (payload != fsize - 4 - 4 * (uint64_t)nd)
            FAIL("%s: %s: header promises %llu bytes of data, the file has %llu", op, path,
                 (unsigned long long)payload, (unsigned long long)(fsize - 4 - 4 * (uint64_t)nd));
    } else if (payload / 1100 > fsize + 1024) {
        FAIL("%s: %s: header promises %llu bytes of data, more than a %llu-byte gzip file can hold", op, path,
             (unsigned long long)payload, (unsigned long long)fsize);
    }
    if (as_float) dt = TN_FLOAT32;
    t = tn_empty(dt, nd, shape);
    if (!t) FAIL_CORE();
    if (as_float) {
        enum { FBLOCK = 1 << 16 };
        tmp = malloc(FBLOCK * disk);
        if (!tmp) FAIL("%s: %s: out of memory", op, path);
        float *out = tn_data(t);
        for (uint64_t done = 0; done < numel;) {
            size_t n = numel - done < FBLOCK ? (size_t)(numel - done) : FBLOCK;
            if (rd_read_full(rd, tmp, n * disk) < 0) FAIL("%s: %s: reading the data failed: %s", op, path, rd->why);
            if (type == 0x08) {  /* the image case; the product in double rounds like x / 255 */
                for (size_t i = 0; i < n; i++) out[done + i] = (float)((double)tmp[i] * scale);
            } else {
                for (size_t i = 0; i < n; i++) out[done + i] = (float)(idx_element(tmp, type, i) * scale);
            }
            done += n;
        }
    } else if (disk == tn_dtype_size(dt)) {
        /* same width: read in place, then fix the byte order */
        if (payload && rd_read_full(rd, tn_data(t), (size_t)payload) < 0)
            FAIL("%s: %s: reading the data failed: %s", op, path, rd->why);
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
            if (rd_read_full(rd, tmp, n * disk) < 0) FAIL("%s: %s: reading the data failed: %s", op, path, rd->why);
            for (size_t i = 0; i < n; i++)
                out[done + i] = disk == 1 ? (int32_t)(int8_t)tmp[i]
                                          : (int32_t)(int16_t)(uint16_t)((unsigned)tmp[2 * i] << 8 | tmp[2 * i + 1]);
            done += n;
        }
    }
    if (rd_finish(rd) < 0) FAIL("%s: %s: %s", op, path, rd->why);
    free(tmp);
    rd_close(rd);
    return t;
fail:
    free(tmp);
    tn_release(t);
    rd_close(rd);
    return NULL;
}
