#!/bin/sh
# run.sh: runs every Check suite ($BUILD/tests/test_*) and every Lua test
# (tests/lua/test_*.lua through $EMBER), prints each suite's summary and, as
# the last line, "N passed, N failed" over all tests.  Exit 1 on any failure.
BUILD=${BUILD:-build}
EMBER=${EMBER:-./ember}
passed=0; failed=0
out=$(mktemp); trap 'rm -f "$out"' EXIT
export EMBER_PLOT=${EMBER_PLOT:-none}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    "$t" >"$out" 2>&1; rc=$?
    line=$(grep -E '^[0-9]+%: Checks: ' "$out" | tail -1)
    n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
    f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
    nf=0; for x in $f; do nf=$((nf + x)); done
    if [ -z "$n" ]; then n=1; nf=1; fi
    [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ] && nf=1
    passed=$((passed + n - nf)); failed=$((failed + nf))
    echo "C   $(basename "$t"): $((n - nf)) passed, $nf failed"
    [ "$nf" -ne 0 ] && grep -vE '^[0-9]+%: Checks' "$out" | head -20
done
for t in tests/lua/test_*.lua; do
    [ -f "$t" ] || continue
    timeout 600 "$EMBER" "$t" >"$out" 2>&1; rc=$?
    line=$(grep -E '^RESULT passed=[0-9]+ failed=[0-9]+' "$out" | tail -1)
    n=$(echo "$line" | sed -n 's/RESULT passed=\([0-9]*\).*/\1/p')
    nf=$(echo "$line" | sed -n 's/.*failed=\([0-9]*\).*/\1/p')
    if [ -z "$n" ]; then n=0; nf=1; fi
    [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ] && nf=1
    passed=$((passed + n)); failed=$((failed + nf))
    echo "Lua $(basename "$t"): $n passed, $nf failed"
    [ "$nf" -ne 0 ] && grep -E 'FAIL|error|Error' "$out" | head -20
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
