#!/bin/sh
# startup.sh: median wall time of `ember -e ''` and of the REPL's first
# prompt (goal: both under 10 ms).  Builds the small pty timer
# tests/bench/startup.c into $BUILD/bench/ first.
#   sh tests/bench/startup.sh [RUNS]      (EMBER=path/to/ember, default ./ember)
set -e
BUILD=${BUILD:-build}
EMBER=${EMBER:-./ember}
RUNS=${1:-41}
mkdir -p "$BUILD/bench"
if [ ! -x "$BUILD/bench/startup" ] || [ tests/bench/startup.c -nt "$BUILD/bench/startup" ]; then
    ${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -o "$BUILD/bench/startup" tests/bench/startup.c
fi
"$BUILD/bench/startup" "$EMBER" "$RUNS"
