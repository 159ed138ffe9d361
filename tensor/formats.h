/*
 * formats.h: reading and writing tensors in portable file formats that never
 * execute code: numpy's .npy, safetensors (PyTorch / Hugging Face), and IDX
 * (the MNIST / Fashion-MNIST format, plain or gzip-compressed).
 *
 * Contract shared by every function here:
 *  - A malformed, truncated or hostile file never crashes and never makes
 *    the reader allocate more than the file can back: every length, offset,
 *    dtype and shape product is checked first.  Failure returns NULL (or -1)
 *    after tn_error("<op>: <path>: <what is wrong>"), e.g.
 *    "load_safetensors: m.safetensors: tensor 'w' data_offsets [0, 96] give
 *    96 bytes, but float32 [4, 8] needs 128".
 *  - Writers are atomic: they write a temporary file in the target's
 *    directory, fsync it, then rename it over the target.  On any failure
 *    the temporary file is removed and an existing target is left intact.
 *  - Loaded tensors are new contiguous tensors (new references, no grad).
 *  - Multi-byte data is little-endian on disk (the host is little-endian,
 *    checked at compile time); IDX payloads are big-endian, as specified.
 *
 * dtype names on disk:   float32 float64 int64 int32 uint8 bool
 *     .npy descr          <f4     <f8     <i8   <i4   |u1   |b1
 *     safetensors dtype   F32     F64     I64   I32   U8    BOOL
 * The safetensors reader also accepts F16 and BF16 (as published models
 * often use) and returns them as float32; the writer never produces them.
 */
#ifndef TN_FORMATS_H
#define TN_FORMATS_H

#include "tensor.h"

/* ---------- .npy ---------- */

/* Reads a .npy file (format versions 1.0, 2.0 and 3.0; C or Fortran order;
 * the dtypes above, also big-endian '>' ones, which are byte-swapped). */
tn_tensor *tn_load_npy(const char *path);
/* Writes t (any layout) as a C-order .npy file, format version 1.0, the
 * header padded to a multiple of 64 bytes as numpy does.  0 or -1. */
int tn_save_npy(const char *path, tn_tensor *t);

/* ---------- safetensors ---------- */

/* What tn_load_safetensors returns.  Owns everything it points to: free it
 * with tn_safetensors_free (which releases the tensors; tn_retain one first
 * to keep it). */
typedef struct {
    int count;              /* tensors, in the order of the file's header */
    char **names;           /* count strings */
    tn_tensor **tensors;    /* count references */
    int nmeta;              /* "__metadata__" entries (string -> string) */
    char **meta_keys;       /* nmeta strings */
    char **meta_values;     /* nmeta strings */
} tn_safetensors;

tn_safetensors *tn_load_safetensors(const char *path);
void tn_safetensors_free(tn_safetensors *st);   /* NULL is fine */
/* Writes `count` tensors (names must be distinct, non-empty and not
 * "__metadata__") and an optional string map (nmeta pairs; 0 writes no
 * "__metadata__").  Tensors may have any layout; the data is written in
 * the given order.  0 or -1. */
int tn_save_safetensors(const char *path, int count, const char *const *names, tn_tensor *const *tensors,
                        int nmeta, const char *const *meta_keys, const char *const *meta_values);

/* ---------- IDX (MNIST) ---------- */

/* Reads an IDX file, plain or gzip (detected from the content).  Payload
 * types: 0x08 unsigned byte -> uint8, 0x09 signed byte, 0x0B short and
 * 0x0C int -> int32, 0x0D float -> float32, 0x0E double -> float64. */
tn_tensor *tn_load_idx(const char *path);
/* The same, decoded straight into float32 and multiplied by scale (e.g.
 * 1/255 for images), without holding the raw payload as a tensor. */
tn_tensor *tn_load_idx_float(const char *path, double scale);

/* ---------- shared by the format files (not for users) ---------- */

/* An atomic writer: a temporary file beside `path`, renamed over it on
 * commit.  `op` names the caller in error messages. */
typedef struct {
    int fd;
    char *tmp;             /* owned: the temporary file's name */
    const char *path;      /* borrowed */
    const char *op;        /* borrowed */
} tn_atomic_file;

int tn_atomic_open(tn_atomic_file *af, const char *path, const char *op);
int tn_atomic_write(tn_atomic_file *af, const void *p, size_t n);
/* Writes t's elements (any layout) in row-major order. */
int tn_atomic_write_tensor(tn_atomic_file *af, tn_tensor *t);
int tn_atomic_commit(tn_atomic_file *af);   /* fsync, close, rename; aborts on failure */
void tn_atomic_abort(tn_atomic_file *af);   /* close and remove the temporary file */
/* Typical use:
 *     tn_atomic_file af;
 *     if (tn_atomic_open(&af, path, "save_x") < 0) return -1;
 *     if (tn_atomic_write(&af, head, n) < 0) { tn_atomic_abort(&af); return -1; }
 *     return tn_atomic_commit(&af);
 */

#endif
