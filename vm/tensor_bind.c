/*
 * tensor_bind.c: the tensor userdata and its metatable: creation functions,
 * inspection, conversion, views, 1-based indexing and slicing (with
 * assignment), operators with a number on either side, __gc / __close, and
 * accounting of tensor memory to the Lua garbage collector.
 *
 * A userdata is a box holding one tn_tensor reference.  The metatable's
 * __index is a function: string keys look up the methods table first, then
 * the properties (shape, dtype, grad, requires_grad, grad_fn, is_leaf);
 * integer keys select along dim 1; table keys slice; a bool tensor key
 * selects by mask.  The metatable also carries `__methods` (the methods
 * table) so the REPL can complete `x:res<TAB>`.
 */
#include "vm/lt.h"

#include <math.h>
#include <string.h>

#include "tensor/internal.h"

typedef struct {
    tn_tensor *t;   /* one reference, NULL once closed */
} lt_box;

static const void *tensor_mt_ptr = NULL;  /* fast metatable identity check */

/* ---------- GC accounting ---------- */

/* Lua sees only the few bytes of the box, not the storage behind it, so on
 * its own it would collect far too rarely (Torch7's most reported problem).
 * We count bytes allocated since the last collection and run a generational
 * (young) step every 16 MB: its cost is proportional to the young objects,
 * not to the live heap, so a fixed budget keeps the garbage (and the peak
 * RSS of a training loop) small even next to a large live dataset.  If the
 * live tensor bytes keep growing past twice what survived the last full
 * collection, old objects are holding garbage: run a full collection. */
static size_t gc_last_total = 0, gc_live_after_full = 0;

bool vm_gc_generational = false;

/* Lua 5.4's generational collector has a trap: when a major collection frees
 * little (as while modules load: every new object stays live), it marks the
 * collection "bad" and runs full collections from then on, until one marks
 * fewer objects than the last.  With a steady heap that never happens, so
 * every later collection walks the whole heap: a 1-element `a + b` went from
 * 0.21 to 0.41 us once the Lua side grew to ~3 MB of functions.  Switching
 * to the mode we are already in clears the flag (lua_gc LUA_GCGEN resets
 * lastatomic); it is done after loading modules and every 16 MB of tensor
 * allocation.  When the user chose the incremental collector
 * (collectgarbage "incremental"), it is put back and left alone. */
void vm_gc_rearm(lua_State *L) {
    if (!vm_gc_generational) return;
    if (lua_gc(L, LUA_GCGEN, 0, 0) == LUA_GCINC) {
        lua_gc(L, LUA_GCINC, 0, 0, 0);
        vm_gc_generational = false;
    }
}

void vm_gc_account(lua_State *L) {
    size_t total = tn_bytes_allocated_total();
    if (total - gc_last_total < (16u << 20)) return;
    gc_last_total = total;
    vm_gc_rearm(L);
    lua_gc(L, LUA_GCSTEP, 0);
    tn_cache_trim();
    if (tn_bytes_live() > 2 * gc_live_after_full + (64u << 20)) {
        lua_gc(L, LUA_GCCOLLECT);
        gc_live_after_full = tn_bytes_live();
    }
}

/* ---------- the userdata ---------- */

int vm_error(lua_State *L, const char *op) {
    const char *msg = tn_last_error();
    /* core messages already start with the op name; avoid "x: x: ..." */
    size_t n = strlen(op);
    if (strncmp(msg, op, n) == 0 && msg[n] == ':') return luaL_error(L, "%s", msg);
    return luaL_error(L, "%s: %s", op, msg);
}

void vm_push_tensor(lua_State *L, tn_tensor *t) {
    if (!t) {
        /* core messages start with the op's name already */
        luaL_error(L, "%s", tn_last_error());
        return;
    }
    lt_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = NULL;
    luaL_setmetatable(L, VM_TENSOR_MT);
    b->t = t;
    vm_gc_account(L);
}

tn_tensor *vm_test_tensor(lua_State *L, int idx) {
    lt_box *b = lua_touserdata(L, idx);
    if (!b || !lua_getmetatable(L, idx)) return NULL;
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (mt != tensor_mt_ptr) {
        /* another state may own the cached pointer: check by name */
        if (!luaL_testudata(L, idx, VM_TENSOR_MT)) return NULL;
    }
    if (!b->t) luaL_error(L, "attempt to use a closed tensor");
    return b->t;
}

tn_tensor *vm_check_tensor(lua_State *L, int idx) {
    tn_tensor *t = vm_test_tensor(L, idx);
    if (!t) luaL_typeerror(L, idx, "tensor");
    return t;
}

/* ---------- nested tables -> tensors ---------- */

typedef struct {
    int ndim;
    int64_t shape[TN_MAX_DIMS];
    bool any_float, any_bool, any_number;
} table_info;

static void scan_shape(lua_State *L, int idx, table_info *ti, const char *op) {
    /* shape from the first element at each level */
    ti->ndim = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (ti->ndim == TN_MAX_DIMS) luaL_error(L, "%s: nested table has too many dims", op);
        ti->shape[ti->ndim++] = (int64_t)lua_rawlen(L, -1);
        if (lua_rawlen(L, -1) == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
}

/* Writes the leaves of the nested table at idx (row-major) as doubles and,
 * exactly, as int64 (doubles lose integers past 2^53), checking that every
 * level has the expected length. */
static void fill_from_table(lua_State *L, int idx, table_info *ti, int level, double *out,
                            int64_t *iout, int64_t *pos, const char *op) {
    int64_t n = (int64_t)lua_rawlen(L, idx);
    if (n != ti->shape[level])
        luaL_error(L, "%s: ragged nested table: a row at depth %d has %d elements, expected %d", op,
                   level + 1, (int)n, (int)ti->shape[level]);
    for (int64_t i = 1; i <= n; i++) {
        int ty = lua_rawgeti(L, idx, i);
        if (level + 1 < ti->ndim) {
            if (ty != LUA_TTABLE)
                luaL_error(L, "%s: ragged nested table: expected a table at depth %d, got %s", op,
                           level + 2, luaL_typename(L, -1));
            fill_from_table(L, lua_gettop(L), ti, level + 1, out, iout, pos, op);
        } else if (ty == LUA_TNUMBER) {
            if (lua_isinteger(L, -1)) {
                iout[*pos] = lua_tointeger(L, -1);
            } else {
                ti->any_float = true;
                iout[*pos] = 0;
            }
            ti->any_number = true;
            out[(*pos)++] = lua_tonumber(L, -1);
        } else if (ty == LUA_TBOOLEAN) {
            ti->any_bool = true;
            iout[*pos] = lua_toboolean(L, -1);
            out[(*pos)++] = lua_toboolean(L, -1);
        } else {
            luaL_error(L, "%s: expected a number at depth %d, got %s", op, level + 1,
                       luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
}

static tn_tensor *table_to_tensor(lua_State *L, int idx, int dtype_or_neg, const char *op) {
    table_info ti;
    memset(&ti, 0, sizeof ti);
    idx = lua_absindex(L, idx);
    scan_shape(L, idx, &ti, op);
    int64_t n = 1;
    for (int i = 0; i < ti.ndim; i++) n *= ti.shape[i];
    /* GC-owned scratch, so an error while reading leaks nothing */
    size_t cap = (size_t)(n ? n : 1);
    double *vals = lua_newuserdatauv(L, (sizeof(double) + sizeof(int64_t)) * cap, 0);
    int64_t *ivals = (int64_t *)(vals + cap);
    int64_t pos = 0;
    if (ti.ndim > 0 && n > 0) fill_from_table(L, idx, &ti, 0, vals, ivals, &pos, op);
    tn_dtype dt = dtype_or_neg >= 0 ? (tn_dtype)dtype_or_neg
                  : ti.any_float ? TN_FLOAT32
                  : ti.any_bool && !ti.any_number ? TN_BOOL
                  : n == 0 ? TN_FLOAT32 : TN_INT64;
    tn_tensor *t = tn_empty(dt, ti.ndim, ti.shape);
    if (!t) {
        lua_pop(L, 1);
        vm_error(L, op);
    }
    if (dt == TN_INT64 && !ti.any_float) memcpy(t->storage->data, ivals, sizeof(int64_t) * (size_t)n);
    else
        for (int64_t i = 0; i < n; i++) tn_store(dt, t->storage->data, i, vals[i]);
    lua_pop(L, 1);
    return t;
}

void vm_prepare_args(lua_State *L, int first, int last, const char *op) {
    for (int i = first; i <= last; i++) {
        int ty = lua_type(L, i);
        if (ty == LUA_TTABLE) {
            vm_push_tensor(L, table_to_tensor(L, i, -1, op));
            lua_replace(L, i);
        } else if (ty != LUA_TNUMBER && ty != LUA_TBOOLEAN && !vm_test_tensor(L, i)) {
            luaL_error(L, "%s: argument %d: expected a tensor, number or table, got %s", op, i,
                       luaL_typename(L, i));
        }
    }
}

tn_tensor *vm_to_tensor(lua_State *L, int idx, const char *op) {
    tn_tensor *t = vm_test_tensor(L, idx);
    if (t) return tn_retain(t);
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            t = tn_scalar_i64(lua_tointeger(L, idx));
            if (t) t->is_wrapped_number = true;
        } else {
            t = tn_wrap_number(lua_tonumber(L, idx), false);
        }
        break;
    case LUA_TBOOLEAN:
        t = tn_scalar(TN_BOOL, lua_toboolean(L, idx));
        if (t) t->is_wrapped_number = true;
        break;
    case LUA_TTABLE:
        /* converted into a tensor userdata in the argument's slot, so the
         * Lua side owns it (see vm_prepare_args) */
        vm_push_tensor(L, table_to_tensor(L, idx, -1, op));
        lua_replace(L, idx);
        return tn_retain(vm_test_tensor(L, idx));
    default:
        luaL_error(L, "%s: expected a tensor, number or table, got %s", op, luaL_typename(L, idx));
        return NULL;
    }
    if (!t) vm_error(L, op);
    return t;
}

/* ---------- argument helpers (lt.h) ---------- */

void lt_register(lua_State *L, const lt_reg *fns) {
    for (; fns->name; fns++) {
        lua_pushcfunction(L, fns->fn);
        if (fns->doc) vm_set_doc(L, -1, fns->doc);
        lua_setfield(L, -2, fns->name);
    }
}

int lt_dim(lua_State *L, int arg, int ndim, const char *op) {
    lua_Integer d = luaL_checkinteger(L, arg);
    int n = ndim > 0 ? ndim : 1;
    if (d == 0 || d > n || d < -n)
        return luaL_error(L, "%s: dim %I is out of range for a tensor with %d dims (dims are 1-based)",
                          op, d, ndim);
    return d > 0 ? (int)d - 1 : (int)d + n;
}

int lt_opt_dim(lua_State *L, int arg, int ndim, const char *op) {
    if (lua_isnoneornil(L, arg)) return TN_ALL_DIMS;
    return lt_dim(L, arg, ndim, op);
}

static int64_t check_size(lua_State *L, int idx, const char *op) {
    if (!lua_isinteger(L, idx)) {
        lua_Number v = lua_tonumber(L, idx);
        if (lua_type(L, idx) != LUA_TNUMBER || v != floor(v))
            luaL_error(L, "%s: sizes must be integers, got %s", op,
                       lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
        return (int64_t)v;
    }
    return lua_tointeger(L, idx);
}

int lt_shape(lua_State *L, int first, int64_t *shape, int *next, const char *op) {
    int top = lua_gettop(L), nd = 0;
    tn_tensor *t;
    if (first <= top && (t = vm_test_tensor(L, first)) != NULL) {
        /* a tensor of sizes, as t.shape returned it */
        if (t->numel > TN_MAX_DIMS) luaL_error(L, "%s: too many dims", op);
        for (int64_t i = 0; i < t->numel; i++) shape[nd++] = tn_get_flat_i64(t, i);
        *next = first + 1;
    } else if (first <= top && lua_type(L, first) == LUA_TTABLE &&
               (lua_rawlen(L, first) > 0 || lua_next(L, (lua_pushnil(L), first)) == 0)) {
        int64_t n = (int64_t)lua_rawlen(L, first);
        if (n > TN_MAX_DIMS) luaL_error(L, "%s: %d dims (at most %d)", op, (int)n, TN_MAX_DIMS);
        for (int64_t i = 1; i <= n; i++) {
            lua_rawgeti(L, first, i);
            shape[nd++] = check_size(L, -1, op);
            lua_pop(L, 1);
        }
        *next = first + 1;
    } else {
        int i = first;
        if (first <= top && lua_type(L, first) == LUA_TTABLE) lua_pop(L, 2); /* empty options probe */
        for (; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
            if (nd == TN_MAX_DIMS) luaL_error(L, "%s: too many dims (at most %d)", op, TN_MAX_DIMS);
            shape[nd++] = check_size(L, i, op);
        }
        *next = i;
    }
    for (int i = 0; i < nd; i++)
        if (shape[i] < 0) luaL_error(L, "%s: negative size %d in dim %d", op, (int)shape[i], i + 1);
    return nd;
}

/* The name the running C function was called by ("zeros", "to"), for
 * messages raised by the shared helpers below, which serve many functions. */
static const char *called_as(lua_State *L) {
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) return ar.name;
    return "?";
}

tn_dtype lt_check_dtype(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: dtype must be a string such as 'float32', got %s", called_as(L), luaL_typename(L, idx));
    const char *name = lua_tostring(L, idx);
    int dt = tn_dtype_from_name(name);
    if (dt < 0)
        luaL_error(L, "%s: unknown dtype '%s' (float32, float64, int64, int32, uint8, bool)", called_as(L), name);
    return (tn_dtype)dt;
}

tn_dtype lt_opt_dtype(lua_State *L, int idx, tn_dtype def, bool *requires_grad) {
    if (requires_grad) *requires_grad = false;
    if (lua_type(L, idx) == LUA_TSTRING) return lt_check_dtype(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) return def;
    /* a misspelt option would otherwise be ignored without a word */
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!key || (strcmp(key, "dtype") != 0 && strcmp(key, "requires_grad") != 0))
            luaL_error(L, "%s: unknown option %s%s%s (the options are dtype, requires_grad)", called_as(L),
                       key ? "'" : "", key ? key : luaL_typename(L, -2), key ? "'" : " key");
        lua_pop(L, 1);
    }
    tn_dtype dt = def;
    if (lua_getfield(L, idx, "dtype") != LUA_TNIL) dt = lt_check_dtype(L, -1);
    lua_pop(L, 1);
    int ty = lua_getfield(L, idx, "requires_grad");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
        luaL_error(L, "%s: option requires_grad must be a boolean, got %s", called_as(L), luaL_typename(L, -1));
    if (requires_grad) *requires_grad = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return dt;
}

bool lt_opt_bool(lua_State *L, int idx, const char *name, bool def) {
    if (lua_type(L, idx) != LUA_TTABLE) return def;
    bool v = def;
    if (lua_getfield(L, idx, name) != LUA_TNIL) v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

double lt_opt_number(lua_State *L, int idx, const char *name, double def) {
    if (lua_type(L, idx) != LUA_TTABLE) return def;
    double v = def;
    if (lua_getfield(L, idx, name) != LUA_TNIL) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "%s: option '%s' must be a number, got %s", called_as(L), name, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

void lt_push_new(lua_State *L, tn_tensor *t, bool requires_grad, const char *op) {
    if (!t) vm_error(L, op);
    if (requires_grad) {
        if (!tn_dtype_is_float(t->dtype)) {
            tn_release(t);
            luaL_error(L, "%s: only float tensors can require grad", op);
        }
        t->requires_grad = true;
    }
    vm_push_tensor(L, t);
}

void lt_push_index(lua_State *L, tn_tensor *idx0, const char *op) {
    if (!idx0) vm_error(L, op);
    bool was = tn_set_grad_enabled(false);
    tn_tensor *one = tn_scalar_i64(1);
    tn_tensor *r = one ? tn_add(idx0, one) : NULL;
    tn_set_grad_enabled(was);
    tn_release(one);
    tn_release(idx0);
    if (!r) vm_error(L, op);
    vm_push_tensor(L, r);
}

tn_tensor *lt_index_arg(lua_State *L, int idx, const char *op) {
    tn_tensor *t = vm_to_tensor(L, idx, op);
    if (!tn_dtype_is_int(t->dtype)) {
        tn_release(t);
        luaL_error(L, "%s: indices must be integers (got %s)", op, tn_dtype_name(t->dtype));
    }
    bool was = tn_set_grad_enabled(false);
    tn_tensor *one = tn_scalar_i64(1);
    tn_tensor *t64 = tn_to(t, TN_INT64);
    tn_tensor *r = one && t64 ? tn_sub(t64, one) : NULL;
    tn_set_grad_enabled(was);
    /* 1-based: 0 is invalid; negative values count from the end and are
     * resolved by the caller, which knows the size */
    tn_release(one);
    tn_release(t64);
    tn_release(t);
    if (!r) vm_error(L, op);
    return r;
}

/* ---------- creation ---------- */

typedef tn_tensor *(*shape_ctor)(tn_dtype, int, const int64_t *);

static int create_with(lua_State *L, shape_ctor ctor, const char *op, tn_dtype def) {
    int64_t shape[TN_MAX_DIMS];
    int next;
    int nd = lt_shape(L, 1, shape, &next, op);
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, next, def, &rg);
    lt_push_new(L, ctor(dt, nd, shape), rg, op);
    return 1;
}

static int l_zeros(lua_State *L) { return create_with(L, tn_zeros, "zeros", TN_FLOAT32); }
static int l_ones(lua_State *L) { return create_with(L, tn_ones, "ones", TN_FLOAT32); }
static int l_empty(lua_State *L) { return create_with(L, tn_zeros, "empty", TN_FLOAT32); }
static int l_rand(lua_State *L) { return create_with(L, tn_rand, "rand", TN_FLOAT32); }
static int l_randn(lua_State *L) { return create_with(L, tn_randn, "randn", TN_FLOAT32); }

static int l_full(lua_State *L) {
    int64_t shape[TN_MAX_DIMS];
    int next;
    int nd = lt_shape(L, 1, shape, &next, "full");
    if (lua_type(L, next) != LUA_TNUMBER && lua_type(L, next) != LUA_TBOOLEAN)
        return luaL_error(L, "full: expected a fill value after the shape");
    bool isint = lua_isinteger(L, next), isbool = lua_isboolean(L, next);
    double v = isbool ? lua_toboolean(L, next) : lua_tonumber(L, next);
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, next + 1, isbool ? TN_BOOL : isint ? TN_INT64 : TN_FLOAT32, &rg);
    lt_push_new(L, tn_full(dt, nd, shape, v), rg, "full");
    return 1;
}

static int like_with(lua_State *L, shape_ctor ctor, const char *op) {
    tn_tensor *t = vm_check_tensor(L, 1);
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, 2, t->dtype, &rg);
    lt_push_new(L, ctor(dt, t->ndim, t->shape), rg, op);
    return 1;
}
static int l_zeros_like(lua_State *L) { return like_with(L, tn_zeros, "zeros_like"); }
static int l_ones_like(lua_State *L) { return like_with(L, tn_ones, "ones_like"); }
static int l_empty_like(lua_State *L) { return like_with(L, tn_zeros, "empty_like"); }
static int l_rand_like(lua_State *L) { return like_with(L, tn_rand, "rand_like"); }
static int l_randn_like(lua_State *L) { return like_with(L, tn_randn, "randn_like"); }
static int l_full_like(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    double v = luaL_checknumber(L, 2);
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, 3, t->dtype, &rg);
    lt_push_new(L, tn_full(dt, t->ndim, t->shape, v), rg, "full_like");
    return 1;
}

static int l_tensor(lua_State *L) {
    bool rg = false;
    int dt = -1;
    if (!lua_isnoneornil(L, 2)) dt = (int)lt_opt_dtype(L, 2, TN_FLOAT32, &rg);
    tn_tensor *t;
    tn_tensor *src = vm_test_tensor(L, 1);
    if (src) {
        bool was = tn_set_grad_enabled(false);
        tn_tensor *c = tn_clone(src);
        t = c && dt >= 0 ? tn_to(c, (tn_dtype)dt) : tn_retain(c);
        tn_release(c);
        tn_set_grad_enabled(was);
    } else if (lua_type(L, 1) == LUA_TTABLE) {
        t = table_to_tensor(L, 1, dt, "tensor");
    } else if (lua_type(L, 1) == LUA_TNUMBER) {
        tn_dtype d = dt >= 0 ? (tn_dtype)dt : lua_isinteger(L, 1) ? TN_INT64 : TN_FLOAT32;
        t = d == TN_INT64 ? tn_scalar_i64(lua_tointeger(L, 1)) : tn_scalar(d, lua_tonumber(L, 1));
    } else if (lua_type(L, 1) == LUA_TBOOLEAN) {
        t = tn_scalar(dt >= 0 ? (tn_dtype)dt : TN_BOOL, lua_toboolean(L, 1));
    } else {
        return luaL_error(L, "tensor: expected a number, boolean, table or tensor, got %s",
                          luaL_typename(L, 1));
    }
    lt_push_new(L, t, rg, "tensor");
    return 1;
}

static int l_arange(lua_State *L) {
    int n = lua_gettop(L);
    while (n > 0 && !lua_isnumber(L, n)) n--;  /* options at the end */
    double start = 0, stop, step = 1;
    bool all_int = true;
    for (int i = 1; i <= n; i++) all_int = all_int && lua_isinteger(L, i);
    if (n == 1) stop = luaL_checknumber(L, 1);
    else if (n >= 2) {
        start = luaL_checknumber(L, 1);
        stop = luaL_checknumber(L, 2);
        if (n >= 3) step = luaL_checknumber(L, 3);
    } else return luaL_error(L, "arange: expected ([start,] stop [, step])");
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, n + 1, all_int ? TN_INT64 : TN_FLOAT32, &rg);
    lt_push_new(L, tn_arange(start, stop, step, dt), rg, "arange");
    return 1;
}

static int l_linspace(lua_State *L) {
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, 4, TN_FLOAT32, &rg);
    lt_push_new(L, tn_linspace(a, b, n, dt), rg, "linspace");
    return 1;
}

static int l_eye(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    lua_Integer m = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : n;
    if (n < 0 || m < 0) return luaL_error(L, "eye: sizes must be >= 0, got %d, %d", (int)n, (int)m);
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, lua_isinteger(L, 2) ? 3 : 2, TN_FLOAT32, &rg);
    lt_push_new(L, tn_eye(n, m, dt), rg, "eye");
    return 1;
}

static int l_randint(lua_State *L) {
    lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
    int64_t shape[TN_MAX_DIMS];
    int next;
    int nd = lt_shape(L, 3, shape, &next, "randint");
    bool rg;
    tn_dtype dt = lt_opt_dtype(L, next, TN_INT64, &rg);
    tn_tensor *t = tn_randint(lo, hi, nd, shape);
    if (t && dt != TN_INT64) {
        tn_tensor *c = tn_to(t, dt);
        tn_release(t);
        t = c;
    }
    lt_push_new(L, t, false, "randint");
    return 1;
}

static int l_randperm(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    lt_push_index(L, tn_randperm(n), "randperm");
    return 1;
}

static int l_manual_seed(lua_State *L) {
    tn_manual_seed((uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

static int l_set_num_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1) return luaL_error(L, "set_num_threads: need at least 1 thread, got %d", (int)n);
    tn_set_num_threads((int)n);
    return 0;
}

static int l_get_num_threads(lua_State *L) {
    lua_pushinteger(L, tn_get_num_threads());
    return 1;
}

static int l_is_tensor(lua_State *L) {
    lua_pushboolean(L, vm_test_tensor(L, 1) != NULL);
    return 1;
}

/* ---------- inspection ---------- */

static void push_shape(lua_State *L, const int64_t *shape, int nd) {
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_pushinteger(L, shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_size(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_shape(L, t->shape, t->ndim);
        return 1;
    }
    if (t->ndim == 0) return luaL_error(L, "size: a 0-dim tensor has no dims");
    lua_pushinteger(L, t->shape[lt_dim(L, 2, t->ndim, "size")]);
    return 1;
}

static int l_stride(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, t->stride[lt_dim(L, 2, t->ndim, "stride")]);
        return 1;
    }
    push_shape(L, t->stride, t->ndim);
    return 1;
}

static int l_dim(lua_State *L) {
    lua_pushinteger(L, vm_check_tensor(L, 1)->ndim);
    return 1;
}

static int l_numel(lua_State *L) {
    lua_pushinteger(L, vm_check_tensor(L, 1)->numel);
    return 1;
}

static int l_is_contiguous(lua_State *L) {
    lua_pushboolean(L, tn_is_contiguous(vm_check_tensor(L, 1)));
    return 1;
}

static void push_element(lua_State *L, tn_tensor *t, int64_t flat) {
    if (t->dtype == TN_BOOL) lua_pushboolean(L, tn_get_flat_i64(t, flat) != 0);
    else if (tn_dtype_is_int(t->dtype)) lua_pushinteger(L, tn_get_flat_i64(t, flat));
    else lua_pushnumber(L, tn_get_flat(t, flat));
}

static int l_item(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (t->numel != 1) {
        char b[128];
        return luaL_error(L, "item: tensor of shape %s has %d elements, not 1",
                          tn_shape_str(t->shape, t->ndim, b, sizeof b), (int)t->numel);
    }
    push_element(L, t, 0);
    return 1;
}

static void totable_rec(lua_State *L, tn_tensor *t, int dim, int64_t *flat) {
    if (dim == t->ndim) {
        push_element(L, t, (*flat)++);
        return;
    }
    lua_createtable(L, (int)t->shape[dim], 0);
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        totable_rec(L, t, dim + 1, flat);
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_totable(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    luaL_checkstack(L, t->ndim + 4, "totable");
    int64_t flat = 0;
    totable_rec(L, t, 0, &flat);
    return 1;
}

/* ---------- conversion ---------- */

static int l_to(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    tn_dtype dt = lt_check_dtype(L, 2);
    vm_push_tensor(L, tn_to(t, dt));
    return 1;
}

#define CONVERTER(fname, dt)                                  \
    static int l_##fname(lua_State *L) {                      \
        vm_push_tensor(L, tn_to(vm_check_tensor(L, 1), dt));  \
        return 1;                                             \
    }
CONVERTER(float, TN_FLOAT32)
CONVERTER(double, TN_FLOAT64)
CONVERTER(long, TN_INT64)
CONVERTER(int, TN_INT32)
CONVERTER(byte, TN_UINT8)
CONVERTER(bool, TN_BOOL)

static int l_clone(lua_State *L) {
    vm_push_tensor(L, tn_clone(vm_check_tensor(L, 1)));
    return 1;
}
static int l_contiguous(lua_State *L) {
    vm_push_tensor(L, tn_contiguous(vm_check_tensor(L, 1)));
    return 1;
}
static int l_detach(lua_State *L) {
    vm_push_tensor(L, tn_detach(vm_check_tensor(L, 1)));
    return 1;
}

/* ---------- views ---------- */

static int l_view_like(lua_State *L, bool reshape) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int64_t shape[TN_MAX_DIMS];
    int next, nd;
    /* -1 is allowed here: parse by hand */
    if (lua_type(L, 2) == LUA_TTABLE) {
        nd = (int)lua_rawlen(L, 2);
        if (nd > TN_MAX_DIMS) return luaL_error(L, "view: too many dims");
        for (int i = 0; i < nd; i++) {
            lua_rawgeti(L, 2, i + 1);
            shape[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    } else if (vm_test_tensor(L, 2)) {
        nd = lt_shape(L, 2, shape, &next, "view");
    } else {
        nd = 0;
        for (int i = 2; i <= lua_gettop(L); i++) {
            if (nd == TN_MAX_DIMS) return luaL_error(L, "view: too many dims");
            shape[nd++] = luaL_checkinteger(L, i);
        }
    }
    vm_push_tensor(L, reshape ? tn_reshape(t, nd, shape) : tn_view(t, nd, shape));
    return 1;
}
static int l_view(lua_State *L) { return l_view_like(L, false); }
static int l_reshape(lua_State *L) { return l_view_like(L, true); }

static int l_flatten(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int nd = t->ndim > 0 ? t->ndim : 1;
    int start = lua_isnoneornil(L, 2) ? 0 : lt_dim(L, 2, nd, "flatten");
    int stop = lua_isnoneornil(L, 3) ? nd - 1 : lt_dim(L, 3, nd, "flatten");
    vm_push_tensor(L, tn_flatten(t, start, stop));
    return 1;
}

static int l_squeeze(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) vm_push_tensor(L, tn_squeeze_all(t));
    else vm_push_tensor(L, tn_squeeze(t, lt_dim(L, 2, t->ndim, "squeeze")));
    return 1;
}

static int l_unsqueeze(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    vm_push_tensor(L, tn_unsqueeze(t, lt_dim(L, 2, t->ndim + 1, "unsqueeze")));
    return 1;
}

static int l_transpose(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d1 = lt_dim(L, 2, t->ndim, "transpose"), d2 = lt_dim(L, 3, t->ndim, "transpose");
    vm_push_tensor(L, tn_transpose(t, d1, d2));
    return 1;
}

static int l_t(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t: expects a tensor with at most 2 dims, got %d", t->ndim);
    if (t->ndim < 2) {
        lua_settop(L, 1);
        return 1;
    }
    vm_push_tensor(L, tn_transpose(t, 0, 1));
    return 1;
}

static int l_permute(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int dims[TN_MAX_DIMS], n = 0;
    bool tbl = lua_type(L, 2) == LUA_TTABLE;
    int count = tbl ? (int)lua_rawlen(L, 2) : lua_gettop(L) - 1;
    if (count != t->ndim)
        return luaL_error(L, "permute: got %d dims for a tensor with %d dims", count, t->ndim);
    for (int i = 0; i < count; i++) {
        if (tbl) lua_rawgeti(L, 2, i + 1);
        else lua_pushvalue(L, i + 2);
        dims[n++] = lt_dim(L, -1, t->ndim, "permute");
        lua_pop(L, 1);
    }
    vm_push_tensor(L, tn_permute(t, dims));
    return 1;
}

/* 1-based start (negative from the end) to 0-based */
static int64_t lt_index(lua_State *L, int arg, int64_t size, const char *op) {
    lua_Integer i = luaL_checkinteger(L, arg);
    if (i == 0 || i > size || i < -size)
        luaL_error(L, "%s: index %I is out of range for a dim of size %I (indices are 1-based)", op,
                   i, (lua_Integer)size);
    return i > 0 ? i - 1 : size + i;
}

static int l_narrow(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lt_dim(L, 2, t->ndim, "narrow");
    lua_Integer s = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    int64_t size = t->shape[d];
    if (s < 0) s += size + 1;
    if (s < 1 || s > size + 1)
        return luaL_error(L, "narrow: start %I is out of range for dim %d of size %I (indices are 1-based)",
                          luaL_checkinteger(L, 3), d + 1, (lua_Integer)size);
    int64_t start = s - 1;
    vm_push_tensor(L, tn_narrow(t, d, start, len));
    return 1;
}

static int l_select(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int d = lt_dim(L, 2, t->ndim, "select");
    vm_push_tensor(L, tn_select(t, d, lt_index(L, 3, t->shape[d], "select")));
    return 1;
}

static int l_expand(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    int64_t shape[TN_MAX_DIMS];
    int nd = 0;
    if (lua_type(L, 2) == LUA_TTABLE) {
        nd = (int)lua_rawlen(L, 2);
        if (nd > TN_MAX_DIMS) return luaL_error(L, "expand: too many dims");
        for (int i = 0; i < nd; i++) {
            lua_rawgeti(L, 2, i + 1);
            shape[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    } else {
        for (int i = 2; i <= lua_gettop(L) && nd < TN_MAX_DIMS; i++) shape[nd++] = luaL_checkinteger(L, i);
    }
    vm_push_tensor(L, tn_expand(t, nd, shape));
    return 1;
}

static int l_expand_as(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1), *o = vm_check_tensor(L, 2);
    vm_push_tensor(L, tn_expand(t, o->ndim, o->shape));
    return 1;
}

/* chunk(n [, dim]) and split(size [, dim]) return a Lua list of views */
static int split_sizes(lua_State *L, tn_tensor *t, int d, int64_t size, const char *op) {
    if (size <= 0) return luaL_error(L, "%s: size must be positive, got %d", op, (int)size);
    int64_t len = t->shape[d];
    int n = (int)((len + size - 1) / size);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        int64_t start = (int64_t)i * size, l = start + size <= len ? size : len - start;
        vm_push_tensor(L, tn_narrow(t, d, start, l));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_chunk(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    int d = lua_isnoneornil(L, 3) ? 0 : lt_dim(L, 3, t->ndim, "chunk");
    if (t->ndim == 0) return luaL_error(L, "chunk: a 0-dim tensor cannot be split");
    if (n <= 0) return luaL_error(L, "chunk: number of chunks must be positive, got %d", (int)n);
    return split_sizes(L, t, d, (t->shape[d] + n - 1) / n > 0 ? (t->shape[d] + n - 1) / n : 1, "chunk");
}

static int l_split(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "split: a 0-dim tensor cannot be split");
    int d = lua_isnoneornil(L, 3) ? 0 : lt_dim(L, 3, t->ndim, "split");
    return split_sizes(L, t, d, luaL_checkinteger(L, 2), "split");
}

/* cat / stack take a Lua list of tensors */
static int join(lua_State *L, bool stack) {
    const char *op = stack ? "stack" : "cat";
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);  /* the scratch array below must not land in the dim's slot */
    int n = (int)lua_rawlen(L, 1);
    if (n == 0) return luaL_error(L, "%s: expected a non-empty list of tensors", op);
    tn_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        ts[i] = vm_test_tensor(L, -1);
        if (!ts[i]) return luaL_error(L, "%s: element %d is a %s, not a tensor", op, i + 1, luaL_typename(L, -1));
        lua_pop(L, 1);  /* still referenced by the list */
    }
    int nd = ts[0]->ndim + (stack ? 1 : 0);
    int d = lua_isnoneornil(L, 2) ? 0 : lt_dim(L, 2, nd, op);
    vm_push_tensor(L, stack ? tn_stack(ts, n, d) : tn_cat(ts, n, d));
    return 1;
}
static int l_cat(lua_State *L) { return join(L, false); }
static int l_stack(lua_State *L) { return join(L, true); }

/* ---------- indexing: t[i], t[{...}], t[mask] ---------- */

/* Applies an index spec table to t and returns a view (new reference).
 * Per dim: integer (select), {} (all), {first, last[, step]} inclusive. */
static tn_tensor *apply_spec(lua_State *L, tn_tensor *t, int spec) {
    int n = (int)lua_rawlen(L, spec);
    if (n > t->ndim)
        luaL_error(L, "index: %d indices for a tensor with %d dims", n, t->ndim);
    tn_tensor *cur = tn_retain(t);
    int d = 0;  /* current dim in cur */
    for (int i = 1; i <= n; i++) {
        int ty = lua_rawgeti(L, spec, i);
        tn_tensor *next = NULL;
        int64_t size = cur->shape[d];
        if (ty == LUA_TNUMBER) {
            lua_Integer k = lua_tointeger(L, -1);
            if (!lua_isinteger(L, -1) || k == 0 || k > size || k < -size) {
                tn_release(cur);
                luaL_error(L, "index: index %s is out of range for dim %d of size %d (indices are 1-based)",
                           lua_tostring(L, -1), i, (int)size);
            }
            next = tn_select(cur, d, k > 0 ? k - 1 : size + k);
        } else if (ty == LUA_TTABLE) {
            int m = (int)lua_rawlen(L, -1);
            lua_Integer v[3] = {1, size, 1};
            for (int j = 0; j < m && j < 3; j++) {
                lua_rawgeti(L, -1, j + 1);
                if (lua_isinteger(L, -1)) v[j] = lua_tointeger(L, -1);
                else if (!lua_isnil(L, -1)) {
                    tn_release(cur);
                    luaL_error(L, "index: dim %d: range entries must be integers, got %s", i,
                               luaL_typename(L, -1));
                }
                lua_pop(L, 1);
            }
            lua_Integer first = v[0], last = m == 1 ? v[0] : v[1], step = v[2];
            if (first < 0) first += size + 1;
            if (last < 0) last += size + 1;
            if (step <= 0) {
                tn_release(cur);
                luaL_error(L, "index: the step of range {%I, %I, %I} for dim %d must be positive",
                           v[0], v[1], v[2], i);
            }
            if (first < 1 || first > size + 1 || last > size || last < first - 1) {
                tn_release(cur);
                luaL_error(L, "index: range {%d, %d, %d} is out of bounds for dim %d of size %d",
                           (int)first, (int)last, (int)step, i, (int)size);
            }
            next = tn_slice(cur, d, first - 1, last, step);
            d++;
        } else {
            tn_release(cur);
            luaL_error(L, "index: dim %d: expected an integer or a {first, last} table, got %s", i,
                       luaL_typename(L, -1));
        }
        lua_pop(L, 1);
        tn_release(cur);
        if (!next) vm_error(L, "index");
        cur = next;
    }
    return cur;
}


/* A bool mask whose shape is t's leading dims (fewer dims than t) selects
 * whole rows, as PyTorch's x[mask]: returns how many dims it covers, or 0
 * when the mask is used elementwise (same shape, or broadcast). */
static int mask_lead_dims(const tn_tensor *t, const tn_tensor *m) {
    if (m->ndim == 0 || m->ndim >= t->ndim) return 0;
    for (int d = 0; d < m->ndim; d++)
        if (m->shape[d] != t->shape[d]) return 0;
    return m->ndim;
}

/* The mask viewed as (mask dims..., 1, ..., 1) to broadcast over t's rest. */
static tn_tensor *mask_with_trailing_ones(const tn_tensor *t, tn_tensor *m) {
    int64_t sh[TN_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) sh[d] = d < m->ndim ? m->shape[d] : 1;
    return tn_reshape(m, t->ndim, sh);
}

static int64_t count_true_flat(const tn_tensor *m) {
    int64_t n = 0;
    for (int64_t i = 0; i < m->numel; i++) n += tn_get_flat(m, i) != 0;
    return n;
}

static int tensor_index(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    switch (lua_type(L, 2)) {
    case LUA_TSTRING: {
        /* methods first */
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
        lua_pop(L, 1);
        const char *k = lua_tostring(L, 2);
        if (strcmp(k, "shape") == 0) push_shape(L, t->shape, t->ndim);
        else if (strcmp(k, "dtype") == 0) lua_pushstring(L, tn_dtype_name(t->dtype));
        else if (strcmp(k, "grad") == 0) {
            if (t->grad) vm_push_tensor(L, tn_retain(t->grad));
            else lua_pushnil(L);
        } else if (strcmp(k, "requires_grad") == 0) lua_pushboolean(L, t->requires_grad);
        else if (strcmp(k, "grad_fn") == 0) {
            if (t->grad_fn) lua_pushstring(L, t->grad_fn->name);
            else lua_pushnil(L);
        } else if (strcmp(k, "is_leaf") == 0) lua_pushboolean(L, t->grad_fn == NULL);
        else if (strcmp(k, "ndim") == 0) lua_pushinteger(L, t->ndim);
        else if (strcmp(k, "T") == 0) {
            if (t->ndim < 2) {
                lua_settop(L, 1);
                return 1;
            }
            int dims[TN_MAX_DIMS];
            for (int i = 0; i < t->ndim; i++) dims[i] = t->ndim - 1 - i;
            vm_push_tensor(L, tn_permute(t, dims));
        } else lua_pushnil(L);
        return 1;
    }
    case LUA_TNUMBER: {
        if (t->ndim == 0) return luaL_error(L, "index: a 0-dim tensor cannot be indexed (use item())");
        if (!lua_isinteger(L, 2)) return luaL_error(L, "index: index must be an integer, got %s", lua_tostring(L, 2));
        lua_Integer i = lua_tointeger(L, 2);
        int64_t size = t->shape[0];
        if (i == 0 || i > size || i < -size)
            return luaL_error(L, "index: index %I is out of range for dim 1 of size %I (indices are 1-based)",
                              i, (lua_Integer)size);
        int64_t k = i > 0 ? i - 1 : size + i;
        if (t->ndim == 1 && !t->requires_grad) {
            push_element(L, t, k);
            return 1;
        }
        vm_push_tensor(L, tn_select(t, 0, k));
        return 1;
    }
    case LUA_TTABLE: vm_push_tensor(L, apply_spec(L, t, 2)); return 1;
    case LUA_TUSERDATA: {
        tn_tensor *m = vm_check_tensor(L, 2);
        if (m->dtype != TN_BOOL) {
            tn_tensor *idx = lt_index_arg(L, 2, "index");
            tn_tensor *r = tn_index_select(t, 0, idx);
            tn_release(idx);
            vm_push_tensor(L, r);
            return 1;
        }
        int lead = mask_lead_dims(t, m);
        if (lead == 0) {
            vm_push_tensor(L, tn_masked_select(t, m));
            return 1;
        }
        /* rows of the leading dims: (count, t.shape[lead..]) */
        tn_tensor *mv = mask_with_trailing_ones(t, m);
        tn_tensor *flat = mv ? tn_masked_select(t, mv) : NULL;
        tn_release(mv);
        if (!flat) return vm_error(L, "index");
        int64_t sh[TN_MAX_DIMS], inner = 1;
        for (int d = lead; d < t->ndim; d++) {
            sh[1 + d - lead] = t->shape[d];
            inner *= t->shape[d];
        }
        /* the row count; with empty rows it cannot be read off the result */
        sh[0] = inner > 0 ? flat->numel / inner : count_true_flat(m);
        tn_tensor *r = tn_reshape(flat, 1 + t->ndim - lead, sh);
        tn_release(flat);
        vm_push_tensor(L, r);
        return 1;
    }
    default: lua_pushnil(L); return 1;
    }
}

static void assign_into(lua_State *L, tn_tensor *dst, int val) {
    tn_tensor *src = vm_to_tensor(L, val, "index assignment");
    int rc = tn_copy_(dst, src);
    tn_release(src);
    if (rc < 0) {
        tn_release(dst);
        vm_error(L, "index assignment");
    }
}

static int tensor_newindex(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) vm_prepare_args(L, 3, 3, "index assignment");
    switch (lua_type(L, 2)) {
    case LUA_TSTRING: {
        const char *k = lua_tostring(L, 2);
        if (strcmp(k, "grad") == 0) {
            tn_tensor *g = lua_isnil(L, 3) ? NULL : vm_check_tensor(L, 3);
            if (g && !tn_same_shape(g, t)) {
                char s1[128], s2[128];
                return luaL_error(L, "grad: assigned gradient has shape %s, the tensor has shape %s",
                                  tn_shape_str(g->shape, g->ndim, s1, sizeof s1),
                                  tn_shape_str(t->shape, t->ndim, s2, sizeof s2));
            }
            if (t->grad) tn_release(t->grad);
            t->grad = tn_retain(g);
            return 0;
        }
        if (strcmp(k, "requires_grad") == 0) {
            bool on = lua_toboolean(L, 3);
            if (on && !tn_dtype_is_float(t->dtype))
                return luaL_error(L, "requires_grad: only float tensors can require grad (this one is %s)",
                                  tn_dtype_name(t->dtype));
            if (!on && t->grad_fn)
                return luaL_error(L, "requires_grad: cannot turn off grad on a non-leaf tensor (use detach())");
            t->requires_grad = on;
            return 0;
        }
        return luaL_error(L, "tensor: cannot set field '%s'", k);
    }
    case LUA_TNUMBER: {
        if (t->ndim == 0) return luaL_error(L, "index assignment: a 0-dim tensor cannot be indexed (use fill_)");
        lua_Integer i = luaL_checkinteger(L, 2);
        int64_t size = t->shape[0];
        if (i == 0 || i > size || i < -size)
            return luaL_error(L, "index assignment: index %I is out of range for dim 1 of size %I (indices are 1-based)",
                              i, (lua_Integer)size);
        tn_tensor *v = tn_select(t, 0, i > 0 ? i - 1 : size + i);
        if (!v) return vm_error(L, "index assignment");
        assign_into(L, v, 3);
        tn_release(v);
        return 0;
    }
    case LUA_TTABLE: {
        tn_tensor *v = apply_spec(L, t, 2);
        assign_into(L, v, 3);
        tn_release(v);
        return 0;
    }
    case LUA_TUSERDATA: {
        tn_tensor *m = vm_check_tensor(L, 2);
        if (m->dtype != TN_BOOL) return luaL_error(L, "index assignment: a tensor key must be a bool mask");
        tn_tensor *src = vm_to_tensor(L, 3, "index assignment");
        tn_tensor *mv = mask_lead_dims(t, m) > 0 ? mask_with_trailing_ones(t, m) : tn_retain(m);
        int rc = mv ? tn_masked_assign_(t, mv, src) : -1;
        tn_release(mv);
        tn_release(src);
        if (rc < 0) return vm_error(L, "index assignment");
        return 0;
    }
    default: return luaL_error(L, "index assignment: bad key type %s", luaL_typename(L, 2));
    }
}

/* ---------- metamethods ---------- */

static int tensor_gc(lua_State *L) {
    lt_box *b = lua_touserdata(L, 1);
    if (b && b->t) {
        tn_release(b->t);
        b->t = NULL;
    }
    return 0;
}

static int tensor_len(lua_State *L) {
    tn_tensor *t = vm_check_tensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "#: a 0-dim tensor has no length (use numel())");
    lua_pushinteger(L, t->shape[0]);
    return 1;
}

static int tensor_tostring(lua_State *L) {
    lt_box *b = luaL_checkudata(L, 1, VM_TENSOR_MT);
    if (!b->t) {
        lua_pushliteral(L, "tensor(closed)");
        return 1;
    }
    lt_tensor_tostring(L, b->t);
    return 1;
}

static int arith(lua_State *L, tn_binary_kind k, const char *op) {
    vm_prepare_args(L, 1, 2, op);  /* may raise: before any reference is held */
    tn_tensor *a = vm_to_tensor(L, 1, op);
    tn_tensor *b = vm_to_tensor(L, 2, op);
    tn_tensor *r = tn_binary(k, a, b);
    tn_release(a);
    tn_release(b);
    vm_push_tensor(L, r ? r : (vm_error(L, op), NULL));
    return 1;
}
static int tensor_add(lua_State *L) { return arith(L, TN_B_ADD, "add"); }
static int tensor_sub(lua_State *L) { return arith(L, TN_B_SUB, "sub"); }
static int tensor_mul(lua_State *L) { return arith(L, TN_B_MUL, "mul"); }
static int tensor_div(lua_State *L) { return arith(L, TN_B_DIV, "div"); }
static int tensor_mod(lua_State *L) { return arith(L, TN_B_MOD, "remainder"); }
static int tensor_pow(lua_State *L) { return arith(L, TN_B_POW, "pow"); }
static int tensor_unm(lua_State *L) {
    vm_push_tensor(L, tn_unary(TN_U_NEG, vm_check_tensor(L, 1)));
    return 1;
}

static const lt_reg creation_fns[] = {
    {"tensor", l_tensor, "ember.tensor(data [, dtype or {dtype=, requires_grad=}]): a tensor from a number, boolean or nested table (integers give int64, floats float32)."},
    {"zeros", l_zeros, "ember.zeros(shape... [, opts]): a tensor of zeros; shape as varargs or a table, opts {dtype=, requires_grad=}."},
    {"ones", l_ones, "ember.ones(shape... [, opts]): a tensor of ones."},
    {"empty", l_empty, "ember.empty(shape... [, opts]): a new tensor (zero-filled in ember)."},
    {"full", l_full, "ember.full(shape, value [, opts]): a tensor filled with value."},
    {"rand", l_rand, "ember.rand(shape... [, opts]): uniform random numbers in [0, 1)."},
    {"randn", l_randn, "ember.randn(shape... [, opts]): standard normal random numbers."},
    {"randint", l_randint, "ember.randint(lo, hi, shape [, opts]): random integers in [lo, hi)."},
    {"randperm", l_randperm, "ember.randperm(n): a random permutation of 1..n (int64)."},
    {"arange", l_arange, "ember.arange([start,] stop [, step] [, opts]): values from start (default 0) up to stop, exclusive."},
    {"linspace", l_linspace, "ember.linspace(a, b, n [, opts]): n evenly spaced values from a to b inclusive."},
    {"eye", l_eye, "ember.eye(n [, m] [, opts]): the identity matrix."},
    {"zeros_like", l_zeros_like, "ember.zeros_like(t [, opts]): zeros with t's shape and dtype."},
    {"ones_like", l_ones_like, "ember.ones_like(t [, opts]): ones with t's shape and dtype."},
    {"empty_like", l_empty_like, "ember.empty_like(t [, opts]): a new tensor with t's shape and dtype."},
    {"full_like", l_full_like, "ember.full_like(t, v [, opts]): t's shape filled with v."},
    {"rand_like", l_rand_like, "ember.rand_like(t [, opts]): uniform [0, 1) with t's shape."},
    {"randn_like", l_randn_like, "ember.randn_like(t [, opts]): standard normal with t's shape."},
    {"manual_seed", l_manual_seed, "ember.manual_seed(n): seeds the random number generator; the same seed gives the same numbers whatever the thread count."},
    {"set_num_threads", l_set_num_threads, "ember.set_num_threads(n): threads for ember's loops and OpenBLAS."},
    {"get_num_threads", l_get_num_threads, "ember.get_num_threads(): the number of threads in use."},
    {"is_tensor", l_is_tensor, "ember.is_tensor(x): true when x is a tensor."},
    {"cat", l_cat, "ember.cat(list, dim): joins tensors along an existing dim (default 1)."},
    {"stack", l_stack, "ember.stack(list, dim): joins tensors along a new dim (default 1)."},
    {NULL, NULL, NULL}};

static const lt_reg tensor_methods[] = {
    {"size", l_size, "t:size([dim]): the shape as a table, or the size of one dim."},
    {"stride", l_stride, "t:stride([dim]): strides in elements."},
    {"dim", l_dim, "t:dim(): the number of dims."},
    {"numel", l_numel, "t:numel(): the number of elements."},
    {"is_contiguous", l_is_contiguous, "t:is_contiguous(): true when the elements are laid out row-major without gaps."},
    {"item", l_item, "t:item(): the value of a one-element tensor as a Lua number."},
    {"totable", l_totable, "t:totable(): the values as nested Lua tables."},
    {"to", l_to, "t:to(dtype): a copy converted to dtype (t itself if it already has it)."},
    {"float", l_float, "t:float(): converted to float32."},
    {"double", l_double, "t:double(): converted to float64."},
    {"long", l_long, "t:long(): converted to int64."},
    {"int", l_int, "t:int(): converted to int32."},
    {"byte", l_byte, "t:byte(): converted to uint8."},
    {"bool", l_bool, "t:bool(): converted to bool."},
    {"clone", l_clone, "t:clone(): a copy with its own storage (keeps autograd history)."},
    {"contiguous", l_contiguous, "t:contiguous(): t itself when contiguous, else a contiguous copy."},
    {"detach", l_detach, "t:detach(): a tensor sharing t's data without autograd history."},
    {"view", l_view, "t:view(shape...): a view with a new shape (one -1 is inferred); needs compatible strides."},
    {"reshape", l_reshape, "t:reshape(shape...): like view, copying when the strides do not allow a view."},
    {"flatten", l_flatten, "t:flatten([start [, stop]]): merges dims start..stop (default all) into one."},
    {"squeeze", l_squeeze, "t:squeeze([dim]): removes dims of size 1."},
    {"unsqueeze", l_unsqueeze, "t:unsqueeze(dim): inserts a dim of size 1 at dim."},
    {"transpose", l_transpose, "t:transpose(d1, d2): swaps two dims (a view)."},
    {"t", l_t, "t:t(): the transpose of a matrix."},
    {"permute", l_permute, "t:permute(d1, d2, ...): reorders the dims (a view)."},
    {"narrow", l_narrow, "t:narrow(dim, start, length): a view of length elements from start (1-based)."},
    {"select", l_select, "t:select(dim, i): the slice at index i along dim, removing dim."},
    {"expand", l_expand, "t:expand(sizes...): a broadcast view; -1 keeps a dim."},
    {"expand_as", l_expand_as, "t:expand_as(o): t broadcast to o's shape."},
    {"chunk", l_chunk, "t:chunk(n [, dim]): a list of n views along dim."},
    {"split", l_split, "t:split(size [, dim]): a list of views of size elements along dim."},
    {NULL, NULL, NULL}};

int vm_open_tensor(lua_State *L);

int vm_open_tensor(lua_State *L) {
    lua_newtable(L);  /* module */
    int module = lua_gettop(L);
    lt_register(L, creation_fns);
    lua_newtable(L);  /* methods */
    int methods = lua_gettop(L);
    lt_register(L, tensor_methods);
    /* the view functions also exist as ember.view(t, ...) etc. */
    for (const lt_reg *r = tensor_methods; r->name; r++) {
        lua_getfield(L, methods, r->name);
        lua_setfield(L, module, r->name);
    }
    lt_open_ops(L, methods, module);
    lt_open_math(L, methods, module);
    lt_open_formats(L, module);
    lt_open_nn(L, module);
    lt_open_bench(L, module);
    lt_open_sweep(L, module);
    lt_open_stats(L, methods, module);
    lt_open_linalg(L, methods, module);

    luaL_newmetatable(L, VM_TENSOR_MT);
    tensor_mt_ptr = lua_topointer(L, -1);
    static const luaL_Reg meta[] = {
        {"__gc", tensor_gc}, {"__close", tensor_gc}, {"__len", tensor_len},
        {"__tostring", tensor_tostring}, {"__newindex", tensor_newindex},
        {"__add", tensor_add}, {"__sub", tensor_sub}, {"__mul", tensor_mul},
        {"__div", tensor_div}, {"__mod", tensor_mod}, {"__pow", tensor_pow},
        {"__unm", tensor_unm}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, tensor_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, methods);
    lua_setfield(L, -2, "__methods");
    /* the properties __index answers, for REPL completion of `t.<TAB>` */
    static const char *const fields[] = {"shape", "dtype", "grad", "requires_grad", "grad_fn",
                                         "is_leaf", "ndim", "T", NULL};
    lua_newtable(L);
    for (int i = 0; fields[i]; i++) {
        lua_pushstring(L, fields[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "__fields");
    lua_pop(L, 1);
    lua_pushvalue(L, methods);
    lua_setfield(L, module, "Tensor");  /* methods table, for extension from Lua */
    lua_settop(L, module);
    return 1;
}
