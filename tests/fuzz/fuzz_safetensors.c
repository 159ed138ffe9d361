/*
 * fuzz_safetensors.c: libFuzzer target of the safetensors reader, through
 * the Lua binding users call: ember.load (tn_load_safetensors, then the
 * "ember.structure" metadata that rebuilds nested tables).  Every input
 * must load or raise a Lua error naming the file; a value that loads must
 * save again (ember.save) and load back.  The C reader is also checked on
 * its own: what tn_load_safetensors returns is written with
 * tn_save_safetensors and must read back with the same names, metadata,
 * dtypes, shapes and bytes (F16/BF16 come back as the F32 they became).
 * A failure of either round trip aborts, so libFuzzer keeps the input.
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

/* The C-level round trip; aborts on a mismatch. */
static void c_round_trip(const char *in, const char *out) {
    tn_safetensors *a = tn_load_safetensors(in);
    if (!a) {
        if (!strstr(tn_last_error(), in)) abort();
        return;
    }
    for (int i = 0; i < a->count; i++)
        if (!a->names[i][0]) {  /* the reader accepts an empty name, the writer refuses it */
            tn_safetensors_free(a);
            return;
        }
    if (tn_save_safetensors(out, a->count, (const char *const *)a->names, a->tensors, a->nmeta,
                            (const char *const *)a->meta_keys, (const char *const *)a->meta_values) < 0) {
        fprintf(stderr, "fuzz_safetensors: save failed: %s\n", tn_last_error());
        abort();
    }
    tn_safetensors *b = tn_load_safetensors(out);
    if (!b || b->count != a->count || b->nmeta != a->nmeta) abort();
    for (int i = 0; i < a->count; i++) {
        tn_tensor *x = a->tensors[i], *y = b->tensors[i];
        if (strcmp(a->names[i], b->names[i]) != 0 || x->dtype != y->dtype || x->ndim != y->ndim ||
            memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim) != 0 ||
            memcmp(tn_data(x), tn_data(y), (size_t)x->numel * tn_dtype_size(x->dtype)) != 0)
            abort();
    }
    for (int i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta_keys[i], b->meta_keys[i]) != 0 || strcmp(a->meta_values[i], b->meta_values[i]) != 0)
            abort();
    tn_safetensors_free(b);
    tn_safetensors_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static lua_State *L;
    static char in[256], out[256], out2[256];
    if (!L) {
        fuzz_path(in, sizeof in, "in.safetensors");
        fuzz_path(out, sizeof out, "out.safetensors");
        fuzz_path(out2, sizeof out2, "out2.safetensors");
        tn_set_num_threads(1);
        L = luaL_newstate();
        luaL_openlibs(L);
        luaL_requiref(L, "ember", luaopen_ember, 1);
        lua_pop(L, 1);
        if (luaL_loadstring(L, check_lua) != LUA_OK) abort();
        lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.check");
    }
    fuzz_write(in, data, size);
    c_round_trip(in, out2);
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
