/*
 * repl.c: the interactive read-eval-print loop (placeholder until the REPL
 * issue lands: when stdin is not a terminal it runs stdin as a script).
 */
#include <stdio.h>
#include <unistd.h>

#include "vm/vm.h"

int repl_run(lua_State *L);

int repl_run(lua_State *L) {
    int status = luaL_loadfile(L, NULL);
    if (status == LUA_OK) status = vm_pcall(L, 0, 0);
    if (status != LUA_OK) vm_report(L, status);
    return status == LUA_OK ? 0 : 1;
}
