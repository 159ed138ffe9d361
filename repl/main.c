/*
 * main.c: the ember executable: command line handling, then a script,
 * `-e` code, or the interactive REPL (repl.c).
 *
 *   ember [options] [script [args]]
 *     -e code     run code
 *     -i          interactive after running the script / code
 *     -l mod      require mod and store it in global mod
 *     --version, --help
 * The script sees its arguments in the global `arg` (arg[0] is the script).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm/vm.h"

#define EMBER_VERSION "ember 0.1.0"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember [options] [script [args]]\n"
            "  -e code    run code\n"
            "  -i         enter the REPL after running script / code\n"
            "  -l mod     require module mod into global mod\n"
            "  --version  print the version\n"
            "  --help     this text\n"
            "With no script, ember starts the interactive REPL (or, when stdin\n"
            "is not a terminal, runs stdin as a script).\n");
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

int repl_run(lua_State *L);  /* repl.c */

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
    set_args(L, argv, argc, script ? script : 0);
    int status = LUA_OK;
    int end = script ? script : argc;
    for (i = 1; i < end && status == LUA_OK; i++) {
        if (strcmp(argv[i], "-e") == 0) {
            status = vm_dostring(L, argv[++i], "=(command line)");
            ran = 1;
        } else if (strcmp(argv[i], "-l") == 0) {
            const char *mod = argv[++i];
            lua_getglobal(L, "require");
            lua_pushstring(L, mod);
            status = vm_pcall(L, 1, 1);
            if (status == LUA_OK) lua_setglobal(L, mod);
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
