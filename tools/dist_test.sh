#!/usr/bin/env bash
# Test on NUM_PROCESSES processes: one per GPU with CUDA, else CPU processes on gloo.
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [tools/test.py ARGS]
# NNODES, NODE_RANK, MASTER_ADDR and PORT span several machines, as in MMPretrain and MMPose.
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCESSES [tools/test.py ARGS]" >&2
    exit 1
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# torchrun, else the launcher module of the project's environment
if command -v torchrun >/dev/null; then
    LAUNCH=(torchrun)
elif [ -x "$ROOT/.venv/bin/python" ]; then
    LAUNCH=("$ROOT/.venv/bin/python" -m torch.distributed.run)
else
    LAUNCH=(python -m torch.distributed.run)
fi

PYTHONPATH="$ROOT:$PYTHONPATH" "${LAUNCH[@]}" \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" --nproc_per_node="$GPUS" \
    "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
