/*
 * complete.c: TAB completion for the ember REPL (readline hooks).
 *
 * What is completed, from the text before the cursor:
 *   - inside a string literal: file names (readline's own file completion;
 *     the closing quote is added when the name is unique and not a folder),
 *     except for `require "` (module names) and `help "` (Lua names);
 *   - a bare name: Lua keywords, globals, and the lazily loaded modules of
 *     DESIGN.md (nn, optim, ...) even before their first use;
 *   - a dotted path `a.b.c` or a method `a.b:c`: the fields of the value the
 *     path names, at any depth, plus what its metatables offer: an `__index`
 *     table (classes and their parents, string methods) and, when `__index`
 *     is a function (the tensor userdata), a `__methods` table and a
 *     `__fields` list the metatable exposes.  After ':' only functions.
 *     Names starting with '_' are offered only once a '_' is typed.
 * The path is walked with ordinary indexing (so `nn.Lin<TAB>` loads nn the
 * way using it would) but never calls anything else: `f().x` is not
 * evaluated.  The walk runs under lua_pcall, so a failing __index only means
 * "no candidates".  The list readline shows holds just the last component
 * ("zeros  zeros_like", not "ember.zeros  ember.zeros_like").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

#include "repl/repl.h"

static lua_State *cL = NULL;

/* word breaks for Lua code: '.' and ':' are not breaks, so `nn.Lin` and
 * `x:res` arrive as one word; a quote starts a file name (see below) */
static char lua_breaks[] = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#";

static const char *const keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
    "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
    "true", "until", "while", NULL};

/* the globals host.c loads on first access (see lazy_globals there) */
static const char *const lazy_modules[] = {"nn", "optim", "data", "train", "metrics",
                                           "plot", "sweep", NULL};

/* ---------- the candidate list ---------- */

static char **cands = NULL;
static size_t ncands = 0, capcands = 0;
static size_t gen_next = 0;

static void cands_clear(void) {
    for (size_t i = 0; i < ncands; i++) free(cands[i]);
    ncands = 0;
}

/* adds prefix .. name */
static void cand_add(const char *prefix, size_t plen, const char *name) {
    if (ncands == capcands) {
        size_t ncap = capcands ? capcands * 2 : 64;
        char **p = realloc(cands, ncap * sizeof *p);
        if (!p) return;
        cands = p;
        capcands = ncap;
    }
    size_t nlen = strlen(name);
    char *s = malloc(plen + nlen + 1);
    if (!s) return;
    memcpy(s, prefix, plen);
    memcpy(s + plen, name, nlen + 1);
    cands[ncands++] = s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cands_sort_unique(void) {
    if (ncands < 2) return;
    qsort(cands, ncands, sizeof *cands, cmp_str);
    size_t w = 1;
    for (size_t r = 1; r < ncands; r++) {
        if (strcmp(cands[r], cands[w - 1]) == 0) free(cands[r]);
        else cands[w++] = cands[r];
    }
    ncands = w;
}

static bool is_ident(const char *s, size_t n) {
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

/* ---------- collecting names from Lua values (runs under lua_pcall) ---------- */

typedef struct {
    const char *prefix;   /* the text up to and including the last separator */
    size_t plen;
    const char *partial;  /* what follows it: candidates start with this */
    size_t partlen;
    bool methods_only;    /* after ':' */
} query;

static bool wanted(const query *q, const char *name, size_t n) {
    if (!is_ident(name, n) || n < q->partlen || memcmp(name, q->partial, q->partlen) != 0)
        return false;
    /* _private names only when asked for with "_", metamethods with "__" */
    if (name[0] == '_' && q->partlen == 0) return false;
    if (n >= 2 && name[0] == '_' && name[1] == '_' && !(q->partlen >= 2 && q->partial[1] == '_'))
        return false;
    return true;
}

static bool callable(lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TFUNCTION) return true;
    if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return true;
    }
    return false;
}

static void collect_value(lua_State *L, int idx, const query *q, int depth);

static bool is_keyword(const char *s) {
    for (int i = 0; keywords[i]; i++)
        if (strcmp(s, keywords[i]) == 0) return true;
    return false;
}

/* the string keys of the table at idx (raw: no metamethods run); a key
 * that is a Lua keyword (the tensor method "repeat") cannot follow '.' or
 * ':', so it is not offered */
static void collect_table(lua_State *L, int idx, const query *q) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t n;
            const char *k = lua_tolstring(L, -2, &n);
            if (wanted(q, k, n) && !is_keyword(k) && (!q->methods_only || callable(L, -1)))
                cand_add(q->prefix, q->plen, k);
        }
        lua_pop(L, 1);
    }
}

/* `__fields`: names readable through a function __index (as a list or as keys) */
static void collect_fields(lua_State *L, int idx, const query *q) {
    if (q->methods_only) return;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2), vt = lua_type(L, -1);
        const char *name = NULL;
        if (kt == LUA_TNUMBER && vt == LUA_TSTRING) name = lua_tostring(L, -1);
        else if (kt == LUA_TSTRING) name = lua_tostring(L, -2);
        if (name && wanted(q, name, strlen(name))) cand_add(q->prefix, q->plen, name);
        lua_pop(L, 1);
    }
}

static void collect_value(lua_State *L, int idx, const query *q, int depth) {
    idx = lua_absindex(L, idx);
    if (depth > 8) return;  /* class chains are short; this also stops cycles */
    luaL_checkstack(L, 6, "completion");
    if (lua_type(L, idx) == LUA_TTABLE) collect_table(L, idx, q);
    if (!lua_getmetatable(L, idx)) return;
    int mt = lua_gettop(L);
    if (lua_getfield(L, mt, "__methods") == LUA_TTABLE) collect_value(L, -1, q, depth + 1);
    lua_pop(L, 1);
    if (lua_getfield(L, mt, "__fields") == LUA_TTABLE) collect_fields(L, lua_gettop(L), q);
    lua_pop(L, 1);
    if (lua_getfield(L, mt, "__index") == LUA_TTABLE && !lua_rawequal(L, -1, idx))
        collect_value(L, -1, q, depth + 1);
    lua_pop(L, 2);
}

/* l_collect(query*): walks the path in q->prefix and gathers candidates */
static int l_collect(lua_State *L) {
    const query *q = lua_touserdata(L, 1);
    if (q->plen == 0) {
        for (int i = 0; keywords[i]; i++)
            if (wanted(q, keywords[i], strlen(keywords[i]))) cand_add("", 0, keywords[i]);
        lua_pushglobaltable(L);
        collect_table(L, lua_gettop(L), q);
        luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
        for (int i = 0; lazy_modules[i]; i++) {
            if (!wanted(q, lazy_modules[i], strlen(lazy_modules[i]))) continue;
            lua_pushfstring(L, "ember.%s", lazy_modules[i]);
            if (lua_rawget(L, -2) != LUA_TNIL) cand_add("", 0, lazy_modules[i]);
            lua_pop(L, 1);
        }
        return 0;
    }
    /* prefix is "a.b.c." or "a.b:": walk a, b, c */
    const char *p = q->prefix, *end = q->prefix + q->plen - 1;  /* end: the separator */
    bool first = true;
    while (p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *seg_end = dot ? dot : end;
        if (!is_ident(p, (size_t)(seg_end - p))) return 0;
        lua_pushlstring(L, p, (size_t)(seg_end - p));
        if (first) {
            lua_pushglobaltable(L);
            lua_insert(L, -2);
        }
        if (!first && lua_type(L, -2) != LUA_TTABLE && lua_type(L, -2) != LUA_TUSERDATA &&
            lua_type(L, -2) != LUA_TSTRING)
            return 0;
        lua_gettable(L, -2);
        lua_remove(L, -2);
        first = false;
        p = seg_end + 1;
    }
    if (lua_isnil(L, -1)) return 0;
    collect_value(L, -1, q, 0);
    return 0;
}

/* ---------- readline hooks ---------- */

static char *generator(const char *text, int state) {
    (void)text;  /* cands already holds only matches */
    if (state == 0) gen_next = 0;
    if (gen_next >= ncands) return NULL;
    return strdup(cands[gen_next++]);
}

/* l_collect_modules(query*): names in package.preload and package.loaded */
static int l_collect_modules(lua_State *L) {
    const query *q = lua_touserdata(L, 1);
    static const char *const tables[] = {LUA_PRELOAD_TABLE, LUA_LOADED_TABLE};
    for (int i = 0; i < 2; i++) {
        luaL_getsubtable(L, LUA_REGISTRYINDEX, tables[i]);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING) continue;
            const char *k = lua_tostring(L, -1);
            if (strncmp(k, q->partial, q->partlen) == 0 && k[0] != '_') cand_add("", 0, k);
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* The function a string literal is the first argument of: for
 * `help("nn.Li` or `require "ember.` gives "help" / "require"; the
 * quote is at quote_pos.  Empty when there is none. */
static void called_function(int quote_pos, char *name, size_t size) {
    int i = quote_pos - 1;
    while (i >= 0 && rl_line_buffer[i] == ' ') i--;
    if (i >= 0 && rl_line_buffer[i] == '(') i--;
    while (i >= 0 && rl_line_buffer[i] == ' ') i--;
    int end = i + 1;
    while (i >= 0 && (isalnum((unsigned char)rl_line_buffer[i]) || rl_line_buffer[i] == '_' ||
                      rl_line_buffer[i] == '.'))
        i--;
    size_t n = (size_t)(end - (i + 1));
    if (n >= size) n = 0;
    memcpy(name, rl_line_buffer + i + 1, n);
    name[n] = '\0';
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0 && (a == b || s[a - b - 1] == '.');
}

/* whether list displays show whole candidates (module names) */
static bool display_whole = false;

static char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1;  /* never fall back to file names in code */
    rl_completion_append_character = '\0';
    display_whole = false;
    cands_clear();
    query q;
    if (rl_completion_quote_character) {
        char fn[64];
        called_function(start - 1, fn, sizeof fn);
        if (strcmp(fn, "require") == 0) {
            /* require "...: module names */
            q.prefix = "";
            q.plen = 0;
            q.partial = text;
            q.partlen = strlen(text);
            q.methods_only = false;
            int top = lua_gettop(cL);
            lua_pushcfunction(cL, l_collect_modules);
            lua_pushlightuserdata(cL, &q);
            if (lua_pcall(cL, 1, 0, 0) != LUA_OK) cands_clear();
            lua_settop(cL, top);
            cands_sort_unique();
            display_whole = true;
            return ncands ? rl_completion_matches(text, generator) : NULL;
        }
        if (!ends_with(fn, "help")) {
            /* any other string literal: a file name */
            rl_filename_completion_desired = 1;
            rl_filename_quoting_desired = 0;
            return rl_completion_matches(text, rl_filename_completion_function);
        }
        /* help "nn.Lin...: Lua names, as in code */
    }
    const char *sep = NULL;
    for (const char *s = text; *s; s++)
        if (*s == '.' || *s == ':') sep = s;
    if (sep && *sep == ':' && memchr(text, ':', (size_t)(sep - text))) return NULL;
    q.prefix = text;
    q.plen = sep ? (size_t)(sep - text) + 1 : 0;
    q.partial = text + q.plen;
    q.partlen = strlen(q.partial);
    q.methods_only = sep && *sep == ':';
    int top = lua_gettop(cL);
    lua_pushcfunction(cL, l_collect);
    lua_pushlightuserdata(cL, &q);
    if (lua_pcall(cL, 1, 0, 0) != LUA_OK) cands_clear();
    lua_settop(cL, top);
    cands_sort_unique();
    if (ncands == 0) return NULL;
    return rl_completion_matches(text, generator);
}

/* Lists candidates by their last component only. */
static void display(char **matches, int num, int max_length) {
    if (rl_filename_completion_desired || display_whole || num < 1) {
        rl_display_match_list(matches, num, max_length);
        rl_forced_update_display();
        return;
    }
    size_t off = 0;
    for (const char *s = matches[1]; *s; s++)
        if (*s == '.' || *s == ':') off = (size_t)(s - matches[1]) + 1;
    char **short_list = malloc(((size_t)num + 2) * sizeof *short_list);
    if (!short_list) {
        rl_display_match_list(matches, num, max_length);
    } else {
        int maxl = 0;
        for (int i = 0; i <= num; i++) {
            short_list[i] = strlen(matches[i]) >= off ? matches[i] + off : matches[i];
            int l = (int)strlen(short_list[i]);
            if (i > 0 && l > maxl) maxl = l;
        }
        short_list[num + 1] = NULL;
        rl_display_match_list(short_list, num, maxl);
        free(short_list);
    }
    rl_forced_update_display();
}

/* Inside a string literal only the quotes break words, so a path such as
 * "/tmp/x" stays whole (readline would otherwise skip a break character
 * such as '/' right after the opening quote). */
static char *word_breaks(void) {
    static char string_breaks[] = "\"'";
    char q = 0;
    for (int i = 0; i < rl_point && rl_line_buffer[i]; i++) {
        char c = rl_line_buffer[i];
        if (q) {
            if (c == '\\') i++;
            else if (c == q) q = 0;
        } else if (c == '"' || c == '\'') {
            q = c;
        } else if (c == '-' && rl_line_buffer[i + 1] == '-') {
            break;  /* a comment: the rest is not code */
        }
    }
    return q ? string_breaks : lua_breaks;
}

void repl_complete_init(lua_State *L) {
    cL = L;
    rl_attempted_completion_function = complete;
    rl_completion_display_matches_hook = display;
    rl_basic_word_break_characters = lua_breaks;
    rl_completer_word_break_characters = lua_breaks;
    rl_completer_quote_characters = "\"'";
    rl_completion_word_break_hook = word_breaks;
}
