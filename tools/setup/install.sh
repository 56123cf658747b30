#!/usr/bin/env bash
# Creates or updates .venv with the pinned OpenMMLab stack (see README "Installation").
# Each step is skipped when what it installs is already there, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3.11}
VENV=.venv
PIP="$VENV/bin/python -m pip --disable-pip-version-check"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

installed() { "$VENV/bin/python" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (a.split('==') for a in sys.argv[1:])))
PY
}

# torch first: mmcv compiles against it.
installed torch==2.14.1 torchvision==0.29.1 ||
  $PIP install -q torch==2.14.1 torchvision==0.29.1

# mmcv 2.1.0 with its compiled ops (mmpose imports mmcv.ops). No wheel exists for torch 2.14:
# pip builds it once (about 12 minutes on 2 cores) and reuses the wheel from its cache.
# The build needs pkg_resources (setuptools < 70), the installed torch (no build isolation)
# and C++20 (torch's headers), which tools/setup/cxx substitutes for the -std=c++17 it asks.
if ! installed mmcv==2.1.0 || ! "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; then
  echo "Installing mmcv 2.1.0 with ops (the first build takes about 12 minutes)..."
  $PIP install -q "setuptools==69.5.1" wheel==0.45.1 ninja==1.13.0
  CXX="$PWD/tools/setup/cxx" MMCV_WITH_OPS=1 MAX_JOBS=2 FORCE_CUDA=0 \
    $PIP install -q --no-build-isolation mmcv==2.1.0
fi

# xtcocotools' PyPI wheel is built against numpy 1: build it against the installed numpy.
$PIP install -q -r requirements/build.txt
installed xtcocotools==1.14.3 ||
  $PIP install -q --no-binary xtcocotools --no-build-isolation xtcocotools==1.14.3

# mmpose and mmdet declare dependencies that do not install here (chumpy) or that we pin
# ourselves: install them without, and their real needs from requirements/runtime.txt.
$PIP install -q -r requirements/runtime.txt
installed mmpose==1.3.2 mmdet==3.3.0 || $PIP install -q --no-deps mmpose==1.3.2 mmdet==3.3.0
$PIP install -q --no-deps -e .
"$VENV/bin/python" -c "import mmcv.ops, mmpose.models, mmpretrain, classroomkd_plugin" &&
  echo "Environment ready: $VENV"
