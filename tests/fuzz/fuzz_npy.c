/*
 * fuzz_npy.c: libFuzzer target of the .npy reader (tn_load_npy).  Every
 * input must either load or fail with an error message; a file that loads
 * is written back with tn_save_npy and read again, and must come back with
 * the same dtype, shape and bytes (a writer/reader disagreement aborts, so
 * libFuzzer keeps the input).
 */
#include "tensor/formats.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char in[256], out[256];
    if (!in[0]) {
        fuzz_path(in, sizeof in, "in.npy");
        fuzz_path(out, sizeof out, "out.npy");
        tn_set_num_threads(1);
    }
    fuzz_write(in, data, size);
    tn_tensor *t = tn_load_npy(in);
    if (!t) {
        if (!strstr(tn_last_error(), in)) abort();  /* every error names the file */
        return 0;
    }
    if (tn_save_npy(out, t) < 0) abort();
    tn_tensor *u = tn_load_npy(out);
    if (!u || u->dtype != t->dtype || u->ndim != t->ndim || u->numel != t->numel ||
        memcmp(u->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) != 0 ||
        memcmp(tn_data(u), tn_data(t), (size_t)t->numel * tn_dtype_size(t->dtype)) != 0)
        abort();
    tn_release(u);
    tn_release(t);
    return 0;
}
