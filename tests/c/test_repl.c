/*
 * test_repl.c: drives the real `ember` REPL through a pseudo-terminal.
 *
 * Each test starts the executable (path from $EMBER, default ./ember) on a
 * pty made by forkpty(), with HOME set to a fresh temporary folder (so the
 * history file is the test's own) and TERM=xterm, sends keystrokes (TAB,
 * Ctrl-C, Ctrl-D, Ctrl-P are plain bytes on a pty) and waits, with a
 * timeout, for text to appear in what the REPL writes.  Checks look for
 * what Lua prints rather than for readline's redraws, which may repaint
 * only part of a line: a completion is checked by running the completed
 * line (`ember.ze<TAB> == ember.zeros` must print true).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define PROMPT "ember> "

typedef struct {
    pid_t pid;
    int fd;
    char home[64];
    char out[1 << 18];  /* everything the REPL wrote */
    size_t len;         /* bytes in out */
    size_t pos;         /* where the next expect() starts looking */
} session;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *ember_path(void) {
    const char *e = getenv("EMBER");
    return e && *e ? e : "./ember";
}

static void make_home(session *s) {
    snprintf(s->home, sizeof s->home, "/tmp/ember-repl-XXXXXX");
    ck_assert_msg(mkdtemp(s->home) != NULL, "mkdtemp failed");
}

static void remove_home(session *s) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->home);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->home);
}

/* Starts ember with HOME = s->home and the given extra arguments (NULL-ended). */
static void start_args(session *s, const char *const *args) {
    struct winsize ws = {.ws_row = 50, .ws_col = 200};
    s->len = s->pos = 0;
    s->out[0] = '\0';
    s->pid = forkpty(&s->fd, NULL, NULL, &ws);
    ck_assert_msg(s->pid >= 0, "forkpty: %s", strerror(errno));
    if (s->pid == 0) {
        setenv("HOME", s->home, 1);
        setenv("TERM", "xterm", 1);
        setenv("INPUTRC", "/dev/null", 1);
        const char *argv[16] = {ember_path()};
        int n = 1;
        for (; args && args[n - 1] && n < 15; n++) argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
}

static void start(session *s) { start_args(s, NULL); }

/* Reads what is available within timeout_ms into s->out. */
static void pump(session *s, int timeout_ms) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) return;
    if (s->len + 1 >= sizeof s->out) return;
    ssize_t n = read(s->fd, s->out + s->len, sizeof s->out - 1 - s->len);
    if (n > 0) {
        s->len += (size_t)n;
        s->out[s->len] = '\0';
    }
}

/* Waits until `needle` appears after s->pos; moves s->pos past it. */
static bool expect(session *s, const char *needle, int timeout_ms) {
    double end = now_ms() + timeout_ms;
    for (;;) {
        char *hit = memmem(s->out + s->pos, s->len - s->pos, needle, strlen(needle));
        if (hit) {
            s->pos = (size_t)(hit - s->out) + strlen(needle);
            return true;
        }
        double left = end - now_ms();
        if (left <= 0) return false;
        pump(s, (int)left < 50 ? (int)left + 1 : 50);
    }
}

#define EXPECT_OUT(s, needle, ms)                                                          \
    ck_assert_msg(expect(s, needle, ms), "no \"%s\" within %d ms; REPL output:\n%s", needle, \
                  ms, (s)->out)

static void send_keys(session *s, const char *keys) {
    size_t n = strlen(keys);
    while (n > 0) {
        ssize_t w = write(s->fd, keys, n);
        if (w < 0 && errno == EINTR) continue;
        ck_assert_msg(w > 0, "write to pty: %s", strerror(errno));
        keys += w;
        n -= (size_t)w;
    }
}

/* Waits for the prompt, then types `line` (which includes its own "\n"). */
static void cmd(session *s, const char *line) {
    EXPECT_OUT(s, PROMPT, 5000);
    send_keys(s, line);
}

/* Ctrl-D, then waits for the exit; returns the exit status. */
static int finish(session *s) {
    send_keys(s, "\x04");
    int status = -1;
    double end = now_ms() + 5000;
    while (now_ms() < end) {
        pump(s, 20);
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) break;
    }
    if (waitpid(s->pid, &status, WNOHANG) == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        status = -1;
    }
    close(s->fd);
    return status;
}

static session *new_session(void) {
    session *s = calloc(1, sizeof *s);
    ck_assert(s != NULL);
    make_home(s);
    return s;
}

static void end_session(session *s) {
    finish(s);
    remove_home(s);
    free(s);
}

/* ---------- tests ---------- */

START_TEST(autoprint_and_semicolon) {
    session *s = new_session();
    start(s);
    cmd(s, "6*7\n");
    EXPECT_OUT(s, "42", 3000);
    cmd(s, "100 + 11;\n");  /* suppressed */
    cmd(s, "'mark_one'\n");
    EXPECT_OUT(s, "\"mark_one\"", 3000);
    ck_assert_msg(strstr(s->out, "111") == NULL, "'100 + 11;' printed:\n%s", s->out);
    cmd(s, "_ .. '!'\n");  /* _ is the last printed result */
    EXPECT_OUT(s, "\"mark_one!\"", 3000);
    cmd(s, "x = 5\n");     /* a statement prints nothing */
    cmd(s, "x * 3, 'two'\n");
    EXPECT_OUT(s, "15\t\"two\"", 3000);
    end_session(s);
}
END_TEST

START_TEST(pretty_printing) {
    session *s = new_session();
    start(s);
    cmd(s, "{3, 1, zeta = 2, alpha = {x = 1}, ['not id'] = true}\n");
    EXPECT_OUT(s, "{3, 1, alpha = {x = 1}, [\"not id\"] = true, zeta = 2}", 3000);
    cmd(s, "c = {name = 'c'}; c.self = c\n");
    cmd(s, "c\n");
    EXPECT_OUT(s, "self = <cycle table: 0x", 3000);
    cmd(s, "{1, {2, {3, {4, {5, {6}}}}}}\n");
    EXPECT_OUT(s, "{...}", 3000);
    cmd(s, "r = {}; for i = 1, 5000 do r[i] = {i, 'a label longer than a packed entry'} end\n");
    cmd(s, "r\n");
    EXPECT_OUT(s, "more lines)", 3000);
    EXPECT_OUT(s, PROMPT, 3000);
    ck_assert_msg(strstr(s->out, "4999") == NULL, "long output was not cut:\n%.2000s", s->out);
    send_keys(s, "'done'\n");
    EXPECT_OUT(s, "\"done\"", 3000);
    end_session(s);
}
END_TEST

START_TEST(complete_module_field) {
    session *s = new_session();
    start(s);
    /* TAB extends `ember.ze` to the longest common prefix of the ember
     * functions starting with "ze" (zeros, zeros_like, and zero_ if the
     * binding has it): computed here in Lua, then compared with the line
     * TAB produced (Ctrl-A / Ctrl-E wrap it in [[ ]] to capture it) */
    cmd(s, "local t = {} for k in pairs(ember) do if k:sub(1, 2) == 'ze' then t[#t + 1] = k end end "
           "table.sort(t) local a, b, i = t[1], t[#t], 0 "
           "while i < #a and a:sub(i + 1, i + 1) == b:sub(i + 1, i + 1) do i = i + 1 end "
           "expected = 'ember.' .. a:sub(1, i)\n");
    cmd(s, "ember.ze\t");
    usleep(200000);
    send_keys(s, "\x01got = [[\x05]]\n");
    cmd(s, "got == expected and got:find('^ember%.zero') ~= nil, got\n");
    EXPECT_OUT(s, "true", 3000);
    /* TAB TAB on an ambiguous prefix lists the candidates by their last part */
    cmd(s, "ember.zero\t\t");
    EXPECT_OUT(s, "zeros_like", 3000);
    ck_assert_msg(memcmp(s->out + s->pos - 16, "ember.zeros_like", 16) != 0,
                  "candidates listed with their prefix:\n%s", s->out);
    send_keys(s, "\x15\n");  /* Ctrl-U: clear the line */
    cmd(s, "ember.zeros_l\t == ember.zeros_like\n");
    EXPECT_OUT(s, "true", 3000);
    /* table fields at any depth, and keywords */
    cmd(s, "deep = {alpha = {beta = {gamma_value = 5}}}\n");
    cmd(s, "deep.alpha.beta.gam\t + 1\n");
    EXPECT_OUT(s, "6", 3000);
    cmd(s, "retu\t 'kw'\n");
    EXPECT_OUT(s, "\"kw\"", 3000);
    end_session(s);
}
END_TEST

START_TEST(complete_methods) {
    session *s = new_session();
    start(s);
    /* a tensor: its metatable's __index is a function; __methods lists them */
    cmd(s, "x = ember.zeros(2, 3)\n");
    cmd(s, "x:res\t\t");
    /* either the list (reshape ...) or, if unique, the inserted rest "hape" */
    EXPECT_OUT(s, "hape", 3000);
    send_keys(s, "\x15\n");
    cmd(s, "getmetatable(x).__methods.reshape ~= nil\n");
    EXPECT_OUT(s, "true", 3000);
    /* the method "repeat" is a Lua keyword and is not offered after ':', so
     * "repea" completes to repeat_interleave */
    cmd(s, "x:repea\t(2):numel() == 12\n");
    EXPECT_OUT(s, "true", 3000);
    /* a class through __index tables, two levels */
    cmd(s, "Base = {}; Base.__index = Base; function Base:greet() return 'hi from base' end\n");
    cmd(s, "Obj = setmetatable({}, Base); Obj.__index = Obj; o = setmetatable({}, Obj)\n");
    cmd(s, "o:gre\t()\n");
    EXPECT_OUT(s, "\"hi from base\"", 3000);
    /* _private names only once "_" is typed */
    cmd(s, "P = {}; P.__index = P; function P:visible_m() end; function P:_hidden_m() end\n");
    cmd(s, "p = setmetatable({}, P)\n");
    cmd(s, "p:\t\t");
    EXPECT_OUT(s, "visible_m", 3000);
    usleep(100000);
    pump(s, 100);
    ck_assert_msg(strstr(s->out + s->pos - 40, "_hidden_m") == NULL, "offered a _private name:\n%s", s->out);
    send_keys(s, "\x15\n");
    cmd(s, "p:_\t() == nil\n");
    EXPECT_OUT(s, "true", 3000);
    /* a function __index with a __methods table, as the tensor has */
    cmd(s, "mt = {__methods = {wiggle = function() return 'wiggled' end}}\n");
    cmd(s, "mt.__index = function(_, k) return mt.__methods[k] end; u = setmetatable({}, mt)\n");
    cmd(s, "u:wig\t()\n");
    EXPECT_OUT(s, "\"wiggled\"", 3000);
    end_session(s);
}
END_TEST

START_TEST(complete_file_names) {
    session *s = new_session();
    char path[128];
    snprintf(path, sizeof path, "%s/uniquefile_abc.txt", s->home);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fclose(f);
    start(s);
    char line[256];
    snprintf(line, sizeof line, "fname = '%s/uniquef\t", s->home);
    cmd(s, line);
    usleep(200000);
    send_keys(s, "\n");  /* the completion closed the quote */
    cmd(s, "fname:match('[^/]*$')\n");
    EXPECT_OUT(s, "\"uniquefile_abc.txt\"", 3000);
    /* but require "..." completes module names, help "..." Lua names */
    cmd(s, "m = require 'ember.pre\t");  /* a unique name: the quote is closed */
    usleep(200000);
    send_keys(s, "\n");
    cmd(s, "m == require 'ember.pretty'\n");
    EXPECT_OUT(s, "true", 3000);
    cmd(s, "help 'ember.zeros_l\t");
    usleep(200000);
    send_keys(s, "\n");
    EXPECT_OUT(s, "zeros_like(", 3000);
    end_session(s);
}
END_TEST

START_TEST(multi_line_function) {
    session *s = new_session();
    start(s);
    cmd(s, "function twice(a)\n");
    EXPECT_OUT(s, "..>", 3000);
    send_keys(s, "  return a * 2\n");
    EXPECT_OUT(s, "..>", 3000);
    send_keys(s, "end\n");
    cmd(s, "twice(21)\n");
    EXPECT_OUT(s, "42", 3000);
    /* an unfinished expression continues too */
    cmd(s, "{10,\n");
    EXPECT_OUT(s, "..>", 3000);
    send_keys(s, "20}\n");
    EXPECT_OUT(s, "{10, 20}", 3000);
    end_session(s);
}
END_TEST

START_TEST(history_across_sessions) {
    session *s = new_session();
    start(s);
    cmd(s, "hist_marker = 12345\n");
    cmd(s, "function hist_f()\n");
    send_keys(s, "return 'multi'\n");
    send_keys(s, "end\n");
    EXPECT_OUT(s, PROMPT, 3000);
    int st = finish(s);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ember did not exit cleanly on Ctrl-D");
    char path[128];
    snprintf(path, sizeof path, "%s/.ember_history", s->home);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "hist_marker = 12345") != NULL, "history file:\n%s", text);
    /* second session: Ctrl-P twice recalls `hist_marker = 12345` */
    start(s);
    cmd(s, "\x10\x10\n");
    cmd(s, "hist_marker + 1\n");
    EXPECT_OUT(s, "12346", 3000);
    /* the three-line function came back as one entry: Ctrl-P x3 reaches it */
    cmd(s, "\x10\x10\x10\n");
    cmd(s, "hist_f()\n");
    EXPECT_OUT(s, "\"multi\"", 3000);
    end_session(s);
}
END_TEST

START_TEST(history_capped) {
    session *s = new_session();
    char path[128];
    snprintf(path, sizeof path, "%s/.ember_history", s->home);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    for (int i = 0; i < 2500; i++) fprintf(f, "#%d\nold_line_%d = %d\n", 1700000000 + i, i, i);
    fclose(f);
    start(s);
    cmd(s, "\x10\n");  /* the newest old entry comes back */
    cmd(s, "old_line_2499\n");
    EXPECT_OUT(s, "2499", 3000);
    EXPECT_OUT(s, PROMPT, 3000);
    finish(s);
    f = fopen(path, "r");
    ck_assert(f != NULL);
    char line[256];
    int entries = 0;
    bool first_kept = false, last_new = false;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        entries++;
        if (strcmp(line, "old_line_0 = 0\n") == 0) first_kept = true;
        last_new = strcmp(line, "old_line_2499\n") == 0;
    }
    fclose(f);
    ck_assert_msg(entries <= 2000 && entries >= 1000, "%d entries kept", entries);
    ck_assert_msg(!first_kept, "the oldest entry was not dropped");
    ck_assert_msg(last_new, "the new entry is not last");
    remove_home(s);
    free(s);
}
END_TEST

START_TEST(help_output) {
    session *s = new_session();
    start(s);
    cmd(s, "help(ember.zeros)\n");
    EXPECT_OUT(s, "zeros(", 3000);
    EXPECT_OUT(s, PROMPT, 3000);
    ck_assert_msg(strstr(s->out, "No documentation") == NULL, "ember.zeros undocumented:\n%s", s->out);
    send_keys(s, "help()\n");
    EXPECT_OUT(s, "ember modules", 3000);
    EXPECT_OUT(s, "\n  nn ", 3000);
    cmd(s, "help('ember.zeros')\n");
    EXPECT_OUT(s, "zeros(", 3000);
    cmd(s, "myf = ember.doc(function() end, 'myf() -> nothing\\n\\nA test function.')\n");
    cmd(s, "help(myf)\n");
    EXPECT_OUT(s, "A test function.", 3000);
    end_session(s);
}
END_TEST

/* Ctrl-C after the loop has run a while; returns the ms until "interrupted" */
/* the bound on Ctrl-C's latency (sanitizer builds run several times slower) */
static double interrupt_limit_ms(void) { return getenv("SANITIZE") ? 3000 : 1000; }

static double interrupt_after(session *s, int run_ms) {
    usleep((useconds_t)run_ms * 1000);
    double t0 = now_ms();
    send_keys(s, "\x03");
    EXPECT_OUT(s, "interrupted", 3000);
    double dt = now_ms() - t0;
    printf("Ctrl-C to \"interrupted\": %.1f ms\n", dt);
    EXPECT_OUT(s, PROMPT, 3000);
    s->pos -= strlen(PROMPT);  /* let the next cmd() see this prompt */
    return dt;
}

START_TEST(ctrl_c_lua_loop) {
    session *s = new_session();
    start(s);
    cmd(s, "keep = 7\n");
    cmd(s, "while true do end\n");
    double dt = interrupt_after(s, 300);
    ck_assert_msg(dt < interrupt_limit_ms(), "Ctrl-C took %.0f ms", dt);
    cmd(s, "keep * 6\n");
    EXPECT_OUT(s, "42", 3000);
    end_session(s);
}
END_TEST

START_TEST(ctrl_c_matmul_loop) {
    session *s = new_session();
    start(s);
    cmd(s, "keep = 8\n");
    cmd(s, "a = ember.randn(1024, 1024)\n");
    cmd(s, "while true do local c = a:matmul(a) end\n");
    double dt = interrupt_after(s, 700);
    ck_assert_msg(dt < interrupt_limit_ms(), "Ctrl-C took %.0f ms", dt);
    cmd(s, "keep * 5\n");
    EXPECT_OUT(s, "40", 3000);
    cmd(s, "a:numel()\n");
    EXPECT_OUT(s, "1048576", 3000);
    end_session(s);
}
END_TEST

START_TEST(ctrl_c_at_prompt) {
    session *s = new_session();
    start(s);
    cmd(s, "garbage_zz_text");
    usleep(100000);
    send_keys(s, "\x03");
    EXPECT_OUT(s, "^C", 3000);
    cmd(s, "4*4\n");
    EXPECT_OUT(s, "16", 3000);
    /* and drops an unfinished chunk */
    cmd(s, "for i = 1, 3 do\n");
    EXPECT_OUT(s, "..>", 3000);
    usleep(100000);  /* as above: a key typed by a person, not in the same microsecond */
    send_keys(s, "\x03");
    cmd(s, "5*5\n");
    EXPECT_OUT(s, "25", 3000);
    end_session(s);
}
END_TEST

START_TEST(error_then_command) {
    session *s = new_session();
    start(s);
    cmd(s, "function inner() error('boom here') end\n");
    cmd(s, "inner()\n");
    EXPECT_OUT(s, "boom here", 3000);
    EXPECT_OUT(s, "stack traceback:", 3000);
    EXPECT_OUT(s, "inner", 3000);
    cmd(s, "3*5\n");
    EXPECT_OUT(s, "15", 3000);
    cmd(s, "this is not lua\n");
    EXPECT_OUT(s, "syntax error", 3000);
    cmd(s, "ember.zeros(2, 2):matmul(ember.zeros(3, 3))\n");
    EXPECT_OUT(s, "matmul", 3000);
    cmd(s, "error(setmetatable({}, {__tostring = function() return 'custom err' end}))\n");
    EXPECT_OUT(s, "custom err", 3000);
    cmd(s, "2^10\n");
    EXPECT_OUT(s, "1024", 3000);
    end_session(s);
}
END_TEST

START_TEST(script_then_interactive) {
    session *s = new_session();
    char path[128];
    snprintf(path, sizeof path, "%s/script.lua", s->home);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs("from_script = 'sv' .. 41 + 1\n", f);
    fclose(f);
    const char *args[] = {"-i", path, NULL};
    start_args(s, args);
    cmd(s, "from_script\n");
    EXPECT_OUT(s, "\"sv42\"", 3000);
    end_session(s);
}
END_TEST

/* runs `sh -c command` and returns its stdout (static buffer) */
static const char *shell_out(const char *command) {
    static char buf[8192];
    FILE *p = popen(command, "r");
    ck_assert(p != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    pclose(p);
    return buf;
}

START_TEST(command_line) {
    char c[512];
    snprintf(c, sizeof c, "printf 'print(6*7)\\nx = 1\\nprint(x + 1)\\n' | %s 2>&1", ember_path());
    const char *out = shell_out(c);
    ck_assert_msg(strcmp(out, "42\n2\n") == 0, "stdin script printed: %s", out);
    snprintf(c, sizeof c, "%s --version", ember_path());
    ck_assert_msg(strstr(shell_out(c), "ember") != NULL, "--version");
    snprintf(c, sizeof c, "%s --help", ember_path());
    ck_assert_msg(strstr(shell_out(c), "usage: ember") != NULL, "--help");
    snprintf(c, sizeof c, "%s -l pretty -e 'print(pretty ~= nil)' 2>&1", ember_path());
    ck_assert_msg(strcmp(shell_out(c), "true\n") == 0, "-l pretty: %s", shell_out(c));
    snprintf(c, sizeof c, "%s -e 'print(type(help))' 2>&1", ember_path());
    ck_assert_msg(strcmp(shell_out(c), "function\n") == 0, "help global: %s", shell_out(c));
    snprintf(c, sizeof c, "echo 'error(\"bad\")' | %s 2>&1; echo \"rc=$?\"", ember_path());
    out = shell_out(c);
    ck_assert_msg(strstr(out, "bad") && strstr(out, "rc=1"), "stdin error: %s", out);
}
END_TEST

static void add_tests(TCase *tc) {
    tcase_add_test(tc, autoprint_and_semicolon);
    tcase_add_test(tc, pretty_printing);
    tcase_add_test(tc, complete_module_field);
    tcase_add_test(tc, complete_methods);
    tcase_add_test(tc, complete_file_names);
    tcase_add_test(tc, multi_line_function);
    tcase_add_test(tc, history_across_sessions);
    tcase_add_test(tc, history_capped);
    tcase_add_test(tc, help_output);
    tcase_add_test(tc, ctrl_c_lua_loop);
    tcase_add_test(tc, ctrl_c_matmul_loop);
    tcase_add_test(tc, ctrl_c_at_prompt);
    tcase_add_test(tc, error_then_command);
    tcase_add_test(tc, script_then_interactive);
    tcase_add_test(tc, command_line);
}

TN_SUITE_MAIN("repl", add_tests)
