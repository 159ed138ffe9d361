/*
 * ops_bind.c: Lua bindings of the math of the tensor core: elementwise ops
 * and their in-place forms, reductions, softmax, sorting, indexing ops,
 * linear algebra, and the autograd API (requires_grad_, backward, no_grad,
 * gradcheck).  Every op is both a method (x:exp()) and a module function
 * (ember.exp(x)).
 *
 * Index conversions happen here: Lua passes 1-based dims and indices; the
 * core takes 0-based ones; index results (argmax, sort, topk, max over a
 * dim) come back 1-based.
 */
#include "vm/lt.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* ---------- elementwise ---------- */

static const struct {
    const char *name;
    tn_unary_kind k;
    const char *doc;
} unary_ops[] = {
    {"neg", TN_U_NEG, "-x"}, {"abs", TN_U_ABS, "|x|"}, {"exp", TN_U_EXP, "e^x"},
    {"log", TN_U_LOG, "natural logarithm"}, {"log1p", TN_U_LOG1P, "log(1 + x), accurate near 0"},
    {"sqrt", TN_U_SQRT, "square root"}, {"rsqrt", TN_U_RSQRT, "1 / sqrt(x)"},
    {"sin", TN_U_SIN, "sine"}, {"cos", TN_U_COS, "cosine"}, {"tanh", TN_U_TANH, "hyperbolic tangent"},
    {"sigmoid", TN_U_SIGMOID, "1 / (1 + e^-x)"}, {"relu", TN_U_RELU, "max(x, 0)"},
    {"gelu", TN_U_GELU, "x * Phi(x) (exact, erf-based)"}, {"silu", TN_U_SILU, "x * sigmoid(x)"},
    {"softplus", TN_U_SOFTPLUS, "log(1 + e^x)"}, {"floor", TN_U_FLOOR, "round down"},
    {"ceil", TN_U_CEIL, "round up"}, {"round", TN_U_ROUND, "round half to even"},
    {"sign", TN_U_SIGN, "-1, 0 or 1"}, {"reciprocal", TN_U_RECIPROCAL, "1 / x"},
    {"logical_not", TN_U_LOGICAL_NOT, "not x, as bool"}, {"isnan", TN_U_ISNAN, "true where x is NaN"},
};
#define N_UNARY (sizeof unary_ops / sizeof unary_ops[0])

static int l_unary(lua_State *L) {
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    vm_push_tensor(L, tn_unary(unary_ops[i].k, vm_check_tensor(L, 1)));
    return 1;
}

static int l_unary_(lua_State *L) {
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    if (tn_unary_(unary_ops[i].k, vm_check_tensor(L, 1)) < 0) return vm_error(L, unary_ops[i].name);
    lua_settop(L, 1);
    return 1;
}

static const struct {
    const char *name;
    tn_binary_kind k;
    const char *doc;
} binary_ops[] = {
    {"add", TN_B_ADD, "a + b"}, {"sub", TN_B_SUB, "a - b"}, {"mul", TN_B_MUL, "a * b (elementwise)"},
    {"div", TN_B_DIV, "a / b (true division)"}, {"pow", TN_B_POW, "a ^ b"},
    {"remainder", TN_B_MOD, "a % b (sign of b, as Lua)"}, {"maximum", TN_B_MAXIMUM, "elementwise max"},
    {"minimum", TN_B_MINIMUM, "elementwise min"}, {"eq", TN_B_EQ, "a == b, as bool"},
    {"ne", TN_B_NE, "a ~= b, as bool"}, {"lt", TN_B_LT, "a < b"}, {"le", TN_B_LE, "a <= b"},
    {"gt", TN_B_GT, "a > b"}, {"ge", TN_B_GE, "a >= b"},
    {"logical_and", TN_B_AND, "a and b, as bool"}, {"logical_or", TN_B_OR, "a or b, as bool"},
};
#define N_BINARY (sizeof binary_ops / sizeof binary_ops[0])

static int l_binary(lua_State *L) {
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *op = binary_ops[i].name;
    vm_prepare_args(L, 1, 2, op);
    tn_tensor *a = vm_to_tensor(L, 1, op), *b = vm_to_tensor(L, 2, op);
    tn_tensor *r = tn_binary(binary_ops[i].k, a, b);
    tn_release(a);
    tn_release(b);
    if (!r) return vm_error(L, op);
    vm_push_tensor(L, r);
    return 1;
}

static int l_binary_(lua_State *L) {
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    const char *op = binary_ops[i].name;
    tn_tensor *a = vm_check_tensor(L, 1);
    vm_prepare_args(L, 2, 2, op);
    tn_tensor *b = vm_to_tensor(L, 2, op);
    int rc = tn_binary_(binary_ops[i].k, a, b);
    tn_release(b);
    if (rc < 0) return vm_error(L, op);
    lua_settop(L, 1);
    return 1;
}

static int l_leaky_relu(lua_State *L) {
    vm_push_tensor(L, tn_leaky_relu(vm_check_tensor(L, 1), luaL_optnumber(L, 2, 0.01)));
    return 1;
}

static int l_where(lua_State *L) {
    tn_tensor *c = vm_check_tensor(L, 1);
    vm_prepare_args(L, 2, 3, "where");
    tn_tensor *a = vm_to_tensor(L, 2, "where"), *b = vm_to_tensor(L, 3, "where");
    tn_tensor *r = tn_where(c, a, b);
    tn_release(a);
    tn_release(b);
    if (!r) return vm_error(L, "where");
    vm_push_tensor(L, r);
    return 1;
}

static int l_masked_fill(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1), *m = vm_check_tensor(L, 2);
    vm_push_tensor(L, tn_masked_fill(t, m, luaL_checknumber(L, 3)));
    return 1;
}

static int l_fill_(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    double v = lua_isboolean(L, 2) ? lua_toboolean(L, 2) : luaL_checknumber(L, 2);
    if (tn_fill_(t, v) < 0) return vm_error(L, "fill_");
    lua_settop(L, 1);
    return 1;
}

static int l_zero_(lua_State *L) {
    if (tn_zero_(vm_check_tensor(L, 1)) < 0) return vm_error(L, "zero_");
    lua_settop(L, 1);
    return 1;
}

static int l_copy_(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    tn_tensor *s = vm_to_tensor(L, 2, "copy_");
    int rc = tn_copy_(t, s);
    tn_release(s);
    if (rc < 0) return vm_error(L, "copy_");
    lua_settop(L, 1);
    return 1;
}

static int l_uniform_(lua_State *L) {
    if (tn_uniform_(vm_check_tensor(L, 1), luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)) < 0)
        return vm_error(L, "uniform_");
    lua_settop(L, 1);
    return 1;
}

static int l_normal_(lua_State *L) {
    if (tn_normal_(vm_check_tensor(L, 1), luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)) < 0)
        return vm_error(L, "normal_");
    lua_settop(L, 1);
    return 1;
}

/* ---------- reductions ---------- */

/* Parses (dim | {dims} | nil [, keepdim]) starting at arg. */
static int reduce_dims(lua_State *L, int arg, tn_tensor *t, int *dims, bool *keepdim, const char *op) {
    int n = 0;
    if (lua_type(L, arg) == LUA_TTABLE) {
        int m = (int)lua_rawlen(L, arg);
        if (m > TN_MAX_DIMS) luaL_error(L, "%s: too many dims", op);
        for (int i = 1; i <= m; i++) {
            lua_rawgeti(L, arg, i);
            dims[n++] = lt_dim(L, -1, t->ndim, op);
            lua_pop(L, 1);
        }
    } else if (!lua_isnoneornil(L, arg)) {
        dims[n++] = lt_dim(L, arg, t->ndim, op);
    }
    *keepdim = lua_toboolean(L, arg + 1);
    return n;
}

static const struct {
    const char *name;
    tn_reduce_kind k;
    const char *doc;
} reduce_ops[] = {
    {"sum", TN_R_SUM, "t:sum([dim or {dims}] [, keepdim]): the sum (over all elements: a 0-dim tensor)."},
    {"mean", TN_R_MEAN, "t:mean([dim] [, keepdim]): the mean."},
    {"prod", TN_R_PROD, "t:prod([dim] [, keepdim]): the product."},
    {"all", TN_R_ALL, "t:all([dim] [, keepdim]): true where every element is nonzero."},
    {"any", TN_R_ANY, "t:any([dim] [, keepdim]): true where some element is nonzero."},
    {"logsumexp", TN_R_LOGSUMEXP, "t:logsumexp([dim] [, keepdim]): log(sum(exp(t))), stable."},
    {"amax", TN_R_MAX, "t:amax([dim] [, keepdim]): the maximum values (no indices)."},
    {"amin", TN_R_MIN, "t:amin([dim] [, keepdim]): the minimum values (no indices)."},
};
#define N_REDUCE (sizeof reduce_ops / sizeof reduce_ops[0])

static int l_reduce(lua_State *L) {
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    tn_tensor *t = vm_check_tensor(L, 1);
    int dims[TN_MAX_DIMS];
    bool keep;
    int n = reduce_dims(L, 2, t, dims, &keep, reduce_ops[i].name);
    vm_push_tensor(L, tn_reduce(reduce_ops[i].k, t, dims, n, keep));
    return 1;
}

/* max / min: over everything a 0-dim value; over a dim values and 1-based indices */
static int minmax(lua_State *L, bool is_max) {
    const char *op = is_max ? "max" : "min";
    tn_tensor *t = vm_check_tensor(L, 1);
    if (vm_test_tensor(L, 2)) {  /* max(a, b): elementwise */
        tn_tensor *r = tn_binary(is_max ? TN_B_MAXIMUM : TN_B_MINIMUM, t, vm_check_tensor(L, 2));
        vm_push_tensor(L, r);
        return 1;
    }
    if (lua_isnoneornil(L, 2)) {
        vm_push_tensor(L, tn_reduce(is_max ? TN_R_MAX : TN_R_MIN, t, NULL, 0, false));
        return 1;
    }
    int d = lt_dim(L, 2, t->ndim, op);
    bool keep = lua_toboolean(L, 3);
    tn_tensor *v = NULL, *ix = NULL;
    int rc = is_max ? tn_max_dim(t, d, keep, &v, &ix) : tn_min_dim(t, d, keep, &v, &ix);
    if (rc < 0) return vm_error(L, op);
    vm_push_tensor(L, v);
    lt_push_index(L, ix, op);
    return 2;
}
static int l_max(lua_State *L) { return minmax(L, true); }
static int l_min(lua_State *L) { return minmax(L, false); }

static int arg_minmax(lua_State *L, bool is_max) {
    const char *op = is_max ? "argmax" : "argmin";
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lt_opt_dim(L, 2, t->ndim, op);
    bool keep = lua_toboolean(L, 3);
    lt_push_index(L, is_max ? tn_argmax(t, d, keep) : tn_argmin(t, d, keep), op);
    return 1;
}
static int l_argmax(lua_State *L) { return arg_minmax(L, true); }
static int l_argmin(lua_State *L) { return arg_minmax(L, false); }

/* var/std(t [, dim] [, opts or keepdim]) with {correction=1 | unbiased=bool, keepdim=} */
static int var_std(lua_State *L, bool is_std) {
    const char *op = is_std ? "std" : "var";
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = TN_ALL_DIMS, optarg = 2;
    if (lua_isinteger(L, 2)) {
        d = lt_dim(L, 2, t->ndim, op);
        optarg = 3;
    }
    bool keep = lua_isboolean(L, optarg) ? lua_toboolean(L, optarg) : lt_opt_bool(L, optarg, "keepdim", false);
    int corr = 1;
    if (lua_type(L, optarg) == LUA_TTABLE) {
        corr = (int)lt_opt_number(L, optarg, "correction", 1);
        if (!lt_opt_bool(L, optarg, "unbiased", true)) corr = 0;
    }
    vm_push_tensor(L, is_std ? tn_std(t, d, keep, corr) : tn_var(t, d, keep, corr));
    return 1;
}
static int l_var(lua_State *L) { return var_std(L, false); }
static int l_std(lua_State *L) { return var_std(L, true); }

static int l_norm(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    double p = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) p = lua_tonumber(L, 2);
    else if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "inf") == 0) p = INFINITY;
    else if (!lua_isnoneornil(L, 2)) return luaL_error(L, "norm: p must be a number or 'inf'");
    int d = lt_opt_dim(L, 3, t->ndim, "norm");
    vm_push_tensor(L, tn_norm(t, p, d, lua_toboolean(L, 4)));
    return 1;
}

static int l_cumsum(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    vm_push_tensor(L, tn_cumsum(t, lt_dim(L, 2, t->ndim, "cumsum")));
    return 1;
}

static int triangle_call(lua_State *L, tn_tensor *(*fn)(tn_tensor *, int64_t)) {
    tn_tensor *t = vm_check_tensor(L, 1);
    lua_Integer k = luaL_optinteger(L, 2, 0);
    vm_push_tensor(L, fn(t, (int64_t)k));
    return 1;
}
static int l_tril(lua_State *L) { return triangle_call(L, tn_tril); }
static int l_triu(lua_State *L) { return triangle_call(L, tn_triu); }

static int l_softmax(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lua_isnoneornil(L, 2) ? (t->ndim > 0 ? t->ndim - 1 : 0) : lt_dim(L, 2, t->ndim, "softmax");
    vm_push_tensor(L, tn_softmax(t, d));
    return 1;
}

static int l_log_softmax(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lua_isnoneornil(L, 2) ? (t->ndim > 0 ? t->ndim - 1 : 0) : lt_dim(L, 2, t->ndim, "log_softmax");
    vm_push_tensor(L, tn_log_softmax(t, d));
    return 1;
}

static int l_sort(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lua_isnoneornil(L, 2) ? (t->ndim > 0 ? t->ndim - 1 : 0) : lt_dim(L, 2, t->ndim, "sort");
    bool desc = lua_toboolean(L, 3);
    tn_tensor *v, *ix;
    if (tn_sort(t, d, desc, &v, &ix) < 0) return vm_error(L, "sort");
    vm_push_tensor(L, v);
    lt_push_index(L, ix, "sort");
    return 2;
}

static int l_topk(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int d = lua_isnoneornil(L, 3) ? (t->ndim > 0 ? t->ndim - 1 : 0) : lt_dim(L, 3, t->ndim, "topk");
    bool largest = lua_isnoneornil(L, 4) ? true : lua_toboolean(L, 4);
    tn_tensor *v, *ix;
    if (tn_topk(t, k, d, largest, &v, &ix) < 0) return vm_error(L, "topk");
    vm_push_tensor(L, v);
    lt_push_index(L, ix, "topk");
    return 2;
}

/* ---------- indexing ops ---------- */

static int l_index_select(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lt_dim(L, 2, t->ndim, "index_select");
    tn_tensor *ix = lt_index_arg(L, 3, "index_select");
    tn_tensor *r = tn_index_select(t, d, ix);
    tn_release(ix);
    if (!r) return vm_error(L, "index_select");
    vm_push_tensor(L, r);
    return 1;
}

static int l_gather(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lt_dim(L, 2, t->ndim, "gather");
    tn_tensor *ix = lt_index_arg(L, 3, "gather");
    tn_tensor *r = tn_gather(t, d, ix);
    tn_release(ix);
    if (!r) return vm_error(L, "gather");
    vm_push_tensor(L, r);
    return 1;
}

static int l_scatter_add(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lt_dim(L, 2, t->ndim, "scatter_add");
    tn_tensor *src = vm_check_tensor(L, 4);
    tn_tensor *ix = lt_index_arg(L, 3, "scatter_add");
    tn_tensor *r = tn_scatter_add(t, d, ix, src);
    tn_release(ix);
    if (!r) return vm_error(L, "scatter_add");
    vm_push_tensor(L, r);
    return 1;
}

static int l_one_hot(lua_State *L) {
    tn_tensor *ix = lt_index_arg(L, 1, "one_hot");
    lua_Integer n = luaL_optinteger(L, 2, -1);
    if (n < -1) {
        tn_release(ix);
        return luaL_error(L, "one_hot: number of classes must be >= 0 (or -1 to infer it), got %I", n);
    }
    tn_tensor *r = tn_one_hot(ix, n);
    tn_release(ix);
    if (!r) return vm_error(L, "one_hot");
    vm_push_tensor(L, r);
    return 1;
}

static int l_masked_select(lua_State *L) {
    vm_push_tensor(L, tn_masked_select(vm_check_tensor(L, 1), vm_check_tensor(L, 2)));
    return 1;
}

static int l_nonzero(lua_State *L) {
    lt_push_index(L, tn_nonzero(vm_check_tensor(L, 1)), "nonzero");
    return 1;
}

/* ---------- linear algebra ---------- */

#define BINOP(fname, cfn)                                                     \
    static int l_##fname(lua_State *L) {                                      \
        vm_push_tensor(L, cfn(vm_check_tensor(L, 1), vm_check_tensor(L, 2))); \
        return 1;                                                             \
    }
BINOP(matmul, tn_matmul)
BINOP(mm, tn_mm)
BINOP(bmm, tn_bmm)
BINOP(mv, tn_mv)
BINOP(dot, tn_dot)
BINOP(outer, tn_outer)

/* ---------- autograd ---------- */

static int l_requires_grad_(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    bool on = lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2);
    if (on && !tn_dtype_is_float(t->dtype))
        return luaL_error(L, "requires_grad_: only float tensors can require grad (this one is %s)",
                          tn_dtype_name(t->dtype));
    if (!on && t->grad_fn)
        return luaL_error(L, "requires_grad_: cannot turn off grad on a non-leaf tensor (use detach())");
    t->requires_grad = on;
    lua_settop(L, 1);
    return 1;
}

static int l_backward(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    tn_tensor *g = NULL;
    int optarg = 2;
    if (vm_test_tensor(L, 2)) {
        g = vm_check_tensor(L, 2);
        optarg = 3;
    } else if (lua_type(L, 2) == LUA_TNUMBER) {
        optarg = 3;
    }
    bool retain = lt_opt_bool(L, optarg, "retain_graph", false);
    tn_tensor *gn = NULL;
    if (!g && lua_type(L, 2) == LUA_TNUMBER) {
        gn = tn_full(t->dtype, t->ndim, t->shape, lua_tonumber(L, 2));
        g = gn;
    }
    int rc = tn_backward(t, g, retain);
    tn_release(gn);
    if (rc < 0) return vm_error(L, "backward");
    vm_gc_account(L);
    return 0;
}

static int l_no_grad(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    bool was = tn_set_grad_enabled(false);
    int n = lua_gettop(L) - 1;
    int status = lua_pcall(L, n, LUA_MULTRET, 0);
    tn_set_grad_enabled(was);
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

static int l_set_grad_enabled(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, tn_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}

static int l_is_grad_enabled(lua_State *L) {
    lua_pushboolean(L, tn_is_grad_enabled());
    return 1;
}

/* gradcheck(fn, inputs [, {eps=, atol=, rtol=}]): fn receives the inputs
 * and returns a tensor; inputs that require grad are checked. */
typedef struct {
    lua_State *L;
    int fn, list;
    int n;
} gc_ctx;

static tn_tensor *gc_call(void *vctx, tn_tensor **inputs) {
    gc_ctx *c = vctx;
    lua_State *L = c->L;
    lua_pushvalue(L, c->fn);
    for (int i = 0; i < c->n; i++) {
        lua_rawgeti(L, c->list, i + 1);
        (void)inputs;
    }
    if (lua_pcall(L, c->n, 1, 0) != LUA_OK) {
        tn_error("gradcheck: the function raised: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NULL;
    }
    tn_tensor *t = vm_test_tensor(L, -1);
    if (!t) {
        tn_error("gradcheck: the function must return a tensor");
        lua_pop(L, 1);
        return NULL;
    }
    tn_retain(t);
    lua_pop(L, 1);
    return t;
}

static int l_gradcheck(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 2);
    if (n < 1 || n > 16) return luaL_error(L, "gradcheck: expected 1 to 16 inputs, got %d", n);
    tn_tensor *ins[16];
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        ins[i] = vm_check_tensor(L, -1);
        lua_pop(L, 1);
    }
    double eps = lt_opt_number(L, 3, "eps", 1e-6), atol = lt_opt_number(L, 3, "atol", 1e-5),
           rtol = lt_opt_number(L, 3, "rtol", 1e-3);
    gc_ctx c = {L, 1, 2, n};
    int rc = tn_gradcheck(gc_call, &c, n, ins, eps, atol, rtol);
    lua_pushboolean(L, rc == 0);
    if (rc == 0) return 1;
    lua_pushstring(L, tn_last_error());
    return 2;
}

static int l_op_names(lua_State *L) {
    lua_createtable(L, TN_OP_COUNT, 0);
    for (int i = 0; i < TN_OP_COUNT; i++) {
        lua_pushstring(L, tn_op_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_wall_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

static int l_memory(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)tn_bytes_live());
    lua_setfield(L, -2, "live_bytes");
    lua_pushinteger(L, (lua_Integer)tn_bytes_allocated_total());
    lua_setfield(L, -2, "allocated_bytes");
    return 1;
}

static const lt_reg shared_fns[] = {
    {"leaky_relu", l_leaky_relu, "t:leaky_relu([slope=0.01]): x for x > 0, slope * x otherwise."},
    {"where", l_where, "ember.where(cond, a, b): a where cond is true, else b (broadcasting)."},
    {"masked_fill", l_masked_fill, "t:masked_fill(mask, v): a copy with v where mask is true."},
    {"fill_", l_fill_, "t:fill_(v): sets every element to v, in place."},
    {"zero_", l_zero_, "t:zero_(): sets every element to 0, in place."},
    {"copy_", l_copy_, "t:copy_(src): copies src (broadcast) into t, in place."},
    {"uniform_", l_uniform_, "t:uniform_([a=0, b=1]): fills with uniform random numbers in [a, b)."},
    {"normal_", l_normal_, "t:normal_([mean=0, std=1]): fills with normal random numbers."},
    {"max", l_max, "t:max([dim [, keepdim]]): the maximum; over a dim returns values and 1-based indices. max(a, b) is elementwise."},
    {"min", l_min, "t:min([dim [, keepdim]]): the minimum; over a dim returns values and 1-based indices."},
    {"argmax", l_argmax, "t:argmax([dim [, keepdim]]): 1-based index of the maximum (flat without dim)."},
    {"argmin", l_argmin, "t:argmin([dim [, keepdim]]): 1-based index of the minimum."},
    {"var", l_var, "t:var([dim] [, {correction=1, keepdim=}]): the variance (unbiased by default)."},
    {"std", l_std, "t:std([dim] [, {correction=1, keepdim=}]): the standard deviation."},
    {"norm", l_norm, "t:norm([p=2 [, dim [, keepdim]]]): the p-norm; p may be 'inf'."},
    {"cumsum", l_cumsum, "t:cumsum(dim): cumulative sums along dim."},
    {"tril", l_tril, "t:tril([k=0]): the lower triangle of the last two dims (j - i <= k kept, the rest 0)."},
    {"triu", l_triu, "t:triu([k=0]): the upper triangle of the last two dims (j - i >= k kept, the rest 0)."},
    {"softmax", l_softmax, "t:softmax(dim): exp(t) normalised to sum 1 along dim (default last)."},
    {"log_softmax", l_log_softmax, "t:log_softmax(dim): log of softmax, computed stably."},
    {"sort", l_sort, "t:sort([dim [, descending]]): sorted values and their 1-based indices."},
    {"topk", l_topk, "t:topk(k [, dim [, largest=true]]): the k largest values and their 1-based indices."},
    {"index_select", l_index_select, "t:index_select(dim, idx): the entries at 1-based indices idx along dim."},
    {"gather", l_gather, "t:gather(dim, idx): out[i][j] = t[i][idx[i][j]] for dim 2 (1-based idx)."},
    {"scatter_add", l_scatter_add, "t:scatter_add(dim, idx, src): a copy of t with src added at 1-based idx along dim."},
    {"one_hot", l_one_hot, "ember.one_hot(labels [, n]): int64 one-hot rows for 1-based labels."},
    {"masked_select", l_masked_select, "t:masked_select(mask): a 1-D tensor of the elements where mask is true."},
    {"nonzero", l_nonzero, "t:nonzero(): 1-based indices of the nonzero elements, one row each."},
    {"matmul", l_matmul, "a:matmul(b): matrix product (batched, broadcasting batch dims; 1-D operands as vectors)."},
    {"mm", l_mm, "a:mm(b): product of two matrices."},
    {"bmm", l_bmm, "a:bmm(b): batched product of (B,n,m) and (B,m,p)."},
    {"mv", l_mv, "a:mv(v): matrix times vector."},
    {"dot", l_dot, "a:dot(b): inner product of two vectors."},
    {"outer", l_outer, "a:outer(b): outer product of two vectors."},
    {"requires_grad_", l_requires_grad_, "t:requires_grad_([flag=true]): marks t as needing gradients; returns t."},
    {"backward", l_backward, "t:backward([grad] [, {retain_graph=true}]): accumulates gradients of t into the .grad of the leaves."},
    {NULL, NULL, NULL}};

static const lt_reg module_only_fns[] = {
    {"no_grad", l_no_grad, "ember.no_grad(fn, ...): runs fn with gradient recording off and returns its results."},
    {"set_grad_enabled", l_set_grad_enabled, "ember.set_grad_enabled(flag): turns recording on or off; returns the previous setting."},
    {"is_grad_enabled", l_is_grad_enabled, "ember.is_grad_enabled(): true when operations are recorded for autograd."},
    {"gradcheck", l_gradcheck, "ember.gradcheck(fn, inputs [, {eps=, atol=, rtol=}]): compares autograd gradients of fn with central differences; returns ok [, message]. Inputs are float64."},
    {"op_names", l_op_names, "ember.op_names(): the names of every differentiable op of the core."},
    {"wall_time", l_wall_time, "ember.wall_time(): seconds on a monotonic wall clock (for timing; os.clock counts CPU time of all threads)."},
    {"memory", l_memory, "ember.memory(): {live_bytes=, allocated_bytes=} of tensor storage."},
    {"set_printoptions", lt_set_printoptions, "ember.set_printoptions{precision=, threshold=, edgeitems=, linewidth=}: how tensors print."},
    {NULL, NULL, NULL}};

static void set_both(lua_State *L, int methods, int module, const char *name, const char *doc) {
    if (doc) vm_set_doc(L, -1, doc);
    lua_pushvalue(L, -1);
    lua_setfield(L, methods, name);
    lua_setfield(L, module, name);
}

void lt_open_ops(lua_State *L, int methods, int module) {
    char name[64], doc[256];
    for (size_t i = 0; i < N_UNARY; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_unary, 1);
        snprintf(doc, sizeof doc, "t:%s(): elementwise %s.", unary_ops[i].name, unary_ops[i].doc);
        set_both(L, methods, module, unary_ops[i].name, doc);
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_unary_, 1);
        snprintf(name, sizeof name, "%s_", unary_ops[i].name);
        snprintf(doc, sizeof doc, "t:%s(): %s in place.", name, unary_ops[i].name);
        set_both(L, methods, module, name, doc);
    }
    for (size_t i = 0; i < N_BINARY; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_binary, 1);
        snprintf(doc, sizeof doc, "a:%s(b) or ember.%s(a, b): elementwise %s; numbers allowed on either side, broadcasting.",
                 binary_ops[i].name, binary_ops[i].name, binary_ops[i].doc);
        set_both(L, methods, module, binary_ops[i].name, doc);
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_binary_, 1);
        snprintf(name, sizeof name, "%s_", binary_ops[i].name);
        snprintf(doc, sizeof doc, "a:%s(b): %s in place.", name, binary_ops[i].name);
        set_both(L, methods, module, name, doc);
    }
    for (size_t i = 0; i < N_REDUCE; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, l_reduce, 1);
        set_both(L, methods, module, reduce_ops[i].name, reduce_ops[i].doc);
    }
    for (const lt_reg *r = shared_fns; r->name; r++) {
        lua_pushcfunction(L, r->fn);
        set_both(L, methods, module, r->name, r->doc);
    }
    lua_pushvalue(L, module);
    lt_register(L, module_only_fns);
    lua_pop(L, 1);
}
