/*
 * test_formats.c: Check suite for tensor/formats.h: .npy, safetensors and
 * IDX round trips for every dtype (0-dim, empty, non-contiguous tensors),
 * files written byte by byte here and read back, numpy's exact header
 * bytes, hostile files that must fail with a message (never crash), atomic
 * writes (a failed write leaves the old file and no temporary), gzip IDX,
 * and a fuzz pass that truncates, flips bytes and plants huge lengths in
 * valid files.  Run it under ASan/UBSan too:
 *   make BUILD=build-san OPT="-O1 -march=x86-64-v3 -fsanitize=address,undefined" build-san/tests/test_formats
 */
#include "helpers.h"
#include "tensor/formats.h"
#include "tensor/internal.h"

#include <cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

/* ---------- helpers ---------- */

static char dir[64];

static void setup(void) {
    strcpy(dir, "/tmp/ember-formats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static const char *fpath(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* A tensor of dtype dt and shape with varied values (exact in every dtype). */
static tn_tensor *sample(tn_dtype dt, int nd, const int64_t *shape) {
    tn_tensor *t = tn_empty(dt, nd, shape);
    for (int64_t i = 0; i < t->numel; i++) {
        double v = dt == TN_BOOL ? (double)(i % 3 == 0) : dt == TN_UINT8 ? (double)((i * 37) % 256)
                 : tn_dtype_is_float(dt) ? (double)i * 0.25 - 3.5 : (double)(i * 1000003 - 77);
        tn_store(dt, t->storage->data, i, v);
    }
    return t;
}

static void expect_same(const tn_tensor *a, const tn_tensor *b) {
    ck_assert_msg(b != NULL, "load failed: %s", tn_last_error());
    ck_assert_int_eq(a->dtype, b->dtype);
    ck_assert_int_eq(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++) ck_assert_int_eq(a->shape[i], b->shape[i]);
    ck_assert(tn_is_contiguous(b));
    for (int64_t i = 0; i < a->numel; i++) ck_assert_msg(tn_get_flat(a, i) == tn_get_flat(b, i), "element %lld", (long long)i);
}

/* Asserts that the last error mentions the file and `what`. */
static void expect_error(const char *path, const char *what) {
    const char *e = tn_last_error();
    ck_assert_msg(strstr(e, path) != NULL, "error does not name the file: %s", e);
    ck_assert_msg(strstr(e, what) != NULL, "error '%s' does not mention '%s'", e, what);
}

static const int64_t shapes[][3] = {{0}, {0, 3}, {5}, {2, 3, 4}};
static const int shape_nd[] = {0, 2, 1, 3};

/* ---------- .npy ---------- */

START_TEST(test_npy_roundtrip) {
    for (int dt = 0; dt < TN_DTYPE_COUNT; dt++)
        for (int s = 0; s < 4; s++) {
            tn_tensor *t = sample((tn_dtype)dt, shape_nd[s], shapes[s]);
            const char *p = fpath("x.npy");
            ck_assert_msg(tn_save_npy(p, t) == 0, "%s", tn_last_error());
            tn_tensor *r = tn_load_npy(p);
            expect_same(t, r);
            tn_release(r);
            tn_release(t);
        }
    /* a transposed (non-contiguous) tensor is saved in logical order */
    tn_tensor *m = sample(TN_FLOAT64, 2, (int64_t[]){3, 4});
    tn_tensor *mt = tn_alias(m, 2, (int64_t[]){4, 3}, (int64_t[]){1, 4}, 0);
    ck_assert_int_eq(tn_save_npy(fpath("t.npy"), mt), 0);
    tn_tensor *r = tn_load_npy(fpath("t.npy"));
    expect_same(mt, r);
    tn_release(r);
    tn_release(mt);
    tn_release(m);
}
END_TEST

START_TEST(test_npy_header_bytes) {
    /* byte for byte what numpy.save writes */
    tn_tensor *z = tn_zeros(TN_FLOAT32, 2, (int64_t[]){2, 3});
    ck_assert_int_eq(tn_save_npy(fpath("z.npy"), z), 0);
    size_t n;
    unsigned char *b = read_bytes(fpath("z.npy"), &n);
    const char *head = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    size_t hl = strlen(head + 10) + 10;
    ck_assert_uint_eq(n, 128 + 24);
    ck_assert_int_eq(memcmp(b, head, hl), 0);
    for (size_t i = hl; i < 127; i++) ck_assert_int_eq(b[i], ' ');
    ck_assert_int_eq(b[127], '\n');
    free(b);
    tn_release(z);
    tn_tensor *s = tn_scalar(TN_BOOL, 1);
    ck_assert_int_eq(tn_save_npy(fpath("s.npy"), s), 0);
    b = read_bytes(fpath("s.npy"), &n);
    ck_assert_uint_eq(n, 129);
    ck_assert_int_eq(memcmp(b + 10, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }", 55), 0);
    ck_assert_int_eq(b[128], 1);
    free(b);
    tn_release(s);
    tn_tensor *v = tn_zeros(TN_INT64, 1, (int64_t[]){7});
    ck_assert_int_eq(tn_save_npy(fpath("v.npy"), v), 0);
    b = read_bytes(fpath("v.npy"), &n);
    ck_assert_int_eq(memcmp(b + 10, "{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }", 57), 0);
    free(b);
    tn_release(v);
}
END_TEST

/* A .npy file from a header dict and raw data (version 1 or 2). */
static void make_npy(const char *path, int version, const char *dict, const void *data, size_t n) {
    unsigned char buf[4096];
    size_t pre = version == 1 ? 10 : 12, dl = strlen(dict);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    size_t hl = dl + 1;
    buf[8] = (unsigned char)hl;
    buf[9] = (unsigned char)(hl >> 8);
    if (version != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    buf[pre + dl] = '\n';
    memcpy(buf + pre + hl, data, n);
    write_bytes(path, buf, pre + hl + n);
}

START_TEST(test_npy_known_layout) {
    int32_t i4[] = {1, -2, 3, 4};
    make_npy(fpath("a.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", i4, sizeof i4);
    tn_tensor *t = tn_load_npy(fpath("a.npy"));
    ck_assert_int_eq(t->dtype, TN_INT32);
    EXPECT(t, 0, {1, -2, 3, 4});
    tn_release(t);
    double f8[] = {0.5, -1.25, 1e300};
    make_npy(fpath("b.npy"), 2, "{\"descr\": \"<f8\", \"shape\": (3,), \"fortran_order\": False}", f8, sizeof f8);
    t = tn_load_npy(fpath("b.npy"));
    ck_assert_int_eq(t->dtype, TN_FLOAT64);
    EXPECT(t, 0, {0.5, -1.25, 1e300});
    tn_release(t);
    /* Fortran order: [[1, 2, 3], [4, 5, 6]] stored column by column */
    int64_t i8[] = {1, 4, 2, 5, 3, 6};
    make_npy(fpath("c.npy"), 1, "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }", i8, sizeof i8);
    t = tn_load_npy(fpath("c.npy"));
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    EXPECT(t, 0, {1, 2, 3, 4, 5, 6});
    tn_release(t);
    /* big-endian float32 1.0 and -2.0 */
    unsigned char be[] = {0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0};
    make_npy(fpath("d.npy"), 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be, sizeof be);
    t = tn_load_npy(fpath("d.npy"));
    EXPECT(t, 0, {1, -2});
    tn_release(t);
    /* bool bytes other than 0/1 read as true */
    unsigned char b1[] = {0, 7, 1};
    make_npy(fpath("e.npy"), 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", b1, sizeof b1);
    t = tn_load_npy(fpath("e.npy"));
    ck_assert_int_eq(t->dtype, TN_BOOL);
    ck_assert_int_eq(((unsigned char *)tn_data(t))[1], 1);
    tn_release(t);
}
END_TEST

START_TEST(test_npy_hostile) {
    const char *p = fpath("h.npy");
    float f[4] = {0};
    struct { const char *dict; size_t n; const char *what; } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 16, "needs 24"},
        {"{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", 16, "unsupported dtype '<c16'"},
        {"{'descr': '<f4', 'shape': (4,), }", 16, "exactly"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", 16, "unexpected or repeated key 'x'"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,), }", 16, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4), }", 16, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 16, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, -1), }", 16, "shape"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", 16, "descr"},
        {"__import__('os').system('true')", 16, "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } junk", 16, "exactly"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 12, "needs 16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_npy(p, 1, cases[i].dict, f, cases[i].n);
        ck_assert_msg(tn_load_npy(p) == NULL, "case %zu loaded", i);
        expect_error(p, cases[i].what);
    }
    write_bytes(p, "\x93NUMPX\x01\x00\x00\x00", 10);
    ck_assert_ptr_null(tn_load_npy(p));
    expect_error(p, "bad magic");
    write_bytes(p, "\x93NUMPY\x09\x00\x10\x00{}", 12);
    ck_assert_ptr_null(tn_load_npy(p));
    expect_error(p, "version 9");
    write_bytes(p, "\x93NUMPY\x01\x00\xff\xff{}", 12);
    ck_assert_ptr_null(tn_load_npy(p));
    expect_error(p, "header length 65535");
    write_bytes(p, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    ck_assert_ptr_null(tn_load_npy(p));
    expect_error(p, "header length");
    ck_assert_ptr_null(tn_load_npy(fpath("missing.npy")));
    expect_error("missing.npy", "cannot open");
    ck_assert_ptr_null(tn_load_npy(dir));
    expect_error(dir, "not a regular file");
}
END_TEST

/* ---------- safetensors ---------- */

START_TEST(test_safetensors_roundtrip) {
    tn_tensor *ts[TN_DTYPE_COUNT * 4];
    char namebuf[TN_DTYPE_COUNT * 4][32];
    const char *names[TN_DTYPE_COUNT * 4];
    int n = 0;
    for (int dt = 0; dt < TN_DTYPE_COUNT; dt++)
        for (int s = 0; s < 4; s++) {
            ts[n] = sample((tn_dtype)dt, shape_nd[s], shapes[s]);
            snprintf(namebuf[n], sizeof namebuf[n], "layer.%d.%s", n, tn_dtype_name((tn_dtype)dt));
            names[n] = namebuf[n];
            n++;
        }
    /* a transposed view too */
    tn_tensor *m = sample(TN_FLOAT32, 2, (int64_t[]){3, 5});
    tn_tensor *mt = tn_alias(m, 2, (int64_t[]){5, 3}, (int64_t[]){1, 5}, 0);
    tn_tensor *all[TN_DTYPE_COUNT * 4 + 1];
    const char *alln[TN_DTYPE_COUNT * 4 + 1];
    all[0] = mt;
    alln[0] = "z.transposed";
    for (int i = 0; i < n; i++) all[i + 1] = ts[i], alln[i + 1] = names[i];
    const char *mk[] = {"format", "epoch"}, *mv[] = {"pt", "{\"n\": 3}"};
    const char *p = fpath("m.safetensors");
    ck_assert_msg(tn_save_safetensors(p, n + 1, alln, all, 2, mk, mv) == 0, "%s", tn_last_error());
    tn_safetensors *st = tn_load_safetensors(p);
    ck_assert_msg(st != NULL, "%s", tn_last_error());
    ck_assert_int_eq(st->count, n + 1);
    for (int i = 0; i <= n; i++) {
        ck_assert_str_eq(st->names[i], alln[i]);  /* the file's order */
        expect_same(all[i], st->tensors[i]);
    }
    ck_assert_int_eq(st->nmeta, 2);
    ck_assert_str_eq(st->meta_keys[0], "format");
    ck_assert_str_eq(st->meta_values[1], "{\"n\": 3}");
    tn_safetensors_free(st);
    /* the header is padded to 8 bytes and is valid JSON */
    size_t len;
    unsigned char *b = read_bytes(p, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    ck_assert_uint_eq(hl % 8, 0);
    cJSON *j = cJSON_ParseWithLength((char *)b + 8, (size_t)hl);
    ck_assert_ptr_nonnull(j);
    cJSON *e = cJSON_GetObjectItem(j, "z.transposed");
    ck_assert_str_eq(cJSON_GetObjectItem(e, "dtype")->valuestring, "F32");
    ck_assert_int_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 1)->valueint, 60);
    cJSON_Delete(j);
    free(b);
    /* nothing at all, and no metadata */
    ck_assert_int_eq(tn_save_safetensors(p, 0, NULL, NULL, 0, NULL, NULL), 0);
    st = tn_load_safetensors(p);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(st->count, 0);
    ck_assert_int_eq(st->nmeta, 0);
    tn_safetensors_free(st);
    for (int i = 0; i < n; i++) tn_release(ts[i]);
    tn_release(mt);
    tn_release(m);
}
END_TEST

/* A safetensors file from header text and data. */
static void make_st(const char *path, const char *json, const void *data, size_t n) {
    size_t jl = strlen(json);
    unsigned char *buf = malloc(8 + jl + n + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(buf + 8, json, jl);
    if (n) memcpy(buf + 8 + jl, data, n);
    write_bytes(path, buf, 8 + jl + n);
    free(buf);
}

START_TEST(test_safetensors_known_layout) {
    unsigned char data[16];
    float a[2] = {1.5f, -2};
    int32_t b[2] = {7, -9};
    memcpy(data, a, 8);
    memcpy(data + 8, b, 8);
    const char *p = fpath("k.safetensors");
    make_st(p,
            "{\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[8,16]},"
            "\"__metadata__\":{\"format\":\"pt\"},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]}}   ",
            data, 16);
    tn_safetensors *st = tn_load_safetensors(p);
    ck_assert_msg(st != NULL, "%s", tn_last_error());
    ck_assert_int_eq(st->count, 2);
    ck_assert_str_eq(st->names[0], "b");
    ck_assert_str_eq(st->names[1], "a");
    ck_assert_int_eq(st->tensors[0]->dtype, TN_INT32);
    EXPECT(st->tensors[0], 0, {7, -9});
    ck_assert_int_eq(st->tensors[1]->ndim, 2);
    EXPECT(st->tensors[1], 0, {1.5, -2});
    ck_assert_int_eq(st->nmeta, 1);
    ck_assert_str_eq(st->meta_values[0], "pt");
    tn_safetensors_free(st);
}
END_TEST

/* F16 and BF16 are widened to float32: every half value against ldexp. */
START_TEST(test_safetensors_half) {
    uint16_t *h = malloc(65536 * 2);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    uint16_t bf[3] = {0x3f80, 0xc0a0, 0x7f80};  /* 1, -5, inf */
    unsigned char *data = malloc(65536 * 2 + 6);
    memcpy(data, h, 65536 * 2);
    memcpy(data + 65536 * 2, bf, 6);
    const char *p = fpath("half.safetensors");
    make_st(p,
            "{\"h\":{\"dtype\":\"F16\",\"shape\":[256,256],\"data_offsets\":[0,131072]},"
            "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[131072,131078]}}",
            data, 65536 * 2 + 6);
    tn_safetensors *st = tn_load_safetensors(p);
    ck_assert_msg(st != NULL, "%s", tn_last_error());
    ck_assert_int_eq(st->tensors[0]->dtype, TN_FLOAT32);
    const float *f = tn_data(st->tensors[0]);
    for (int i = 0; i < 65536; i++) {
        int sgn = i >> 15, e = (i >> 10) & 31, m = i & 1023;
        double want = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
        if (sgn) want = -want;
        ck_assert_msg(isnan(want) ? isnan(f[i]) : (double)f[i] == want && !signbit(f[i]) == !signbit(want),
                      "half 0x%04x: got %g, expected %g", i, (double)f[i], want);
    }
    ck_assert_double_eq(tn_get_flat(st->tensors[1], 0), 1);
    ck_assert_double_eq(tn_get_flat(st->tensors[1], 1), -5);
    ck_assert(isinf(tn_get_flat(st->tensors[1], 2)));
    tn_safetensors_free(st);
    free(data);
    free(h);
}
END_TEST

START_TEST(test_safetensors_hostile) {
    const char *p = fpath("h.safetensors");
    unsigned char data[64] = {0};
    struct { const char *json; size_t n; const char *what; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 12, "needs 16"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12, "outside the data buffer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16, "outside the data buffer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4"},
        {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "unsupported dtype F8_E4M3"},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "needs 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dims"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "needs \"dtype\""},
        {"{\"a\":[1,2]}", 4, "not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "appears twice"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
        {"{\"__metadata__\":[]}", 0, "not an object"},
        {"[1, 2, 3]", 0, "not a JSON object"},
        {"{\"a\": {\"dtype\": \"F32\", ", 0, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_st(p, cases[i].json, data, cases[i].n);
        tn_safetensors *st = tn_load_safetensors(p);
        ck_assert_msg(st == NULL, "case %zu loaded", i);
        expect_error(p, cases[i].what);
    }
    /* header lengths that do not fit */
    unsigned char hdr[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    write_bytes(p, hdr, 10);
    ck_assert_ptr_null(tn_load_safetensors(p));
    expect_error(p, "header length 18446744073709551615");
    hdr[0] = 100, memset(hdr + 1, 0, 7);
    write_bytes(p, hdr, 10);
    ck_assert_ptr_null(tn_load_safetensors(p));
    expect_error(p, "header length 100");
    write_bytes(p, hdr, 5);
    ck_assert_ptr_null(tn_load_safetensors(p));
    expect_error(p, "too short");
    ck_assert_ptr_null(tn_load_safetensors(fpath("none.safetensors")));
    expect_error("none.safetensors", "cannot open");
}
END_TEST

START_TEST(test_safetensors_writer_errors) {
    tn_tensor *t = tn_zeros(TN_FLOAT32, 1, (int64_t[]){2});
    tn_tensor *ts[] = {t, t};
    const char *p = fpath("w.safetensors");
    ck_assert_int_eq(tn_save_safetensors(p, 2, (const char *[]){"x", "x"}, ts, 0, NULL, NULL), -1);
    expect_error(p, "'x' is used twice");
    ck_assert_int_eq(tn_save_safetensors(p, 1, (const char *[]){"__metadata__"}, ts, 0, NULL, NULL), -1);
    expect_error(p, "__metadata__");
    ck_assert_int_eq(tn_save_safetensors(p, 1, (const char *[]){""}, ts, 0, NULL, NULL), -1);
    ck_assert_int_eq(access(p, F_OK), -1);  /* nothing was created */
    const char *q = fpath("no-such-dir/w.safetensors");
    ck_assert_int_eq(tn_save_safetensors(q, 1, (const char *[]){"x"}, ts, 0, NULL, NULL), -1);
    expect_error(q, "temporary file");
    ck_assert_int_eq(tn_save_npy(q, t), -1);
    expect_error(q, "temporary file");
    tn_release(t);
}
END_TEST

static int count_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

START_TEST(test_atomic_write) {
    /* the old file survives a write that fails half way (file size limit) */
    tn_tensor *old = sample(TN_FLOAT32, 1, (int64_t[]){4});
    tn_tensor *big = tn_zeros(TN_FLOAT64, 1, (int64_t[]){100000});
    const char *p = fpath("a.safetensors"), *q = fpath("a.npy");
    ck_assert_int_eq(tn_save_safetensors(p, 1, (const char *[]){"w"}, &old, 0, NULL, NULL), 0);
    ck_assert_int_eq(tn_save_npy(q, old), 0);
    ck_assert_int_eq(count_files(), 2);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 4096;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc1 = tn_save_safetensors(p, 1, (const char *[]){"w"}, &big, 0, NULL, NULL);
    char e1[512];
    snprintf(e1, sizeof e1, "%s", tn_last_error());
    int rc2 = tn_save_npy(q, big);
    setrlimit(RLIMIT_FSIZE, &saved);
    ck_assert_int_eq(rc1, -1);
    ck_assert_msg(strstr(e1, "write failed") != NULL, "%s", e1);
    ck_assert_int_eq(rc2, -1);
    expect_error(q, "write failed");
    ck_assert_int_eq(count_files(), 2);  /* no temporary left behind */
    tn_safetensors *st = tn_load_safetensors(p);
    ck_assert_ptr_nonnull(st);
    expect_same(old, st->tensors[0]);
    tn_safetensors_free(st);
    tn_tensor *r = tn_load_npy(q);
    expect_same(old, r);
    tn_release(r);
    /* a successful write replaces the file */
    ck_assert_int_eq(tn_save_npy(q, big), 0);
    r = tn_load_npy(q);
    expect_same(big, r);
    tn_release(r);
    ck_assert_int_eq(count_files(), 2);
    tn_release(old);
    tn_release(big);
}
END_TEST

/* ---------- IDX ---------- */

static size_t make_idx(unsigned char *buf, int type, int nd, const uint32_t *dims, const void *payload, size_t n) {
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)nd;
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < 4; j++) buf[4 + 4 * i + j] = (unsigned char)(dims[i] >> (24 - 8 * j));
    memcpy(buf + 4 + 4 * nd, payload, n);
    return 4 + 4 * (size_t)nd + n;
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
}

START_TEST(test_idx) {
    unsigned char buf[256];
    unsigned char px[12] = {0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 128, 7};
    size_t n = make_idx(buf, 0x08, 3, (uint32_t[]){2, 2, 3}, px, 12);
    write_bytes(fpath("i.idx"), buf, n);
    write_gz(fpath("i.idx.gz"), buf, n);
    for (int gz = 0; gz < 2; gz++) {
        tn_tensor *t = tn_load_idx(fpath(gz ? "i.idx.gz" : "i.idx"));
        ck_assert_msg(t != NULL, "%s", tn_last_error());
        ck_assert_int_eq(t->dtype, TN_UINT8);
        ck_assert_int_eq(t->ndim, 3);
        ck_assert_int_eq(t->shape[2], 3);
        EXPECT(t, 0, {0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 128, 7});
        tn_release(t);
    }
    unsigned char f4[] = {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0};  /* 1.0, -2.5 */
    write_bytes(fpath("f.idx"), buf, make_idx(buf, 0x0D, 1, (uint32_t[]){2}, f4, 8));
    tn_tensor *t = tn_load_idx(fpath("f.idx"));
    ck_assert_int_eq(t->dtype, TN_FLOAT32);
    EXPECT(t, 0, {1, -2.5});
    tn_release(t);
    unsigned char f8[] = {0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    write_gz(fpath("d.idx.gz"), buf, make_idx(buf, 0x0E, 1, (uint32_t[]){1}, f8, 8));
    t = tn_load_idx(fpath("d.idx.gz"));
    ck_assert_int_eq(t->dtype, TN_FLOAT64);
    EXPECT(t, 0, {1});
    tn_release(t);
    unsigned char i4[] = {0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0};  /* -2, 256 */
    write_bytes(fpath("n.idx"), buf, make_idx(buf, 0x0C, 2, (uint32_t[]){1, 2}, i4, 8));
    t = tn_load_idx(fpath("n.idx"));
    ck_assert_int_eq(t->dtype, TN_INT32);
    EXPECT(t, 0, {-2, 256});
    tn_release(t);
    unsigned char sb[] = {0xff, 0x7f, 0x80};
    write_bytes(fpath("b.idx"), buf, make_idx(buf, 0x09, 1, (uint32_t[]){3}, sb, 3));
    t = tn_load_idx(fpath("b.idx"));
    EXPECT(t, 0, {-1, 127, -128});
    tn_release(t);
    unsigned char sh[] = {0xff, 0xfe, 0x01, 0x00};
    write_bytes(fpath("s.idx"), buf, make_idx(buf, 0x0B, 1, (uint32_t[]){2}, sh, 4));
    t = tn_load_idx(fpath("s.idx"));
    EXPECT(t, 0, {-2, 256});
    tn_release(t);
}
END_TEST

START_TEST(test_idx_hostile) {
    unsigned char buf[256], px[8] = {0};
    const char *p = fpath("h.idx"), *g = fpath("h.idx.gz");
    write_bytes(p, buf, make_idx(buf, 0x08, 1, (uint32_t[]){9}, px, 8));
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "promises 9 bytes");
    write_bytes(p, buf, make_idx(buf, 0x08, 1, (uint32_t[]){7}, px, 8));
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "promises 7 bytes");
    write_gz(g, buf, make_idx(buf, 0x08, 1, (uint32_t[]){7}, px, 8));
    ck_assert_ptr_null(tn_load_idx(g));
    expect_error(g, "trailing bytes");
    write_gz(g, buf, make_idx(buf, 0x08, 1, (uint32_t[]){9}, px, 8));
    ck_assert_ptr_null(tn_load_idx(g));
    expect_error(g, "truncated");
    write_gz(g, buf, make_idx(buf, 0x08, 3, (uint32_t[]){0xffff, 0xffff, 0xff}, px, 8));
    ck_assert_ptr_null(tn_load_idx(g));
    expect_error(g, "gzip file can hold");
    write_bytes(p, buf, make_idx(buf, 0x0E, 4, (uint32_t[]){0xffffffff, 0xffffffff, 0xffffffff, 2}, px, 8));
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "too large");
    write_bytes(p, buf, make_idx(buf, 0x07, 1, (uint32_t[]){8}, px, 8));
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "unknown IDX element type 0x07");
    write_bytes(p, buf, make_idx(buf, 0x08, 0, NULL, px, 8));
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "0 dims");
    write_bytes(p, buf, make_idx(buf, 0x08, 9, (uint32_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, px, 1));
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "9 dims");
    write_bytes(p, "\x01\x00\x08\x01", 4);
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "bad magic");
    write_bytes(p, "\x00\x00", 2);
    ck_assert_ptr_null(tn_load_idx(p));
    expect_error(p, "too short");
    /* a corrupt gzip stream */
    write_gz(g, buf, make_idx(buf, 0x08, 1, (uint32_t[]){8}, px, 8));
    size_t len;
    unsigned char *b = read_bytes(g, &len);
    for (size_t i = 12; i < len; i++) b[i] ^= 0x5a;
    write_bytes(g, b, len);
    free(b);
    ck_assert_ptr_null(tn_load_idx(g));
    expect_error(g, g);
    ck_assert_ptr_null(tn_load_idx(fpath("none.idx")));
    expect_error("none.idx", "cannot open");
}
END_TEST

START_TEST(test_fashion_mnist_if_installed) {
    const char *p = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(p, R_OK) != 0) return;
    tn_tensor *t = tn_load_idx(p);
    ck_assert_msg(t != NULL, "%s", tn_last_error());
    ck_assert_int_eq(t->ndim, 1);
    ck_assert_int_eq(t->shape[0], 10000);
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t v = tn_get_flat_i64(t, i);
        ck_assert(v >= 0 && v < 10);
        counts[v]++;
    }
    for (int i = 0; i < 10; i++) ck_assert_int_eq(counts[i], 1000);  /* the test set is balanced */
    tn_release(t);
    t = tn_load_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
    ck_assert_msg(t != NULL, "%s", tn_last_error());
    ck_assert_int_eq(t->ndim, 3);
    ck_assert_int_eq(t->shape[1], 28);
    tn_release(t);
}
END_TEST

/* ---------- fuzz ---------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef enum { F_NPY, F_ST, F_IDX, F_IDXGZ } fkind;

/* Loads path as kind; must return NULL or a sane tensor, never crash. */
static int fuzz_load(fkind k, const char *path) {
    if (k == F_ST) {
        tn_safetensors *st = tn_load_safetensors(path);
        if (!st) return 0;
        for (int i = 0; i < st->count; i++) ck_assert_ptr_nonnull(st->tensors[i]);
        tn_safetensors_free(st);
        return 1;
    }
    tn_tensor *t = k == F_NPY ? tn_load_npy(path) : tn_load_idx(path);
    if (!t) return 0;
    for (int64_t i = 0; i < t->numel; i++) (void)tn_get_flat(t, i);  /* every byte must be readable */
    tn_release(t);
    return 1;
}

static void fuzz_file(fkind k, const unsigned char *valid, size_t n, int rounds) {
    const char *p = fpath(k == F_IDXGZ ? "fz.gz" : "fz");
    unsigned char *m = malloc(n + 64);
    /* every truncation */
    for (size_t len = 0; len < n; len++) {
        if (k == F_IDXGZ) write_gz(p, valid, len);
        else write_bytes(p, valid, len);
        ck_assert_msg(fuzz_load(k, p) == 0, "truncated at %zu of %zu bytes, it loaded", len, n);
    }
    /* random byte flips, mostly in the header, and planted huge values */
    for (int r = 0; r < rounds; r++) {
        memcpy(m, valid, n);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++) {
            size_t pos = rnd() % 4 ? rnd() % (n < 96 ? n : 96) : rnd() % n;
            switch (rnd() % 4) {
            case 0: m[pos] ^= (unsigned char)(1u << (rnd() % 8)); break;
            case 1: m[pos] = (unsigned char)rnd(); break;
            case 2: m[pos] = 0xff; break;
            default: if (pos + 4 <= n) memset(m + pos, 0xff, 4); break;
            }
        }
        size_t len = rnd() % 8 == 0 ? rnd() % (n + 1) : n;
        if (k == F_IDXGZ) write_gz(p, m, len);
        else write_bytes(p, m, len);
        fuzz_load(k, p);
    }
    free(m);
}

START_TEST(test_fuzz) {
    size_t n;
    /* npy */
    tn_tensor *t = sample(TN_FLOAT32, 2, (int64_t[]){3, 4});
    ck_assert_int_eq(tn_save_npy(fpath("v.npy"), t), 0);
    unsigned char *b = read_bytes(fpath("v.npy"), &n);
    fuzz_file(F_NPY, b, n, 3000);
    free(b);
    /* safetensors with metadata and three tensors */
    tn_tensor *u = sample(TN_INT64, 1, (int64_t[]){3}), *s = sample(TN_BOOL, 0, NULL);
    ck_assert_int_eq(tn_save_safetensors(fpath("v.st"), 3, (const char *[]){"a", "b", "c"}, (tn_tensor *[]){t, u, s},
                                         1, (const char *[]){"k"}, (const char *[]){"v"}),
                     0);
    b = read_bytes(fpath("v.st"), &n);
    fuzz_file(F_ST, b, n, 3000);
    free(b);
    /* IDX, plain and gzip */
    unsigned char buf[128], px[24];
    for (int i = 0; i < 24; i++) px[i] = (unsigned char)i;
    n = make_idx(buf, 0x08, 3, (uint32_t[]){2, 3, 4}, px, 24);
    fuzz_file(F_IDX, buf, n, 2000);
    fuzz_file(F_IDXGZ, buf, n, 500);
    n = make_idx(buf, 0x0B, 2, (uint32_t[]){3, 4}, px, 24);
    fuzz_file(F_IDX, buf, n, 1000);
    /* a gzip file with its compressed bytes flipped */
    write_gz(fpath("c.gz"), buf, n);
    b = read_bytes(fpath("c.gz"), &n);
    fuzz_file(F_IDX, b, n, 1000);
    free(b);
    tn_release(t);
    tn_release(u);
    tn_release(s);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_npy_roundtrip);
    tcase_add_test(tc, test_npy_header_bytes);
    tcase_add_test(tc, test_npy_known_layout);
    tcase_add_test(tc, test_npy_hostile);
    tcase_add_test(tc, test_safetensors_roundtrip);
    tcase_add_test(tc, test_safetensors_known_layout);
    tcase_add_test(tc, test_safetensors_half);
    tcase_add_test(tc, test_safetensors_hostile);
    tcase_add_test(tc, test_safetensors_writer_errors);
    tcase_add_test(tc, test_atomic_write);
    tcase_add_test(tc, test_idx);
    tcase_add_test(tc, test_idx_hostile);
    tcase_add_test(tc, test_fashion_mnist_if_installed);
    tcase_add_test(tc, test_fuzz);
}

TN_SUITE_MAIN("formats", add_tests)
