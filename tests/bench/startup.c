/*
 * startup.c: start-up time of the ember executable (run by startup.sh).
 *
 *   startup EMBER [RUNS]
 * prints the median, min and max wall time of
 *   - `EMBER -e ''` (create the state, load ember, run nothing, exit), and
 *   - the interactive start: from fork until the prompt "ember> " appears
 *     on a pseudo-terminal (readline and history set up, banner printed).
 * HOME points at an empty temporary folder so a big history file or an
 * ~/.inputrc of the person running it does not change the figure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    printf("%-34s median %6.2f ms  (min %.2f, max %.2f, %d runs)\n", what, med, t[0], t[n - 1], n);
}

/* one `ember -e ''`; -1 on failure */
static double time_e(const char *ember) {
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl(ember, ember, "-e", "", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    double dt = now_ms() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? dt : -1;
}

/* fork until "ember> " shows on a pty; -1 on failure or after 5 s */
static double time_prompt(const char *ember, const char *home) {
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    int fd;
    double t0 = now_ms();
    pid_t pid = forkpty(&fd, NULL, NULL, &ws);
    if (pid < 0) return -1;
    if (pid == 0) {
        setenv("HOME", home, 1);
        setenv("TERM", "xterm", 1);
        execl(ember, ember, (char *)NULL);
        _exit(127);
    }
    char buf[4096];
    size_t len = 0;
    double dt = -1;
    while (now_ms() - t0 < 5000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "ember> ")) {
            dt = now_ms() - t0;
            break;
        }
        if (len > sizeof buf / 2) {  /* keep the tail only */
            memmove(buf, buf + len - 16, 16);
            len = 16;
        }
    }
    if (write(fd, "\x04", 1) != 1) kill(pid, SIGKILL);
    int st;
    for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++) {
        char drain[256];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) > 0 && read(fd, drain, sizeof drain) <= 0) break;
    }
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    close(fd);
    return dt;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: startup EMBER [RUNS]\n");
        return 2;
    }
    const char *ember = argv[1];
    int runs = argc > 2 ? atoi(argv[2]) : 41;
    if (runs < 1) runs = 1;
    double *t = malloc((size_t)runs * sizeof *t);
    char home[] = "/tmp/ember-startup-XXXXXX";
    if (!t || !mkdtemp(home)) return 1;
    int status = 0;
    for (int i = 0; i < runs; i++) {
        t[i] = time_e(ember);
        if (t[i] < 0) {
            fprintf(stderr, "startup: %s -e '' failed\n", ember);
            status = 1;
            goto done;
        }
    }
    report("ember -e ''", t, runs);
    for (int i = 0; i < runs; i++) {
        t[i] = time_prompt(ember, home);
        if (t[i] < 0) {
            fprintf(stderr, "startup: no prompt from %s\n", ember);
            status = 1;
            goto done;
        }
    }
    report("ember (first prompt on a pty)", t, runs);
done:;
    char hist[64];
    snprintf(hist, sizeof hist, "%s/.ember_history", home);
    unlink(hist);
    rmdir(home);
    free(t);
    return status;
}
