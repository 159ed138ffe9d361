/*
 * autograd.h: the reverse-mode autodiff engine's interface.
 *
 * How an op records itself (the pattern every op in tensor/ and nn/ follows):
 *
 *     tn_tensor *out = ...forward...;
 *     if (tn_grad_needed2(a, b)) {
 *         tn_node *n = tn_record(TN_OP_MUL, out, 2, (tn_tensor *[]){a, b});
 *         if (!n) { tn_release(out); return NULL; }
 *         tn_save(n, a); tn_save(n, b);    // what backward needs
 *     }
 *     return out;
 *
 * A node holds one edge per input: the input's grad_fn (a reference) when the
 * input is an interior tensor, or the input itself (a reference) when it is a
 * leaf that requires grad, or nothing when the input needs no gradient.
 * Saved tensors are detached aliases (they share storage, not history, so no
 * reference cycle forms through the output) plus the storage version seen at
 * save time: backward refuses to run if the storage was modified in place.
 *
 * Backward rules are plain functions `int X_backward(tn_node *n, tn_tensor *g,
 * tn_tensor **gin)` placed beside their forward; they receive the gradient of
 * the output `g` (shape n->out_shape) and set gin[i] to new references (or
 * leave NULL when edge i needs none).  They run with recording off and may
 * use any tensor op.  The engine reduces a broadcast gradient to the input's
 * shape when the rule returns the output shape, then asserts the shapes match.
 *
 * The op table lives in ops.def (an X-macro): one line per op with its name
 * and backward function, so the name table's length is checked at compile
 * time and tests can enumerate every op.  nn/ keeps its own nn_ops.def the
 * same way, so tensor/ never links against nn/.
 */
#ifndef TN_AUTOGRAD_H
#define TN_AUTOGRAD_H

#include "tensor.h"

typedef enum {
#define TN_OP(id, name, backward) TN_OP_##id,
#include "ops.def"
#undef TN_OP
    TN_OP_COUNT
} tn_op;

#define TN_NODE_MAX_INPUTS 8
#define TN_NODE_MAX_SAVED 8

typedef struct tn_node tn_node;
typedef int (*tn_backward_fn)(tn_node *n, tn_tensor *g, tn_tensor **gin);

typedef struct tn_edge {
    tn_node *fn;          /* reference: the input's grad_fn, or NULL */
    tn_tensor *leaf;      /* reference: the leaf input requiring grad, or NULL */
    int ndim;             /* the input's shape, for reducing broadcast grads */
    int64_t shape[TN_MAX_DIMS];
    tn_dtype dtype;
} tn_edge;

struct tn_node {
    int refcount;
    int op;                    /* TN_OP_* for tensor/ ops, NN_OP_* for nn/ ops */
    const char *name;          /* the op's name ("mul"), shown as t.grad_fn */
    tn_backward_fn backward;
    int ninputs;
    tn_edge edges[TN_NODE_MAX_INPUTS];
    int nsaved;
    tn_tensor *saved[TN_NODE_MAX_SAVED];   /* detached aliases, references */
    uint32_t saved_version[TN_NODE_MAX_SAVED];
    bool released;                          /* saved tensors freed after backward */
    /* the output's description */
    int out_ndim;
    int64_t out_shape[TN_MAX_DIMS];
    tn_dtype out_dtype;
    /* op parameters, interpreted by the op's backward */
    int64_t iarg[8];
    double farg[4];
    void *ctx;                 /* op-owned extra state, freed by ctx_free */
    void (*ctx_free)(void *);
    /* engine scratch */
    tn_tensor *grad_acc;       /* gradient being accumulated during backward */
    int64_t topo_mark;
};

extern const char *const tn_op_names[TN_OP_COUNT];
extern const tn_backward_fn tn_op_backward[TN_OP_COUNT];

/* Grad mode (thread-local).  Returns the previous value. */
bool tn_set_grad_enabled(bool on);
bool tn_is_grad_enabled(void);

static inline bool tn_requires_grad_(const tn_tensor *t) { return t && t->requires_grad; }
bool tn_grad_needed(int n, tn_tensor *const *inputs);
static inline bool tn_grad_needed1(tn_tensor *a) { return tn_grad_needed(1, &a); }
static inline bool tn_grad_needed2(tn_tensor *a, tn_tensor *b) {
    tn_tensor *in[2] = {a, b};
    return tn_grad_needed(2, in);
}

/* Creates a node for `out` with edges to `inputs`, sets out->grad_fn and
 * out->requires_grad.  Returns the node (borrowed: `out` owns it) or NULL. */
tn_node *tn_record(tn_op op, tn_tensor *out, int n, tn_tensor *const *inputs);
/* The same for ops whose table lives outside tensor/ (nn/ has its own
 * nn_ops.def and calls this with its name and backward). */
tn_node *tn_record_op(int op, const char *name, tn_backward_fn backward,
                      tn_tensor *out, int n, tn_tensor *const *inputs);
/* Saves a detached alias of t (and its version) in the node; returns its slot. */
int tn_save(tn_node *n, tn_tensor *t);
/* Returns saved tensor i, or NULL with an error when it was freed or modified in place. */
tn_tensor *tn_saved(tn_node *n, int i);

tn_node *tn_node_retain(tn_node *n);
void tn_node_release(tn_node *n);

/* Runs backward from `root` with gradient `grad` (NULL: root must have one
 * element; a gradient of ones is used).  Accumulates into leaves' .grad. */
int tn_backward(tn_tensor *root, tn_tensor *grad, bool retain_graph);

/* Marks an in-place write to t: bumps its storage version and, if recording,
 * re-bases t's history on a node for `op` (inputs as for tn_record, with t
 * itself first).  Refuses a leaf that requires grad while recording. */
int tn_inplace_check(tn_tensor *t, const char *opname);
void tn_bump_version(tn_tensor *t);

/* Gradient check by central differences in float64.
 * fn(ctx, inputs) must return a new tensor (any shape); the check uses a
 * random projection of the output (seeded) so it works for any shape.
 * Inputs are float64 leaves; those with requires_grad are checked.
 * Returns 0 when analytic and numeric gradients agree within atol + rtol*|num|,
 * else -1 with a message naming the input and element. */
typedef tn_tensor *(*tn_gradcheck_fn)(void *ctx, tn_tensor **inputs);
int tn_gradcheck(tn_gradcheck_fn fn, void *ctx, int n, tn_tensor **inputs,
                 double eps, double atol, double rtol);

#endif
