/*
 * nn_ops.c: the op table of nn/ (names and backward rules built from
 * nn_ops.def) and nn_record, the one place where nn/ ops hook into the
 * autograd engine.  tensor/ never links against nn/: the engine only sees
 * the name and backward function carried by each node (tn_record_op).
 */
#include "nn/nn.h"

const char *const nn_op_names[NN_OP_COUNT] = {
#define NN_OP(id, name, backward) name,
#include "nn_ops.def"
#undef NN_OP
};

const tn_backward_fn nn_op_backward[NN_OP_COUNT] = {
#define NN_OP(id, name, backward) backward,
#include "nn_ops.def"
#undef NN_OP
};

_Static_assert(sizeof nn_op_names / sizeof nn_op_names[0] == NN_OP_COUNT, "nn op table length");

tn_node *nn_record(nn_op op, tn_tensor *out, int n, tn_tensor *const *inputs) {
    if ((int)op < 0 || op >= NN_OP_COUNT) {
        tn_error("nn_record: unknown op %d", (int)op);
        return NULL;
    }
    return tn_record_op(NN_OP_BASE + (int)op, nn_op_names[op], nn_op_backward[op], out, n, inputs);
}
