/*
 * format_bind.c: Lua bindings of the file formats (tensor/formats.h):
 * ember.save / ember.load (safetensors), ember.save_npy / ember.load_npy,
 * ember.read_idx.
 *
 * ember.save(path, value) takes a tensor or a nested table of tensors,
 * numbers, strings and booleans.  Tensors are stored under their dotted key
 * paths ("model.1.weight"), so PyTorch's safetensors.load_file sees ordinary
 * names.  The exact shape of the Lua table (integer vs string keys, integer
 * vs float numbers, where a dotted name came from nesting and where from a
 * key that itself contains dots, like the "1.weight" keys of a state_dict)
 * is recorded as JSON in the metadata entry "ember.structure", so
 * ember.load returns exactly the structure that was saved.  A file written
 * elsewhere (no "ember.structure") loads as a flat table name -> tensor.
 *
 * Encoding of a value in ember.structure:
 *   {"t": "name"}        a tensor stored under "name"
 *   {"i": "123"}         a Lua integer (as a string: exact beyond 2^53)
 *   {"f": 0.5}           a Lua float
 *   {"s": "text"}        a string
 *   {"b": true}          a boolean
 *   {"tbl": [[k, v]...]} a table; k is a JSON string, or {"i": "3"} for an
 *                        integer key, v an encoded value
 */
#include "vm/lt.h"
#include "tensor/formats.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define STRUCTURE_KEY "ember.structure"

/* ---------- saving ---------- */

typedef struct {
    lua_State *L;
    int visited;           /* stack index of a table used as a set (cycles) */
    int nameset;           /* stack index of a table: tensor names in use (hashed) */
    int n, cap;
    char **names;          /* owned */
    tn_tensor **tensors;   /* borrowed: the Lua values stay on the stack's table */
    const char *err;       /* static message or NULL */
    char errbuf[300];
} save_ctx;

static bool name_taken(save_ctx *c, const char *name) {
    bool taken = lua_getfield(c->L, c->nameset, name) != LUA_TNIL;
    lua_pop(c->L, 1);
    return taken;
}

/* "path.key" (or "key" at the root), malloc'd: paths have no length limit */
static char *join_path(const char *path, const char *key) {
    size_t n = strlen(path) + strlen(key) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", path, path[0] ? "." : "", key);
    return s;
}

static const char *add_tensor(save_ctx *c, const char *path, tn_tensor *t) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        char **nn = realloc(c->names, sizeof *nn * (size_t)cap);
        if (!nn) return NULL;
        c->names = nn;
        tn_tensor **nt = realloc(c->tensors, sizeof *nt * (size_t)cap);
        if (!nt) return NULL;
        c->tensors = nt;
        c->cap = cap;
    }
    /* distinct names: a key with dots can collide with a nested path, and
     * "__metadata__" is reserved by the format */
    const char *base = path[0] ? path : "tensor";
    size_t n = strlen(base) + 24;
    char *buf = malloc(n);
    if (!buf) return NULL;
    snprintf(buf, n, "%s", base);
    for (int k = 2; name_taken(c, buf); k++) snprintf(buf, n, "%s#%d", base, k);
    lua_pushboolean(c->L, 1);
    lua_setfield(c->L, c->nameset, buf);
    c->names[c->n] = buf;
    c->tensors[c->n] = t;
    return c->names[c->n++];
}

static cJSON *encode_value(save_ctx *c, int idx, const char *path);

static cJSON *encode_table(save_ctx *c, int idx, const char *path) {
    lua_State *L = c->L;
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, c->visited) != LUA_TNIL) {
        lua_pop(L, 1);
        snprintf(c->errbuf, sizeof c->errbuf, "save: the table at '%s' contains itself (a cycle)",
                 path[0] ? path : "(root)");
        c->err = c->errbuf;
        return NULL;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, c->visited);
    cJSON *list = cJSON_CreateArray();
    lua_pushnil(L);
    while (list && lua_next(L, idx)) {
        char *sub = NULL;
        cJSON *key;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            key = cJSON_CreateString(k);
            sub = join_path(path, k);
        } else if (lua_isinteger(L, -2)) {
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -2));
            key = cJSON_CreateObject();
            if (key) cJSON_AddStringToObject(key, "i", num);
            sub = join_path(path, num);
        } else {
            snprintf(c->errbuf, sizeof c->errbuf, "save: table keys must be strings or integers, got a %s in '%s'",
                     luaL_typename(L, -2), path[0] ? path : "(root)");
            c->err = c->errbuf;
            lua_pop(L, 2);
            cJSON_Delete(list);
            return NULL;
        }
        cJSON *val = sub ? encode_value(c, -1, sub) : NULL;
        free(sub);
        lua_pop(L, 1);
        cJSON *pair = cJSON_CreateArray();
        if (!key || !val || !pair) {
            cJSON_Delete(key);
            cJSON_Delete(val);
            cJSON_Delete(pair);
            cJSON_Delete(list);
            lua_pop(L, 1);
            return NULL;
        }
        cJSON_AddItemToArray(pair, key);
        cJSON_AddItemToArray(pair, val);
        cJSON_AddItemToArray(list, pair);
    }
    cJSON *obj = cJSON_CreateObject();
    if (!obj || !list) {
        cJSON_Delete(obj);
        cJSON_Delete(list);
        return NULL;
    }
    cJSON_AddItemToObject(obj, "tbl", list);
    return obj;
}

static cJSON *encode_value(save_ctx *c, int idx, const char *path) {
    lua_State *L = c->L;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    tn_tensor *t;
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, idx));
            cJSON_AddStringToObject(o, "i", num);
        } else {
            cJSON_AddNumberToObject(o, "f", lua_tonumber(L, idx));
        }
        return o;
    case LUA_TSTRING: cJSON_AddStringToObject(o, "s", lua_tostring(L, idx)); return o;
    case LUA_TBOOLEAN: cJSON_AddBoolToObject(o, "b", lua_toboolean(L, idx)); return o;
    case LUA_TTABLE:
        cJSON_Delete(o);
        return encode_table(c, idx, path);
    default:
        if ((t = vm_test_tensor(L, idx)) != NULL) {
            const char *name = add_tensor(c, path, t);
            if (!name) {
                cJSON_Delete(o);
                return NULL;
            }
            cJSON_AddStringToObject(o, "t", name);
            return o;
        }
        snprintf(c->errbuf, sizeof c->errbuf,
                 "save: cannot save a %s (at '%s'): only tensors, numbers, strings, booleans and tables",
                 luaL_typename(L, idx), path[0] ? path : "(root)");
        c->err = c->errbuf;
        cJSON_Delete(o);
        return NULL;
    }
}

static void save_ctx_free(save_ctx *c) {
    for (int i = 0; i < c->n; i++) free(c->names[i]);
    free(c->names);
    free(c->tensors);
}

static int l_save(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    lua_newtable(L);  /* 3: visited set */
    lua_newtable(L);  /* 4: tensor names in use */
    lua_pushboolean(L, 1);
    lua_setfield(L, 4, "__metadata__");
    save_ctx c;
    memset(&c, 0, sizeof c);
    c.L = L;
    c.visited = 3;
    c.nameset = 4;
    cJSON *root = encode_value(&c, 2, "");
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    int rc = -1;
    if (json) {
        const char *keys[1] = {STRUCTURE_KEY};
        const char *vals[1] = {json};
        rc = tn_save_safetensors(path, c.n, (const char *const *)c.names, c.tensors, 1, keys, vals);
    }
    free(json);
    const char *err = c.err;
    char msg[300];
    if (err) snprintf(msg, sizeof msg, "%s", err);
    save_ctx_free(&c);
    if (err) return luaL_error(L, "%s", msg);
    if (!json) return luaL_error(L, "save: out of memory");
    if (rc < 0) return luaL_error(L, "%s", tn_last_error());
    return 0;
}

/* ---------- loading ---------- */

typedef struct {
    lua_State *L;
    int index;             /* stack index of a table: tensor name -> position */
    tn_safetensors *st;
    bool *used;
    char errbuf[300];
    bool failed;
} load_ctx;

static int find_tensor(load_ctx *c, const char *name) {
    int i = lua_getfield(c->L, c->index, name) == LUA_TNUMBER ? (int)lua_tointeger(c->L, -1) : -1;
    lua_pop(c->L, 1);
    return i;
}

/* Pushes the decoded value, or sets c->failed (pushing nothing). */
static void decode_value(load_ctx *c, const cJSON *v, int depth) {
    lua_State *L = c->L;
    const cJSON *x;
    if (depth > 100 || !cJSON_IsObject(v)) goto bad;
    luaL_checkstack(L, 4, "load");
    if ((x = cJSON_GetObjectItemCaseSensitive(v, "t")) && cJSON_IsString(x)) {
        int i = find_tensor(c, x->valuestring);
        if (i < 0) {
            snprintf(c->errbuf, sizeof c->errbuf, "load: the file names tensor '%.200s' but does not hold it",
                     x->valuestring);
            c->failed = true;
            return;
        }
        vm_push_tensor(L, tn_retain(c->st->tensors[i]));
        return;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(v, "i")) && cJSON_IsString(x)) {
        lua_pushinteger(L, (lua_Integer)strtoll(x->valuestring, NULL, 10));
        return;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(v, "f")) && cJSON_IsNumber(x)) {
        lua_pushnumber(L, x->valuedouble);
        return;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(v, "s")) && cJSON_IsString(x)) {
        lua_pushstring(L, x->valuestring);
        return;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(v, "b")) && cJSON_IsBool(x)) {
        lua_pushboolean(L, cJSON_IsTrue(x));
        return;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(v, "tbl")) && cJSON_IsArray(x)) {
        lua_newtable(L);
        const cJSON *pair;
        cJSON_ArrayForEach(pair, x) {
            const cJSON *k = cJSON_GetArrayItem(pair, 0), *val = cJSON_GetArrayItem(pair, 1);
            if (!cJSON_IsArray(pair) || !k || !val) goto bad_pop;
            if (cJSON_IsString(k)) {
                lua_pushstring(L, k->valuestring);
            } else {
                const cJSON *ki = cJSON_GetObjectItemCaseSensitive(k, "i");
                if (!ki || !cJSON_IsString(ki)) goto bad_pop;
                lua_pushinteger(L, (lua_Integer)strtoll(ki->valuestring, NULL, 10));
            }
            decode_value(c, val, depth + 1);
            if (c->failed) {
                lua_pop(L, 2);
                return;
            }
            lua_rawset(L, -3);
        }
        return;
    bad_pop:
        lua_pop(L, 1);
        goto bad;
    }
bad:
    snprintf(c->errbuf, sizeof c->errbuf, "load: malformed '%s' metadata", STRUCTURE_KEY);
    c->failed = true;
}

/* The safetensors result lives in a userdata whose __gc frees it, so a Lua
 * error while building the result table leaks nothing. */
typedef struct { tn_safetensors *st; } st_box;

static int st_box_gc(lua_State *L) {
    st_box *b = lua_touserdata(L, 1);
    tn_safetensors_free(b->st);
    b->st = NULL;
    return 0;
}

static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    st_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->st = NULL;
    if (luaL_newmetatable(L, "ember.SafetensorsFile")) {
        lua_pushcfunction(L, st_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    box->st = tn_load_safetensors(path);
    if (!box->st) return luaL_error(L, "%s", tn_last_error());
    tn_safetensors *st = box->st;
    const char *structure = NULL;
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], STRUCTURE_KEY) == 0) structure = st->meta_values[i];
    if (!structure) {
        /* written elsewhere: a flat table name -> tensor */
        lua_createtable(L, 0, st->count);
        for (int i = 0; i < st->count; i++) {
            vm_push_tensor(L, tn_retain(st->tensors[i]));
            lua_setfield(L, -2, st->names[i]);
        }
        return 1;
    }
    cJSON *root = cJSON_Parse(structure);
    if (!root) return luaL_error(L, "load: %s: malformed '%s' metadata", path, STRUCTURE_KEY);
    load_ctx c;
    memset(&c, 0, sizeof c);
    c.L = L;
    c.st = st;
    /* a hashed name index: a linear search per reference would make a
     * hostile file with many tensors take hours */
    lua_createtable(L, 0, st->count);
    for (int i = 0; i < st->count; i++) {
        lua_pushinteger(L, i);
        lua_setfield(L, -2, st->names[i]);
    }
    c.index = lua_gettop(L);
    decode_value(&c, root, 0);
    cJSON_Delete(root);
    if (c.failed) return luaL_error(L, "%s (%s)", c.errbuf, path);
    return 1;
}

/* ---------- npy, idx ---------- */

static int l_save_npy(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (tn_save_npy(path, vm_check_tensor(L, 2)) < 0) return luaL_error(L, "%s", tn_last_error());
    return 0;
}

static int l_load_npy(lua_State *L) {
    tn_tensor *t = tn_load_npy(luaL_checkstring(L, 1));
    if (!t) return luaL_error(L, "%s", tn_last_error());
    vm_push_tensor(L, t);
    return 1;
}

static int l_read_idx(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    tn_tensor *t;
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "dtype");
        const char *dt = luaL_optstring(L, -1, "float32");
        if (strcmp(dt, "float32") != 0 && strcmp(dt, "float") != 0)
            return luaL_error(L, "read_idx: option dtype must be 'float32', got '%s'", dt);
        t = tn_load_idx_float(path, lt_opt_number(L, 2, "scale", 1.0));
    } else {
        t = tn_load_idx(path);
    }
    if (!t) return luaL_error(L, "%s", tn_last_error());
    vm_push_tensor(L, t);
    return 1;
}

static const lt_reg format_fns[] = {
    {"save", l_save, "ember.save(path, value): saves a tensor or a nested table of tensors, numbers, strings and booleans as safetensors (atomically: a temporary file, then rename). PyTorch reads the tensors under their dotted key paths."},
    {"load", l_load, "ember.load(path): loads what ember.save wrote, with the same structure; a safetensors file from elsewhere loads as a table name -> tensor. Malformed files give an error, never a crash."},
    {"save_npy", l_save_npy, "ember.save_npy(path, t): writes t as a numpy .npy file (atomically)."},
    {"load_npy", l_load_npy, "ember.load_npy(path): reads a numpy .npy file."},
    {"read_idx", l_read_idx, "ember.read_idx(path [, {dtype='float32', scale=}]): reads an IDX file (MNIST format), plain or gzip; with options, decodes straight into float32 times scale."},
    {NULL, NULL, NULL}};

void lt_open_formats(lua_State *L, int module) {
    lua_pushvalue(L, module);
    lt_register(L, format_fns);
    lua_pop(L, 1);
}
