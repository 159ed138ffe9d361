/*
 * fuzz_file.h: what the libFuzzer targets of tests/fuzz/ share.  The
 * parsers read paths, not buffers, so each input is written to a file in
 * /dev/shm (memory, so the disk is not worn by millions of writes; /tmp
 * when /dev/shm is missing) named after the process, which lets several
 * fuzzers (-jobs=N) run side by side.
 */
#ifndef FUZZ_FILE_H
#define FUZZ_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A per-process path "<dir>/ember-fuzz-<pid>-<tag>"; the same buffer on
 * every call with the same tag. */
static const char *fuzz_path(char *buf, size_t n, const char *tag) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(buf, n, "%s/ember-fuzz-%ld-%s", dir, (long)getpid(), tag);
    return buf;
}

/* Replaces the file's content with the input; aborts if it cannot (a
 * broken harness must not look like a clean run). */
static void fuzz_write(const char *path, const uint8_t *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w <= 0) {
            perror(path);
            abort();
        }
        data += w;
        size -= (size_t)w;
    }
    close(fd);
}

#endif
