#!/bin/sh
# run.sh: `make bench`: ember and PyTorch side by side, in one run, on the
# same machine and thread settings; prints one table of ratios per thread
# count.  PyTorch (python3-torch, Debian) is the peer and is skipped with a
# message when absent.  Ratios: for times and memory lower is better
# (goal <= 1); for rates higher is better.
#   sh tests/bench/run.sh [samples]
cd "$(dirname "$0")/../.." || exit 1
EMBER=${EMBER:-./ember}
PY=/usr/bin/python3
SAMPLES=${1:-20000}
have_torch=1
if ! $PY -c 'import torch' 2>/dev/null; then
    have_torch=0
    echo "PyTorch side skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)"
fi

value() { awk -v k="$1" '$1 == k { print $2 }'; }

# first section: the core beside direct cblas_sgemm / memcpy (tests/bench/core.lua)
$EMBER tests/bench/core.lua
# einsum beside the matmul it plans (tests/bench/einsum.lua; goal: ratio ~1)
$EMBER tests/bench/einsum.lua 500

# median wall time in ms of a command, over 11 runs
startup_ms() {
    for i in 1 2 3 4 5 6 7 8 9 10 11; do
        s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
    done | sort -n | sed -n 6p | awk '{ printf "%.2f", $1 / 1000 }'
}

row() {  # name unit ember torch better(lower|higher)
    if [ -n "$4" ] && [ "$4" != "-" ]; then
        ratio=$(awk -v a="$3" -v b="$4" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    else ratio="-"; fi
    printf "%-26s %12s %12s %8s   %s\n" "$1 ($2)" "$3" "${4:--}" "$ratio" "$5"
}

for th in 1 2; do
    echo
    echo "== $th thread(s) =="
    printf "%-26s %12s %12s %8s   %s\n" "case" "ember" "pytorch" "ratio" "better"
    export EMBER_BENCH_THREADS=$th OMP_NUM_THREADS=$th OMP_WAIT_POLICY=PASSIVE
    for c in add tiny_step mm1024 mm2048 conv; do
        e=$($EMBER tests/bench/ember_bench.lua $c | value $c)
        t="-"; [ $have_torch = 1 ] && t=$($PY tests/bench/torch_bench.py $c | value $c)
        case $c in
            add|tiny_step) row "$c" us "$e" "$t" lower ;;
            conv) row "conv2d fwd+bwd" ms "$e" "$t" lower ;;
            *) row "$c" GFLOP/s "$e" "$t" higher ;;
        esac
    done
    for c in mlp cnn lenet; do
        eo=$($EMBER tests/bench/ember_bench.lua $c "$SAMPLES")
        to=""; [ $have_torch = 1 ] && to=$($PY tests/bench/torch_bench.py $c "$SAMPLES")
        row "$c train" samples/s "$(echo "$eo" | value samples_per_s)" "$(echo "$to" | value samples_per_s)" higher
        row "$c peak RSS" KB "$(echo "$eo" | value peak_rss)" "$(echo "$to" | value peak_rss)" lower
    done
    es=$(startup_ms $EMBER -e '')
    ts="-"; [ $have_torch = 1 ] && ts=$(startup_ms $PY -c 'import torch')
    row "start-up" ms "$es" "$ts" lower
done

# nn kernels at the workloads' shapes (ember only: forward and forward +
# backward medians of conv2d, max_pool2d and Linear, 1 thread)
echo
echo "== nn kernels (tests/bench/nn.lua) =="
EMBER=$EMBER $EMBER tests/bench/nn.lua 1

# the remaining single-side benchmarks of the issues
echo
echo "== MLP step by part, 1 vs 2 threads (tests/bench/mlp_threads.lua) =="
$EMBER tests/bench/mlp_threads.lua
$EMBER tests/bench/mlp_gemms.lua
echo
echo "== autograd tiny step (tests/bench/autograd.lua) =="
$EMBER tests/bench/autograd.lua
echo
echo "== data loading (tests/bench/data.lua) =="
$EMBER tests/bench/data.lua
echo
echo "== start-up (tests/bench/startup.sh) =="
EMBER=$EMBER sh tests/bench/startup.sh
echo
echo "== sweep: 8 equal trials, parallel 1 vs 2 (tests/bench/sweep.lua) =="
$EMBER tests/bench/sweep.lua
echo
echo "== ember.linalg vs torch.linalg, float32 (tests/bench/linalg.lua, torch_linalg.py) =="
for th in 1 2; do
    echo "-- $th thread(s): case, ember ms, pytorch ms, ratio (lower is better)"
    eo=$(EMBER_BENCH_THREADS=$th OPENBLAS_NUM_THREADS=$th $EMBER tests/bench/linalg.lua)
    to=""; [ $have_torch = 1 ] && to=$(EMBER_BENCH_THREADS=$th OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th $PY tests/bench/torch_linalg.py)
    echo "$eo" | while read -r c e; do row "$c" ms "$e" "$(echo "$to" | value "$c")" lower; done
done
