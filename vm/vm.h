/*
 * vm.h: hosting the Lua 5.4 VM and binding the C core to it.
 *
 * The only C code that includes Lua headers lives in vm/.  This header is
 * what repl/ (the ember executable) uses to create a state, run code under
 * a traceback handler, and interrupt running code with Ctrl-C; and what the
 * binding files of vm/ share among themselves (the tensor userdata).
 *
 * Ownership: a tensor userdata holds one reference to a tn_tensor; __gc and
 * __close release it (after __close the userdata is "closed" and any use
 * raises an error).  Tensor storage bytes are charged to the Lua GC
 * (vm_gc_account) so loops need no manual collectgarbage().
 */
#ifndef VM_VM_H
#define VM_VM_H

#include <lua.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stddef.h>

#include "tensor/tensor.h"

/* ---------- embedded Lua modules (generated from lua/ by vm/embed.lua) ---------- */
typedef struct {
    const char *name;              /* "ember.nn" */
    const unsigned char *code;     /* precompiled chunk */
    size_t size;
} vm_embedded_module;
extern const vm_embedded_module vm_embedded_modules[];

/* ---------- hosting (host.c) ---------- */
/* A new state with the standard libraries and ember loaded; the globals of
 * DESIGN.md (ember nn optim data train metrics plot sweep) are preloaded
 * lazily (first access requires the module).  NULL on out of memory. */
lua_State *vm_new_state(void);
void vm_close_state(lua_State *L);
/* lua_pcall with a traceback message handler and Ctrl-C armed.  On error the
 * message (with traceback) is left on the stack. */
int vm_pcall(lua_State *L, int nargs, int nresults);
/* Prints the error message on top of the stack to stderr (and pops it). */
void vm_report(lua_State *L, int status);
/* Loads and runs a file / string; returns a lua status. */
int vm_dofile(lua_State *L, const char *path);
int vm_dostring(lua_State *L, const char *code, const char *chunkname);
/* Installs the SIGINT handler that interrupts running Lua code (a hook
 * raising "interrupted") and long C kernels (tn_interrupt_flag).  Used by
 * vm_pcall; the REPL restores its own handler while reading a line. */
void vm_sigint_arm(lua_State *L);
void vm_sigint_disarm(void);
/* true once a SIGINT arrived since the last vm_pcall began */
bool vm_sigint_seen(void);

/* ---------- the tensor userdata (tensor_bind.c) ---------- */
#define VM_TENSOR_MT "ember.Tensor"
int luaopen_ember(lua_State *L);
/* Pushes a new userdata owning `t` (steals the reference).  When t is NULL,
 * raises a Lua error with tn_last_error() prefixed by `op`. */
void vm_push_tensor(lua_State *L, tn_tensor *t);
/* The tensor at idx (borrowed), or a Lua error naming the argument. */
tn_tensor *vm_check_tensor(lua_State *L, int idx);
tn_tensor *vm_test_tensor(lua_State *L, int idx);  /* NULL if not a tensor */
/* A tensor from a tensor, a number (a weak scalar) or a nested table; new
 * reference (the caller releases).  Raises a Lua error otherwise.  A table
 * is converted into a tensor userdata in the argument's slot.  Raising
 * while C holds references would leak them: a function converting several
 * arguments first calls vm_prepare_args, after which vm_to_tensor on those
 * slots cannot raise (short of running out of memory). */
tn_tensor *vm_to_tensor(lua_State *L, int idx, const char *op);
/* Converts table arguments first..last into tensors in place and checks
 * that every one is a tensor, number or boolean (raising otherwise). */
void vm_prepare_args(lua_State *L, int first, int last, const char *op);
/* Raises a Lua error "op: <tn_last_error()>" (does not return). */
int vm_error(lua_State *L, const char *op);

/* Charges `bytes` of new tensor storage to the Lua collector. */
void vm_gc_account(lua_State *L);
/* Clears Lua 5.4's "bad collection" state of the generational collector
 * (tensor_bind.c explains); a no-op unless vm_new_state chose that mode. */
void vm_gc_rearm(lua_State *L);
extern bool vm_gc_generational;

/* ---------- documentation registry (doc.c) ---------- */
/* Attaches a docstring to the value at idx (a function or table) for help(). */
void vm_set_doc(lua_State *L, int idx, const char *doc);
/* Docs for fields of the table at tidx: {{"zeros", "ember.zeros(...)..."}, ..., {NULL, NULL}}. */
typedef struct { const char *name; const char *doc; } vm_doc_reg;
void vm_set_docs(lua_State *L, int tidx, const vm_doc_reg *docs);
/* The docstring of the value at idx, or NULL. */
const char *vm_get_doc(lua_State *L, int idx);
/* Adds `doc` and `help` to the module table on top of the stack. */
int vm_open_doc(lua_State *L);

#endif
