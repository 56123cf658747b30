#!/usr/bin/env bash
# Runs the converged table's main rows on a lent GPU (docs/gpu_bundle.md): sets up from the
# carried bundle with no registry, runs a smoke test, then the full protocol
# (configs/cls/fashion_mnist/full/, 30 epochs on the 50,000 training images) through
# tools/benchmark_accuracy.py, in this order:
#   1. the mentors (seed 0: the checkpoints the classrooms load) and, beside them on the
#      other half of the cores, the student alone on every seed (it needs no mentor);
#   2. the T0 grid of AVER and ClassroomKD (val, CHOICE_SEEDS);
#   3. AVER and ClassroomKD, SEEDS_PER_CALL seeds at a time.
# A stage starts only if tools/gpu_bundle/plan.py finds runs left that fit the time left.
# Every finished run is a line of $OUT/fashion_mnist_full.jsonl; a later call given back that
# ledger, mentors.tar and smoke_estimate.json (--resume DIR) skips what they hold.
#
#     bash tools/gpu_bundle/run_bundle.sh [--dry-run] [--resume DIR] BUNDLE
#
# --dry-run: CPU allowed, everything small, one run at a time (tools/gpu_bundle/dry_run.sh
# runs it on a copy of the tree whose full-protocol configs it cuts to 3 iterations).
# Settings (environment): OUT (default work_dirs/gpu_out), PYTHON (python3: the one with
# PyTorch), JOBS (runs at a time, default 8), SEEDS ('0 1 2 3 4'), CHOICE_SEEDS ('0 1'),
# SEEDS_PER_CALL (JOBS / 2), BUDGET_S (seconds from the start after which no stage starts and
# a running one is stopped, default 540), SMOKE (default 1 unless --resume brings a ledger),
# SMOKE_ITERS (100), PARALLEL_ALONE (stage 1's second half, default 1; 0 in a dry run),
# SITE (where the wheels go, default /tmp/classroomkd_site).
set -uo pipefail
START=$(date +%s)
cd "$(dirname "$0")/../.."
REPO=$PWD

DRY=0
RESUME=
BUNDLE=
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --resume) RESUME=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) BUNDLE=$1 ;;
  esac
  shift
done
if [ -z "$BUNDLE" ] || [ ! -d "$BUNDLE/wheels" ]; then
  echo "usage: $0 [--dry-run] [--resume DIR] BUNDLE" >&2
  exit 2
fi
BUNDLE=$(cd "$BUNDLE" && pwd)

OUT=${OUT:-$REPO/work_dirs/gpu_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/log.txt") 2>&1
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/classroomkd_site}
if [ "$DRY" = 1 ]; then
  JOBS=${JOBS:-1}; SEEDS=${SEEDS:-0}; CHOICE_SEEDS=${CHOICE_SEEDS:-0}
  SMOKE_ITERS=${SMOKE_ITERS:-3}; SMOKE_SUBSET=${SMOKE_SUBSET:-100}
  PARALLEL_ALONE=${PARALLEL_ALONE:-0}
else
  JOBS=${JOBS:-8}; SEEDS=${SEEDS:-0 1 2 3 4}; CHOICE_SEEDS=${CHOICE_SEEDS:-0 1}
  SMOKE_ITERS=${SMOKE_ITERS:-100}; SMOKE_SUBSET=${SMOKE_SUBSET:-1000}
  PARALLEL_ALONE=${PARALLEL_ALONE:-1}
fi
BUDGET_S=${BUDGET_S:-540}
SEEDS_PER_CALL=${SEEDS_PER_CALL:-$(( JOBS / 2 > 0 ? JOBS / 2 : 1 ))}
LEDGER=$OUT/fashion_mnist_full.jsonl
ESTIMATE=$OUT/smoke_estimate.json
DEADLINE=$((START + BUDGET_S))
say() { echo "[run_bundle $(( $(date +%s) - START )) s] $*"; }

# --- 1. the packages: the bundle's wheels, no registry ---------------------------------
say "bundle $BUNDLE (made at $(cat "$BUNDLE/COMMIT" 2>/dev/null)), python: $(command -v "$PYTHON")"
(cd "$BUNDLE" && sha256sum --quiet -c SHA256SUMS) || { echo "the bundle is damaged" >&2; exit 1; }
rm -rf "$SITE"
mkdir -p "$SITE"
PIP_INSTALL=("$PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps
             --no-cache-dir --target "$SITE")
"${PIP_INSTALL[@]}" "$BUNDLE"/wheels/*.whl || { echo "pip install from the bundle failed" >&2; exit 1; }
# the image holds these (KINDS.md): the bundle's copy only where the import fails
declare -A MODULE=([rich]=rich [markdown_it_py]=markdown_it [mdurl]=mdurl [pygments]=pygments
                   [einops]=einops [packaging]=packaging [click]=click [markdown]=markdown)
missing=()
for wheel in "$BUNDLE"/fallback/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z' 'a-z')
  PYTHONPATH=$SITE "$PYTHON" -c "import ${MODULE[$name]:-$name}" 2>/dev/null || missing+=("$wheel")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "not in this image, installed from the bundle: ${missing[*]##*/}"
  "${PIP_INSTALL[@]}" "${missing[@]}" || exit 1
fi
# mmengine's collect_env imports distutils, gone from Python 3.12: setuptools' copy serves
if ! PYTHONPATH=$SITE "$PYTHON" -c 'from distutils import errors' 2>/dev/null; then
  say "no distutils here: setuptools' copy stands in"
  ln -s setuptools/_distutils "$SITE/distutils"
fi
export PYTHONPATH=$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore::UserWarning

# the benchmark calls git (its ledger's commit) and, with JOBS > 1, taskset: stand-ins where
# this machine lacks them, the bundle's commit for git
SHIMS=$SITE.bin
rm -rf "$SHIMS"; mkdir -p "$SHIMS"
if ! git -C "$REPO" rev-parse --short HEAD >/dev/null 2>&1; then
  printf '#!/bin/sh\ncat %q\n' "$BUNDLE/COMMIT" >"$SHIMS/git"
fi
if command -v taskset >/dev/null; then
  pin() { taskset -p -c "$1" "$BASHPID" >/dev/null; }  # this (sub)shell and what it starts
else
  printf '#!/bin/sh\nshift 2\nexec "$@"\n' >"$SHIMS/taskset"
  pin() { :; }
fi
chmod +x "$SHIMS"/* 2>/dev/null
export PATH=$SHIMS:$PATH

# --- 2. what runs where -------------------------------------------------------------------
"$PYTHON" - "$DRY" "$OUT/device.txt" <<'PY' || { echo "the environment does not work" >&2; exit 1; }
import platform, sys
import torch
import classroomkd_plugin, mmcv, mmengine, mmpretrain
from mmengine.config import Config
from mmpretrain.registry import MODELS
cuda = torch.cuda.is_available()
lines = [f"device: {torch.cuda.get_device_name(0) if cuda else 'CPU (no CUDA)'}"
         f"{f' ({torch.cuda.device_count()} GPU)' if cuda else ''}",
         f'python {platform.python_version()}, torch {torch.__version__}, '
         f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, '
         f'mmpretrain {mmpretrain.__version__}, classroomkd_plugin {classroomkd_plugin.__version__}']
# the classification path must not need MMPose, MMDetection or mmcv's compiled ops
cfg = Config.fromfile('configs/cls/fashion_mnist/full/classroom_resnet8_fmnist_full.py')
MODELS.build(cfg.model)  # the mentors are built (and their checkpoints read) when training starts
heavy = sorted({'mmcv.ops' if m.startswith('mmcv.ops') else m.split('.')[0]
                for m in sys.modules if m.startswith(('mmpose', 'mmdet', 'mmcv.ops'))})
lines.append(f"the classroom built; mmpose, mmdet, mmcv.ops imported: {', '.join(heavy) or 'none'}")
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
if not cuda and sys.argv[1] != '1':
    sys.exit('no CUDA device: this is no GPU machine (--dry-run runs on CPU)')
PY

# --- 3. the data and what an earlier call left ---------------------------------------------
mkdir -p data/fashion_mnist
for packed in "$BUNDLE"/data/*.gz; do
  target=data/fashion_mnist/$(basename "$packed" .gz)
  if [ -f "$target" ] && gzip -dc "$packed" | cmp -s - "$target"; then continue; fi
  gzip -dc "$packed" >"$target.part" && mv "$target.part" "$target" || exit 1
done
say "data ready: $(ls data/fashion_mnist | tr '\n' ' ')"
if [ -n "$RESUME" ]; then
  for name in fashion_mnist_full.jsonl smoke_estimate.json; do
    if [ -f "$RESUME/$name" ] && [ ! -s "$OUT/$name" ]; then cp "$RESUME/$name" "$OUT/$name"; fi
  done
  [ -s "$LEDGER" ] && say "resumed: $(wc -l <"$LEDGER") runs in the ledger"
  if [ -f "$RESUME/mentors.tar" ]; then
    tar -xf "$RESUME/mentors.tar" && say "resumed mentors: $(tar -tf "$RESUME/mentors.tar" | tr '\n' ' ')"
  fi
fi
pack_mentors() {  # the seed-0 mentor checkpoints the classrooms load, back in $OUT
  local ckpts
  mapfile -t ckpts < <("$PYTHON" -c "from mmengine.config import Config; import os
for m in Config.fromfile('configs/cls/fashion_mnist/full/classroom_resnet8_weak_fmnist_full.py').model.mentors:
    os.path.isfile(m.checkpoint) and print('CKPT', m.checkpoint)" | sed -n 's/^CKPT //p')
  if [ ${#ckpts[@]} -gt 0 ] && tar -cf "$OUT/mentors.tar.part" "${ckpts[@]}"; then
    mv "$OUT/mentors.tar.part" "$OUT/mentors.tar"
    say "mentors.tar: ${ckpts[*]}"
  fi
}

# --- 4. the runs ----------------------------------------------------------------------------
plan() {  # plan.py STAGE SEEDS...: 0 when the stage has runs left that fit the time left
  local jobs=$1; shift
  "$PYTHON" tools/gpu_bundle/plan.py --ledger "$LEDGER" --smoke "$ESTIMATE" --jobs "$jobs" \
    --left $((DEADLINE - $(date +%s))) "$@" 2>&1 | grep '^plan:'
  return "${PIPESTATUS[0]}"
}
bench() {  # benchmark_accuracy.py ARGS..., stopped at the deadline; its report left out
  local left=$((DEADLINE - $(date +%s)))
  say "benchmark_accuracy $* (at most $left s)"
  timeout --kill-after=15 "$left" "$PYTHON" tools/benchmark_accuracy.py --protocol full \
    --ledger "$LEDGER" "$@" | sed -u '/^Fashion-MNIST, full protocol/,$d'
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && say "stopped at the time budget (the runs in progress are lost)"
  return "$rc"
}
SMOKE=${SMOKE:-$([ -s "$LEDGER" ] && echo 0 || echo 1)}
if [ "$SMOKE" = 1 ]; then
  say "smoke test: $SMOKE_ITERS iterations of each kind of run"
  "$PYTHON" tools/gpu_bundle/smoke.py --iters "$SMOKE_ITERS" --subset "$SMOKE_SUBSET" \
    --jobs "$JOBS" --ledger "$OUT/smoke.jsonl" --estimate "$ESTIMATE" ||
    { echo "smoke test failed: no long runs" >&2; exit 1; }
fi
if [ -s "$ESTIMATE" ] && "$PYTHON" -c "import json, sys
sys.exit(json.load(open('$ESTIMATE'))['classroom'] * 1.1 <= 0.85 * $BUDGET_S)"; then
  say "WARNING: at JOBS=$JOBS a classroom run is estimated longer than a call's budget" \
      "($(cat "$ESTIMATE")): no classroom wave will fit; call again with JOBS=4 SMOKE=1"
fi

read -r -a seeds <<<"$SEEDS"
cores=$(nproc)
half=$(( cores / 2 > 0 ? cores / 2 : 1 ))
# stage 1: the mentors and, on the other half of the cores, the student alone
if [ "$PARALLEL_ALONE" = 1 ] && [ "$cores" -ge 2 ]; then
  pids=()
  if plan 4 mentors; then
    ( pin 0-$((half - 1)); bench --stages mentors --seeds 0 --jobs 4 ) &
    pids+=($!)
  fi
  if plan ${#seeds[@]} alone "${seeds[@]}"; then
    ( pin $half-$((cores - 1))
      bench --stages table --only 'Student alone' --seeds "${seeds[@]}" --jobs ${#seeds[@]} ) &
    pids+=($!)
  fi
  for pid in "${pids[@]}"; do wait "$pid"; done
else
  plan "$JOBS" mentors && bench --stages mentors --seeds 0 --jobs "$JOBS"
  plan "$JOBS" alone "${seeds[@]}" &&
    bench --stages table --only 'Student alone' --seeds "${seeds[@]}" --jobs "$JOBS"
fi
pack_mentors
# stage 2: the T0 grid; stage 3: the classrooms, seed by seed
plan "$JOBS" choices $CHOICE_SEEDS &&
  bench --stages choices --only 'aver, T0*' 'classroom, T0*' --choice-seeds $CHOICE_SEEDS \
    --jobs "$JOBS"
for ((i = 0; i < ${#seeds[@]}; i += SEEDS_PER_CALL)); do
  group=("${seeds[@]:i:SEEDS_PER_CALL}")
  plan "$JOBS" table "${group[@]}" &&
    bench --stages table --only AVER ClassroomKD --seeds "${group[@]}" \
      --choice-seeds $CHOICE_SEEDS --jobs "$JOBS"
done

# --- 5. the report, from the ledger alone ---------------------------------------------------
touch "$LEDGER"
"$PYTHON" tools/benchmark_accuracy.py --protocol full --stages --seeds $SEEDS \
  --choice-seeds $CHOICE_SEEDS --ledger "$LEDGER" --out "$OUT/report.md" >/dev/null
{ echo "Measured on: $(paste -sd ';' "$OUT/device.txt")"; echo; cat "$OUT/report.md"; } \
  >"$OUT/report.md.part" && mv "$OUT/report.md.part" "$OUT/report.md"
cat "$OUT/report.md"
say "done: $(wc -l <"$LEDGER") runs in $LEDGER; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
