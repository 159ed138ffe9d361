/*
 * main.c: the ember executable: command line handling, then a script,
 * `-e` code, or the interactive REPL (repl.c).
 *
 *   ember [options] [script [args]]
 *     -e code     run code
 *     -i          interactive after running the script / code
 *     -l mod      require mod (or ember.mod) and store it in global mod
 *     --version, --help
 * The script sees its arguments in the global `arg` (arg[0] is the script).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repl/repl.h"

#define EMBER_VERSION "ember 0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember [options] [script [args]]\n"
            "  -e code    run code\n"
            "  -i         enter the REPL after running script / code\n"
            "  -l mod     require module mod (or ember.mod: -l nn) into global mod\n"
            "  --version  print the version\n"
            "  --help     this text\n"
            "With no script, ember starts the interactive REPL (or, when stdin\n"
            "is not a terminal, runs stdin as a script).  In the REPL: help()\n"
            "lists the modules, TAB completes, Ctrl-C stops running code,\n"
            "Ctrl-D exits; history is kept in ~/.ember_history.\n");
}

/* arg table as lua.c builds it: script at 0, its arguments at 1.. */
static void set_args(lua_State *L, char **argv, int argc, int script) {
    lua_createtable(L, argc - script, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* `help` as a global, in the REPL and in scripts run by ember (ember.so
 * leaves the globals of stock lua alone) */
static void set_help(lua_State *L) {
    if (lua_getglobal(L, "ember") == LUA_TTABLE && lua_getfield(L, -1, "help") != LUA_TNIL)
        lua_setglobal(L, "help");
    lua_settop(L, 0);
}

/* -l mod: require mod into global mod; `-l nn` finds ember.nn as well */
static int load_module(lua_State *L, const char *mod) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushfstring(L, "ember.%s", mod);
    bool ember_mod = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    if (ember_mod) lua_pushfstring(L, "ember.%s", mod);
    else lua_pushstring(L, mod);
    int status = vm_pcall(L, 1, 1);
    if (status == LUA_OK) lua_setglobal(L, mod);
    return status;
}

int main(int argc, char **argv) {
    int script = 0, interactive = 0, ran = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
            puts(EMBER_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-i") == 0) {
            interactive = 1;
        } else if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "ember: '%s' needs an argument\n", a);
                usage(stderr);
                return 1;
            }
        } else if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) script = i + 1;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ember: unknown option '%s'\n", a);
            usage(stderr);
            return 1;
        } else {
            script = i;
            break;
        }
    }
    lua_State *L = vm_new_state();
    if (!L) {
        fprintf(stderr, "ember: cannot create the Lua state\n");
        return 1;
    }
    set_help(L);
    set_args(L, argv, argc, script ? script : 0);
    int status = LUA_OK;
    int end = script ? script : argc;
    for (i = 1; i < end && status == LUA_OK; i++) {
        if (strcmp(argv[i], "-e") == 0) {
            status = vm_dostring(L, argv[++i], "=(command line)");
            ran = 1;
        } else if (strcmp(argv[i], "-l") == 0) {
            status = load_module(L, argv[++i]);
        }
    }
    if (status == LUA_OK && script) {
        status = luaL_loadfile(L, strcmp(argv[script], "-") == 0 ? NULL : argv[script]);
        if (status == LUA_OK) {
            int n = argc - script - 1;
            luaL_checkstack(L, n, "too many arguments");
            for (int k = 0; k < n; k++) lua_pushstring(L, argv[script + 1 + k]);
            status = vm_pcall(L, n, 0);
        }
        ran = 1;
    }
    if (status != LUA_OK) {
        vm_report(L, status);
        if (!interactive) {
            vm_close_state(L);
            return 1;
        }
    }
    if (interactive || !ran) status = repl_run(L) == 0 ? LUA_OK : LUA_ERRRUN;
    vm_close_state(L);
    return status == LUA_OK ? 0 : 1;
}
