/*
 * stats_bind.c: Lua bindings of tensor/stats.c and tensor/sample.c: the
 * scans cumprod, logcumsumexp, cummax, cummin; mode, unique,
 * unique_consecutive, kthvalue, median, nanmedian, bincount, histc,
 * searchsorted; the samplers
 * multinomial, bernoulli, bernoulli_, poisson.  Each is both a method and a
 * module function.  Statistics composed from other ops (quantile,
 * nansum, allclose, ...) live in lua/ember/stats.lua.
 *
 * Index conventions (the 1-based world starts here): dims are 1-based;
 * every index result (cummax/cummin/mode indices, unique's inverse,
 * multinomial draws, searchsorted insertion points) is 1-based;
 * searchsorted(s, v) is the position at which v would be inserted to keep
 * s sorted, 1..n+1 (table.insert's convention: PyTorch's answer + 1).
 * bincount counts 1-based labels: out[i] is the number of elements equal
 * to i, so bincount(y) matches one_hot(y):sum(1) for class labels.
 */
#include "vm/lt.h"

#include <string.h>

/* Raises when the options table at idx has a key outside `allowed` (NULL-terminated). */
static void check_opts(lua_State *L, int idx, const char *op, const char *const *allowed) {
    if (lua_isnoneornil(L, idx)) return;
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: expected an options table, got %s", op, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        bool ok = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; allowed[i] && !ok; i++) ok = strcmp(lua_tostring(L, -1), allowed[i]) == 0;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int i = 0; allowed[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, allowed[i]);
            }
            luaL_pushresult(&b);
            const char *list = lua_tostring(L, -1);
            const char *key = luaL_tolstring(L, -2, NULL);
            luaL_error(L, "%s: unknown option %s (the options are %s)", op, key, list);
        }
    }
}

/* dim argument at idx, default `def` (a C dim) when absent */
static int dim_or(lua_State *L, int idx, tn_tensor *t, int def, const char *op) {
    if (lua_isnoneornil(L, idx)) return def;
    if (t->ndim == 0) {  /* a 0-dim tensor takes dim 1 or -1 */
        lua_Integer d = luaL_checkinteger(L, idx);
        if (d != 1 && d != -1) luaL_error(L, "%s: dim %I is out of range for a 0-dim tensor (use 1 or -1)", op, d);
        return 0;
    }
    return lt_dim(L, idx, t->ndim, op);
}

static int last_dim(const tn_tensor *t) { return t->ndim > 0 ? t->ndim - 1 : 0; }

/* ---------- scans ---------- */

static int l_cumprod(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    luaL_checkany(L, 2);
    vm_push_tensor(L, tn_cumprod(t, dim_or(L, 2, t, 0, "cumprod")));
    return 1;
}

static int l_logcumsumexp(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    luaL_checkany(L, 2);
    vm_push_tensor(L, tn_logcumsumexp(t, dim_or(L, 2, t, 0, "logcumsumexp")));
    return 1;
}

static int cum_extreme(lua_State *L, bool is_max) {
    const char *op = is_max ? "cummax" : "cummin";
    tn_tensor *t = vm_check_tensor(L, 1);
    luaL_checkany(L, 2);
    int d = dim_or(L, 2, t, 0, op);
    tn_tensor *v, *ix;
    if ((is_max ? tn_cummax(t, d, &v, &ix) : tn_cummin(t, d, &v, &ix)) < 0) return vm_error(L, op);
    vm_push_tensor(L, v);
    lt_push_index(L, ix, op);
    return 2;
}
static int l_cummax(lua_State *L) { return cum_extreme(L, true); }
static int l_cummin(lua_State *L) { return cum_extreme(L, false); }

static int l_mode(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = dim_or(L, 2, t, last_dim(t), "mode");
    tn_tensor *v, *ix;
    if (tn_mode(t, d, lua_toboolean(L, 3), &v, &ix) < 0) return vm_error(L, "mode");
    vm_push_tensor(L, v);
    lt_push_index(L, ix, "mode");
    return 2;
}

/* ---------- order statistics ---------- */

static int l_kthvalue(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int d = dim_or(L, 3, t, last_dim(t), "kthvalue");
    tn_tensor *v, *ix;
    /* k is 1-based; 0 becomes -1, which the core reports as out of range */
    if (tn_kthvalue(t, k - 1, d, lua_toboolean(L, 4), &v, &ix) < 0) return vm_error(L, "kthvalue");
    vm_push_tensor(L, v);
    lt_push_index(L, ix, "kthvalue");
    return 2;
}

static int median_common(lua_State *L, bool ignore_nan) {
    const char *op = ignore_nan ? "nanmedian" : "median";
    tn_tensor *t = vm_check_tensor(L, 1), *v, *ix;
    if (lua_isnoneornil(L, 2)) {  /* over everything: the value only */
        if (t->numel == 0) return luaL_error(L, "%s: the tensor is empty", op);
        int64_t all = -1;
        tn_tensor *flat = tn_reshape(t, 1, &all);
        if (!flat) return vm_error(L, op);
        int rc = tn_median_dim(flat, 0, false, ignore_nan, &v, &ix);
        tn_release(flat);
        if (rc < 0) return vm_error(L, op);
        tn_release(ix);
        vm_push_tensor(L, v);
        return 1;
    }
    int d = dim_or(L, 2, t, 0, op);
    if (tn_median_dim(t, d, lua_toboolean(L, 3), ignore_nan, &v, &ix) < 0) return vm_error(L, op);
    vm_push_tensor(L, v);
    lt_push_index(L, ix, op);
    return 2;
}
static int l_median(lua_State *L) { return median_common(L, false); }
static int l_nanmedian(lua_State *L) { return median_common(L, true); }

/* ---------- unique ---------- */

static int unique_common(lua_State *L, bool consecutive) {
    const char *op = consecutive ? "unique_consecutive" : "unique";
    static const char *const allowed[] = {"sorted", "return_inverse", "return_counts", "dim", NULL};
    tn_tensor *t = vm_check_tensor(L, 1);
    check_opts(L, 2, op, consecutive ? allowed + 1 : allowed);
    int d = TN_ALL_DIMS;
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "dim");
        if (!lua_isnil(L, -1)) {
            if (!lua_isinteger(L, -1)) return luaL_error(L, "%s: option dim must be an integer", op);
            if (t->ndim == 0) return luaL_error(L, "%s: option dim given but the tensor is 0-dim", op);
            d = lt_dim(L, lua_gettop(L), t->ndim, op);
        }
        lua_pop(L, 1);
    }
    bool inv = lt_opt_bool(L, 2, "return_inverse", false), cnt = lt_opt_bool(L, 2, "return_counts", false);
    tn_tensor *v, *ix, *c;
    if (tn_unique(t, d, consecutive, &v, &ix, &c) < 0) return vm_error(L, op);
    if (!inv) {
        tn_release(ix);
        ix = NULL;
    }
    if (!cnt) {
        tn_release(c);
        c = NULL;
    }
    /* push order releases what is not pushed yet if a push fails (out of memory) */
    lua_settop(L, 2);
    vm_push_tensor(L, v);
    if (ix) lt_push_index(L, ix, op);
    if (c) vm_push_tensor(L, c);
    return 1 + (ix != NULL) + (c != NULL);
}
static int l_unique(lua_State *L) { return unique_common(L, false); }
static int l_unique_consecutive(lua_State *L) { return unique_common(L, true); }

/* ---------- counting ---------- */

static int l_bincount(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    tn_tensor *w = lua_isnoneornil(L, 2) ? NULL : vm_check_tensor(L, 2);
    lua_Integer minlength = luaL_optinteger(L, 3, 0);
    vm_push_tensor(L, tn_bincount(t, w, minlength, 1));
    return 1;
}

static int l_histc(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    lua_Integer bins = luaL_optinteger(L, 2, 100);
    vm_push_tensor(L, tn_histc(t, bins, luaL_optnumber(L, 3, 0), luaL_optnumber(L, 4, 0)));
    return 1;
}

static int l_searchsorted(lua_State *L) {
    static const char *const allowed[] = {"right", "side", NULL};
    tn_tensor *s = vm_check_tensor(L, 1);
    bool right = false;
    if (lua_isboolean(L, 3)) {
        right = lua_toboolean(L, 3);
    } else {
        check_opts(L, 3, "searchsorted", allowed);
        right = lt_opt_bool(L, 3, "right", false);
        if (lua_type(L, 3) == LUA_TTABLE && lua_getfield(L, 3, "side") != LUA_TNIL) {  /* PyTorch's side= */
            const char *side = lua_tostring(L, -1);
            if (!side || (strcmp(side, "left") != 0 && strcmp(side, "right") != 0))
                return luaL_error(L, "searchsorted: side must be \"left\" or \"right\"");
            if (right && strcmp(side, "left") == 0)
                return luaL_error(L, "searchsorted: right=true and side=\"left\" contradict each other");
            right = strcmp(side, "right") == 0;
        }
    }
    vm_prepare_args(L, 2, 2, "searchsorted");
    tn_tensor *v = vm_to_tensor(L, 2, "searchsorted");
    tn_tensor *r = tn_searchsorted(s, v, right);
    tn_release(v);
    lt_push_index(L, r, "searchsorted");
    return 1;
}

/* ---------- sampling ---------- */

static int l_multinomial(lua_State *L) {
    static const char *const allowed[] = {"replacement", NULL};
    tn_tensor *p = vm_check_tensor(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    bool repl = false;
    if (lua_isboolean(L, 3)) {
        repl = lua_toboolean(L, 3);
    } else {
        check_opts(L, 3, "multinomial", allowed);
        repl = lt_opt_bool(L, 3, "replacement", false);
    }
    lt_push_index(L, tn_multinomial(p, n, repl), "multinomial");
    return 1;
}

/* bernoulli(p): 0/1 with probabilities p (p's dtype; float32 for integer p);
 * bernoulli(t, p_number): t's shape and dtype */
static int l_bernoulli(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        vm_push_tensor(L, tn_bernoulli(t));
        return 1;
    }
    double p = luaL_checknumber(L, 2);
    tn_tensor *out = tn_empty(t->dtype, t->ndim, t->shape);  /* t's dtype, as PyTorch */
    if (!out) return vm_error(L, "bernoulli");
    vm_push_tensor(L, out);  /* Lua owns it now */
    tn_tensor *pt = tn_scalar(TN_FLOAT64, p);
    int rc = pt ? tn_bernoulli_(out, pt) : -1;
    tn_release(pt);
    if (rc < 0) return vm_error(L, "bernoulli");
    return 1;
}

static int l_bernoulli_(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) lua_pushnumber(L, 0.5);
    vm_prepare_args(L, 2, 2, "bernoulli_");
    tn_tensor *p = vm_to_tensor(L, 2, "bernoulli_");
    int rc = tn_bernoulli_(t, p);
    tn_release(p);
    if (rc < 0) return vm_error(L, "bernoulli_");
    lua_settop(L, 1);
    return 1;
}

static int l_poisson(lua_State *L) {
    vm_push_tensor(L, tn_poisson(vm_check_tensor(L, 1)));
    return 1;
}

static const lt_reg stats_fns[] = {
    {"cumprod", l_cumprod, "t:cumprod(dim): cumulative products along dim (integers give int64); differentiable, also through zeros."},
    {"logcumsumexp", l_logcumsumexp, "t:logcumsumexp(dim): log(cumsum(exp(t))) along dim, computed stably; differentiable."},
    {"cummax", l_cummax, "t:cummax(dim): running maxima along dim and their 1-based indices (ties: the later index; NaN propagates)."},
    {"cummin", l_cummin, "t:cummin(dim): running minima along dim and their 1-based indices (ties: the later index; NaN propagates)."},
    {"mode", l_mode, "t:mode([dim=-1 [, keepdim]]): the most frequent value along dim (the smallest on ties) and the 1-based index of its last occurrence."},
    {"kthvalue", l_kthvalue, "t:kthvalue(k [, dim=-1 [, keepdim]]): the k-th smallest value along dim (k 1-based; NaN sorts last) and its 1-based index; differentiable."},
    {"median", l_median, "t:median([dim [, keepdim]]): the lower median (of an even count the smaller middle value, as PyTorch), NaN when a NaN is present; over everything a 0-dim tensor, along dim also the 1-based indices. Differentiable."},
    {"nanmedian", l_nanmedian, "t:nanmedian([dim [, keepdim]]): the lower median ignoring NaNs (NaN only for an all-NaN line); along dim also the 1-based indices. Differentiable."},
    {"unique", l_unique, "t:unique([{return_inverse=, return_counts=, dim=}]): the sorted distinct values (or slices along dim), then, when asked, the 1-based group of every element and the count of every value. Always sorted (sorted=false is accepted and ignored)."},
    {"unique_consecutive", l_unique_consecutive, "t:unique_consecutive([{return_inverse=, return_counts=, dim=}]): collapses runs of equal consecutive values (or slices along dim); inverse indices are 1-based."},
    {"bincount", l_bincount, "ember.bincount(labels [, weights [, minlength]]): out[i] counts (or sums the weights of) the elements equal to i, for 1-based labels 1..n (as one_hot; PyTorch counts from 0, so ember.bincount(x + 1) gives torch.bincount(x)). Length max(max(labels), minlength)."},
    {"histc", l_histc, "t:histc([bins=100 [, min=0 [, max=0]]]): histogram of bins equal-width bins over [min, max] (min == max: the data's range); values outside are ignored."},
    {"searchsorted", l_searchsorted, "ember.searchsorted(sorted, values [, {right=false} or {side='left'|'right'}]): 1-based insertion points keeping the last dim of sorted in order: the first position i with sorted[i] >= v (right: > v), n + 1 past the end (PyTorch's answer + 1)."},
    {"multinomial", l_multinomial, "ember.multinomial(probs, n [, {replacement=false}]): n 1-based category draws per row of 1-D or 2-D nonnegative weights (need not sum to 1), following ember.manual_seed."},
    {"bernoulli", l_bernoulli, "ember.bernoulli(p) or ember.bernoulli(t, p): 1 with probability p (per element of the tensor p, or the number p over t's shape), else 0."},
    {"bernoulli_", l_bernoulli_, "t:bernoulli_([p=0.5]): fills t in place with 1 with probability p (a number or a tensor broadcast to t), else 0."},
    {"poisson", l_poisson, "ember.poisson(rates): a Poisson draw per element with the given nonnegative rates (same shape and dtype)."},
    {NULL, NULL, NULL}};

void lt_open_stats(lua_State *L, int methods, int module) {
    for (const lt_reg *r = stats_fns; r->name; r++) {
        lua_pushcfunction(L, r->fn);
        vm_set_doc(L, -1, r->doc);
        lua_pushvalue(L, -1);
        lua_setfield(L, methods, r->name);
        lua_setfield(L, module, r->name);
    }
}
