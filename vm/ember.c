/*
 * ember.c: luaopen_ember, the module entry point shared by the ember
 * executable and ember.so (`require "ember"` from stock lua5.4).
 *
 * It builds the module table from the C bindings (tensor_bind.c and the
 * other *_bind.c files), registers the embedded Lua modules of lua/ in
 * package.preload (loaded only when first required), and, when the Lua side
 * has an "ember.init" module, lets it extend the table.
 */
#include "vm/vm.h"

#include <string.h>

int vm_open_tensor(lua_State *L);   /* tensor_bind.c: pushes the module table */
int vm_open_workflow(lua_State *L); /* workflow_bind.c: ember._sys */

static int load_embedded(lua_State *L) {
    const vm_embedded_module *m = &vm_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
    char chunk[256];
    snprintf(chunk, sizeof chunk, "=[ember] %s", m->name);
    if (luaL_loadbufferx(L, (const char *)m->code, m->size, chunk, "b") != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, 1);  /* module name, as require passes it */
    lua_call(L, 1, 1);
    return 1;
}

int luaopen_ember(lua_State *L) {
    vm_open_tensor(L);                              /* the module table */
    vm_open_doc(L);                                 /* ember.doc, ember.help (doc.c) */
    vm_open_workflow(L);                            /* ember._sys (workflow_bind.c) */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (int i = 0; vm_embedded_modules[i].name; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, vm_embedded_modules[i].name);
    }
    lua_pop(L, 1);
    /* package.loaded.ember must exist before ember.init runs (it may require
     * modules that require "ember") */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "ember");
    lua_pop(L, 1);
    for (int i = 0; vm_embedded_modules[i].name; i++) {
        if (strcmp(vm_embedded_modules[i].name, "ember.init") != 0) continue;
        lua_getglobal(L, "require");
        lua_pushstring(L, "ember.init");
        lua_call(L, 1, 0);
    }
    return 1;
}
