#!/usr/bin/env bash
# The GPU bundle's dry run, here on the CPU (docs/gpu_bundle.md): run_bundle.sh --dry-run on
# a copy of what a device call gets, with a Python that has only what the device's image
# has, every stage of it a few iterations long. Nothing in this checkout is written.
#
#     bash tools/gpu_bundle/dry_run.sh [BUNDLE]      # default work_dirs/gpu_bundle
#
# 1. The tree a device call gets: the tracked and untracked-not-ignored files (no data/, no
#    work_dirs/, no .venv), and the bundle where a call carries it (work_dirs/gpu_bundle).
# 2. The device's image: a fresh virtual environment whose site-packages links .venv's copy
#    of each package the image holds (/work/.library/device/KINDS.md: PyTorch, numpy, OpenCV,
#    matplotlib, PyYAML, rich, ...) and nothing else: no OpenMMLab package, none of the
#    bundle's. Everything else comes from the bundle with --no-index.
# 3. In the copy only, the full protocol's configs cut to 3 iterations, with validation and
#    test on 100 images; then run_bundle.sh --dry-run (one run at a time), and once more with
#    --resume on what the first call returned, which must find nothing left to run.
# DRY (default /tmp/gpu_dry) is where it all goes.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=$(cd "${1:-work_dirs/gpu_bundle}" && pwd)
DRY=${DRY:-/tmp/gpu_dry}
VENV_PYTHON=.venv/bin/python

rm -rf "$DRY"
mkdir -p "$DRY/repo/work_dirs"
git ls-files -z --cached --others --exclude-standard |
  xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
  xargs -0 cp --parents -t "$DRY/repo"
cp -r "$BUNDLE" "$DRY/repo/work_dirs/gpu_bundle"

# the image: Python 3.11 here (3.12 there), its packages from .venv, linked
BASE=$("$VENV_PYTHON" -c 'import sys; print(sys._base_executable)')
"$BASE" -m venv "$DRY/image"
"$VENV_PYTHON" - "$DRY/image_site" "$DRY/image" <<'PY'
import re, sys
from importlib.metadata import distributions
from pathlib import Path

# /work/.library/device/KINDS.md, "Python packages already there" (those .venv has count)
IMAGE = '''absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio
attrs botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax
e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml
markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda
numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13
nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum
opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pluggy
portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich
sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop
wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
httpcore2 httpx2 truststore'''.split()  # the last three: what .venv's huggingface-hub needs
normal = lambda name: re.sub(r'[-_.]+', '-', name).lower()
site, venv = Path(sys.argv[1]), Path(sys.argv[2])
site.mkdir()
linked = []
for dist in distributions():
    if normal(dist.metadata['Name']) not in IMAGE or not dist.files:
        continue
    linked.append(dist.metadata['Name'])
    for file in dist.files:
        top = file.parts[0]
        if top == '..' or top == '__pycache__' or (site / top).exists():
            continue
        source = Path(dist.locate_file(top))
        if source.exists():
            (site / top).symlink_to(source)
# the image's site: its .pth files run (setuptools' distutils shim among them)
packages = next(venv.glob('lib/python3*/site-packages'))
(packages / 'device_image.pth').write_text(f'import site; site.addsitedir({str(site)!r})\n')
print(f'image simulated with {len(linked)} packages of .venv:', ' '.join(sorted(linked)))
PY
"$DRY/image/bin/python" -c 'import torch, numpy, cv2
try:
    import mmengine
except ImportError:
    print("the image has torch", torch.__version__, "numpy", numpy.__version__, "and no mmengine")
else:
    raise SystemExit("mmengine leaked into the simulated image")'

# the copy's full protocol, cut short: 23460 iterations (30 epochs) -> 3
cd "$DRY/repo"
for cfg in configs/cls/fashion_mnist/full/*.py; do
  sed -i 's/23460/3/g; s/3910/3/g' "$cfg"
  printf '\n# dry run (tools/gpu_bundle/dry_run.sh)\nval_dataloader = dict(dataset=dict(subset=100))\ntest_dataloader = dict(dataset=dict(subset=100))\n' >>"$cfg"
done
grep -q 'iter_3.pth' configs/cls/fashion_mnist/full/classroom_resnet8_fmnist_full.py

export PYTHON=$DRY/image/bin/python SITE=$DRY/site
echo "=== dry run: first call ==="
OUT=$DRY/out1 nice bash tools/gpu_bundle/run_bundle.sh --dry-run work_dirs/gpu_bundle
# a later call, on a fresh machine: the ledger and mentors.tar come back with --resume
echo "=== dry run: second call, resumed on a fresh copy ==="
rm -rf work_dirs/*_fmnist_full work_dirs/benchmark_fmnist_full data
mkdir -p "$DRY/resume"
cp "$DRY"/out1/{fashion_mnist_full.jsonl,mentors.tar,smoke_estimate.json} "$DRY/resume/"
OUT=$DRY/out2 nice bash tools/gpu_bundle/run_bundle.sh --dry-run --resume "$DRY/resume" \
  work_dirs/gpu_bundle | tee "$DRY/second.txt"
if grep -E 'benchmark_accuracy --stages|runs done already, [1-9]' "$DRY/second.txt"; then
  echo "dry run FAILED: the resumed call ran again what the ledger holds" >&2
  exit 1
fi
echo "dry run passed: $DRY/out1 (first call), $DRY/out2 (resumed)"
