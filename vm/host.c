/*
 * host.c: creating and running a Lua state for ember: the standard
 * libraries, ember itself, lazily preloaded globals, protected calls with a
 * traceback handler, and Ctrl-C.
 *
 * Ctrl-C follows lua.c: the signal handler only sets a hook (the one thing
 * that is safe to do from a handler) that raises "interrupted" at the next
 * Lua instruction, and also sets tn_interrupt_flag, which long C kernels
 * poll at a coarse grain, so both a Lua loop and a big matmul stop within a
 * fraction of a second and the session keeps all its variables.
 */
#include "vm/vm.h"

#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* ---------- Ctrl-C ---------- */

static lua_State *volatile sig_state = NULL;
static volatile sig_atomic_t sig_seen = 0;
static struct sigaction sig_old;
static bool sig_armed = false;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted");
}

static void on_sigint(int sig) {
    (void)sig;
    sig_seen = 1;
    tn_interrupt_flag = 1;
    if (sig_state)
        lua_sethook(sig_state, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void vm_sigint_arm(lua_State *L) {
    sig_state = L;
    sig_seen = 0;
    tn_interrupt_flag = 0;
    if (sig_armed) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &sig_old);
    sig_armed = true;
}

void vm_sigint_disarm(void) {
    if (sig_armed) sigaction(SIGINT, &sig_old, NULL);
    sig_armed = false;
    if (sig_state) lua_sethook(sig_state, NULL, 0, 0);
    sig_state = NULL;
    tn_interrupt_flag = 0;
}

bool vm_sigint_seen(void) { return sig_seen != 0; }

/* ---------- protected calls ---------- */

/* ember.suggest.message(msg): the message with a "did you mean" hint. */
static int suggest_call(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ember.suggest");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "message");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    } else if (strstr(msg, "a nil value (")) {
        /* a misspelled name: append the closest one ember knows; if that
         * fails in any way (even Ctrl-C), the message stays as it was */
        lua_pushcfunction(L, suggest_call);
        lua_pushvalue(L, 1);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
        else lua_pop(L, 1);
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int vm_pcall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    bool was_armed = sig_armed;
    vm_sigint_arm(L);
    int status = lua_pcall(L, nargs, nresults, base);
    if (!was_armed) vm_sigint_disarm();
    lua_remove(L, base);
    return status;
}

void vm_report(lua_State *L, int status) {
    if (status == LUA_OK) return;
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
}

int vm_dofile(lua_State *L, const char *path) {
    int status = luaL_loadfile(L, path);
    if (status == LUA_OK) status = vm_pcall(L, 0, 0);
    return status;
}

int vm_dostring(lua_State *L, const char *code, const char *chunkname) {
    int status = luaL_loadbuffer(L, code, strlen(code), chunkname);
    if (status == LUA_OK) status = vm_pcall(L, 0, 0);
    return status;
}

/* ---------- state ---------- */

/* The globals of DESIGN.md, required on first access so start-up stays in
 * the millisecond range. */
static const char *const lazy_globals[] = {"nn", "optim", "data", "train", "metrics",
                                           "plot", "sweep", NULL};

static int global_index(lua_State *L) {
    const char *k = lua_tostring(L, 2);
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    for (int i = 0; lazy_globals[i]; i++) {
        if (strcmp(k, lazy_globals[i]) != 0) continue;
        lua_getglobal(L, "require");
        lua_pushfstring(L, "ember.%s", k);
        lua_call(L, 1, 1);
        vm_gc_rearm(L);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
        return 1;
    }
    return 0;
}

static int open_libs(lua_State *L) {
    luaL_openlibs(L);
    luaL_requiref(L, "ember", luaopen_ember, 1);
    lua_pop(L, 1);
    lua_pushglobaltable(L);
    lua_newtable(L);
    lua_pushcfunction(L, global_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}

lua_State *vm_new_state(void) {
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    lua_gc(L, LUA_GCGEN, 0, 0);  /* generational: cheap collection of young temporaries */
    vm_gc_generational = true;
    lua_pushcfunction(L, open_libs);
    if (vm_pcall(L, 0, 0) != LUA_OK) {
        vm_report(L, 1);
        lua_close(L);
        return NULL;
    }
    vm_gc_rearm(L);  /* loading the modules was all growth: see vm_gc_rearm */
    return L;
}

void vm_close_state(lua_State *L) {
    if (sig_state == L) vm_sigint_disarm();
    lua_close(L);
}
