/*
 * workflow_bind.c: the small pieces of operating system that the Lua side of
 * the training workflow (lua/ember/data.lua, train.lua, plot.lua) cannot
 * reach from plain Lua, gathered in the table ember._sys:
 *
 *  - spawn(argv): a child process (gnuplot) with a pipe to its stdin and one
 *    from its stderr, so plot.lua can read gnuplot's error messages after
 *    each batch of commands (read_until a marker, with a timeout) and notice
 *    a dead child instead of dying of SIGPIPE (SIGPIPE is ignored once a
 *    child is spawned: a write to a dead gnuplot becomes an error value).
 *    The program is looked up on PATH first, so a missing gnuplot is a clean
 *    "not found" rather than a child that exits 127.
 *  - sigint_trap(on) / sigint_pending(): while train.fit runs, a first
 *    Ctrl-C only sets a flag that fit polls between batches (so the current
 *    batch finishes and the weights stay consistent); a second Ctrl-C chains
 *    to the handler that was installed before (host.c's, which interrupts
 *    the running Lua code).
 *  - isatty(fd), term_size(), clock() (monotonic seconds): the progress bar.
 *  - from_bytes(s, dtype, shape [, offset]): a tensor from raw bytes (CIFAR-10
 *    batches, gunzipped IDX payloads), one memcpy.
 *  - format_columns(t1, t2, ...): rows "a b ..." of 1-D tensors at full
 *    precision (%.17g), the body of a gnuplot data block, without a Lua
 *    string.format per number.
 */
#define _GNU_SOURCE  /* pipe2 */
#include "vm/lt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int vm_open_workflow(lua_State *L);

/* ---------- child processes ---------- */

#define PROC_MT "ember.Process"

/* Owned by the userdata: the two pipe ends and the child's pid.  -1 means
 * closed / reaped; __gc and close() release whatever is still held. */
typedef struct {
    pid_t pid;
    int in_fd;    /* we write the child's stdin */
    int err_fd;   /* we read the child's stderr */
} vm_proc;

/* Finds `prog` on PATH (or checks it when it contains a '/').  Writes the
 * full path into out; false when nothing executable is found. */
static bool find_program(const char *prog, char *out, size_t n) {
    if (strchr(prog, '/')) {
        snprintf(out, n, "%s", prog);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path) return false;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + strlen(prog) + 2 < n) {
            snprintf(out, n, "%.*s/%s", (int)len, path, prog);
            if (access(out, X_OK) == 0) return true;
        }
        if (!end) break;
        path = end + 1;
    }
    return false;
}

static void proc_close_fds(vm_proc *p) {
    if (p->in_fd >= 0) close(p->in_fd);
    if (p->err_fd >= 0) close(p->err_fd);
    p->in_fd = p->err_fd = -1;
}

/* Closes stdin (the child sees EOF and exits), waits up to ~2 s, then kills. */
static int proc_reap(vm_proc *p) {
    int status = -1;
    proc_close_fds(p);
    if (p->pid <= 0) return status;
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid || r < 0) { p->pid = -1; return status; }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = -1;
    return status;
}

/* _sys.spawn{prog, args...}: a process, or nil and a message. */
static int l_spawn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int argc = (int)luaL_len(L, 1);
    luaL_argcheck(L, argc >= 1 && argc < 64, 1, "spawn: 1 to 63 arguments expected");
    const char *argv[64];
    for (int i = 0; i < argc; i++) {
        lua_geti(L, 1, i + 1);
        argv[i] = luaL_checkstring(L, -1);  /* kept alive by the table */
        lua_pop(L, 1);
    }
    argv[argc] = NULL;
    char full[4096];
    if (!find_program(argv[0], full, sizeof full)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: not found on PATH", argv[0]);
        return 2;
    }
    /* safe empty state first, then the resources (a failure leaves nothing) */
    vm_proc *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->pid = -1;
    p->in_fd = p->err_fd = -1;
    luaL_setmetatable(L, PROC_MT);

    int in_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) return luaL_error(L, "spawn: pipe: %s", strerror(errno));
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        close(in_pipe[0]);
        close(in_pipe[1]);
        return luaL_error(L, "spawn: pipe: %s", strerror(errno));
    }
    /* a write to a child that died must be an error value, not our death */
    signal(SIGPIPE, SIG_IGN);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in_pipe[0]); close(in_pipe[1]); close(err_pipe[0]); close(err_pipe[1]);
        return luaL_error(L, "spawn: fork: %s", strerror(e));
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_IGN);  /* Ctrl-C is for ember, not for its plotter */
        dup2(in_pipe[0], 0);
        dup2(err_pipe[1], 2);
        execv(full, (char *const *)argv);
        _exit(127);
    }
    close(in_pipe[0]);
    close(err_pipe[1]);
    p->pid = pid;
    p->in_fd = in_pipe[1];
    p->err_fd = err_pipe[0];
    return 1;
}

static vm_proc *check_proc(lua_State *L) { return luaL_checkudata(L, 1, PROC_MT); }

/* p:write(s): true, or nil and a message (the child has exited). */
static int proc_write(lua_State *L) {
    vm_proc *p = check_proc(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (p->in_fd < 0) { lua_pushnil(L); lua_pushliteral(L, "process closed"); return 2; }
    while (len > 0) {
        ssize_t w = write(p->in_fd, s, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            lua_pushnil(L);
            lua_pushstring(L, errno == EPIPE ? "process exited" : strerror(errno));
            return 2;
        }
        s += w;
        len -= (size_t)w;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* p:read_until(marker, timeout_s): reads the child's stderr until a line
 * holding `marker` arrives.  Returns the text before the marker's line and a
 * status: "ok", "eof" (the child closed stderr: it exited), "timeout" or
 * "interrupted" (Ctrl-C while waiting). */
static int proc_read_until(lua_State *L) {
    vm_proc *p = check_proc(L);
    size_t mlen;
    const char *marker = luaL_checklstring(L, 2, &mlen);
    double timeout = luaL_optnumber(L, 3, 30.0);
    /* the text read so far lives in a Lua string we rebuild; stderr output
     * is small (messages), so simplicity wins over a ring buffer */
    lua_pushliteral(L, "");
    int acc = lua_gettop(L);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *status = "eof";
    for (;;) {
        size_t n;
        const char *s = lua_tolstring(L, acc, &n);
        const char *hit = mlen > 0 ? strstr(s, marker) : NULL;
        if (hit) {
            const char *line = hit;
            while (line > s && line[-1] != '\n') line--;
            lua_pushlstring(L, s, (size_t)(line - s));
            lua_pushliteral(L, "ok");
            return 2;
        }
        if (p->err_fd < 0) break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = timeout - ((double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec));
        if (left <= 0) { status = "timeout"; break; }
        struct pollfd pfd = {p->err_fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) {
            if (tn_interrupted()) { status = "interrupted"; break; }  /* Ctrl-C: stop waiting */
            continue;
        }
        if (r == 0) { status = "timeout"; break; }
        char buf[4096];
        ssize_t got = read(p->err_fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) { status = "eof"; break; }
        lua_pushvalue(L, acc);
        lua_pushlstring(L, buf, (size_t)got);
        lua_concat(L, 2);
        lua_replace(L, acc);
    }
    lua_pushvalue(L, acc);
    lua_pushstring(L, status);
    return 2;
}

/* p:alive(): false once the child has exited (reaps it). */
static int proc_alive(lua_State *L) {
    vm_proc *p = check_proc(L);
    if (p->pid <= 0) { lua_pushboolean(L, 0); return 1; }
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) { p->pid = -1; proc_close_fds(p); }
    lua_pushboolean(L, p->pid > 0);
    return 1;
}

/* p:close(): closes the pipes and reaps the child; returns its exit code. */
static int proc_close(lua_State *L) {
    vm_proc *p = check_proc(L);
    int status = proc_reap(p);
    if (status >= 0 && WIFEXITED(status)) lua_pushinteger(L, WEXITSTATUS(status));
    else lua_pushnil(L);
    return 1;
}

static int proc_gc(lua_State *L) {
    vm_proc *p = check_proc(L);
    proc_reap(p);
    return 0;
}

/* ---------- Ctrl-C during fit ---------- */

static volatile sig_atomic_t trap_pending = 0;
static struct sigaction trap_old;
static bool trap_on = false;

static void on_trapped_sigint(int sig) {
    if (trap_pending) {  /* second Ctrl-C: what would have happened without the trap */
        if (trap_old.sa_flags & SA_SIGINFO) return;
        if (trap_old.sa_handler == SIG_DFL) {   /* stock lua5.4 with ember.so: terminate */
            sigaction(SIGINT, &trap_old, NULL);
            raise(sig);
            return;
        }
        if (trap_old.sa_handler != SIG_IGN) trap_old.sa_handler(sig);  /* ember's: interrupt the Lua code */
        return;
    }
    trap_pending = 1;
}

/* _sys.sigint_trap(on): on=true installs the flag-only handler (returns
 * true), false restores the previous one. */
static int l_sigint_trap(lua_State *L) {
    bool on = lua_toboolean(L, 1);
    if (on && !trap_on) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_trapped_sigint;
        sigemptyset(&sa.sa_mask);
        trap_pending = 0;
        sigaction(SIGINT, &sa, &trap_old);
        trap_on = true;
    } else if (!on && trap_on) {
        sigaction(SIGINT, &trap_old, NULL);
        trap_on = false;
    }
    lua_pushboolean(L, trap_on);
    return 1;
}

/* _sys.sigint_pending([clear]): whether a Ctrl-C arrived under the trap. */
static int l_sigint_pending(lua_State *L) {
    bool clear = lua_toboolean(L, 1);  /* read before pushing: with no argument, slot 1 is the result */
    lua_pushboolean(L, trap_pending != 0);
    if (clear) trap_pending = 0;
    return 1;
}

/* ---------- terminal and time ---------- */

static int l_isatty(lua_State *L) {
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
    return 1;
}

/* _sys.term_size(): columns, rows of the terminal on stdout (or stderr),
 * or nil when neither is a terminal. */
static int l_term_size(lua_State *L) {
    struct winsize ws;
    for (int fd = 1; fd <= 2; fd++) {
        if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
            lua_pushinteger(L, ws.ws_col);
            lua_pushinteger(L, ws.ws_row);
            return 2;
        }
    }
    lua_pushnil(L);
    return 1;
}

static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
    return 1;
}

/* ---------- bytes and text ---------- */

/* _sys.from_bytes(s, dtype, shape [, offset]): a new tensor holding the
 * bytes of s from offset (1-based, default 1); shape's product times the
 * dtype size must fit in what is left of s. */
static int l_from_bytes(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    tn_dtype dt = lt_check_dtype(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer off = luaL_optinteger(L, 4, 1);
    int ndim = (int)luaL_len(L, 3);
    luaL_argcheck(L, ndim <= TN_MAX_DIMS, 3, "from_bytes: too many dims");
    luaL_argcheck(L, off >= 1, 4, "from_bytes: offset must be >= 1");
    int64_t shape[TN_MAX_DIMS];
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        lua_geti(L, 3, i + 1);
        lua_Integer v = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        if (v < 0 || (v > 0 && numel > SIZE_MAX / (size_t)v)) return luaL_error(L, "from_bytes: bad size %d", (int)v);
        shape[i] = v;
        numel *= (size_t)v;
    }
    size_t need = numel * tn_dtype_size(dt);
    size_t avail = (size_t)off - 1 <= len ? len - ((size_t)off - 1) : 0;
    if (need > avail)
        return luaL_error(L, "from_bytes: %d bytes needed from offset %d, string has %d left",
                          (int)need, (int)off, (int)avail);
    tn_tensor *t = tn_from_data(dt, ndim, shape, s + off - 1);
    vm_push_tensor(L, t);
    return 1;
}

/* _sys.format_columns(t1, t2, ...): "a b\n" rows of equally long 1-D
 * tensors (or 2-D matrices when given alone: rows of the matrix). */
static int l_format_columns(lua_State *L) {
    int n = lua_gettop(L);
    luaL_argcheck(L, n >= 1 && n <= 16, 1, "format_columns: 1 to 16 tensors");
    tn_tensor *ts[16];
    int64_t rows = -1, cols = 1;
    for (int i = 0; i < n; i++) ts[i] = vm_check_tensor(L, i + 1);
    if (n == 1 && ts[0]->ndim == 2) {
        rows = ts[0]->shape[0];
        cols = ts[0]->shape[1];
    } else {
        for (int i = 0; i < n; i++) {
            if (ts[i]->numel != (rows < 0 ? ts[i]->numel : rows))
                return luaL_error(L, "format_columns: columns of %d and %d values", (int)rows,
                                  (int)ts[i]->numel);
            rows = ts[i]->numel;
        }
        cols = n;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char num[40];
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            const tn_tensor *t = n == 1 && cols > 1 ? ts[0] : ts[c];
            int64_t flat = n == 1 && cols > 1 ? r * cols + c : r;
            int k;
            if (tn_dtype_is_float(t->dtype)) {
                double v = tn_get_flat(t, flat);
                if (v != v) k = snprintf(num, sizeof num, "NaN");
                else k = snprintf(num, sizeof num, "%.17g", v);
            } else {
                k = snprintf(num, sizeof num, "%lld", (long long)tn_get_flat_i64(t, flat));
            }
            if (c > 0) luaL_addchar(&b, ' ');
            luaL_addlstring(&b, num, (size_t)k);
        }
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    return 1;
}

static const lt_reg sys_fns[] = {
    {"spawn", l_spawn, "ember._sys.spawn{prog, args...}: a child process with pipes to stdin and from stderr, or nil and a message when prog is not on PATH."},
    {"sigint_trap", l_sigint_trap, "ember._sys.sigint_trap(on): while on, a first Ctrl-C only sets a flag (train.fit stops after the batch)."},
    {"sigint_pending", l_sigint_pending, "ember._sys.sigint_pending([clear]): whether Ctrl-C arrived under the trap."},
    {"isatty", l_isatty, "ember._sys.isatty([fd=1]): whether fd is a terminal."},
    {"term_size", l_term_size, "ember._sys.term_size(): columns, rows of the terminal, or nil."},
    {"clock", l_clock, "ember._sys.clock(): monotonic wall-clock seconds."},
    {"from_bytes", l_from_bytes, "ember._sys.from_bytes(s, dtype, shape [, offset]): a tensor from raw bytes."},
    {"format_columns", l_format_columns, "ember._sys.format_columns(t1, ...): rows of numbers at full precision."},
    {NULL, NULL, NULL}};

/* Adds ember._sys to the module table on top of the stack. */
int vm_open_workflow(lua_State *L) {
    static const luaL_Reg proc_methods[] = {
        {"write", proc_write}, {"read_until", proc_read_until}, {"alive", proc_alive},
        {"close", proc_close}, {NULL, NULL}};
    if (luaL_newmetatable(L, PROC_MT)) {
        lua_pushcfunction(L, proc_gc);
        lua_setfield(L, -2, "__gc");
        lua_newtable(L);
        luaL_setfuncs(L, proc_methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lt_register(L, sys_fns);
    lua_setfield(L, -2, "_sys");
    return 0;
}
