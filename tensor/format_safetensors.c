/*
 * format_safetensors.c: the safetensors format (what ember.save writes and
 * what PyTorch / Hugging Face models ship as).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON, then
 * the data buffer.  The JSON maps each tensor name to
 *     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * (offsets relative to the data buffer, end exclusive) and may hold a
 * "__metadata__" object of string -> string.  JSON is parsed by libcjson.
 * The reader trusts nothing: the header length must fit the file and a
 * 100 MB cap, every shape dim and offset must be an exact non-negative
 * integer, end - begin must equal numel * itemsize, and the tensors must
 * tile the data buffer exactly (no holes, no overlaps, nothing after), as
 * the format's specification requires.  The writer pads the header with
 * spaces to a multiple of 8 bytes so the data is aligned.
 */
#include "formats.h"
#include "internal.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_MAX_TENSORS 1000000

static const char *const st_names[TN_DTYPE_COUNT] = {"F32", "F64", "I64", "I32", "U8", "BOOL"};

/* Half-precision dtypes (common in published models) are read as float32:
 * ST_F16 / ST_BF16 are their codes, beyond the tn_dtype range. */
enum { ST_F16 = TN_DTYPE_COUNT, ST_BF16 };

static int st_dtype(const char *s) {
    for (int i = 0; i < TN_DTYPE_COUNT; i++)
        if (strcmp(s, st_names[i]) == 0) return i;
    if (strcmp(s, "F16") == 0) return ST_F16;
    if (strcmp(s, "BF16") == 0) return ST_BF16;
    return -1;
}

static size_t st_disk_size(int code) { return code >= TN_DTYPE_COUNT ? 2 : tn_dtype_size((tn_dtype)code); }
static tn_dtype st_mem_dtype(int code) { return code >= TN_DTYPE_COUNT ? TN_FLOAT32 : (tn_dtype)code; }

/* IEEE half -> float, exactly (subnormals, infinities and NaNs included). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else if (man == 0) {
        bits = sign;
    } else {  /* subnormal: normalise */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void tn_safetensors_free(tn_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->count; i++) {
        free(st->names ? st->names[i] : NULL);
        tn_release(st->tensors ? st->tensors[i] : NULL);
    }
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->names);
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st);
}

/* pread until n bytes or failure. */
static int pread_full(int fd, void *buf, size_t n, uint64_t off) {
    char *c = buf;
    while (n > 0) {
        ssize_t r = pread(fd, c, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30), (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* An exact non-negative integer below 2^53 from a JSON number. */
static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

typedef struct {
    const cJSON *item;
    uint64_t begin, end;
} entry;

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->item->string, ((const entry *)b)->item->string);
}

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

#define FAIL(...) do { tn_error(__VA_ARGS__); goto fail; } while (0)
/* A tensor-core failure (e.g. out of memory): its message, prefixed with
 * the op and the file (copied first: tn_error writes the same buffer). */
#define FAIL_CORE() do { \
        char why_[200]; \
        snprintf(why_, sizeof why_, "%s", tn_last_error()); \
        FAIL("%s: %s: %s", op, path, why_); \
    } while (0)

tn_safetensors *tn_load_safetensors(const char *path) {
    const char *op = "load_safetensors";
    char *text = NULL;
    cJSON *root = NULL;
    entry *ents = NULL;
    tn_safetensors *st = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        tn_error("%s: %s: cannot open: %s", op, path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) FAIL("%s: %s: not a regular file", op, path);
    uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char lenb[8];
    if (fsize < 8 || pread_full(fd, lenb, 8, 0) < 0) FAIL("%s: %s: too short to be a safetensors file", op, path);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
    if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > fsize - 8)
        FAIL("%s: %s: header length %llu is impossible for a file of %llu bytes", op, path,
             (unsigned long long)hlen, (unsigned long long)fsize);
    text = malloc((size_t)hlen + 1);
    if (!text) FAIL("%s: %s: out of memory", op, path);
    if (pread_full(fd, text, (size_t)hlen, 8) < 0) FAIL("%s: %s: truncated header", op, path);
    text[hlen] = 0;
    root = cJSON_ParseWithLength(text, (size_t)hlen);
    if (!root) FAIL("%s: %s: header is not valid JSON", op, path);
    if (!cJSON_IsObject(root)) FAIL("%s: %s: header is not a JSON object", op, path);
    uint64_t dstart = 8 + hlen, dsize = fsize - dstart;

    st = calloc(1, sizeof *st);
    if (!st) FAIL("%s: %s: out of memory", op, path);
    int count = 0, nmeta = 0;
    const cJSON *meta = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (meta) FAIL("%s: %s: repeated __metadata__", op, path);
            meta = it;
        } else if (++count > ST_MAX_TENSORS) {
            FAIL("%s: %s: too many tensors", op, path);
        }
    }
    if (meta) {
        if (!cJSON_IsObject(meta)) FAIL("%s: %s: __metadata__ is not an object", op, path);
        for (const cJSON *m = meta->child; m; m = m->next) {
            if (!cJSON_IsString(m)) FAIL("%s: %s: __metadata__ value of '%s' is not a string", op, path, m->string);
            nmeta++;
        }
    }
    st->names = calloc((size_t)count + 1, sizeof *st->names);
    st->tensors = calloc((size_t)count + 1, sizeof *st->tensors);
    st->meta_keys = calloc((size_t)nmeta + 1, sizeof *st->meta_keys);
    st->meta_values = calloc((size_t)nmeta + 1, sizeof *st->meta_values);
    ents = calloc((size_t)count + 1, sizeof *ents);
    if (!st->names || !st->tensors || !st->meta_keys || !st->meta_values || !ents)
        FAIL("%s: %s: out of memory", op, path);
    if (meta)
        for (const cJSON *m = meta->child; m; m = m->next) {
            st->meta_keys[st->nmeta] = dupstr(m->string);
            st->meta_values[st->nmeta] = dupstr(m->valuestring);
            st->nmeta++;
            if (!st->meta_keys[st->nmeta - 1] || !st->meta_values[st->nmeta - 1])
                FAIL("%s: %s: out of memory", op, path);
        }

    /* validate every entry's description, then the tiling of the buffer */
    int k = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it == meta) continue;
        const char *name = it->string;
        if (!cJSON_IsObject(it)) FAIL("%s: %s: entry '%s' is not an object", op, path, name);
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo))
            FAIL("%s: %s: tensor '%s' needs \"dtype\" (string), \"shape\" and \"data_offsets\" (arrays)", op, path, name);
        int dt = st_dtype(jd->valuestring);
        if (dt < 0)
            FAIL("%s: %s: tensor '%s' has unsupported dtype %s (supported: F32 F64 I64 I32 U8 BOOL, and F16 BF16 read as float32)", op, path, name,
                 jd->valuestring);
        int nd = cJSON_GetArraySize(js);
        if (nd > TN_MAX_DIMS) FAIL("%s: %s: tensor '%s' has %d dims (at most %d)", op, path, name, nd, TN_MAX_DIMS);
        uint64_t numel = 1, span = 1;  /* span: zero dims counted as 1, as the strides see them */
        for (const cJSON *d = js->child; d; d = d->next) {
            uint64_t v;
            if (!json_uint(d, &v)) FAIL("%s: %s: tensor '%s' has a shape entry that is not a non-negative integer", op, path, name);
            if (span > (uint64_t)INT64_MAX / 16 / (v ? v : 1)) FAIL("%s: %s: tensor '%s' has a shape too large", op, path, name);
            span *= v ? v : 1;
            numel *= v;
        }
        uint64_t b, e;
        if (cJSON_GetArraySize(jo) != 2 || !json_uint(jo->child, &b) || !json_uint(jo->child->next, &e) || b > e ||
            e > dsize)
            FAIL("%s: %s: tensor '%s' has data_offsets outside the data buffer (%llu bytes)", op, path, name,
                 (unsigned long long)dsize);
        uint64_t need = numel * st_disk_size(dt);
        if (e - b != need) {
            int64_t shp[TN_MAX_DIMS];
            int i = 0;
            for (const cJSON *d = js->child; d; d = d->next) shp[i++] = (int64_t)d->valuedouble;
            char s[160];
            FAIL("%s: %s: tensor '%s' data_offsets [%llu, %llu] give %llu bytes, but %s %s needs %llu", op, path,
                 name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b),
                 jd->valuestring, tn_shape_str(shp, nd, s, sizeof s), (unsigned long long)need);
        }
        ents[k].item = it;
        ents[k].begin = b;
        ents[k].end = e;
        k++;
    }
    entry *sorted = malloc(((size_t)count + 1) * sizeof *sorted);
    if (!sorted) FAIL("%s: %s: out of memory", op, path);
    memcpy(sorted, ents, (size_t)count * sizeof *sorted);
    /* names must be distinct (JSON allows repeated keys): sort and compare neighbours */
    qsort(sorted, (size_t)count, sizeof *sorted, cmp_name);
    for (int i = 1; i < count; i++)
        if (strcmp(sorted[i - 1].item->string, sorted[i].item->string) == 0) {
            tn_error("%s: %s: tensor '%s' appears twice", op, path, sorted[i].item->string);
            free(sorted);
            goto fail;
        }
    qsort(sorted, (size_t)count, sizeof *sorted, cmp_entry);
    uint64_t pos = 0;
    const char *bad = NULL;
    for (int i = 0; i < count && !bad; i++) {
        if (sorted[i].begin != pos) bad = sorted[i].item->string;
        pos = sorted[i].end;
    }
    free(sorted);
    if (bad) FAIL("%s: %s: tensor '%s' overlaps another or leaves a hole in the data buffer", op, path, bad);
    if (pos != dsize)
        FAIL("%s: %s: the data buffer has %llu bytes but the tensors cover %llu", op, path,
             (unsigned long long)dsize, (unsigned long long)pos);

    /* all checked: allocate and read */
    for (int i = 0; i < count; i++) {
        const cJSON *it = ents[i].item;
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        int dt = st_dtype(cJSON_GetObjectItemCaseSensitive(it, "dtype")->valuestring);
        int64_t shp[TN_MAX_DIMS];
        int nd = 0;
        for (const cJSON *d = js->child; d; d = d->next) shp[nd++] = (int64_t)d->valuedouble;
        st->names[i] = dupstr(it->string);
        if (!st->names[i]) FAIL("%s: %s: out of memory", op, path);
        tn_tensor *t = tn_empty(st_mem_dtype(dt), nd, shp);
        st->count = i + 1;   /* from here on, free() releases entry i */
        if (!t) FAIL_CORE();
        st->tensors[i] = t;
        size_t nb = (size_t)(ents[i].end - ents[i].begin);
        if (dt < TN_DTYPE_COUNT) {
            if (nb && pread_full(fd, tn_data(t), nb, dstart + ents[i].begin) < 0)
                FAIL("%s: %s: read of tensor '%s' failed", op, path, it->string);
        } else {
            /* 16-bit floats: read a block, widen it into the float32 tensor */
            enum { BLOCK = 1 << 15 };
            uint16_t buf[BLOCK];
            float *out = tn_data(t);
            for (int64_t done = 0; done < t->numel;) {
                int64_t n = t->numel - done < BLOCK ? t->numel - done : BLOCK;
                if (pread_full(fd, buf, (size_t)n * 2, dstart + ents[i].begin + (uint64_t)done * 2) < 0)
                    FAIL("%s: %s: read of tensor '%s' failed", op, path, it->string);
                for (int64_t j = 0; j < n; j++)
                    out[done + j] = dt == ST_F16 ? half_to_float(buf[j]) : bf16_to_float(buf[j]);
                done += n;
            }
        }
        if (dt == TN_BOOL) {
            unsigned char *p = tn_data(t);
            for (int64_t j = 0; j < t->numel; j++) p[j] = p[j] != 0;
        }
    }
    st->count = count;
    free(ents);
    cJSON_Delete(root);
    free(text);
    close(fd);
    return st;
fail:
    tn_safetensors_free(st);
    free(ents);
    cJSON_Delete(root);
    free(text);
    close(fd);
    return NULL;
}

int tn_save_safetensors(const char *path, int count, const char *const *names, tn_tensor *const *tensors,
                        int nmeta, const char *const *meta_keys, const char *const *meta_values) {
    const char *op = "save_safetensors";
    if (count < 0 || nmeta < 0) {
        tn_error("%s: %s: negative count", op, path);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (!names[i] || !names[i][0] || strcmp(names[i], "__metadata__") == 0 || !tensors[i]) {
            tn_error("%s: %s: tensor %d needs a non-empty name other than __metadata__", op, path, i + 1);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                tn_error("%s: %s: name '%s' is used twice", op, path, names[i]);
                return -1;
            }
    }
    cJSON *root = cJSON_CreateObject();
    if (!root) goto oom;
    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto oom;
        for (int i = 0; i < nmeta; i++) {
            if (!meta_keys[i] || !meta_values[i]) {
                cJSON_Delete(root);
                tn_error("%s: %s: metadata entry %d is NULL", op, path, i + 1);
                return -1;
            }
            if (!cJSON_AddStringToObject(m, meta_keys[i], meta_values[i])) goto oom;
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < count; i++) {
        tn_tensor *t = tensors[i];
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        if (!e || !cJSON_AddStringToObject(e, "dtype", st_names[t->dtype])) goto oom;
        cJSON *s = cJSON_AddArrayToObject(e, "shape");
        if (!s) goto oom;
        for (int d = 0; d < t->ndim; d++) {
            cJSON *v = cJSON_CreateNumber((double)t->shape[d]);
            if (!v || !cJSON_AddItemToArray(s, v)) goto oom;
        }
        uint64_t nb = (uint64_t)t->numel * tn_dtype_size(t->dtype);
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON *b = cJSON_CreateNumber((double)off), *en = cJSON_CreateNumber((double)(off + nb));
        if (!o || !b || !en || !cJSON_AddItemToArray(o, b) || !cJSON_AddItemToArray(o, en)) goto oom;
        off += nb;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    root = NULL;
    if (!json) goto oom;
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    unsigned char *head = malloc(8 + hl);
    if (!head) {
        free(json);
        goto oom;
    }
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(head + 8, json, jl);
    memset(head + 8 + jl, ' ', hl - jl);
    free(json);
    tn_atomic_file af;
    int rc = tn_atomic_open(&af, path, op);
    if (rc == 0) rc = tn_atomic_write(&af, head, 8 + hl);
    for (int i = 0; rc == 0 && i < count; i++) rc = tn_atomic_write_tensor(&af, tensors[i]);
    free(head);
    if (rc < 0) {
        if (af.tmp) tn_atomic_abort(&af);
        return -1;
    }
    return tn_atomic_commit(&af);
oom:
    cJSON_Delete(root);
    tn_error("%s: %s: out of memory", op, path);
    return -1;
}
