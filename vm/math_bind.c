/*
 * math_bind.c: Lua bindings of tensor/elementwise_math.c (log2, erf, atan2,
 * fmod, lerp, nan_to_num, ...), numpy's aliases of some (arcsin, arctan2,
 * fix, ...), and the clamp variants PyTorch users reach for (clamp_min,
 * clamp_max, clip).  Each op is both a method
 * (x:erf()) and a module function (ember.erf(x)), with an in-place form
 * ending in `_` where PyTorch has one.  No index conversions happen here:
 * these ops take values only.
 */
#include "vm/lt.h"

#include <math.h>
#include <string.h>

/* ---------- unary ---------- */

static const struct {
    tn_math_unary_kind k;
    const char *doc;
} unary_ops[] = {
    {TN_M_LOG2, "t:log2(): elementwise base-2 logarithm."},
    {TN_M_LOG10, "t:log10(): elementwise base-10 logarithm."},
    {TN_M_EXPM1, "t:expm1(): elementwise e^x - 1, accurate near 0."},
    {TN_M_EXP2, "t:exp2(): elementwise 2^x."},
    {TN_M_ERF, "t:erf(): elementwise error function."},
    {TN_M_ERFC, "t:erfc(): elementwise complementary error function 1 - erf(x), accurate in the tail."},
    {TN_M_ERFINV, "t:erfinv(): elementwise inverse error function (erfinv(1) = inf, nan outside [-1, 1])."},
    {TN_M_SINH, "t:sinh(): elementwise hyperbolic sine."},
    {TN_M_COSH, "t:cosh(): elementwise hyperbolic cosine."},
    {TN_M_ASIN, "t:asin(): elementwise arcsine (nan outside [-1, 1])."},
    {TN_M_ACOS, "t:acos(): elementwise arccosine (nan outside [-1, 1])."},
    {TN_M_ATAN, "t:atan(): elementwise arctangent."},
    {TN_M_ASINH, "t:asinh(): elementwise inverse hyperbolic sine."},
    {TN_M_ACOSH, "t:acosh(): elementwise inverse hyperbolic cosine (nan below 1)."},
    {TN_M_ATANH, "t:atanh(): elementwise inverse hyperbolic tangent (nan outside [-1, 1])."},
    {TN_M_TRUNC, "t:trunc(): elementwise rounding toward zero (integers unchanged); gradient 0."},
    {TN_M_FRAC, "t:frac(): elementwise fractional part x - trunc(x), with the sign of x."},
    {TN_M_SQUARE, "t:square(): elementwise x * x (integers stay integers)."},
    {TN_M_SINC, "t:sinc(): elementwise normalised sinc sin(pi x) / (pi x), 1 at 0."},
    {TN_M_DEG2RAD, "t:deg2rad(): elementwise degrees to radians."},
    {TN_M_RAD2DEG, "t:rad2deg(): elementwise radians to degrees."},
    {TN_M_LGAMMA, "t:lgamma(): elementwise log |Gamma(x)| (inf at 0 and the negative integers)."},
    {TN_M_DIGAMMA, "t:digamma(): elementwise psi(x) = d/dx lgamma(x) (nan at the negative integers)."},
    {TN_M_ISINF, "t:isinf(): bool tensor, true where x is +inf or -inf."},
    {TN_M_ISFINITE, "t:isfinite(): bool tensor, true where x is neither inf nor nan."},
    {TN_M_ISPOSINF, "t:isposinf(): bool tensor, true where x is +inf."},
    {TN_M_ISNEGINF, "t:isneginf(): bool tensor, true where x is -inf."},
};
#define N_UNARY (sizeof unary_ops / sizeof unary_ops[0])

static int l_unary(lua_State *L) {
    tn_math_unary_kind k = (tn_math_unary_kind)lua_tointeger(L, lua_upvalueindex(1));
    vm_push_tensor(L, tn_math_unary(k, vm_check_tensor(L, 1)));
    return 1;
}

static int l_unary_(lua_State *L) {
    tn_math_unary_kind k = (tn_math_unary_kind)lua_tointeger(L, lua_upvalueindex(1));
    if (tn_math_unary_(k, vm_check_tensor(L, 1)) < 0) return vm_error(L, tn_math_unary_name(k));
    lua_settop(L, 1);
    return 1;
}

/* ---------- binary ---------- */

static const struct {
    tn_math_binary_kind k;
    const char *doc;
} binary_ops[] = {
    {TN_MB_ATAN2, "a:atan2(b) or ember.atan2(a, b): elementwise angle of the point (b, a), in (-pi, pi]."},
    {TN_MB_HYPOT, "a:hypot(b) or ember.hypot(a, b): elementwise sqrt(a^2 + b^2) without overflow (float tensors)."},
    {TN_MB_FMOD, "a:fmod(b) or ember.fmod(a, b): elementwise C remainder a - trunc(a / b) * b, with the sign of a (remainder / % take the sign of b)."},
    {TN_MB_FLOOR_DIVIDE, "a:floor_divide(b) or ember.floor_divide(a, b): elementwise floor(a / b) (integers stay integers; no gradient)."},
    {TN_MB_LOGICAL_XOR, "a:logical_xor(b) or ember.logical_xor(a, b): elementwise (a ~= 0) xor (b ~= 0), as bool."},
    {TN_MB_COPYSIGN, "a:copysign(b) or ember.copysign(a, b): elementwise |a| with the sign of b (including -0)."},
    {TN_MB_XLOGY, "a:xlogy(b) or ember.xlogy(a, b): elementwise a * log(b), 0 where a == 0 (unless b is nan)."},
    {TN_MB_LOGADDEXP, "a:logaddexp(b) or ember.logaddexp(a, b): elementwise log(e^a + e^b), without overflow (float tensors)."},
    {TN_MB_LOGADDEXP2, "a:logaddexp2(b) or ember.logaddexp2(a, b): elementwise log2(2^a + 2^b), without overflow (float tensors)."},
};
#define N_BINARY (sizeof binary_ops / sizeof binary_ops[0])

static int l_binary(lua_State *L) {
    tn_math_binary_kind k = (tn_math_binary_kind)lua_tointeger(L, lua_upvalueindex(1));
    const char *op = tn_math_binary_name(k);
    vm_prepare_args(L, 1, 2, op);
    tn_tensor *a = vm_to_tensor(L, 1, op), *b = vm_to_tensor(L, 2, op);
    tn_tensor *r = tn_math_binary(k, a, b);
    tn_release(a);
    tn_release(b);
    if (!r) return vm_error(L, op);
    vm_push_tensor(L, r);
    return 1;
}

static int l_binary_(lua_State *L) {
    tn_math_binary_kind k = (tn_math_binary_kind)lua_tointeger(L, lua_upvalueindex(1));
    const char *op = tn_math_binary_name(k);
    tn_tensor *a = vm_check_tensor(L, 1);
    vm_prepare_args(L, 2, 2, op);
    tn_tensor *b = vm_to_tensor(L, 2, op);
    int rc = tn_math_binary_(k, a, b);
    tn_release(b);
    if (rc < 0) return vm_error(L, op);
    lua_settop(L, 1);
    return 1;
}

/* ---------- logit, nan_to_num ---------- */

static double logit_eps(lua_State *L) {
    if (lua_isnoneornil(L, 2)) return -1;  /* no clamping */
    double eps = luaL_checknumber(L, 2);
    if (!(eps >= 0 && eps <= 0.5))
        luaL_error(L, "logit: eps must be in [0, 0.5], got %s", luaL_tolstring(L, 2, NULL));
    return eps;
}

static int l_logit(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    vm_push_tensor(L, tn_logit(t, logit_eps(L)));
    return 1;
}

static int l_logit_(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (tn_logit_(t, logit_eps(L)) < 0) return vm_error(L, "logit_");
    lua_settop(L, 1);
    return 1;
}

/* nan_to_num(t [, nan [, posinf [, neginf]]]) or nan_to_num(t, {nan=, posinf=, neginf=}) */
typedef struct { double nan, posinf, neginf; bool has_pos, has_neg; } n2n_args;

static double n2n_field(lua_State *L, const char *name, bool *has) {
    lua_getfield(L, 2, name);
    double v = 0;
    *has = !lua_isnil(L, -1);
    if (*has) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "nan_to_num: option '%s' must be a number, got %s", name, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static n2n_args n2n_parse(lua_State *L) {
    n2n_args a = {0, 0, 0, false, false};
    if (lua_type(L, 2) == LUA_TTABLE) {
        bool has;
        a.nan = n2n_field(L, "nan", &has);
        a.posinf = n2n_field(L, "posinf", &a.has_pos);
        a.neginf = n2n_field(L, "neginf", &a.has_neg);
        return a;
    }
    a.nan = luaL_optnumber(L, 2, 0);
    a.has_pos = !lua_isnoneornil(L, 3);
    a.posinf = luaL_optnumber(L, 3, 0);
    a.has_neg = !lua_isnoneornil(L, 4);
    a.neginf = luaL_optnumber(L, 4, 0);
    return a;
}

static int l_nan_to_num(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    n2n_args a = n2n_parse(L);
    vm_push_tensor(L, tn_nan_to_num(t, a.nan, a.has_pos ? &a.posinf : NULL, a.has_neg ? &a.neginf : NULL));
    return 1;
}

static int l_nan_to_num_(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    n2n_args a = n2n_parse(L);
    if (tn_nan_to_num_(t, a.nan, a.has_pos ? &a.posinf : NULL, a.has_neg ? &a.neginf : NULL) < 0)
        return vm_error(L, "nan_to_num_");
    lua_settop(L, 1);
    return 1;
}

/* ---------- clamp variants ---------- */

static double bound_arg(lua_State *L, int idx, const char *op) {
    if (lua_isnoneornil(L, idx)) return NAN;
    if (!lua_isnumber(L, idx))
        luaL_error(L, "%s: bound must be a number, a tensor or nil, got %s", op, luaL_typename(L, idx));
    return lua_tonumber(L, idx);
}

/* Tensor bounds, PyTorch's semantics: where(x < lo, lo, x), then
 * where(x > hi, hi, x) (nan bounds taken), broadcasting and promoting like a binary op; the
 * gradient goes to x where it is within the bounds and to the bound where
 * that bound was taken.  The composition records itself through where. */
static tn_tensor *clamp_tensor(tn_tensor *t, tn_tensor *lo, tn_tensor *hi, const char *op) {
    tn_tensor *r = tn_retain(t);
    for (int side = 0; side < 2 && r; side++) {
        tn_tensor *b = side == 0 ? lo : hi;
        if (!b) continue;
        int64_t shape[TN_MAX_DIMS];  /* checked here so the message names op */
        if (tn_broadcast_shapes(r->shape, r->ndim, b->shape, b->ndim, shape, op) < 0) {
            tn_release(r);
            return NULL;
        }
        /* the bound is taken where x is beyond it or where it is nan (nan
         * propagates from either side, as PyTorch) */
        tn_tensor *out = tn_binary(side == 0 ? TN_B_LT : TN_B_GT, r, b);
        tn_tensor *bn = out ? tn_unary(TN_U_ISNAN, b) : NULL;
        tn_tensor *take = bn ? tn_binary(TN_B_OR, out, bn) : NULL;
        tn_tensor *w = take ? tn_where(take, b, r) : NULL;
        tn_release(out);
        tn_release(bn);
        tn_release(take);
        tn_release(r);
        r = w;
    }
    return r;
}

static int clamp_call_tensor(lua_State *L, const char *op, int lo_arg, int hi_arg, bool inplace) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (lo_arg) vm_prepare_args(L, lo_arg, lo_arg, op);
    if (hi_arg) vm_prepare_args(L, hi_arg, hi_arg, op);
    tn_tensor *lo = lo_arg && !lua_isnoneornil(L, lo_arg) ? vm_to_tensor(L, lo_arg, op) : NULL;
    tn_tensor *hi = hi_arg && !lua_isnoneornil(L, hi_arg) ? vm_to_tensor(L, hi_arg, op) : NULL;
    tn_tensor *r = clamp_tensor(t, lo, hi, op);
    tn_release(lo);
    tn_release(hi);
    if (!r) return vm_error(L, op);
    if (!inplace) {
        vm_push_tensor(L, r);
        return 1;
    }
    char s1[128], s2[128];
    int rc = -1;
    if (tn_promote(r->dtype, t->dtype) != t->dtype)
        tn_error("%s: result type %s can't be cast to the tensor's dtype %s", op,
                 tn_dtype_name(r->dtype), tn_dtype_name(t->dtype));
    else if (!tn_same_shape(r, t))
        tn_error("%s: the bounds broadcast the tensor's shape %s to %s", op,
                 tn_shape_str(t->shape, t->ndim, s1, sizeof s1), tn_shape_str(r->shape, r->ndim, s2, sizeof s2));
    else
        rc = tn_copy_(t, r);  /* t takes over r's history */
    tn_release(r);
    if (rc < 0) return vm_error(L, op);
    lua_settop(L, 1);
    return 1;
}

static int clamp_call(lua_State *L, const char *op, int lo_arg, int hi_arg, bool inplace) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if ((lo_arg && lua_type(L, lo_arg) == LUA_TUSERDATA && vm_test_tensor(L, lo_arg)) ||
        (hi_arg && lua_type(L, hi_arg) == LUA_TUSERDATA && vm_test_tensor(L, hi_arg)))
        return clamp_call_tensor(L, op, lo_arg, hi_arg, inplace);
    if (lo_arg && hi_arg == 0 && lua_isnoneornil(L, lo_arg))
        return luaL_error(L, "%s: expected a number bound", op);
    if (hi_arg && lo_arg == 0 && lua_isnoneornil(L, hi_arg))
        return luaL_error(L, "%s: expected a number bound", op);
    if (lo_arg && hi_arg && lua_isnoneornil(L, lo_arg) && lua_isnoneornil(L, hi_arg))
        return luaL_error(L, "%s: at least one of min and max must be given", op);
    double lo = lo_arg ? bound_arg(L, lo_arg, op) : NAN, hi = hi_arg ? bound_arg(L, hi_arg, op) : NAN;
    /* PyTorch's promotion: an integer tensor with a float bound (a weak
     * float scalar) gives float32, and cannot be clamped in place */
    bool float_bound = (lo_arg && !lua_isnoneornil(L, lo_arg) && !lua_isinteger(L, lo_arg)) ||
                       (hi_arg && !lua_isnoneornil(L, hi_arg) && !lua_isinteger(L, hi_arg));
    bool promote = float_bound && !tn_dtype_is_float(t->dtype);
    if (!inplace) {
        tn_tensor *x = promote ? tn_to(t, TN_FLOAT32) : tn_retain(t);
        if (!x) return vm_error(L, op);
        tn_tensor *r = tn_clamp(x, lo, hi);
        tn_release(x);
        vm_push_tensor(L, r);
        return 1;
    }
    if (promote)
        return luaL_error(L, "%s: result type float32 can't be cast to the tensor's dtype %s", op,
                          tn_dtype_name(t->dtype));
    if (tn_clamp_(t, lo, hi) < 0) return vm_error(L, op);
    lua_settop(L, 1);
    return 1;
}
static int l_clamp_min(lua_State *L) { return clamp_call(L, "clamp_min", 2, 0, false); }
static int l_clamp_max(lua_State *L) { return clamp_call(L, "clamp_max", 0, 2, false); }
static int l_clamp_min_(lua_State *L) { return clamp_call(L, "clamp_min_", 2, 0, true); }
static int l_clamp_max_(lua_State *L) { return clamp_call(L, "clamp_max_", 0, 2, true); }
static int l_clip(lua_State *L) { return clamp_call(L, "clip", 2, 3, false); }
static int l_clip_(lua_State *L) { return clamp_call(L, "clip_", 2, 3, true); }

/* ---------- lerp ---------- */

static int l_lerp(lua_State *L) {
    vm_check_tensor(L, 1);
    if (lua_isnoneornil(L, 3)) return luaL_error(L, "lerp: expected a weight (number or tensor) as argument 3");
    vm_prepare_args(L, 2, 3, "lerp");
    tn_tensor *a = vm_to_tensor(L, 1, "lerp"), *b = vm_to_tensor(L, 2, "lerp"), *w = vm_to_tensor(L, 3, "lerp");
    tn_tensor *r = tn_lerp(a, b, w);
    tn_release(a);
    tn_release(b);
    tn_release(w);
    if (!r) return vm_error(L, "lerp");
    vm_push_tensor(L, r);
    return 1;
}

/* numpy's names, which PyTorch accepts too */
static const struct {
    const char *alias;
    int k;
    bool binary;
} aliases[] = {
    {"arcsin", TN_M_ASIN, false}, {"arccos", TN_M_ACOS, false}, {"arctan", TN_M_ATAN, false},
    {"arcsinh", TN_M_ASINH, false}, {"arccosh", TN_M_ACOSH, false}, {"arctanh", TN_M_ATANH, false},
    {"fix", TN_M_TRUNC, false}, {"arctan2", TN_MB_ATAN2, true},
};
#define N_ALIASES (sizeof aliases / sizeof aliases[0])

static const lt_reg math_fns[] = {
    {"logit", l_logit, "t:logit([eps]): elementwise log(x / (1 - x)); with eps, x is first clamped to [eps, 1 - eps]."},
    {"logit_", l_logit_, "t:logit_([eps]): logit in place."},
    {"nan_to_num", l_nan_to_num, "t:nan_to_num([{nan=0, posinf=, neginf=}]): nan, +inf and -inf replaced (default: 0 and the dtype's largest and lowest finite values); also nan_to_num(nan, posinf, neginf)."},
    {"nan_to_num_", l_nan_to_num_, "t:nan_to_num_([{nan=0, posinf=, neginf=}]): nan_to_num in place."},
    {"clamp_min", l_clamp_min, "t:clamp_min(min): elementwise max(x, min) (nan stays nan); min a number or a tensor (broadcasting)."},
    {"clamp_max", l_clamp_max, "t:clamp_max(max): elementwise min(x, max) (nan stays nan); max a number or a tensor (broadcasting)."},
    {"clamp_min_", l_clamp_min_, "t:clamp_min_(min): clamp_min in place."},
    {"clamp_max_", l_clamp_max_, "t:clamp_max_(max): clamp_max in place."},
    {"clip", l_clip, "t:clip(min, max): alias of clamp: limits values to [min, max]; nil leaves a side open; bounds may be tensors."},
    {"clip_", l_clip_, "t:clip_(min, max): alias of clamp_: clamp in place."},
    {"lerp", l_lerp, "a:lerp(b, w) or ember.lerp(a, b, w): a + w * (b - a), w a number or tensor (broadcasting)."},
    {NULL, NULL, NULL}};

static void set_both(lua_State *L, int methods, int module, const char *name, const char *doc) {
    vm_set_doc(L, -1, doc);
    lua_pushvalue(L, -1);
    lua_setfield(L, methods, name);
    lua_setfield(L, module, name);
}

void lt_open_math(lua_State *L, int methods, int module) {
    char name[64], doc[256];
    for (size_t i = 0; i < N_UNARY; i++) {
        tn_math_unary_kind k = unary_ops[i].k;
        const char *nm = tn_math_unary_name(k);
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_unary, 1);
        set_both(L, methods, module, nm, unary_ops[i].doc);
        if (k >= TN_M_ISINF) continue;  /* predicates have no in-place form */
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_unary_, 1);
        snprintf(name, sizeof name, "%s_", nm);
        snprintf(doc, sizeof doc, "t:%s(): %s in place.", name, nm);
        set_both(L, methods, module, name, doc);
    }
    for (size_t i = 0; i < N_BINARY; i++) {
        tn_math_binary_kind k = binary_ops[i].k;
        const char *nm = tn_math_binary_name(k);
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_binary, 1);
        set_both(L, methods, module, nm, binary_ops[i].doc);
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_binary_, 1);
        snprintf(name, sizeof name, "%s_", nm);
        snprintf(doc, sizeof doc, "a:%s(b): %s in place (broadcasting b into a's shape).", name, nm);
        set_both(L, methods, module, name, doc);
    }
    for (size_t i = 0; i < N_ALIASES; i++) {
        const char *target = aliases[i].binary ? tn_math_binary_name((tn_math_binary_kind)aliases[i].k)
                                               : tn_math_unary_name((tn_math_unary_kind)aliases[i].k);
        for (int inplace = 0; inplace < 2; inplace++) {
            lua_pushinteger(L, aliases[i].k);
            lua_pushcclosure(L, aliases[i].binary ? (inplace ? l_binary_ : l_binary)
                                                  : (inplace ? l_unary_ : l_unary), 1);
            snprintf(name, sizeof name, "%s%s", aliases[i].alias, inplace ? "_" : "");
            snprintf(doc, sizeof doc, "%s%s(%s): alias of %s%s.", aliases[i].binary ? "a:" : "t:", name,
                     aliases[i].binary ? "b" : "", target, inplace ? "_" : "");
            set_both(L, methods, module, name, doc);
        }
    }
    for (const lt_reg *r = math_fns; r->name; r++) {
        lua_pushcfunction(L, r->fn);
        set_both(L, methods, module, r->name, r->doc);
    }
}
