/*
 * doc.c: the documentation registry behind help().
 *
 * Docstrings live in one table in the Lua registry, keyed by the documented
 * value itself (a function, a class or module table, a metatable) with weak
 * keys, so documenting a value never keeps it alive and a name change or an
 * alias (`ember.exp` and the method `exp` being the same C function) needs no
 * bookkeeping.  C bindings attach docs with vm_set_doc / vm_set_docs next to
 * the functions they register; Lua modules use `ember.doc(value, text)`.
 * `ember.help` formats them; it lives in lua/ember/help.lua and is loaded on
 * first use so start-up pays nothing for it.
 *
 * Convention for the text: the first line is the call signature
 * ("ember.zeros(size... [, opts]) -> Tensor"), then a blank line, then the
 * description; help() lists show the first line only.
 */
#include "vm/vm.h"

#include <string.h>

static const char DOCS_KEY[] = "ember.docs";

/* Pushes the registry's docs table, creating it (weak keys) on first use. */
static void push_docs(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, DOCS_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DOCS_KEY);
}

void vm_set_doc(lua_State *L, int idx, const char *doc) {
    idx = lua_absindex(L, idx);
    if (lua_isnoneornil(L, idx)) return;  /* nothing to document: not an error */
    push_docs(L);
    lua_pushvalue(L, idx);
    if (doc) lua_pushstring(L, doc);
    else lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void vm_set_docs(lua_State *L, int tidx, const vm_doc_reg *docs) {
    tidx = lua_absindex(L, tidx);
    for (; docs && docs->name; docs++) {
        lua_getfield(L, tidx, docs->name);
        vm_set_doc(L, -1, docs->doc);
        lua_pop(L, 1);
    }
}

const char *vm_get_doc(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    push_docs(L);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    /* the string stays reachable from the docs table (its key is alive
     * while the caller holds the value at idx) */
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 2);
    return s;
}

/* ember.doc(value, text) -> value: documents value (text nil removes it).
 * ember.doc(value) -> text or nil. */
static int l_doc(lua_State *L) {
    luaL_checkany(L, 1);
    if (lua_gettop(L) == 1) {
        const char *s = vm_get_doc(L, 1);
        if (s) lua_pushstring(L, s);
        else lua_pushnil(L);
        return 1;
    }
    if (lua_isnil(L, 1)) return luaL_argerror(L, 1, "cannot document nil");
    const char *text = luaL_optstring(L, 2, NULL);
    vm_set_doc(L, 1, text);
    lua_settop(L, 1);
    return 1;
}

/* ember.help(...): loads lua/ember/help.lua on first call and forwards. */
static int l_help(lua_State *L) {
    int n = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ember.help");
    lua_call(L, 1, 1);
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static const char DOC_DOC[] =
    "ember.doc(value, text) -> value  |  ember.doc(value) -> text or nil\n"
    "\n"
    "Attaches the docstring `text` to `value` (a function, class or module\n"
    "table) for help(), and returns value, so a definition can be wrapped:\n"
    "  M.f = ember.doc(function(x) ... end, \"M.f(x) -> y\\n\\nWhat it does.\")\n"
    "With one argument, returns the docstring of value (nil if none).\n"
    "Convention: first line the call signature, a blank line, then the text.";

static const char HELP_DOC[] =
    "help([x])\n"
    "\n"
    "help() lists ember's modules; help(x) shows the documentation of x (a\n"
    "function, class, module, tensor or any documented value) and, for a\n"
    "table, its documented members; help(\"name\") looks a dotted name up\n"
    "(help \"nn.Linear\") or searches the documented names for it.";

static const char EMBER_DOC[] =
    "ember: tensors (creation, math, views, indexing), autograd, saving\n"
    "\n"
    "The module table: ember.zeros, ember.randn, ember.tensor, ... and the\n"
    "functional forms of the tensor methods (x:exp() is ember.exp(x)).\n"
    "help(ember) lists every function with the first line of its docs;\n"
    "help(t) on a tensor lists the methods.";

int vm_open_doc(lua_State *L) {
    int t = lua_absindex(L, -1);
    if (!vm_get_doc(L, t)) vm_set_doc(L, t, EMBER_DOC);  /* unless tensor_bind documented it */
    lua_pushcfunction(L, l_doc);
    vm_set_doc(L, -1, DOC_DOC);
    lua_setfield(L, t, "doc");
    lua_pushcfunction(L, l_help);
    vm_set_doc(L, -1, HELP_DOC);
    lua_setfield(L, t, "help");
    return 0;
}
