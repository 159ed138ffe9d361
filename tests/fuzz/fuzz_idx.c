/*
 * fuzz_idx.c: libFuzzer target of the IDX reader, both entry points:
 * tn_load_idx (the file's own element type) and tn_load_idx_float (decoded
 * straight into scaled float32).  Plain and gzip inputs go through the same
 * target (the reader tells them apart by the gzip magic); the seed corpus
 * has both.  The two entry points must agree on which inputs are valid and
 * on the shape.
 */
#include "tensor/formats.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char in[256];
    if (!in[0]) {
        fuzz_path(in, sizeof in, "in.idx");
        tn_set_num_threads(1);
    }
    fuzz_write(in, data, size);
    tn_tensor *t = tn_load_idx(in);
    if (!t && !strstr(tn_last_error(), in)) abort();
    tn_tensor *f = tn_load_idx_float(in, 1.0 / 255);
    if (!f && !strstr(tn_last_error(), in)) abort();
    if (!t != !f) abort();
    if (t && (t->ndim != f->ndim || memcmp(t->shape, f->shape, sizeof(int64_t) * (size_t)t->ndim) != 0 ||
              f->dtype != TN_FLOAT32))
        abort();
    tn_release(t);
    tn_release(f);
    return 0;
}
