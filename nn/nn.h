/*
 * nn.h: the public C interface of nn/, ember's Lua-free neural-network
 * kernels.  Each op is one function that computes the forward result and,
 * when an input requires grad and recording is on, records an autograd node
 * (through nn_record) whose backward rule lives beside the forward.  The
 * conventions are tensor/'s: new references returned, arguments borrowed,
 * NULL (or -1) after tn_error("op: message") on bad input, 0-based indices,
 * batch-first layouts and PyTorch's weight layouts and semantics.
 *
 * Sections are owned by the files named in their titles; add yours as a new
 * section (additive edits only, keep the others as they are).
 */
#ifndef NN_NN_H
#define NN_NN_H

#include "tensor/tensor.h"
#include "tensor/autograd.h"

/* ======================= op table (nn_ops.c) ======================= */

/* NN_OP_* enumerates nn_ops.def.  Node op codes of nn/ ops are
 * NN_OP_BASE + NN_OP_*, so they never collide with TN_OP_* codes. */
typedef enum {
#define NN_OP(id, name, backward) NN_OP_##id,
#include "nn_ops.def"
#undef NN_OP
    NN_OP_COUNT
} nn_op;

#define NN_OP_BASE 10000

extern const char *const nn_op_names[NN_OP_COUNT];
extern const tn_backward_fn nn_op_backward[NN_OP_COUNT];

/* Records an autograd node for nn/ op `op` on `out` with edges to `inputs`
 * (entries may be NULL, e.g. an absent bias).  Returns the node (borrowed:
 * `out` owns it) or NULL with an error set. */
tn_node *nn_record(nn_op op, tn_tensor *out, int n, tn_tensor *const *inputs);

/* True when edge i of node n wants a gradient (the input requires grad).
 * Backward rules skip the work for inputs that need none. */
static inline bool nn_edge_needed(const tn_node *n, int i) {
    return i < n->ninputs && (n->edges[i].fn || n->edges[i].leaf);
}

/* The backward rules, declared from the op table. */
#define NN_OP(id, name, backward) int backward(tn_node *, tn_tensor *, tn_tensor **);
#include "nn_ops.def"
#undef NN_OP

/* ======================= convolution (conv.c) ======================= */
/*
 * Batch-first, PyTorch semantics; groups = 1.  Inputs and weights are
 * float32 or float64 (the same dtype); any strides (non-contiguous inputs
 * are copied).  `b` (bias) may be NULL.  The batch dim may be omitted
 * (conv1d (C,L), conv2d (C,H,W)), as in PyTorch.  Array parameters hold
 * {height, width}; NULL means the default (stride 1, padding 0,
 * dilation 1, output_padding 0).
 *
 *   conv1d:            x (N,C,L),   w (O,C,K),        b (O) -> (N,O,Lout)
 *   conv2d:            x (N,C,H,W), w (O,C,kh,kw),    b (O) -> (N,O,Hout,Wout)
 *   conv_transpose2d:  x (N,C,H,W), w (C,O,kh,kw),    b (O) -> (N,O,Hout,Wout)
 *     with Hout = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1
 */
tn_tensor *nn_conv1d(tn_tensor *x, tn_tensor *w, tn_tensor *b, int64_t stride, int64_t padding,
                     int64_t dilation);
tn_tensor *nn_conv2d(tn_tensor *x, tn_tensor *w, tn_tensor *b, const int64_t stride[2],
                     const int64_t padding[2], const int64_t dilation[2]);
tn_tensor *nn_conv_transpose2d(tn_tensor *x, tn_tensor *w, tn_tensor *b, const int64_t stride[2],
                               const int64_t padding[2], const int64_t output_padding[2],
                               const int64_t dilation[2]);
/* Tuning knob (benchmarks, tests): stride-1 convolutions with at most k
 * weights per output channel (C*kh*kw) use the direct kernels instead of
 * im2col + GEMM; k = -1 (the default) chooses by CPU, dtype and size.
 * Returns the previous value. */
int64_t nn_conv_set_direct_max_k(int64_t k);
/* Tuning knob: 0 forces the AVX2 float32 direct kernels, 1 the AVX-512
 * ones (only on a CPU that has it), -1 detects.  Returns the previous mode. */
int nn_conv_set_avx512(int on);

/* ======================= pooling (pool.c) ======================= */
/*
 * x is (N,C,L) / (N,C,H,W), or without the batch dim.  float32 or float64.
 * stride 0 (1-d) or NULL (2-d) means stride = kernel.  padding <= kernel/2
 * (PyTorch's rule); max pooling pads with -inf, average pooling with zeros
 * (counted in the divisor when count_include_pad).  ceil_mode rounds the
 * output size up, as PyTorch (a window never starts in the right padding).
 * Max pooling propagates NaN and saves the argmax for backward.
 */
tn_tensor *nn_max_pool1d(tn_tensor *x, int64_t kernel, int64_t stride, int64_t padding,
                         bool ceil_mode);
tn_tensor *nn_max_pool2d(tn_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], bool ceil_mode);
/* The same, also returning the argmax as int64 0-based flat indices into
 * each input plane (H*W), PyTorch's return_indices=True.  0 or -1. */
int nn_max_pool2d_with_indices(tn_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                               const int64_t padding[2], bool ceil_mode, tn_tensor **out,
                               tn_tensor **indices);
tn_tensor *nn_avg_pool1d(tn_tensor *x, int64_t kernel, int64_t stride, int64_t padding,
                         bool ceil_mode, bool count_include_pad);
tn_tensor *nn_avg_pool2d(tn_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], bool ceil_mode, bool count_include_pad);
/* Output (N,C,oh,ow); window i spans [floor(i*H/oh), ceil((i+1)*H/oh)). */
tn_tensor *nn_adaptive_avg_pool2d(tn_tensor *x, const int64_t out_size[2]);

/* ==== normalization, dropout, embedding, losses, attention, optimizers ====
 * (norm.c dropout.c embedding.c loss.c attention.c optim.c)
 * float32 or float64 inputs of one dtype unless said otherwise; any strides
 * (non-contiguous inputs are copied). */

/* No index: the value of ignore_index / padding_idx that disables it. */
#define NN_NO_INDEX INT64_MIN

/* batch_norm: x (N,C), (N,C,L) or (N,C,H,W) (any trailing dims), statistics
 * per channel over every dim but 1.  weight, bias (C) may be NULL.
 * training: normalises with the batch mean and biased variance, and when
 * running_mean / running_var (C) are given updates them in place:
 * r = (1 - momentum) * r + momentum * batch_stat, with the unbiased variance
 * for running_var.  Eval: normalises with the running statistics (the batch's
 * when they are NULL, as PyTorch with track_running_stats=False). */
tn_tensor *nn_batch_norm(tn_tensor *x, tn_tensor *running_mean, tn_tensor *running_var,
                         tn_tensor *weight, tn_tensor *bias, bool training, double momentum,
                         double eps);
/* layer_norm over the last k dims of x, which must equal normalized_shape;
 * weight, bias (normalized_shape) may be NULL. */
tn_tensor *nn_layer_norm(tn_tensor *x, int k, const int64_t *normalized_shape, tn_tensor *weight,
                         tn_tensor *bias, double eps);
/* dropout: zeroes each element with probability p and scales the others by
 * 1/(1-p), from the seeded counter-based stream (tensor/random.c); identity
 * (the input itself, a new reference) when !training or p == 0. */
tn_tensor *nn_dropout(tn_tensor *x, double p, bool training);
/* embedding: weight (V,D), ids int64/int32 of any shape (0-based) ->
 * ids.shape + (D).  Rows padding_idx get no gradient (NN_NO_INDEX: none). */
tn_tensor *nn_embedding(tn_tensor *weight, tn_tensor *ids, int64_t padding_idx);

typedef enum { NN_REDUCE_NONE, NN_REDUCE_MEAN, NN_REDUCE_SUM } nn_reduction;
/* "none" "mean" "sum" -> nn_reduction, or -1 (with an error naming op). */
int nn_reduction_from_name(const char *name, const char *op);
/* cross_entropy: logits (N,C) or (N,C,d1,...) or (C); target either int64
 * class indices (N) / (N,d1,...) / () (0-based; ignore_index skipped, and
 * "mean" divides by the number of targets not ignored) or float class
 * probabilities of the logits' shape.  Fused log_softmax + NLL with PyTorch's
 * label smoothing.  NONE gives the per-sample loss (N,d1,...). */
tn_tensor *nn_cross_entropy(tn_tensor *logits, tn_tensor *target, nn_reduction red,
                            double label_smoothing, int64_t ignore_index);
/* nll_loss: logp (N,C) / (N,C,d1,...) / (C), target int64 as above. */
tn_tensor *nn_nll_loss(tn_tensor *logp, tn_tensor *target, nn_reduction red, int64_t ignore_index);
/* binary cross-entropy on probabilities p in [0,1] (log clamped at -100 as
 * PyTorch); target of p's shape. */
tn_tensor *nn_binary_cross_entropy(tn_tensor *p, tn_tensor *target, nn_reduction red);
/* the same on logits, computed stably: max(x,0) - x*y + log1p(exp(-|x|)). */
tn_tensor *nn_binary_cross_entropy_with_logits(tn_tensor *x, tn_tensor *target, nn_reduction red);
/* Composites of tensor ops (autograd through them); a and b broadcast. */
tn_tensor *nn_mse_loss(tn_tensor *a, tn_tensor *b, nn_reduction red);
tn_tensor *nn_l1_loss(tn_tensor *a, tn_tensor *b, nn_reduction red);
tn_tensor *nn_smooth_l1_loss(tn_tensor *a, tn_tensor *b, nn_reduction red, double beta);

/* scaled dot-product attention: q (N,H,L,E), k (N,H,S,E), v (N,H,S,Ev) ->
 * (N,H,L,Ev) = softmax(q k^T * scale [+ causal mask]) v.  Leading dims may
 * be any number >= 0 (batch dims broadcast-free: they must match).  scale
 * <= 0 means 1/sqrt(E).  causal masks key j > query i (top-left aligned, as
 * PyTorch's is_causal). */
tn_tensor *nn_scaled_dot_product_attention(tn_tensor *q, tn_tensor *k, tn_tensor *v, bool causal,
                                           double scale);
/* The same with an explicit mask broadcasting to (..., L, S): bool (true =
 * may attend) or q's float dtype (added to the scores). */
tn_tensor *nn_scaled_dot_product_attention_masked(tn_tensor *q, tn_tensor *k, tn_tensor *v, tn_tensor *mask,
                                                  double scale);

/* Fused optimizer steps (optim.c): one call per parameter tensor, updating
 * param and the state tensors in place (PyTorch's formulas).  All tensors
 * contiguous, of param's shape and float dtype.  `step` counts updates
 * including this one (1 on the first).  0 or -1. */
typedef struct { double lr, momentum, dampening, weight_decay; bool nesterov; } nn_sgd_opts;
/* momentum_buf (when momentum != 0): init_buf on the first step copies the
 * gradient into it, as PyTorch does when the buffer does not exist yet. */
int nn_sgd_step(tn_tensor *param, tn_tensor *grad, tn_tensor *momentum_buf, bool init_buf,
                const nn_sgd_opts *o);
/* decoupled: AdamW (p *= 1 - lr*wd) instead of Adam's L2 term in the gradient. */
typedef struct { double lr, beta1, beta2, eps, weight_decay; bool amsgrad, decoupled; } nn_adam_opts;
int nn_adam_step(tn_tensor *param, tn_tensor *grad, tn_tensor *exp_avg, tn_tensor *exp_avg_sq,
                 tn_tensor *max_exp_avg_sq, int64_t step, const nn_adam_opts *o);
typedef struct { double lr, alpha, eps, weight_decay, momentum; bool centered; } nn_rmsprop_opts;
/* momentum_buf when momentum > 0, grad_avg when centered (else NULL). */
int nn_rmsprop_step(tn_tensor *param, tn_tensor *grad, tn_tensor *square_avg,
                    tn_tensor *momentum_buf, tn_tensor *grad_avg, const nn_rmsprop_opts *o);
/* sum starts at initial_accumulator_value (the caller fills it). */
typedef struct { double lr, lr_decay, weight_decay, eps; } nn_adagrad_opts;
int nn_adagrad_step(tn_tensor *param, tn_tensor *grad, tn_tensor *sum, int64_t step,
                    const nn_adagrad_opts *o);

/* ======================= fully connected (linear.c) ======================= */
/* y = x W^T + b: x (..., in), W (out, in), b (out) or NULL -> (..., out).
 * One GEMM with the bias preloaded; backward writes dW in W's layout. */
tn_tensor *nn_linear(tn_tensor *x, tn_tensor *w, tn_tensor *b);

/* ======================= activations (activation.c) ======================= */
/* float32 / float64 x of any shape -> the same shape, PyTorch's formulas.
 * elu: x > 0 ? scale*x : scale*alpha*(exp(x*input_scale) - 1) (SELU: alpha
 * 1.6732632423543772, scale 1.0507009873554805; CELU: input_scale 1/alpha).
 * hardtanh: clamp(x, min_val, max_val), min_val <= max_val.  log_sigmoid is
 * computed stably.  prelu: w holds 1 slope or one per channel (x's dim 1). */
tn_tensor *nn_elu(tn_tensor *x, double alpha, double scale, double input_scale);
tn_tensor *nn_hardtanh(tn_tensor *x, double min_val, double max_val);
tn_tensor *nn_hardsigmoid(tn_tensor *x);
tn_tensor *nn_hardswish(tn_tensor *x);
tn_tensor *nn_mish(tn_tensor *x);
tn_tensor *nn_log_sigmoid(tn_tensor *x);
tn_tensor *nn_prelu(tn_tensor *x, tn_tensor *w);

/* ======================= resizing (resample.c) ======================= */
/* Resizes the last nspatial (1 or 2) dims of x (float32 / float64, any
 * leading dims) to out_size ({w} or {h, w}; scales has nspatial entries
 * too), PyTorch's interpolate:
 * NEAREST, NEAREST_EXACT or LINEAR (bilinear for 2 dims), align_corners for
 * LINEAR; scales[i] > 0 is the user's scale_factor for that dim (PyTorch
 * then samples at 1/scale_factor steps), 0 means in/out. */
enum { NN_RESAMPLE_NEAREST, NN_RESAMPLE_NEAREST_EXACT, NN_RESAMPLE_LINEAR };
tn_tensor *nn_resample(tn_tensor *x, int nspatial, const int64_t *out_size, int mode, bool align_corners,
                       const double *scales);

#endif
