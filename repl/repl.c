/*
 * repl.c: the interactive read-eval-print loop of ember.
 *
 * The loop follows Lua's own lua.c: each input is first compiled as
 * "return <input>" so that an expression prints its value, and otherwise as
 * a statement; a syntax error that ends at "<eof>" means the chunk is not
 * finished, so another line is read with a continuation prompt.  Everything
 * runs under vm_pcall (host.c): a traceback handler, and Ctrl-C raising
 * "interrupted" in Lua code and stopping long C kernels, so the session and
 * its variables survive both errors and interruptions.  A trailing ';'
 * suppresses printing; the global `_` holds the last printed result; values
 * are printed by lua/ember/pretty.lua (loaded at the first result).
 *
 * Line reading uses readline's callback interface instead of readline():
 * the loop waits in pselect() with SIGINT unblocked only there, so a Ctrl-C
 * at the prompt is seen at once and just clears the line (or drops an
 * unfinished chunk), while readline itself installs no SIGINT handler
 * (rl_catch_signals = 0).  The terminal is in readline's raw mode only while
 * a line is being edited; Lua code runs with it restored, so Ctrl-C reaches
 * host.c's handler and the user's output looks normal.
 *
 * History lives in $HOME/.ember_history: each entered chunk (a multi-line
 * function is one entry) is appended as soon as it is entered, so a crash
 * loses nothing, and the file is cut to HISTORY_MAX entries on exit.
 *
 * When stdin is not a terminal the whole of it runs as one script, with no
 * prompt and no echo.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "repl/repl.h"

#define PROMPT "ember> "
#define PROMPT2 "   ..> "
#define HISTORY_MAX 2000
#define TRACEBACK_FRAMES 8

/* ---------- reading a line (readline callback interface) ---------- */

static volatile sig_atomic_t prompt_sigint = 0;
static char *got_line = NULL;
static bool line_done = false;

static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_sigint = 1;
}

static void line_handler(char *line) {
    /* removing the handler here stops readline from redrawing the prompt
     * after we return: the caller runs the line first */
    rl_callback_handler_remove();
    got_line = line;
    line_done = true;
}

typedef enum { READ_LINE, READ_EOF, READ_INTERRUPT } read_status;

/* Reads one line with editing.  *out gets a malloc'd line on READ_LINE. */
static read_status read_line(const char *prompt, char **out) {
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);  /* SIGINT only inside pselect */
    line_done = false;
    got_line = NULL;
    prompt_sigint = 0;
    rl_callback_handler_install(prompt, line_handler);
    read_status st = READ_LINE;
    while (!line_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fileno(rl_instream), &fds);
        int r = pselect(fileno(rl_instream) + 1, &fds, NULL, NULL, NULL, &orig);
        if (prompt_sigint) {
            /* Ctrl-C: forget the line, go to a fresh prompt */
            prompt_sigint = 0;
            rl_callback_sigcleanup();
            rl_point = rl_end;  /* "^C" after the text, as a shell shows it */
            rl_redisplay();
            fputs("^C", rl_outstream);
            rl_replace_line("", 1);
            rl_point = rl_end = rl_mark = 0;
            rl_callback_handler_remove();  /* may return the cursor to column 0 */
            using_history();
            fputs("\n", rl_outstream);
            fflush(rl_outstream);
            st = READ_INTERRUPT;
            break;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            st = READ_EOF;
            break;
        }
        if (r > 0) rl_callback_read_char();
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    if (st != READ_LINE) return st;
    if (!got_line) return READ_EOF;
    *out = got_line;
    return READ_LINE;
}

/* ---------- history ---------- */

static char *history_path = NULL;

static void history_open(void) {
    const char *home = getenv("HOME");
    using_history();
    stifle_history(HISTORY_MAX);
    /* a timestamp line before each entry lets a multi-line chunk come back
     * as one entry */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    if (!home || !*home) return;
    size_t n = strlen(home) + sizeof "/.ember_history";
    history_path = malloc(n);
    if (!history_path) return;
    snprintf(history_path, n, "%s/.ember_history", home);
    if (read_history(history_path) != 0) {
        /* append_history needs an existing file; write_history makes it (0600) */
        if (write_history(history_path) != 0) {
            free(history_path);
            history_path = NULL;
        }
    }
}

static void history_add(const char *chunk) {
    const char *p = chunk;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (!*p) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, chunk) == 0) return;
    add_history(chunk);
    if (history_path) append_history(1, history_path);
}

static void history_close(void) {
    if (history_path) history_truncate_file(history_path, HISTORY_MAX);
    free(history_path);
    history_path = NULL;
}

/* ---------- compiling ---------- */

/* a syntax error at the end of the input: the chunk continues on the next line */
static bool incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX) return false;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char mark[] = "<eof>";
    size_t ml = sizeof mark - 1;
    return msg && len >= ml && strcmp(msg + len - ml, mark) == 0;
}

typedef enum { CHUNK_OK, CHUNK_MORE, CHUNK_ERROR } chunk_status;

/* Compiles `code`: as an expression ("return code") unless it ends in ';',
 * else as statements.  On CHUNK_OK the function is on the stack; on
 * CHUNK_ERROR the message is. */
static chunk_status compile_chunk(lua_State *L, const char *code, size_t len) {
    size_t end = len;
    while (end > 0 && strchr(" \t\r\n", code[end - 1])) end--;
    bool suppress = end > 0 && code[end - 1] == ';';
    bool expr_more = false;
    if (!suppress) {
        const char *ret = lua_pushfstring(L, "return %s", code);
        int st = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
        lua_remove(L, -2);  /* the "return" string */
        if (st == LUA_OK) return CHUNK_OK;
        expr_more = incomplete(L, st);
        lua_pop(L, 1);
    }
    int st = luaL_loadbuffer(L, code, len, "=stdin");
    if (st == LUA_OK) return CHUNK_OK;
    if (incomplete(L, st) || expr_more) {
        lua_pop(L, 1);
        return CHUNK_MORE;
    }
    return CHUNK_ERROR;
}

/* ---------- printing results and errors ---------- */

static int pretty_ref = LUA_NOREF;

/* Formats the n values on top of the stack into one string (pops them,
 * pushes the string) through ember.pretty; tostring if that fails. */
static void format_values(lua_State *L, int n) {
    int base = lua_gettop(L) - n + 1;
    if (pretty_ref == LUA_NOREF) {
        lua_getglobal(L, "require");
        lua_pushliteral(L, "ember.pretty");
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
            lua_getfield(L, -1, "values");
            lua_remove(L, -2);
            pretty_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        } else {
            lua_pop(L, 1);
            pretty_ref = LUA_REFNIL;
        }
    }
    if (pretty_ref != LUA_REFNIL) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, pretty_ref);
        for (int i = 0; i < n; i++) lua_pushvalue(L, base + i);
        /* vm_pcall: a huge table or a slow __tostring can be interrupted */
        if (vm_pcall(L, n, 1) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
            lua_replace(L, base);
            lua_settop(L, base);
            return;
        }
        lua_pop(L, 1);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < n; i++) {
        if (i) luaL_addchar(&b, '\t');
        luaL_tolstring(L, base + i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_replace(L, base);
    lua_settop(L, base);
}

/* Prints the message on top (popped) with a short traceback: the REPL's own
 * frame ("[C]: in ?") and frames past TRACEBACK_FRAMES are left out. */
static void print_error(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(error object is not a string)";
    const char *tb = strstr(msg, "\nstack traceback:\n");
    if (!tb) {
        fprintf(stderr, "%s\n", msg);
    } else {
        fwrite(msg, 1, (size_t)(tb - msg), stderr);
        fputs("\nstack traceback:\n", stderr);
        const char *p = tb + sizeof "\nstack traceback:\n" - 1;
        int shown = 0, skipped = 0;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            bool own = (n == strlen("\t[C]: in ?") && strncmp(p, "\t[C]: in ?", n) == 0) ||
                       strncmp(p, "\t(...tail calls...)", n) == 0;
            if (!own) {
                if (shown < TRACEBACK_FRAMES) {
                    fwrite(p, 1, n, stderr);
                    fputc('\n', stderr);
                    shown++;
                } else {
                    skipped++;
                }
            }
            p += n + (e ? 1 : 0);
        }
        if (skipped) fprintf(stderr, "\t... (%d more)\n", skipped);
    }
    fflush(stderr);
    lua_pop(L, 1);
}

/* Runs the compiled chunk on top of the stack; prints its results. */
static void run_chunk(lua_State *L) {
    int base = lua_gettop(L);  /* the function's slot */
    fflush(stdout);
    int status = vm_pcall(L, 0, LUA_MULTRET);
    if (status != LUA_OK) {
        print_error(L);
        return;
    }
    int n = lua_gettop(L) - base + 1;
    if (n <= 0) return;
    if (!lua_isnil(L, base)) {
        lua_pushvalue(L, base);
        lua_setglobal(L, "_");
    }
    format_values(L, n);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    fwrite(s, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    lua_pop(L, 1);
}

/* ---------- the loop ---------- */

static int run_stdin(lua_State *L) {
    int status = luaL_loadfile(L, NULL);
    if (status == LUA_OK) status = vm_pcall(L, 0, 0);
    if (status != LUA_OK) vm_report(L, status);
    return status == LUA_OK ? 0 : 1;
}

static void banner(lua_State *L) {
    const char *v = NULL;
    if (lua_getglobal(L, "ember") == LUA_TTABLE && lua_getfield(L, -1, "_VERSION") == LUA_TSTRING)
        v = lua_tostring(L, -1);
    printf("%s (%s)  help() lists the modules, TAB completes, Ctrl-D exits\n",
           v ? v : "ember", LUA_RELEASE);
    lua_settop(L, 0);
    fflush(stdout);
}

int repl_run(lua_State *L) {
    if (!isatty(STDIN_FILENO)) return run_stdin(L);

    rl_readline_name = "ember";
    rl_catch_signals = 0;  /* our handler below; host.c's while code runs */
    repl_complete_init(L);
    history_open();
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    banner(L);

    /* the text of the current chunk: grows while its lines are unfinished */
    char *chunk = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        lua_settop(L, 0);
        char *line = NULL;
        read_status st = read_line(len ? PROMPT2 : PROMPT, &line);
        if (st == READ_EOF) break;
        if (st == READ_INTERRUPT) {
            len = 0;  /* Ctrl-C also drops an unfinished chunk */
            continue;
        }
        size_t n = strlen(line);
        if (len + n + 2 > cap) {
            size_t ncap = (len + n + 2) * 2;
            char *p = realloc(chunk, ncap);
            if (!p) {
                free(line);
                fputs("ember: out of memory reading input\n", stderr);
                len = 0;
                continue;
            }
            chunk = p;
            cap = ncap;
        }
        if (len) chunk[len++] = '\n';
        memcpy(chunk + len, line, n + 1);
        len += n;
        free(line);
        chunk_status cs = compile_chunk(L, chunk, len);
        if (cs == CHUNK_MORE) continue;
        history_add(chunk);
        len = 0;
        if (cs == CHUNK_ERROR) print_error(L);
        else run_chunk(L);
    }
    free(chunk);
    fputc('\n', stdout);
    fflush(stdout);
    history_close();
    sigaction(SIGINT, &old, NULL);
    lua_settop(L, 0);
    return 0;
}
