#!/usr/bin/env bash
# Issue 13's GPU check in one device call of at most 8 minutes on an H200 (python3 with torch, numpy and
# sentencepiece; no installs, no network): gpu-small's correctness against the CPU, 300 steps of it with
# tokens/s, MFU, data wait, peak memory, loss curve and kernels, and the small preset's loss per token on
# the same shards. The phases are bench/gpu_check.py's, each under a timeout cut to what is left of the
# budget, so that the report is always written.
#
#   bash bench/gpu_check.sh              on the GPU machine, from the repository root
#   bash bench/gpu_check.sh --cpu-smoke  here, on the CPU: the same phases with tiny settings
#
# Shards first, on this machine: /work/main/.venv/bin/python bench/make_gpu_shards.py (-> build/gpu_shards,
# which the device call carries). Writes $OUT/gpu_check.json, $OUT/phases/*.json and $OUT/log.txt
# ($OUT defaults to build/gpu_check_out where it is not set). Exit status 0 when every phase finished and
# the correctness check held.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-$PWD/build/gpu_check_out}"
SHARDS="${GPU_CHECK_SHARDS:-build/gpu_shards}"
PYTHON="${PYTHON:-python3}"
BUDGET="${GPU_CHECK_BUDGET_S:-440}"  # seconds for everything; the device call allows 480
SMOKE=()
SCALE=1  # the smoke proves the script, not the speed: 4 times the time on a shared CPU
if [[ "${1:-}" == "--cpu-smoke" ]]; then SMOKE=(--smoke) SCALE=4 BUDGET=$((BUDGET * 4)); fi
mkdir -p "$OUT/phases"

phase() {  # phase NAME LIMIT_S [ARGS...]: bench/gpu_check.py NAME under min(LIMIT_S, what is left)
  local name=$1 limit=$(($2 * SCALE)) left=$((BUDGET - SECONDS - 20))
  shift 2
  if ((left < limit)); then limit=$left; fi
  if ((limit < 15)); then
    echo "== $name: skipped (${left}s left)"
    RC[$name]=skipped
    return
  fi
  echo "== $name: at most ${limit}s (${SECONDS}s so far)"
  local rc=0
  timeout -k 15 "$limit" "$PYTHON" bench/gpu_check.py "$name" --shards "$SHARDS" --out "$OUT" --work "$WORK" \
    "${SMOKE[@]}" "$@" || rc=$?
  RC[$name]=$rc
  echo "== $name: exit $rc after ${SECONDS}s"
}

check() {
  echo "gpu check $(date -u +%FT%TZ) on ${HOSTNAME:-?} ${SMOKE[*]:-}; budget ${BUDGET}s; shards $SHARDS"
  if [[ ! -f "$SHARDS/manifest.json" ]]; then
    echo "no shards at $SHARDS: build them with bench/make_gpu_shards.py and carry build/gpu_shards" >&2
    return 2
  fi
  if [[ ${#SMOKE[@]} -eq 0 ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv || true
  fi
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  declare -gA RC=()
  phase correctness 120
  phase train 270
  if [[ "${RC[train]}" != 0 && "${RC[train]}" != 124 && "${RC[train]}" != 137 ]]; then
    RC[train_compiled]=${RC[train]}
    phase train 200 --eager  # torch.compile failed: the eager fast path still measures the rest
  fi
  phase small 60
  rm -rf "$WORK"  # the runs' checkpoints (gpu-small's are 1.6 GB): nothing of them is returned
  "$PYTHON" bench/gpu_check.py report --out "$OUT" "${SMOKE[@]}" --rc $(for k in "${!RC[@]}"; do echo "$k=${RC[$k]}"; done)
}

check 2>&1 | tee -a "$OUT/log.txt"
