#!/usr/bin/env bash
# infer on a lent GPU machine, in one command (docs/gpu.md).
#
#   bash benchmarks/gpu/run.sh                  # on the GPU machine: everything under $OUT
#   bash benchmarks/gpu/run.sh --dry-run        # the same steps on this machine's CPU
#   bash benchmarks/gpu/run.sh --dry-run --quick --bundle target/debug --fixtures fixtures/generated
#
# Steps (each with its own time limit, all inside --budget seconds, default 450):
#   1. environment: the device's torch (its lib/ goes first on LD_LIBRARY_PATH, so the bundle's
#      infer-torch-worker runs on the machine's own libtorch 2.11.0), ONNX Runtime from the bundle
#      (ORT_DYLIB_PATH), `infer backends`; NVML sampler started (nvml_sampler.py, background);
#   2. fixtures: ResNet-50 and the BERT encoder written by xtask/python/make_fixtures.py with the
#      machine's own Python (no cargo; no TensorFlow there, so no SavedModel/.keras);
#   3. per model: `infer compare` with cpu and cuda:0 rows (torch on both, ONNX Runtime on the
#      CPU), then reference.py: the same TorchScript timed in torch with torch.cuda.Event;
#   4. `infer optimize-batch` on cuda:0 up to the out-of-memory edge;
#   5. the server scenario at three rates (30/60/90% of batch-1 throughput) on cuda:0;
#   6. summarize.py: summary.md / summary.json; raw results in results.tar.gz.
#
# Under $OUT (at most 8 files come back): log.txt, summary.md, summary.json, nvml.csv,
# results.tar.gz.
#
# --dry-run runs every step on the CPU (device cpu; cuda:0 rows report "no cuda:0 here"; the NVML
# sampler writes made-up samples marked fake; TensorFlow and OpenVINO hidden, as on the GPU
# machine; the fixtures written as there, without TensorFlow). --quick: a small, fast run (the
# test's): resnet18 and bert, batch sizes 1,2, short timings.
#
# Options: --bundle DIR (infer and infer-torch-worker; default .gpu-bundle, from `cargo xtask
# gpu-bundle`), --out DIR (default $OUT; a dry run defaults to results/gpu-dry-run), --fixtures
# DIR (where fixtures are written or found up to date; default a scratch folder), --python PATH,
# --budget SECONDS. Knobs by environment: MODELS, BATCHES, DURATION, ROUNDS, SWEEP_MAX_BATCH,
# SWEEP_MEM_FRACTION, SERVER_FRACTIONS, SERVER_DURATION.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY=0
QUICK=0
BUNDLE=$ROOT/.gpu-bundle
OUTDIR=${OUT:-}
FIXTURES=
PY=
BUDGET=450

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
        --dry-run) DRY=1 ;;
        --quick) QUICK=1 ;;
        --bundle) BUNDLE=$2; shift ;;
        --out) OUTDIR=$2; shift ;;
        --fixtures) FIXTURES=$2; shift ;;
        --python) PY=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
BUNDLE=$(abs "$BUNDLE")
if ((DRY)); then
    OUTDIR=${OUTDIR:-$ROOT/results/gpu-dry-run}
    DEV=cpu
    PY=${PY:-$ROOT/.venv/bin/python}
else
    if [[ -z $OUTDIR ]]; then
        echo "run.sh: \$OUT is not set: give --out DIR (or use --dry-run on a machine without a GPU)" >&2
        exit 2
    fi
    DEV=cuda:0
    PY=${PY:-/opt/torch/.venv/bin/python}
fi
OUTDIR=$(abs "$OUTDIR")
mkdir -p "$OUTDIR"
if ((QUICK)); then
    MODELS=${MODELS:-resnet18 bert}
    BATCHES=${BATCHES:-1,2}
    DURATION=${DURATION:-0.2}
    ROUNDS=${ROUNDS:-1}
    SWEEP_START=1
    SWEEP_MAX_BATCH=${SWEEP_MAX_BATCH:-4}
    SERVER_FRACTIONS=${SERVER_FRACTIONS:-0.3,0.6}
    SERVER_DURATION=${SERVER_DURATION:-1}
    # A fixed warm-up: the test's run is about every step running, not about settled figures.
    WARMUP=${WARMUP:-2}
else
    MODELS=${MODELS:-resnet50 bert}
    BATCHES=${BATCHES:-1,8,32}
    DURATION=${DURATION:-1}
    ROUNDS=${ROUNDS:-2}
    SWEEP_START=8
    SWEEP_MAX_BATCH=${SWEEP_MAX_BATCH:-4096}
    SERVER_FRACTIONS=${SERVER_FRACTIONS:-0.3,0.6,0.9}
    SERVER_DURATION=${SERVER_DURATION:-3}
    # Until the wall clock's and the device's (CUDA events) window medians settle.
    WARMUP=${WARMUP:-auto}
fi
# The batch sweep's memory: a cap on the CUDA caching allocator (a fraction of the card), so that
# the out-of-memory edge is reached in minutes: the whole H200 would take ~10 times the batch, the
# inputs and the time. SWEEP_MEM_FRACTION=1 searches the whole card.
SWEEP_MEM_FRACTION=${SWEEP_MEM_FRACTION:-0.1}

START=$(date +%s)
# What the last steps (summary, archive) keep for themselves.
DEADLINE=$((START + BUDGET - 20))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/infer-gpu.XXXXXX")
FIX=${FIXTURES:-$WORK/fixtures}
FIX=$(abs "$FIX")
INFER=$BUNDLE/infer
SAMPLER_PID=

# One step: its name, its time limit in seconds, the command. Recorded in steps.tsv; a step that
# fails is reported and the run goes on (later steps say what they lack). Ctrl-C (SIGINT) at the
# limit: infer keeps every row measured so far.
step() {
    local name=$1 limit=$2
    shift 2
    local now left
    now=$(date +%s)
    left=$((DEADLINE - now))
    if ((left < 5)); then
        echo "== $name: skipped, the time budget (${BUDGET}s) is spent"
        printf '%s\t0\tskipped: time budget\n' "$name" >>"$WORK/steps.tsv"
        return 1
    fi
    ((limit > left)) && limit=$left
    echo "== $name (limit ${limit}s): $*"
    local t0 t1 rc status
    t0=$(date +%s.%N)
    timeout --signal=INT --kill-after=15 "$limit" "$@"
    rc=$?
    t1=$(date +%s.%N)
    case $rc in
        0) status=ok ;;
        124 | 130) status="timed out after ${limit}s (rows so far kept)" ;;
        *) status="failed: exit $rc" ;;
    esac
    printf '%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" "$status" \
        >>"$WORK/steps.tsv"
    echo "== $name: $status"
    return $rc
}

stop_sampler() {
    if [[ -n $SAMPLER_PID ]]; then
        kill -TERM "$SAMPLER_PID" 2>/dev/null
        wait "$SAMPLER_PID" 2>/dev/null
        SAMPLER_PID=
    fi
}

main() {
    echo "infer GPU run: $( ((DRY)) && echo "DRY RUN on the CPU" || echo "device $DEV"), $(date -u +%FT%TZ)"
    echo "root $ROOT, bundle $BUNDLE, out $OUTDIR, work $WORK, fixtures $FIX, python $PY, budget ${BUDGET}s"
    echo "models: $MODELS; batch sizes $BATCHES; $DURATION s per row, $ROUNDS round(s), warm-up $WARMUP"

    # --- 1. environment ---------------------------------------------------------------------
    for f in "$INFER" "$BUNDLE/infer-torch-worker"; do
        if [[ ! -x $f ]]; then
            echo "run.sh: $f is missing: build the bundle with \`cargo xtask gpu-bundle\` (or give --bundle DIR)"
            return 1
        fi
    done
    if [[ ! -x $PY ]]; then
        echo "run.sh: no Python at $PY (give --python PATH)"
        return 1
    fi
    local info
    if ! info=$("$PY" -c 'import os, torch
print(os.path.join(os.path.dirname(torch.__file__), "lib"))
print(torch.__version__)
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")'); then
        echo "run.sh: $PY cannot import torch"
        return 1
    fi
    local torch_lib torch_version gpu
    torch_lib=$(sed -n 1p <<<"$info")
    torch_version=$(sed -n 2p <<<"$info")
    gpu=$(sed -n 3p <<<"$info")
    echo "torch $torch_version at $torch_lib; GPU: $gpu"
    [[ $torch_version == 2.11.0* ]] || echo "warning: infer-torch-worker was linked against libtorch 2.11.0, this is $torch_version"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # The driver's libraries (libcuda, NVML) where the GPU machine keeps them.
    local d
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
        [[ -d $d ]] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
    done
    if [[ -f $BUNDLE/lib/libonnxruntime.so ]]; then
        export ORT_DYLIB_PATH=$BUNDLE/lib/libonnxruntime.so
        echo "ONNX Runtime: $ORT_DYLIB_PATH (carried in the bundle: the machine's onnxruntime 1.30 is refused by ort's api-31)"
    elif ((DRY)); then
        echo "ONNX Runtime: the project's (.runtimes/), found by infer itself"
    else
        echo "ONNX Runtime: not in the bundle; the machine's onnxruntime 1.30 is refused by ort rc.15 (api-31): onnx rows are unavailable"
    fi
    if ((DRY)); then
        # As on the GPU machine, which has neither.
        export TENSORFLOW_DIR=$WORK/no-tensorflow INFER_OPENVINO_LIB=$WORK/no-openvino INFER_FIXTURES_WITHOUT_TF=1
        echo "dry run: TensorFlow and OpenVINO hidden, fixtures written without TensorFlow (as on the GPU machine)"
    fi
    if ldd "$BUNDLE/infer-torch-worker" | grep -q "not found"; then
        echo "run.sh: infer-torch-worker cannot be loaded here:"
        ldd "$BUNDLE/infer-torch-worker" | grep "not found"
        return 1
    fi
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv
    step backends 60 "$INFER" backends
    local threads
    threads=$("$PY" -c 'import os; print(len(os.sched_getaffinity(0)))')

    # NVML: clocks, temperature, power, energy, sampled in the background for the whole run.
    local fake=()
    ((DRY)) && fake=(--fake)
    # Its output goes to a file of its own: tee would otherwise wait for it to end.
    "$PY" "$ROOT/benchmarks/gpu/nvml_sampler.py" --out "$WORK/nvml.csv" "${fake[@]}" >"$WORK/sampler.log" 2>&1 &
    SAMPLER_PID=$!
    trap stop_sampler EXIT

    # --- 2. fixtures ------------------------------------------------------------------------
    local models_csv
    models_csv=$(tr ' ' ',' <<<"$MODELS")
    step fixtures 200 "$PY" "$ROOT/xtask/python/make_fixtures.py" --out "$FIX" --models "$models_csv"

    # --- 3. compare and the Python reference, per model ----------------------------------------
    local m
    for m in $MODELS; do
        # Tolerance 1e-3: cuDNN's float32 kernels (TF32 off) are not bit-identical to the CPU's.
        step "compare $m" 200 "$INFER" compare "$FIX/$m" --device cpu,cuda:0 --batch-sizes "$BATCHES" \
            --duration "${DURATION}s" --warmup "$WARMUP" --rounds "$ROUNDS" --profile-runs 0 --tolerance 1e-3 \
            --out "$WORK/compare-$m"
        step "python reference $m" 90 "$PY" "$ROOT/benchmarks/gpu/reference.py" --fixture "$FIX/$m" \
            --device "$DEV" --batch-sizes "$BATCHES" --duration "$DURATION" --warmup "$WARMUP" --threads "$threads" \
            --json "$WORK/reference-$m.json"
    done

    # --- 4. batch sweep up to the out-of-memory edge --------------------------------------------
    local first
    first=${MODELS%% *}
    local sweep_env=()
    [[ $DEV == cuda* && $SWEEP_MEM_FRACTION != 1 ]] &&
        sweep_env=(env "PYTORCH_CUDA_ALLOC_CONF=per_process_memory_fraction:$SWEEP_MEM_FRACTION")
    [[ $DEV == cuda* ]] && echo "batch sweep: CUDA caching allocator capped at ${SWEEP_MEM_FRACTION} of the card"
    step "batch sweep $first" 150 "${sweep_env[@]}" "$INFER" optimize-batch "$FIX/$first/model.torchscript.pt" \
        --backend torch --device "$DEV" --start-batch "$SWEEP_START" --max-batch "$SWEEP_MAX_BATCH" \
        --precision 5% --iterations 3 --warmup 1 --json "$WORK/optimize.json"

    # --- 5. the server scenario at a few rates ---------------------------------------------------
    local rates r
    if rates=$("$PY" "$ROOT/benchmarks/gpu/summarize.py" rates --compare "$WORK/compare-$first/compare.json" \
        --backend torch --device "$DEV" --fractions "$SERVER_FRACTIONS"); then
        for r in $rates; do
            step "server $r req/s" 60 "$INFER" bench "$FIX/$first/model.torchscript.pt" --backend torch \
                --device "$DEV" --scenario server --rate "$r" --duration "${SERVER_DURATION}s" --warmup "$WARMUP" --quiet \
                --json "$WORK/server-$r.json"
        done
    else
        echo "== server: skipped (no batch-1 torch row on $DEV to set the rates from)"
        printf 'server\t0\tskipped: no batch-1 row\n' >>"$WORK/steps.tsv"
    fi
    stop_sampler

    # --- 6. summary and files ------------------------------------------------------------------
    local dry=()
    ((DRY)) && dry=(--dry-run)
    "$PY" "$ROOT/benchmarks/gpu/summarize.py" summary --work "$WORK" --device "$DEV" \
        --md "$OUTDIR/summary.md" --json "$OUTDIR/summary.json" "${dry[@]}"
    cp "$WORK/nvml.csv" "$OUTDIR/nvml.csv"
    local meta=()
    for m in $MODELS; do
        [[ -f $FIX/$m/meta.json ]] && meta+=("$FIX/$m/meta.json")
    done
    mkdir -p "$WORK/fixtures-meta"
    for f in "${meta[@]}"; do cp "$f" "$WORK/fixtures-meta/$(basename "$(dirname "$f")").json"; done
    (cd "$WORK" && tar czf "$OUTDIR/results.tar.gz" --exclude=fixtures --exclude=no-tensorflow \
        --exclude=no-openvino ./*)
    echo "wrote $(cd "$OUTDIR" && ls | tr '\n' ' ')in $OUTDIR after $(($(date +%s) - START)) s"
    if grep -q $'\tfailed' "$WORK/steps.tsv"; then
        echo "run.sh: some steps failed (see above and summary.md); every file was written all the same"
        return 1
    fi
}

main 2>&1 | tee "$OUTDIR/log.txt"
rc=${PIPESTATUS[0]}
# The scratch folder (fixtures included) goes; everything worth keeping is under $OUTDIR.
rm -rf "$WORK"
exit "$rc"
