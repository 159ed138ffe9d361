/*
 * lt.h: helpers shared by the binding files of vm/ (argument parsing, the
 * 1-based to 0-based conversions, function tables).  Not used outside vm/.
 *
 * Conventions: every Lua-visible function is `static int l_NAME(lua_State *L)`;
 * errors are raised with luaL_error / vm_error only after every C reference
 * the function holds has been released (the error longjmps).
 */
#ifndef VM_LT_H
#define VM_LT_H

#include "vm/vm.h"
#include "tensor/autograd.h"

/* A named Lua function with its docstring (shown by help()). */
typedef struct {
    const char *name;
    lua_CFunction fn;
    const char *doc;
} lt_reg;

/* Sets fns into the table at the top of the stack and registers their docs. */
void lt_register(lua_State *L, const lt_reg *fns);

/* Lua dim (1-based, negative from the end) to C dim (0-based). */
int lt_dim(lua_State *L, int arg, int ndim, const char *op);
/* Lua dim that may be absent (returns TN_ALL_DIMS then). */
int lt_opt_dim(lua_State *L, int arg, int ndim, const char *op);
/* A shape from varargs numbers starting at `first`, or one table, or a
 * tensor; stops at a trailing options table.  Returns ndim; *next is the
 * index after the shape. */
int lt_shape(lua_State *L, int first, int64_t *shape, int *next, const char *op);
/* Options table at idx (or none): dtype (default def) and requires_grad. */
tn_dtype lt_opt_dtype(lua_State *L, int idx, tn_dtype def, bool *requires_grad);
/* dtype from a string argument */
tn_dtype lt_check_dtype(lua_State *L, int idx);
/* Applies requires_grad from options to a fresh tensor, then pushes it. */
void lt_push_new(lua_State *L, tn_tensor *t, bool requires_grad, const char *op);
/* Pushes a 0-based int64 index tensor as 1-based (adds 1). */
void lt_push_index(lua_State *L, tn_tensor *idx0, const char *op);
/* A 0-based int64 index tensor from a 1-based tensor or table argument. */
tn_tensor *lt_index_arg(lua_State *L, int idx, const char *op);
/* Field `name` of an options table at idx as boolean / number. */
bool lt_opt_bool(lua_State *L, int idx, const char *name, bool def);
double lt_opt_number(lua_State *L, int idx, const char *name, double def);

/* ops_bind.c: math, reductions, linear algebra, autograd functions */
void lt_open_ops(lua_State *L, int methods, int module);
void lt_open_math(lua_State *L, int methods, int module);  /* math_bind.c */
/* format_bind.c and others register themselves the same way */
void lt_open_formats(lua_State *L, int module);
void lt_open_nn(lua_State *L, int module);   /* nn_bind.c */
void lt_open_sweep(lua_State *L, int module);   /* sweep_bind.c: ember._sweep */
void lt_open_bench(lua_State *L, int module);   /* bench_bind.c: ember._bench */
void lt_open_stats(lua_State *L, int methods, int module);   /* stats_bind.c */
void lt_open_linalg(lua_State *L, int methods, int module);  /* linalg_bind.c: ember.linalg */

/* tostring of a tensor into the buffer (print.c) */
void lt_tensor_tostring(lua_State *L, tn_tensor *t);
int lt_set_printoptions(lua_State *L);

#endif
