#!/usr/bin/env bash
# GPU benchmarks of issue 13 item 7, issue 14 (MPS) and issue 26 (MPS steady states) on one NVIDIA
# H100/H200, under 8 minutes in all:
#
#   bash benchmarks/gpu.sh           # -> benchmarks/results/gpu.json, gpu.md, gpu.log
#   bash benchmarks/gpu.sh --quick   # CPU smoke run (small sizes) into a temporary folder
#
# Uses the system python3 when it already has a CUDA jax and our dependencies (the lent H200
# image), else .venv (`make venv`); when that jax sees no GPU, installs jax[cuda12] of the same
# version into it (needs the network). Each stage of benchmarks/bench_gpu.py (see its docstring) runs in its own process
# under `timeout` and updates gpu.json / gpu.md as it goes; a stage that exits non-zero is
# noted there (124 = timeout), a killed trajectory stage keeps its finished chunks in a
# checkpoint under /tmp and its rate up to the kill is reported. Per-stage timeouts (seconds)
# T_VENV T_INSTALL T_TRAJ128 T_TRAJ64 T_HPSI T_MESOLVE T_MPS T_NESS and the whole-script budget BUDGET
# can be overridden from the environment; a stage never runs past the budget, so the last
# stages (mps, issue 14; ness, issue 26: steady states at L = 100) get what the others leave.
# STAGES="mps hpsi" runs only those, in that order; STAGES=ness the steady states alone.
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BUDGET=${BUDGET:-465}
QUICK=
if [ "${1:-}" = --quick ]; then
    QUICK=--quick
    OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/jaxredfield_gpu_quick.XXXXXX")}
else
    OUT=${OUT:-benchmarks/results}
fi
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
echo "gpu.sh: results in $OUT ($(date '+%F %T'))"
export JAXREDFIELD_CACHE=0  # honest compile times: no persistent XLA cache

# a machine image whose python3 already has a CUDA jax and the dependencies (the lent H200:
# jax, diffrax, equinox, lineax, optax, tqdm; nothing can be fetched there) runs the tree as
# it is; otherwise .venv
if [ -z "$QUICK" ] && python3 -c 'import jax, diffrax, equinox, lineax, optax, tqdm; jax.devices("gpu")' >/dev/null 2>&1; then
    PY=python3
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    echo "gpu.sh: using the system python3 ($(python3 -c 'import jax; print("jax", jax.__version__, jax.devices())'))"
else
    timeout "${T_VENV:-90}" make venv || [ -x "$PY" ] || { echo "gpu.sh: no .venv (make venv failed)"; exit 1; }
fi

if [ -z "$QUICK" ] && ! "$PY" -c 'import jax; jax.devices("gpu")' >/dev/null 2>&1; then
    ver=$("$PY" -c 'import jax; print(jax.__version__)')
    echo "gpu.sh: jax $ver sees no GPU; installing jax[cuda12]==$ver into .venv"
    timeout "${T_INSTALL:-90}" "$PY" -m pip install -q "jax[cuda12]==$ver"
    if ! "$PY" -c 'import jax; print("gpu.sh: devices", jax.devices("gpu"))'; then
        echo "gpu.sh: still no GPU visible to jax; stopping"
        exit 1
    fi
fi

rm -f "$OUT/gpu.json"
mark() { "$PY" benchmarks/bench_gpu.py --out "$OUT" --mark "$1" "$2"; }

stage() {  # stage NAME TIMEOUT: run one stage, at most TIMEOUT s and never past the budget
    local t=$2 left=$((BUDGET - SECONDS - 5)) rc
    ((left < t)) && t=$left
    if ((t < 15)); then
        echo "gpu.sh: stage $1 skipped (script budget of ${BUDGET}s spent)"
        mark "$1" "skipped: script budget spent"
        return
    fi
    echo "== stage $1 (timeout ${t}s, ${SECONDS}s elapsed)"
    timeout -k 5 "$t" "$PY" benchmarks/bench_gpu.py $QUICK --out "$OUT" --stages "$1"
    rc=$?
    if ((rc == 124 || rc == 137)); then
        mark "$1" "killed by the ${t}s timeout"
    elif ((rc != 0)); then
        mark "$1" "exit code $rc"
    fi
}

for name in ${STAGES:-traj128 traj64 hpsi mesolve mps ness}; do
    case $name in
        traj128) stage traj128 "${T_TRAJ128:-110}" ;;
        traj64) stage traj64 "${T_TRAJ64:-90}" ;;
        hpsi) stage hpsi "${T_HPSI:-100}" ;;
        mesolve) stage mesolve "${T_MESOLVE:-50}" ;;
        mps) stage mps "${T_MPS:-150}" ;;
        ness) stage ness "${T_NESS:-150}" ;;
        *) echo "gpu.sh: unknown stage $name in STAGES (traj128 traj64 hpsi mesolve mps ness)"; exit 2 ;;
    esac
done
"$PY" benchmarks/bench_gpu.py --out "$OUT" --render-only
echo "gpu.sh: done in ${SECONDS}s; see $OUT/gpu.md"
cat "$OUT/gpu.md"
