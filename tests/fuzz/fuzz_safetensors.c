/*
 * fuzz_safetensors.c: libFuzzer target of the safetensors reader, through
 * the Lua binding users call: ember.load (tn_load_safetensors, then the
 * "ember.structure" metadata that rebuilds nested tables).  Every input
 * must load or raise a Lua error naming the file; a value that loads must
 * save again (ember.save) and load back.  A failure of that round trip
 * aborts, so libFuzzer keeps the input.
 */
#include "tensor/formats.h"
#include "fuzz_file.h"

#include <lauxlib.h>
#include <lualib.h>

int luaopen_ember(lua_State *L);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* (in, out) -> nothing; raises on a round-trip failure */
static const char *check_lua =
    "local p, q = ...\n"
    "local ok, v = pcall(ember.load, p)\n"
    "if not ok then\n"
    "  if not tostring(v):find(p, 1, true) then error('the error does not name the file: ' .. tostring(v)) end\n"
    "  return\n"
    "end\n"
    "ember.save(q, v)\n"
    "local w = ember.load(q)\n"
    "if type(w) ~= type(v) then error('round trip changed the type') end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static lua_State *L;
    static char in[256], out[256];
    if (!L) {
        fuzz_path(in, sizeof in, "in.safetensors");
        fuzz_path(out, sizeof out, "out.safetensors");
        tn_set_num_threads(1);
        L = luaL_newstate();
        luaL_openlibs(L);
        luaL_requiref(L, "ember", luaopen_ember, 1);
        lua_pop(L, 1);
        if (luaL_loadstring(L, check_lua) != LUA_OK) abort();
        lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.check");
    }
    fuzz_write(in, data, size);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.check");
    lua_pushstring(L, in);
    lua_pushstring(L, out);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_safetensors: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_gc(L, LUA_GCCOLLECT, 0);  /* release the tensors now, not at some later input */
    return 0;
}
