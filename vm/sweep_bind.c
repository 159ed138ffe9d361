/*
 * sweep_bind.c: the operating-system half of hyperparameter sweeps
 * (lua/ember/sweep.lua), registered as the table ember._sweep.
 *
 * A trial runs in a forked worker process: the child inherits the whole Lua
 * state (the trial function, its upvalues, loaded data), so nothing has to
 * be serialised on the way in; on the way out it talks to the parent over a
 * socketpair in JSON lines (per-epoch reports, the final metrics, an error
 * message) and then leaves with _exit, never returning into the parent's
 * code.  A worker that dies (a Lua error, os.exit, a segfault) is noticed by
 * waitpid and its trial marked failed; the sweep itself never dies with it.
 * Workers limit their math threads (tn_set_num_threads) so that `parallel`
 * trials share the cores instead of oversubscribing them, die with their
 * parent (PR_SET_PDEATHSIG) so a killed sweep leaves no orphans, and ignore
 * Ctrl-C (the parent stops them).
 *
 * Also here: JSON encode/decode through libcjson (the log lines), an
 * O_APPEND line writer (concurrent writers' lines never interleave), glob,
 * clocks, the CPU count, and crash_for_test (raises SIGSEGV).
 */
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT */
#include "vm/lt.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKER_MT "ember.SweepWorker"
#define MAX_LINE (64u << 20)   /* a longer message from a child is an error */

/* ---------- workers ---------- */

/* Owned by the userdata: the parent's end of the socketpair and the child's
 * pid.  fd -1 means closed, pid -1 means reaped.  buf holds bytes read but
 * not yet returned as whole lines (malloc'd, freed by close/__gc). */
typedef struct {
    pid_t pid;
    pid_t owner;       /* the process that spawned it: a forked child's copy
                        * of a sibling's userdata must not touch pid or fd */
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
    int status_kind;   /* 0 running, 1 exited, 2 killed by a signal */
    int status_code;   /* exit code or signal number */
} sw_worker;

/* The parent-side fds of live workers: a new child closes them, otherwise
 * it would hold its siblings' sockets open and their EOF would never come. */
#define MAX_WORKERS 256
static int open_fds[MAX_WORKERS];
static int n_open_fds = 0;

static void track_fd(int fd) {
    if (n_open_fds < MAX_WORKERS) open_fds[n_open_fds++] = fd;
}

static void untrack_fd(int fd) {
    for (int i = 0; i < n_open_fds; i++) {
        if (open_fds[i] == fd) {
            open_fds[i] = open_fds[--n_open_fds];
            return;
        }
    }
}

/* In a child: the socket to the parent (-1 in the parent). */
static int child_fd = -1;

static sw_worker *check_worker(lua_State *L, int idx) {
    sw_worker *w = (sw_worker *)luaL_checkudata(L, idx, WORKER_MT);
    if (w->owner != getpid()) {  /* inherited through fork: inert here */
        w->fd = -1;
        w->pid = -1;
        w->buf = NULL;
        w->len = w->cap = 0;
        w->eof = true;
        if (w->status_kind == 0) {
            w->status_kind = 2;
            w->status_code = SIGKILL;
        }
    }
    return w;
}

static void worker_close_fd(sw_worker *w) {
    if (w->fd >= 0) {
        untrack_fd(w->fd);
        close(w->fd);
        w->fd = -1;
    }
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* Records a waitpid status. */
static void worker_set_status(sw_worker *w, int st) {
    if (WIFEXITED(st)) {
        w->status_kind = 1;
        w->status_code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        w->status_kind = 2;
        w->status_code = WTERMSIG(st);
    } else {
        return;
    }
    w->pid = -1;
}

static int worker_gc(lua_State *L) {
    sw_worker *w = check_worker(L, 1);
    worker_close_fd(w);
    if (w->pid > 0) {  /* never leave a running child or a zombie behind */
        kill(w->pid, SIGKILL);
        int st;
        while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR) {}
        w->pid = -1;
    }
    return 0;
}

/* os.exit inside a worker: flush and _exit, so the parent's atexit handlers
 * (REPL history, library destructors) never run in the child. */
static int child_os_exit(lua_State *L) {
    int code;
    if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
    fflush(NULL);
    _exit(code);
    return 0;
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Runs in the child right after fork; never returns. */
static void child_main(lua_State *L, int fn_idx, int sock, int threads, pid_t parent) {
    child_fd = sock;
    for (int i = 0; i < n_open_fds; i++) close(open_fds[i]);
    n_open_fds = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(EXIT_FAILURE);  /* the parent died before prctl */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    if (threads > 0) tn_set_num_threads(threads);
    if (lua_getglobal(L, "os") == LUA_TTABLE) {
        lua_pushcfunction(L, child_os_exit);
        lua_setfield(L, -2, "exit");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, traceback);
    lua_pushvalue(L, fn_idx);
    int status = lua_pcall(L, 0, 0, -2);
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "sweep worker: %s\n", msg ? msg : "(error)");
    }
    fflush(NULL);
    _exit(status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE);
}

/* _sweep.spawn(fn [, threads]) -> worker: forks; the child runs fn() (with
 * `threads` math threads) and exits.  Raises when fork fails. */
static int l_spawn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int threads = (int)luaL_optinteger(L, 2, 0);
    if (n_open_fds >= MAX_WORKERS) return luaL_error(L, "sweep.spawn: too many workers (%d)", n_open_fds);
    sw_worker *w = (sw_worker *)lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    w->pid = -1;
    w->fd = -1;
    w->owner = getpid();
    luaL_setmetatable(L, WORKER_MT);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return luaL_error(L, "sweep.spawn: socketpair: %s", strerror(errno));
    fflush(NULL);  /* else the child would print the parent's buffered output again */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return luaL_error(L, "sweep.spawn: fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(L, 1, sv[1], threads, parent);
    }
    close(sv[1]);
    w->pid = pid;
    w->fd = sv[0];
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    track_fd(w->fd);
    return 1;
}

/* w:read() -> {lines}, eof: the complete lines that arrived (without '\n'),
 * never blocking.  At EOF a trailing partial line is returned as well. */
static int w_read(lua_State *L) {
    sw_worker *w = check_worker(L, 1);
    while (w->fd >= 0 && !w->eof) {
        if (w->cap - w->len < 4096) {
            size_t cap = w->cap ? w->cap * 2 : 8192;
            if (cap > MAX_LINE) return luaL_error(L, "sweep: a worker sent a message over %u bytes", MAX_LINE);
            char *nb = (char *)realloc(w->buf, cap);
            if (!nb) return luaL_error(L, "sweep: out of memory");
            w->buf = nb;
            w->cap = cap;
        }
        ssize_t n = read(w->fd, w->buf + w->len, w->cap - w->len);
        if (n > 0) {
            w->len += (size_t)n;
        } else if (n == 0) {
            w->eof = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            w->eof = true;  /* ECONNRESET and the like: the child is gone */
        }
    }
    lua_newtable(L);
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i < w->len; i++) {
        if (w->buf[i] != '\n') continue;
        lua_pushlstring(L, w->buf + start, i - start);
        lua_rawseti(L, -2, ++n);
        start = i + 1;
    }
    if (w->eof && start < w->len) {
        lua_pushlstring(L, w->buf + start, w->len - start);
        lua_rawseti(L, -2, ++n);
        start = w->len;
    }
    if (start > 0) {
        memmove(w->buf, w->buf + start, w->len - start);
        w->len -= start;
    }
    lua_pushboolean(L, w->eof);
    return 2;
}

/* Writes all of s to fd (blocking); false on error (the peer is gone). */
static bool write_all(int fd, const char *s, size_t n, bool sock) {
    while (n > 0) {
        ssize_t k = sock ? send(fd, s, n, MSG_NOSIGNAL) : write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                poll(&p, 1, 100);
                continue;
            }
            return false;
        }
        s += k;
        n -= (size_t)k;
    }
    return true;
}

/* w:send(s) -> true, or false when the child is gone (never SIGPIPE). */
static int w_send(lua_State *L) {
    sw_worker *w = check_worker(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    lua_pushboolean(L, w->fd >= 0 && write_all(w->fd, s, n, true));
    return 1;
}

static void push_status(lua_State *L, sw_worker *w) {
    if (w->status_kind == 1) {
        lua_pushliteral(L, "exit");
        lua_pushinteger(L, w->status_code);
        lua_pushnil(L);
    } else {
        lua_pushliteral(L, "signal");
        lua_pushinteger(L, w->status_code);
        const char *name = strsignal(w->status_code);
        lua_pushstring(L, name ? name : "unknown signal");
    }
}

/* w:wait([block]) -> nil while running, else "exit", code or "signal",
 * signo, name.  Non-blocking unless block is true. */
static int w_wait(lua_State *L) {
    sw_worker *w = check_worker(L, 1);
    bool block = lua_toboolean(L, 2);
    if (w->pid > 0) {
        int st;
        pid_t r;
        do {
            r = waitpid(w->pid, &st, block ? 0 : WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == w->pid) {
            worker_set_status(w, st);
        } else if (r < 0) {  /* reaped elsewhere (ECHILD): report it as lost */
            w->pid = -1;
            w->status_kind = 2;
            w->status_code = SIGKILL;
        }
    }
    if (w->status_kind == 0) return 0;
    push_status(L, w);
    return 3;
}

/* w:kill([sig]): sends a signal (SIGKILL by default) to a running child. */
static int w_kill(lua_State *L) {
    sw_worker *w = check_worker(L, 1);
    int sig = (int)luaL_optinteger(L, 2, SIGKILL);
    if (w->pid > 0) kill(w->pid, sig);
    return 0;
}

static int w_pid(lua_State *L) {
    sw_worker *w = check_worker(L, 1);
    lua_pushinteger(L, w->pid);
    return 1;
}

static int w_close(lua_State *L) {
    worker_close_fd(check_worker(L, 1));
    return 0;
}

/* _sweep.poll(workers, timeout_ms) -> n: waits until one of the workers'
 * sockets is readable (a message or EOF) or the timeout passes. */
static int l_poll(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int timeout = (int)luaL_optinteger(L, 2, 100);
    struct pollfd fds[MAX_WORKERS];
    int n = 0;
    lua_Integer len = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= len && n < MAX_WORKERS; i++) {
        lua_rawgeti(L, 1, i);
        sw_worker *w = (sw_worker *)luaL_testudata(L, -1, WORKER_MT);
        if (w && w->fd >= 0 && !w->eof) {
            fds[n].fd = w->fd;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            n++;
        }
        lua_pop(L, 1);
    }
    int r = 0;
    if (n > 0) {
        r = poll(fds, (nfds_t)n, timeout);
    } else if (timeout > 0) {
        struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    lua_pushinteger(L, r < 0 ? 0 : r);
    return 1;
}

/* ---------- the child's side of the socket ---------- */

/* _sweep.child_send(s) -> true, or false when not in a worker / the parent
 * is gone. */
static int l_child_send(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushboolean(L, child_fd >= 0 && write_all(child_fd, s, n, true));
    return 1;
}

/* _sweep.child_recv() -> line or nil: blocks for one line from the parent
 * (the replies are a few bytes, so reading byte by byte costs nothing). */
static int l_child_recv(lua_State *L) {
    if (child_fd < 0) return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        char c;
        ssize_t k = read(child_fd, &c, 1);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return 0;
        if (c == '\n') break;
        luaL_addchar(&b, c);
    }
    luaL_pushresult(&b);
    return 1;
}

static int l_in_worker(lua_State *L) {
    lua_pushboolean(L, child_fd >= 0);
    return 1;
}

/* ---------- JSON (libcjson) ---------- */

/* Non-finite numbers are written as the strings "NaN", "Infinity" and
 * "-Infinity" (JSON has no literal for them; a diverged trial's loss is NaN)
 * and read back as numbers. */
static cJSON *encode_number(double d) {
    if (isnan(d)) return cJSON_CreateString("NaN");
    if (isinf(d)) return cJSON_CreateString(d > 0 ? "Infinity" : "-Infinity");
    /* cJSON prints 15 digits whenever they are "close enough": a resumed
     * sweep must see exactly the doubles it logged, so print the shortest
     * of %.15g..%.17g that reads back to the same bits */
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    return cJSON_CreateRaw(buf);
}

/* Whether the table at idx is a list 1..n with n >= 1 and nothing else. */
static bool is_list(lua_State *L, int idx) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (n == 0) return false;
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    return count == n;
}

/* The Lua value at idx as JSON, or NULL with an error message pushed. */
static cJSON *encode_value(lua_State *L, int idx, int depth) {
    idx = lua_absindex(L, idx);
    if (depth > 64) {
        lua_pushliteral(L, "json_encode: nesting deeper than 64 (a cycle?)");
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return cJSON_CreateNull();
    case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
            return cJSON_CreateRaw(buf);
        }
        return encode_number(lua_tonumber(L, idx));
    case LUA_TSTRING: return cJSON_CreateString(lua_tostring(L, idx));
    case LUA_TTABLE: break;
    default:
        lua_pushfstring(L, "json_encode: cannot encode a %s value", luaL_typename(L, idx));
        return NULL;
    }
    luaL_checkstack(L, 4, "json_encode");
    if (is_list(L, idx)) {
        cJSON *arr = cJSON_CreateArray();
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; arr && i <= n; i++) {
            lua_rawgeti(L, idx, i);
            cJSON *v = encode_value(L, -1, depth + 1);
            if (!v) {
                lua_remove(L, -2);  /* keep the message, drop the element */
                cJSON_Delete(arr);
                return NULL;
            }
            lua_pop(L, 1);
            cJSON_AddItemToArray(arr, v);
        }
        return arr;
    }
    cJSON *obj = cJSON_CreateObject();
    lua_pushnil(L);
    while (obj && lua_next(L, idx)) {
        char kbuf[64];
        const char *key;
        if (lua_type(L, -2) == LUA_TSTRING) {
            key = lua_tostring(L, -2);
        } else if (lua_type(L, -2) == LUA_TNUMBER) {
            if (lua_isinteger(L, -2)) snprintf(kbuf, sizeof kbuf, "%lld", (long long)lua_tointeger(L, -2));
            else snprintf(kbuf, sizeof kbuf, "%.17g", lua_tonumber(L, -2));
            key = kbuf;
        } else {
            lua_pop(L, 2);
            cJSON_Delete(obj);
            lua_pushliteral(L, "json_encode: table keys must be strings or numbers");
            return NULL;
        }
        cJSON *v = encode_value(L, -1, depth + 1);
        if (!v) {
            lua_replace(L, -3);  /* the message takes the key's slot */
            lua_pop(L, 1);
            cJSON_Delete(obj);
            return NULL;
        }
        cJSON_AddItemToObject(obj, key, v);
        lua_pop(L, 1);
    }
    return obj;
}

/* _sweep.json_encode(value [, order]) -> string (one line), or raises.
 * order: key names that come first, in this order, in the top-level object
 * (log lines read better with trial and status first). */
static int l_json_encode(lua_State *L) {
    luaL_checkany(L, 1);
    lua_settop(L, 2);
    cJSON *j = encode_value(L, 1, 0);
    if (!j) return lua_error(L);
    if (cJSON_IsObject(j) && lua_istable(L, 2)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
        for (lua_Integer i = n; i >= 1; i--) {  /* back to front: each moves to the head */
            lua_rawgeti(L, 2, i);
            const char *k = lua_tostring(L, -1);
            cJSON *item = k ? cJSON_DetachItemFromObjectCaseSensitive(j, k) : NULL;
            lua_pop(L, 1);
            if (item) cJSON_InsertItemInArray(j, 0, item);  /* keeps item->string */
        }
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return luaL_error(L, "json_encode: out of memory");
    lua_pushstring(L, s);
    cJSON_free(s);
    return 1;
}

static void decode_value(lua_State *L, const cJSON *j, int depth) {
    luaL_checkstack(L, 3, "json_decode");
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* integral values come back as Lua integers (widths, epochs, seeds) */
        if (d == floor(d) && fabs(d) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)d);
        else lua_pushnumber(L, d);
    } else if (cJSON_IsString(j)) {
        const char *s = j->valuestring;
        if (strcmp(s, "NaN") == 0) lua_pushnumber(L, NAN);
        else if (strcmp(s, "Infinity") == 0) lua_pushnumber(L, HUGE_VAL);
        else if (strcmp(s, "-Infinity") == 0) lua_pushnumber(L, -HUGE_VAL);
        else lua_pushstring(L, s);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsArray(j) && depth < 64) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 0;
        for (const cJSON *c = j->child; c; c = c->next) {
            decode_value(L, c, depth + 1);
            lua_rawseti(L, -2, ++i);
        }
    } else if (cJSON_IsObject(j) && depth < 64) {
        lua_newtable(L);
        for (const cJSON *c = j->child; c; c = c->next) {
            if (!c->string) continue;
            decode_value(L, c, depth + 1);
            lua_setfield(L, -2, c->string);
        }
    } else {
        lua_pushnil(L);  /* null (and nesting beyond 64) */
    }
}

/* _sweep.json_decode(s) -> value, or nil, message when s is not JSON. */
static int l_json_decode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    cJSON *j = cJSON_ParseWithLength(s, n);
    if (!j) {
        lua_pushnil(L);
        lua_pushliteral(L, "json_decode: not valid JSON");
        return 2;
    }
    decode_value(L, j, 0);
    cJSON_Delete(j);
    return 1;
}

/* ---------- files ---------- */

/* _sweep.append(path, line) -> true, or nil, message.  One write(2) on an
 * O_APPEND descriptor, so lines of concurrent writers (parallel workers, GNU
 * parallel jobs) never interleave.  When the file ends in a torn line (a
 * writer killed mid-write), a newline goes first so this line stays whole. */
static int l_append(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t n;
    const char *line = luaL_checklstring(L, 2, &n);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
        luaL_addchar(&b, '\n');
    luaL_addlstring(&b, line, n);
    if (n == 0 || line[n - 1] != '\n') luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    ssize_t k;
    do {
        k = write(fd, s, len);
    } while (k < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (k != (ssize_t)len) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, k < 0 ? strerror(e) : "short write");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* _sweep.glob(pattern) -> {paths} (sorted; empty when nothing matches). */
static int l_glob(lua_State *L) {
    const char *pat = luaL_checkstring(L, 1);
    glob_t g;
    memset(&g, 0, sizeof g);
    int r = glob(pat, 0, NULL, &g);
    lua_newtable(L);
    if (r == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            lua_pushstring(L, g.gl_pathv[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    }
    globfree(&g);
    return 1;
}

/* ---------- small system facts ---------- */

/* _sweep.cores(): the CPUs this process may run on (affinity mask). */
static int l_cores(lua_State *L) {
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n < 1) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n < 1 ? 1 : n);
    return 1;
}

static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    return 1;
}

static int l_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    return 1;
}

static int l_isatty(lua_State *L) {
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
    return 1;
}

static int l_getpid(lua_State *L) {
    lua_pushinteger(L, getpid());
    return 1;
}

static int l_hostname(lua_State *L) {
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0) snprintf(buf, sizeof buf, "localhost");
    buf[sizeof buf - 1] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* _sweep.self_exe(): the path of the running executable (for commands that
 * run the same ember), or nil. */
static int l_self_exe(lua_State *L) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return 0;
    buf[n] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* _sweep.crash_for_test(): dies of SIGSEGV (the default action, whatever
 * handler is installed): the test of a segfaulting trial. */
static int l_crash_for_test(lua_State *L) {
    (void)L;
    fflush(NULL);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

static const lt_reg sweep_fns[] = {
    {"spawn", l_spawn, "_sweep.spawn(fn [, threads]) -> worker: fork; the child runs fn() with `threads` math threads, then exits."},
    {"poll", l_poll, "_sweep.poll(workers, timeout_ms) -> n: waits for a message or an exit of one of the workers."},
    {"child_send", l_child_send, "_sweep.child_send(s) -> ok: in a worker, sends s to the parent."},
    {"child_recv", l_child_recv, "_sweep.child_recv() -> line or nil: in a worker, waits for a line from the parent."},
    {"in_worker", l_in_worker, "_sweep.in_worker() -> boolean: whether this process is a sweep worker."},
    {"json_encode", l_json_encode, "_sweep.json_encode(v) -> string: v as one line of JSON (NaN and infinities as strings)."},
    {"json_decode", l_json_decode, "_sweep.json_decode(s) -> value or nil, message: parses JSON."},
    {"append", l_append, "_sweep.append(path, line) -> true or nil, message: appends one line atomically (O_APPEND)."},
    {"glob", l_glob, "_sweep.glob(pattern) -> {paths}: the files matching a shell pattern, sorted."},
    {"cores", l_cores, "_sweep.cores() -> n: the CPUs this process may use."},
    {"clock", l_clock, "_sweep.clock() -> seconds: a monotonic clock."},
    {"time", l_time, "_sweep.time() -> seconds since the epoch."},
    {"isatty", l_isatty, "_sweep.isatty([fd=1]) -> boolean."},
    {"getpid", l_getpid, "_sweep.getpid() -> pid."},
    {"hostname", l_hostname, "_sweep.hostname() -> string."},
    {"self_exe", l_self_exe, "_sweep.self_exe() -> path of the running executable, or nil."},
    {"crash_for_test", l_crash_for_test, "_sweep.crash_for_test(): raises SIGSEGV (tests of crashing trials)."},
    {NULL, NULL, NULL}};

void lt_open_sweep(lua_State *L, int module) {
    if (luaL_newmetatable(L, WORKER_MT)) {
        static const luaL_Reg methods[] = {
            {"read", w_read}, {"send", w_send}, {"wait", w_wait}, {"kill", w_kill},
            {"pid", w_pid}, {"close", w_close}, {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, worker_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lt_register(L, sweep_fns);
    lua_setfield(L, module, "_sweep");
}
