/*
 * nn_bind.c: Lua bindings of the nn/ kernels, the functional API that the
 * Lua nn layers and optimizers are built on (also exposed as nn.F):
 * convolutions, pooling, normalization, dropout, embedding, fused losses,
 * attention and the fused optimizer steps.
 *
 * Lua conventions applied here: class targets and embedding ids are
 * 1-based (converted to the core's 0-based); options come in a trailing
 * table; sizes may be a number or a {h, w} table.
 */
#include "vm/lt.h"
#include "nn/nn.h"

#include <math.h>
#include <string.h>

/* a number or {a, b} option into out[2] */
static void opt_pair(lua_State *L, int idx, const char *name, int64_t def, int64_t out[2], const char *op) {
    out[0] = out[1] = def;
    if (lua_type(L, idx) != LUA_TTABLE) return;
    int ty = lua_getfield(L, idx, name);
    if (ty == LUA_TNUMBER) {
        out[0] = out[1] = lua_tointeger(L, -1);
    } else if (ty == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        out[0] = luaL_checkinteger(L, -2);
        out[1] = lua_isnil(L, -1) ? out[0] : luaL_checkinteger(L, -1);
        lua_pop(L, 2);
    } else if (ty != LUA_TNIL) {
        luaL_error(L, "%s: option '%s' must be a number or {h, w}", op, name);
    }
    lua_pop(L, 1);
}

static void arg_pair(lua_State *L, int idx, int64_t out[2], const char *op, const char *what) {
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_rawgeti(L, idx, 1);
        lua_rawgeti(L, idx, 2);
        out[0] = luaL_checkinteger(L, -2);
        out[1] = lua_isnil(L, -1) ? out[0] : luaL_checkinteger(L, -1);
        lua_pop(L, 2);
    } else if (lua_isinteger(L, idx)) {
        out[0] = out[1] = lua_tointeger(L, idx);
    } else {
        luaL_error(L, "%s: %s must be an integer or {h, w}, got %s", op, what, luaL_typename(L, idx));
    }
}

/* (x, w [, b] [, opts]): b may be nil or absent; opts is the first table after w */
static int conv_args(lua_State *L, tn_tensor **x, tn_tensor **w, tn_tensor **b) {
    *x = vm_check_tensor(L, 1);
    *w = vm_check_tensor(L, 2);
    *b = vm_test_tensor(L, 3);
    return *b || lua_isnil(L, 3) ? 4 : 3;
}

static int l_conv1d(lua_State *L) {
    tn_tensor *x, *w, *b;
    int o = conv_args(L, &x, &w, &b);
    int64_t s[2], p[2], d[2];
    opt_pair(L, o, "stride", 1, s, "conv1d");
    opt_pair(L, o, "padding", 0, p, "conv1d");
    opt_pair(L, o, "dilation", 1, d, "conv1d");
    vm_push_tensor(L, nn_conv1d(x, w, b, s[0], p[0], d[0]));
    return 1;
}

static int l_conv2d(lua_State *L) {
    tn_tensor *x, *w, *b;
    int o = conv_args(L, &x, &w, &b);
    int64_t s[2], p[2], d[2];
    opt_pair(L, o, "stride", 1, s, "conv2d");
    opt_pair(L, o, "padding", 0, p, "conv2d");
    opt_pair(L, o, "dilation", 1, d, "conv2d");
    vm_push_tensor(L, nn_conv2d(x, w, b, s, p, d));
    return 1;
}

static int l_conv_transpose2d(lua_State *L) {
    tn_tensor *x, *w, *b;
    int o = conv_args(L, &x, &w, &b);
    int64_t s[2], p[2], op[2], d[2];
    opt_pair(L, o, "stride", 1, s, "conv_transpose2d");
    opt_pair(L, o, "padding", 0, p, "conv_transpose2d");
    opt_pair(L, o, "output_padding", 0, op, "conv_transpose2d");
    opt_pair(L, o, "dilation", 1, d, "conv_transpose2d");
    vm_push_tensor(L, nn_conv_transpose2d(x, w, b, s, p, op, d));
    return 1;
}

static int l_max_pool1d(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int64_t s[2], p[2];
    opt_pair(L, 3, "stride", 0, s, "max_pool1d");
    opt_pair(L, 3, "padding", 0, p, "max_pool1d");
    vm_push_tensor(L, nn_max_pool1d(x, k, s[0], p[0], lt_opt_bool(L, 3, "ceil_mode", false)));
    return 1;
}

static int l_max_pool2d(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    int64_t k[2], s[2], p[2];
    arg_pair(L, 2, k, "max_pool2d", "kernel size");
    opt_pair(L, 3, "stride", 0, s, "max_pool2d");
    if (s[0] == 0) memcpy(s, k, sizeof s);
    opt_pair(L, 3, "padding", 0, p, "max_pool2d");
    vm_push_tensor(L, nn_max_pool2d(x, k, s, p, lt_opt_bool(L, 3, "ceil_mode", false)));
    return 1;
}

static int l_avg_pool1d(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int64_t s[2], p[2];
    opt_pair(L, 3, "stride", 0, s, "avg_pool1d");
    opt_pair(L, 3, "padding", 0, p, "avg_pool1d");
    vm_push_tensor(L, nn_avg_pool1d(x, k, s[0], p[0], lt_opt_bool(L, 3, "ceil_mode", false),
                                    lt_opt_bool(L, 3, "count_include_pad", true)));
    return 1;
}

static int l_avg_pool2d(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    int64_t k[2], s[2], p[2];
    arg_pair(L, 2, k, "avg_pool2d", "kernel size");
    opt_pair(L, 3, "stride", 0, s, "avg_pool2d");
    if (s[0] == 0) memcpy(s, k, sizeof s);
    opt_pair(L, 3, "padding", 0, p, "avg_pool2d");
    vm_push_tensor(L, nn_avg_pool2d(x, k, s, p, lt_opt_bool(L, 3, "ceil_mode", false),
                                    lt_opt_bool(L, 3, "count_include_pad", true)));
    return 1;
}

static int l_adaptive_avg_pool2d(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    int64_t sz[2];
    arg_pair(L, 2, sz, "adaptive_avg_pool2d", "output size");
    vm_push_tensor(L, nn_adaptive_avg_pool2d(x, sz));
    return 1;
}

static tn_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : vm_check_tensor(L, idx);
}

static int l_batch_norm(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    tn_tensor *rm = opt_tensor(L, 2), *rv = opt_tensor(L, 3), *w = opt_tensor(L, 4), *b = opt_tensor(L, 5);
    bool training = lua_toboolean(L, 6);
    double momentum = luaL_optnumber(L, 7, 0.1), eps = luaL_optnumber(L, 8, 1e-5);
    vm_push_tensor(L, nn_batch_norm(x, rm, rv, w, b, training, momentum, eps));
    return 1;
}

static int l_layer_norm(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    int64_t shape[TN_MAX_DIMS];
    int k;
    if (lua_isinteger(L, 2)) {
        shape[0] = lua_tointeger(L, 2);
        k = 1;
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        k = (int)lua_rawlen(L, 2);
        if (k < 1 || k > TN_MAX_DIMS) return luaL_error(L, "layer_norm: bad normalized_shape");
        for (int i = 0; i < k; i++) {
            lua_rawgeti(L, 2, i + 1);
            shape[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    }
    vm_push_tensor(L, nn_layer_norm(x, k, shape, opt_tensor(L, 3), opt_tensor(L, 4), luaL_optnumber(L, 5, 1e-5)));
    return 1;
}

static int l_dropout(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    double p = luaL_optnumber(L, 2, 0.5);
    if (!(p >= 0 && p <= 1)) return luaL_error(L, "dropout: p must be in [0, 1], got %f", p);
    bool training = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
    vm_push_tensor(L, nn_dropout(x, p, training));
    return 1;
}

static int l_embedding(lua_State *L) {
    tn_tensor *w = vm_check_tensor(L, 1);
    int64_t pad = lua_isnoneornil(L, 3) ? NN_NO_INDEX : luaL_checkinteger(L, 3) - 1;
    tn_tensor *ids = lt_index_arg(L, 2, "embedding");
    tn_tensor *r = nn_embedding(w, ids, pad);
    tn_release(ids);
    if (!r) return vm_error(L, "embedding");
    vm_push_tensor(L, r);
    return 1;
}

static nn_reduction opt_reduction(lua_State *L, int idx, const char *op) {
    if (lua_type(L, idx) != LUA_TTABLE) return NN_REDUCE_MEAN;
    nn_reduction r = NN_REDUCE_MEAN;
    if (lua_getfield(L, idx, "reduction") != LUA_TNIL) {
        int v = nn_reduction_from_name(luaL_checkstring(L, -1), op);
        if (v < 0) vm_error(L, op);
        r = (nn_reduction)v;
    }
    lua_pop(L, 1);
    return r;
}

/* class targets: integer tensors are 1-based class indices; float tensors
 * are class probabilities and pass through */
static tn_tensor *class_target(lua_State *L, int idx, const char *op) {
    tn_tensor *t = vm_test_tensor(L, idx);
    if (t && tn_dtype_is_float(t->dtype)) return tn_retain(t);
    return lt_index_arg(L, idx, op);
}

static int64_t opt_ignore(lua_State *L, int idx) {
    double v = lt_opt_number(L, idx, "ignore_index", NAN);
    return v == v ? (int64_t)v - 1 : NN_NO_INDEX;
}

static int l_cross_entropy(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    nn_reduction red = opt_reduction(L, 3, "cross_entropy");
    double ls = lt_opt_number(L, 3, "label_smoothing", 0);
    int64_t ign = opt_ignore(L, 3);
    tn_tensor *t = class_target(L, 2, "cross_entropy");
    tn_tensor *r = nn_cross_entropy(x, t, red, ls, ign);
    tn_release(t);
    if (!r) return vm_error(L, "cross_entropy");
    vm_push_tensor(L, r);
    return 1;
}

static int l_nll_loss(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    nn_reduction red = opt_reduction(L, 3, "nll_loss");
    int64_t ign = opt_ignore(L, 3);
    tn_tensor *t = lt_index_arg(L, 2, "nll_loss");
    tn_tensor *r = nn_nll_loss(x, t, red, ign);
    tn_release(t);
    if (!r) return vm_error(L, "nll_loss");
    vm_push_tensor(L, r);
    return 1;
}

typedef tn_tensor *(*pair_loss)(tn_tensor *, tn_tensor *, nn_reduction);

static int pair_loss_call(lua_State *L, pair_loss fn, const char *op) {
    tn_tensor *a = vm_check_tensor(L, 1);
    nn_reduction red = opt_reduction(L, 3, op);
    tn_tensor *b = vm_to_tensor(L, 2, op);
    tn_tensor *r = fn(a, b, red);
    tn_release(b);
    if (!r) return vm_error(L, op);
    vm_push_tensor(L, r);
    return 1;
}
static int l_bce(lua_State *L) { return pair_loss_call(L, nn_binary_cross_entropy, "binary_cross_entropy"); }
static int l_bce_logits(lua_State *L) {
    return pair_loss_call(L, nn_binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits");
}
static int l_mse(lua_State *L) { return pair_loss_call(L, nn_mse_loss, "mse_loss"); }
static int l_l1(lua_State *L) { return pair_loss_call(L, nn_l1_loss, "l1_loss"); }

static int l_smooth_l1(lua_State *L) {
    tn_tensor *a = vm_check_tensor(L, 1);
    nn_reduction red = opt_reduction(L, 3, "smooth_l1_loss");
    double beta = lt_opt_number(L, 3, "beta", 1.0);
    tn_tensor *b = vm_to_tensor(L, 2, "smooth_l1_loss");
    tn_tensor *r = nn_smooth_l1_loss(a, b, red, beta);
    tn_release(b);
    if (!r) return vm_error(L, "smooth_l1_loss");
    vm_push_tensor(L, r);
    return 1;
}

static int l_sdpa(lua_State *L) {
    tn_tensor *q = vm_check_tensor(L, 1), *k = vm_check_tensor(L, 2), *v = vm_check_tensor(L, 3);
    bool causal = lt_opt_bool(L, 4, "causal", false);
    double scale = lt_opt_number(L, 4, "scale", 0);
    tn_tensor *mask = NULL;
    if (lua_type(L, 4) == LUA_TTABLE) {
        lua_getfield(L, 4, "attn_mask");
        if (!lua_isnil(L, -1) && !(mask = vm_test_tensor(L, -1)))   /* kept alive by the options table */
            return luaL_error(L, "scaled_dot_product_attention: attn_mask must be a tensor, got %s",
                              luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    if (mask && causal)
        return luaL_error(L, "scaled_dot_product_attention: give attn_mask or causal=true, not both "
                             "(fold the causal mask into attn_mask)");
    vm_push_tensor(L, mask ? nn_scaled_dot_product_attention_masked(q, k, v, mask, scale)
                           : nn_scaled_dot_product_attention(q, k, v, causal, scale));
    return 1;
}

/* ---------- fused optimizer steps ---------- */

static int l_sgd_step(lua_State *L) {
    tn_tensor *p = vm_check_tensor(L, 1), *g = vm_check_tensor(L, 2), *buf = opt_tensor(L, 3);
    bool init = lua_toboolean(L, 4);
    nn_sgd_opts o = {lt_opt_number(L, 5, "lr", 0.01), lt_opt_number(L, 5, "momentum", 0),
                     lt_opt_number(L, 5, "dampening", 0), lt_opt_number(L, 5, "weight_decay", 0),
                     lt_opt_bool(L, 5, "nesterov", false)};
    if (nn_sgd_step(p, g, buf, init, &o) < 0) return vm_error(L, "sgd_step_");
    return 0;
}

static int l_adam_step(lua_State *L) {
    tn_tensor *p = vm_check_tensor(L, 1), *g = vm_check_tensor(L, 2);
    tn_tensor *m = vm_check_tensor(L, 3), *v = vm_check_tensor(L, 4), *vmax = opt_tensor(L, 5);
    lua_Integer step = luaL_checkinteger(L, 6);
    nn_adam_opts o = {lt_opt_number(L, 7, "lr", 1e-3), lt_opt_number(L, 7, "beta1", 0.9),
                      lt_opt_number(L, 7, "beta2", 0.999), lt_opt_number(L, 7, "eps", 1e-8),
                      lt_opt_number(L, 7, "weight_decay", 0), lt_opt_bool(L, 7, "amsgrad", false),
                      lt_opt_bool(L, 7, "decoupled", false)};
    if (nn_adam_step(p, g, m, v, vmax, step, &o) < 0) return vm_error(L, "adam_step_");
    return 0;
}

static int l_rmsprop_step(lua_State *L) {
    tn_tensor *p = vm_check_tensor(L, 1), *g = vm_check_tensor(L, 2), *sq = vm_check_tensor(L, 3);
    tn_tensor *buf = opt_tensor(L, 4), *ga = opt_tensor(L, 5);
    nn_rmsprop_opts o = {lt_opt_number(L, 6, "lr", 0.01), lt_opt_number(L, 6, "alpha", 0.99),
                         lt_opt_number(L, 6, "eps", 1e-8), lt_opt_number(L, 6, "weight_decay", 0),
                         lt_opt_number(L, 6, "momentum", 0), lt_opt_bool(L, 6, "centered", false)};
    if (nn_rmsprop_step(p, g, sq, buf, ga, &o) < 0) return vm_error(L, "rmsprop_step_");
    return 0;
}

static int l_adagrad_step(lua_State *L) {
    tn_tensor *p = vm_check_tensor(L, 1), *g = vm_check_tensor(L, 2), *s = vm_check_tensor(L, 3);
    lua_Integer step = luaL_checkinteger(L, 4);
    nn_adagrad_opts o = {lt_opt_number(L, 5, "lr", 0.01), lt_opt_number(L, 5, "lr_decay", 0),
                         lt_opt_number(L, 5, "weight_decay", 0), lt_opt_number(L, 5, "eps", 1e-10)};
    if (nn_adagrad_step(p, g, s, step, &o) < 0) return vm_error(L, "adagrad_step_");
    return 0;
}

static int l_linear(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1), *w = vm_check_tensor(L, 2);
    vm_push_tensor(L, nn_linear(x, w, opt_tensor(L, 3)));
    return 1;
}

/* ---------- activations (nn/activation.c) ---------- */

/* pushes r, or raises the core's error prefixed with op when it lacks it
 * (an allocation failure says only "out of memory ...") */
static void push_result(lua_State *L, tn_tensor *r, const char *op) {
    if (!r) vm_error(L, op);
    vm_push_tensor(L, r);
}


/* an optional number argument that must be finite */
static double opt_finite(lua_State *L, int idx, double def, const char *op, const char *what) {
    double v = luaL_optnumber(L, idx, def);
    if (!isfinite(v)) luaL_error(L, "%s: %s must be a finite number, got %f", op, what, v);
    return v;
}

/* the input of an activation, checked here so that the error names the Lua
 * function (selu, celu and relu6 share elu's and hardtanh's kernels) */
static tn_tensor *act_input(lua_State *L, int idx, const char *op) {
    tn_tensor *x = vm_check_tensor(L, idx);
    if (x->dtype != TN_FLOAT32 && x->dtype != TN_FLOAT64)
        luaL_error(L, "%s: input must be float32 or float64, got %s", op, tn_dtype_name(x->dtype));
    return x;
}

static int l_elu(lua_State *L) {
    tn_tensor *x = act_input(L, 1, "elu");
    double alpha = opt_finite(L, 2, 1.0, "elu", "alpha");
    push_result(L, nn_elu(x, alpha, 1.0, 1.0), "elu");
    return 1;
}

static int l_selu(lua_State *L) {
    tn_tensor *x = act_input(L, 1, "selu");
    push_result(L, nn_elu(x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946, 1.0), "selu");
    return 1;
}

static int l_celu(lua_State *L) {
    tn_tensor *x = act_input(L, 1, "celu");
    double alpha = opt_finite(L, 2, 1.0, "celu", "alpha");
    if (alpha == 0) return luaL_error(L, "celu: alpha must not be 0 (it divides the input)");
    push_result(L, nn_elu(x, alpha, 1.0, 1.0 / alpha), "celu");
    return 1;
}

static int l_hardtanh(lua_State *L) {
    tn_tensor *x = act_input(L, 1, "hardtanh");
    double lo = luaL_optnumber(L, 2, -1.0), hi = luaL_optnumber(L, 3, 1.0);
    push_result(L, nn_hardtanh(x, lo, hi), "hardtanh");
    return 1;
}

static int l_relu6(lua_State *L) {
    push_result(L, nn_hardtanh(act_input(L, 1, "relu6"), 0.0, 6.0), "relu6");
    return 1;
}

static int l_hardsigmoid(lua_State *L) {
    push_result(L, nn_hardsigmoid(act_input(L, 1, "hardsigmoid")), "hardsigmoid");
    return 1;
}

static int l_hardswish(lua_State *L) {
    push_result(L, nn_hardswish(act_input(L, 1, "hardswish")), "hardswish");
    return 1;
}

static int l_mish(lua_State *L) {
    push_result(L, nn_mish(act_input(L, 1, "mish")), "mish");
    return 1;
}

static int l_logsigmoid(lua_State *L) {
    push_result(L, nn_log_sigmoid(act_input(L, 1, "logsigmoid")), "logsigmoid");
    return 1;
}

static int l_prelu(lua_State *L) {
    tn_tensor *x = act_input(L, 1, "prelu"), *w = vm_check_tensor(L, 2);
    push_result(L, nn_prelu(x, w), "prelu");
    return 1;
}

static const lt_reg act_fns[] = {
    {"elu", l_elu, "ember.elu(x [, alpha=1]): x for x > 0, alpha * (exp(x) - 1) otherwise."},
    {"selu", l_selu, "ember.selu(x): scale * elu(x, alpha) with PyTorch's constants (alpha 1.6733, scale 1.0507), self-normalizing."},
    {"celu", l_celu, "ember.celu(x [, alpha=1]): max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."},
    {"hardtanh", l_hardtanh, "ember.hardtanh(x [, min_val=-1 [, max_val=1]]): x clamped to [min_val, max_val]; gradient 1 strictly inside."},
    {"relu6", l_relu6, "ember.relu6(x): min(max(x, 0), 6), hardtanh(x, 0, 6)."},
    {"hardsigmoid", l_hardsigmoid, "ember.hardsigmoid(x): the piecewise-linear sigmoid clamp(x/6 + 1/2, 0, 1)."},
    {"hardswish", l_hardswish, "ember.hardswish(x): x * hardsigmoid(x) (MobileNetV3)."},
    {"mish", l_mish, "ember.mish(x): x * tanh(softplus(x))."},
    {"logsigmoid", l_logsigmoid, "ember.logsigmoid(x): log(sigmoid(x)) = -softplus(-x), computed stably for any x."},
    {"prelu", l_prelu, "ember.prelu(x, weight): x for x > 0, weight * x otherwise; weight holds 1 slope or one per channel (dim 2 of x)."},
    {NULL, NULL, NULL}};

/* ---------- resizing (nn/resample.c) ---------- */

/* ember._resample(x, {w} or {h, w}, mode, align_corners, {sw} or {sh, sw}):
 * the kernel of nn.interpolate, which validates the arguments */
static int l_resample(lua_State *L) {
    tn_tensor *x = vm_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int nsp = (int)lua_rawlen(L, 2);
    if (nsp != 1 && nsp != 2) return luaL_error(L, "interpolate: expected 1 or 2 output sizes, got %d", nsp);
    int64_t size[2] = {0, 0};
    double scales[2] = {0, 0};
    for (int i = 0; i < nsp; i++) {
        lua_rawgeti(L, 2, i + 1);
        size[i] = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        if (lua_type(L, 5) == LUA_TTABLE) {
            lua_rawgeti(L, 5, i + 1);
            scales[i] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
            lua_pop(L, 1);
        }
    }
    const char *m = luaL_checkstring(L, 3);
    int mode = strcmp(m, "nearest") == 0 ? NN_RESAMPLE_NEAREST
             : strcmp(m, "nearest-exact") == 0 ? NN_RESAMPLE_NEAREST_EXACT
             : strcmp(m, "linear") == 0 ? NN_RESAMPLE_LINEAR : -1;
    if (mode < 0) return luaL_error(L, "interpolate: unknown mode '%s'", m);
    push_result(L, nn_resample(x, nsp, size, mode, lua_toboolean(L, 4), scales), "interpolate");
    return 1;
}

static const lt_reg resample_fns[] = {
    {"_resample", l_resample, "ember._resample(x, sizes, mode, align_corners, scales): the C kernel of nn.interpolate (nearest, nearest-exact, linear over the last 1 or 2 dims); use nn.interpolate."},
    {NULL, NULL, NULL}};

static int l_nn_op_names(lua_State *L) {
    lua_createtable(L, NN_OP_COUNT, 0);
    for (int i = 0; i < NN_OP_COUNT; i++) {
        lua_pushstring(L, nn_op_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const lt_reg nn_fns[] = {
    {"linear", l_linear, "ember.linear(x, W [, b]): x W^T + b as one op, x (..., in), W (out, in), b (out)."},
    {"conv1d", l_conv1d, "ember.conv1d(x, w [, b] [, {stride=, padding=, dilation=}]): 1-D convolution, x (N,C,L), w (O,C,K)."},
    {"conv2d", l_conv2d, "ember.conv2d(x, w [, b] [, {stride=, padding=, dilation=}]): 2-D convolution, x (N,C,H,W), w (O,C,kh,kw); sizes a number or {h, w}."},
    {"conv_transpose2d", l_conv_transpose2d, "ember.conv_transpose2d(x, w [, b] [, {stride=, padding=, output_padding=, dilation=}]): transposed convolution, w (C_in,C_out,kh,kw)."},
    {"max_pool1d", l_max_pool1d, "ember.max_pool1d(x, k [, {stride=, padding=, ceil_mode=}]): max pooling over (N,C,L)."},
    {"max_pool2d", l_max_pool2d, "ember.max_pool2d(x, k [, {stride=, padding=, ceil_mode=}]): max pooling over (N,C,H,W)."},
    {"avg_pool1d", l_avg_pool1d, "ember.avg_pool1d(x, k [, {stride=, padding=, ceil_mode=, count_include_pad=}]): average pooling."},
    {"avg_pool2d", l_avg_pool2d, "ember.avg_pool2d(x, k [, opts]): average pooling over (N,C,H,W)."},
    {"adaptive_avg_pool2d", l_adaptive_avg_pool2d, "ember.adaptive_avg_pool2d(x, size or {h, w}): average pooling to a fixed output size."},
    {"batch_norm", l_batch_norm, "ember.batch_norm(x, running_mean, running_var, weight, bias, training [, momentum=0.1 [, eps=1e-5]]): batch normalization over dim 2 (channels)."},
    {"layer_norm", l_layer_norm, "ember.layer_norm(x, normalized_shape, weight, bias [, eps=1e-5]): normalizes over the last dims."},
    {"dropout", l_dropout, "ember.dropout(x, p [, training=true]): zeroes elements with probability p and scales the rest by 1/(1-p)."},
    {"embedding", l_embedding, "ember.embedding(weight, ids [, padding_idx]): rows of weight (V,D) for 1-based ids."},
    {"cross_entropy", l_cross_entropy, "ember.cross_entropy(logits, target [, {reduction=, label_smoothing=, ignore_index=}]): fused log_softmax + NLL; target holds 1-based classes or class probabilities."},
    {"nll_loss", l_nll_loss, "ember.nll_loss(logp, target [, {reduction=, ignore_index=}]): negative log likelihood of 1-based classes."},
    {"binary_cross_entropy", l_bce, "ember.binary_cross_entropy(p, y [, {reduction=}]): BCE on probabilities."},
    {"binary_cross_entropy_with_logits", l_bce_logits, "ember.binary_cross_entropy_with_logits(x, y [, {reduction=}]): BCE on logits, numerically stable."},
    {"mse_loss", l_mse, "ember.mse_loss(a, b [, {reduction=}]): mean squared error."},
    {"l1_loss", l_l1, "ember.l1_loss(a, b [, {reduction=}]): mean absolute error."},
    {"smooth_l1_loss", l_smooth_l1, "ember.smooth_l1_loss(a, b [, {reduction=, beta=1}]): Huber-like loss."},
    {"scaled_dot_product_attention", l_sdpa, "ember.scaled_dot_product_attention(q, k, v [, {causal=, scale=, attn_mask=}]): softmax(q k^T * scale [+ mask]) v over (..., L, E); attn_mask broadcasts to (..., L, S): bool (true = may attend) or float (added)."},
    {"sgd_step_", l_sgd_step, "ember.sgd_step_(param, grad, momentum_buf, init_buf, {lr=, momentum=, dampening=, weight_decay=, nesterov=}): one fused SGD update in place."},
    {"adam_step_", l_adam_step, "ember.adam_step_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, {lr=, beta1=, beta2=, eps=, weight_decay=, amsgrad=, decoupled=}): one fused Adam/AdamW update in place."},
    {"rmsprop_step_", l_rmsprop_step, "ember.rmsprop_step_(param, grad, square_avg, momentum_buf, grad_avg, {lr=, alpha=, eps=, weight_decay=, momentum=, centered=}): one fused RMSprop update."},
    {"adagrad_step_", l_adagrad_step, "ember.adagrad_step_(param, grad, sum, step, {lr=, lr_decay=, weight_decay=, eps=}): one fused Adagrad update."},
    {"nn_op_names", l_nn_op_names, "ember.nn_op_names(): the names of every differentiable op of nn/."},
    {NULL, NULL, NULL}};

void lt_open_nn(lua_State *L, int module) {
    lua_pushvalue(L, module);
    lt_register(L, nn_fns);
    lt_register(L, act_fns);
    lt_register(L, resample_fns);
    lua_pop(L, 1);
}
