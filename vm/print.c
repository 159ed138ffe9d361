/*
 * print.c: tostring(t) and ember.set_printoptions.
 *
 * The layout follows PyTorch's, which users already read fluently:
 *   tensor([[ 1.5000,  2.0000],
 *           [ 3.0000,  4.0000]], dtype=float32, shape=[2, 2], requires_grad=true)
 * Tensors with more than `threshold` elements are summarized: each dim
 * shows `edgeitems` entries at each end with "..." between (printing a big
 * tensor in full was a Torch7 pain).  Floats get `precision` decimals, or
 * scientific notation when the magnitudes need it, or none ("1.") when
 * every value is integral, as PyTorch prints them; all entries share one
 * width so columns line up.  Rows longer than `linewidth` wrap.
 */
#include "vm/lt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static struct {
    int precision, threshold, edgeitems, linewidth;
} opts = {4, 1000, 3, 80};

int lt_set_printoptions(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const names[] = {"precision", "threshold", "edgeitems", "linewidth"};
    int *fields[] = {&opts.precision, &opts.threshold, &opts.edgeitems, &opts.linewidth};
    /* check every key and value before setting any: a bad call changes nothing */
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        int i = 0;
        while (i < 4 && !(lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), names[i]) == 0)) i++;
        if (i == 4)
            return luaL_error(L, "set_printoptions: unknown option '%s' (the options are precision, threshold, edgeitems, linewidth)",
                              lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2));
        if (!lua_isinteger(L, -1))
            return luaL_error(L, "set_printoptions: %s must be an integer, got %s", names[i],
                              lua_isnumber(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
        lua_Integer v = lua_tointeger(L, -1);
        if (v < 0 || v > 1000000000)
            return luaL_error(L, "set_printoptions: %s must be between 0 and 1e9, got %I", names[i], v);
        lua_pop(L, 1);
    }
    for (int i = 0; i < 4; i++) {
        if (lua_getfield(L, 1, names[i]) != LUA_TNIL) {
            lua_Integer v = lua_tointeger(L, -1);
            if (i == 0 && v > 16) v = 16;
            *fields[i] = (int)v;
        }
        lua_pop(L, 1);
    }
    return 0;
}

typedef struct {
    tn_tensor *t;
    bool summarize;
    bool sci;        /* scientific notation for floats */
    bool intmode;    /* every float is integral: "1." as PyTorch prints it */
    int width;       /* of every entry */
    int indent;      /* columns before the outermost '[' content */
    luaL_Buffer *b;
} pctx;

static int64_t offset_of(const tn_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return off;
}

static int format_value(const pctx *c, const tn_tensor *t, int64_t off, char *buf, size_t n) {
    const void *p = tn_data(t);
    switch (t->dtype) {
    case TN_BOOL: return snprintf(buf, n, "%s", ((const uint8_t *)p)[off] ? "true" : "false");
    case TN_INT64: return snprintf(buf, n, "%lld", (long long)((const int64_t *)p)[off]);
    case TN_INT32: return snprintf(buf, n, "%d", ((const int32_t *)p)[off]);
    case TN_UINT8: return snprintf(buf, n, "%u", ((const uint8_t *)p)[off]);
    default: {
        double v = tn_load(t->dtype, p, off);
        if (isnan(v)) return snprintf(buf, n, "nan");
        if (isinf(v)) return snprintf(buf, n, v > 0 ? "inf" : "-inf");
        if (c->intmode) return snprintf(buf, n, "%.0f.", v);
        return snprintf(buf, n, c->sci ? "%.*e" : "%.*f", opts.precision, v);
    }
    }
}

/* Visits the displayed elements: fn(ctx, offset). */
typedef void (*visit_fn)(pctx *c, int64_t off);

static void visit(pctx *c, int dim, int64_t *idx, visit_fn fn) {
    tn_tensor *t = c->t;
    if (dim == t->ndim) {
        fn(c, offset_of(t, idx));
        return;
    }
    int64_t n = t->shape[dim], e = opts.edgeitems;
    for (int64_t i = 0; i < n; i++) {
        if (c->summarize && n > 2 * e && i == e) i = n - e;
        idx[dim] = i;
        visit(c, dim + 1, idx, fn);
    }
}

static double g_maxabs, g_minabs;
static bool g_nonint;
static void scan_fn(pctx *c, int64_t off) {
    double v = tn_load(c->t->dtype, tn_data(c->t), off);
    if (!isfinite(v)) return;
    double a = fabs(v);
    if (a > g_maxabs) g_maxabs = a;
    if (a > 0 && a < g_minabs) g_minabs = a;
    if (v != floor(v)) g_nonint = true;
}
static void width_fn(pctx *c, int64_t off) {
    char buf[64];
    int w = format_value(c, c->t, off, buf, sizeof buf);
    if (w > c->width) c->width = w;
}

static void put_value(pctx *c, int64_t off) {
    char buf[64];
    int w = format_value(c, c->t, off, buf, sizeof buf);
    for (int i = w; i < c->width; i++) luaL_addchar(c->b, ' ');
    luaL_addlstring(c->b, buf, (size_t)w);
}

static void newline_indent(pctx *c, int dim) {
    luaL_addchar(c->b, '\n');
    for (int i = 0; i < c->indent + dim; i++) luaL_addchar(c->b, ' ');
}

static void emit(pctx *c, int dim, int64_t *idx) {
    tn_tensor *t = c->t;
    luaL_addchar(c->b, '[');
    int64_t n = t->shape[dim], e = opts.edgeitems;
    int per_line = (opts.linewidth - c->indent - dim - 2) / (c->width + 2);
    if (per_line < 1) per_line = 1;
    int col = 0;
    for (int64_t i = 0; i < n; i++) {
        if (c->summarize && n > 2 * e && i == e) {
            if (dim == t->ndim - 1) {
                luaL_addstring(c->b, "..., ");
                col++;
            } else {
                luaL_addstring(c->b, "...,");
                newline_indent(c, dim + 1);
                if (dim < t->ndim - 2) newline_indent(c, dim + 1);
            }
            i = n - e;
        }
        idx[dim] = i;
        if (dim == t->ndim - 1) {
            if (col > 0 && col % per_line == 0) newline_indent(c, dim + 1);
            put_value(c, offset_of(t, idx));
            col++;
            if (i < n - 1) luaL_addstring(c->b, ", ");
        } else {
            emit(c, dim + 1, idx);
            if (i < n - 1) {
                luaL_addchar(c->b, ',');
                /* a blank line between blocks of 3-D and higher */
                for (int k = 0; k < t->ndim - dim - 2; k++) luaL_addchar(c->b, '\n');
                newline_indent(c, dim + 1);
            }
        }
    }
    luaL_addchar(c->b, ']');
}

void lt_tensor_tostring(lua_State *L, tn_tensor *t) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    pctx c = {t, t->numel > opts.threshold, false, false, 1, 7, &b};
    int64_t idx[TN_MAX_DIMS] = {0};
    luaL_addstring(&b, "tensor(");
    if (tn_dtype_is_float(t->dtype) && t->numel > 0) {
        g_maxabs = 0;
        g_minabs = INFINITY;
        g_nonint = false;
        visit(&c, 0, idx, scan_fn);
        /* PyTorch's choice: scientific for huge values, or for fractions
         * spanning tiny values or more than 3 decades; integral values
         * otherwise print without decimals */
        c.sci = g_maxabs >= 1e8 ||
                (g_nonint && g_maxabs > 0 && (g_minabs < 1e-4 || g_maxabs / g_minabs > 1000));
        c.intmode = !g_nonint && !c.sci;
    }
    if (t->numel > 0) visit(&c, 0, idx, width_fn);
    if (t->ndim == 0) put_value(&c, 0);
    else if (t->numel == 0) luaL_addstring(&b, "[]");
    else emit(&c, 0, idx);
    char shape[160];
    luaL_addstring(&b, ", dtype=");
    luaL_addstring(&b, tn_dtype_name(t->dtype));
    luaL_addstring(&b, ", shape=");
    luaL_addstring(&b, tn_shape_str(t->shape, t->ndim, shape, sizeof shape));
    if (t->grad_fn) {
        luaL_addstring(&b, ", grad_fn=");
        luaL_addstring(&b, t->grad_fn->name);
    } else if (t->requires_grad) {
        luaL_addstring(&b, ", requires_grad=true");
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
}
