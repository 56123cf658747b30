#!/usr/bin/env bash
# Writes the GPU bundle (docs/gpu_bundle.md): the pure-Python wheels the classification path
# needs beyond what the device image holds, and the four Fashion-MNIST files gzipped, into an
# ignored folder that a device call carries. Run here, where PyPI answers:
#
#     bash tools/gpu_bundle/make_bundle.sh [BUNDLE]        # default work_dirs/gpu_bundle
#
# Every version is the one .venv runs (requirements/runtime.txt). mmcv is built from its
# sdist without ops (MMCV_WITH_OPS=0: a pure wheel named mmcv_lite; the classification path
# needs no mmcv.ops). Nothing is installed into .venv: it only downloads and builds wheels.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=${1:-work_dirs/gpu_bundle}
PYTHON=${PYTHON:-.venv/bin/python}
PIP="$PYTHON -m pip --disable-pip-version-check -q"
LIMIT=$((64 * 1024 * 1024))  # what one device call carries, tracked files included

# Installed on the device whatever it holds: not in its image, or (setuptools) a version
# that still has pkg_resources, which mmengine's Config needs.
ALWAYS=(mmengine==0.10.7 mmpretrain==1.2.0 addict==2.4.0 yapf==0.43.0 platformdirs==4.14.8
        termcolor==3.3.0 mat4py==0.6.0 model-index==0.1.11 ordered-set==4.1.0
        importlib_metadata==10.2.0 lazy-importer==0.1.0 setuptools==80.9.0)
# In the device's image (/work/.library/device/KINDS.md): installed only where the import
# named in run_bundle.sh fails there.
FALLBACK=(rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 Pygments==2.21.0 einops==0.8.2
          packaging==26.4 click==8.5.1 Markdown==3.11.3)

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/wheels" "$BUNDLE/fallback" "$BUNDLE/data"
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT

echo "Downloading ${#ALWAYS[@]} + ${#FALLBACK[@]} pure-Python wheels..."
$PIP download --no-deps --only-binary=:all: -d "$BUNDLE/wheels" "${ALWAYS[@]}" 2>&1 |
  grep -v "^WARNING: Location" || true
$PIP download --no-deps --only-binary=:all: -d "$BUNDLE/fallback" "${FALLBACK[@]}" 2>&1 |
  grep -v "^WARNING: Location" || true

echo "Building mmcv 2.1.0 without ops..."
$PIP download --no-deps --no-binary=:all: -d "$BUILD" mmcv==2.1.0 2>&1 |
  grep -v "^WARNING: Location" || true
MMCV_WITH_OPS=0 $PIP wheel --no-deps --no-build-isolation --no-index -w "$BUNDLE/wheels" \
  "$BUILD"/mmcv-2.1.0.tar.gz

# Every wheel must be pure: the device's Python (3.12 there) is not this one.
for wheel in "$BUNDLE"/wheels/*.whl "$BUNDLE"/fallback/*.whl; do
  case "$wheel" in
    *-none-any.whl) ;;
    *) echo "not a pure-Python wheel: $wheel" >&2; exit 1 ;;
  esac
done

echo "Packing the Fashion-MNIST files..."
[ -f data/fashion_mnist/train-images-idx3-ubyte ] || "$PYTHON" tools/prepare_fashion_mnist.py
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
            t10k-labels-idx1-ubyte; do
  gzip -9 -n -c "data/fashion_mnist/$name" >"$BUNDLE/data/$name.gz"
done

# the commit the ledger's lines name on a device without git; '+changes' where the code there
# differs from it
{ git rev-parse --short HEAD | tr -d '\n'
  git diff --quiet HEAD -- classroomkd_plugin configs tools || printf '+changes'; echo; } \
  >"$BUNDLE/COMMIT"
(cd "$BUNDLE" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum >SHA256SUMS)

bundle=$(du -sb "$BUNDLE" | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb | tail -1 | cut -f1)
untracked=${untracked:-0}
total=$((bundle + tracked + untracked))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo
du -b "$BUNDLE"/wheels/*.whl "$BUNDLE"/fallback/*.whl "$BUNDLE"/data/* |
  awk '{ printf "%9.2f MiB  %s\n", $1 / 1048576, $2 }'
echo "bundle $(mib "$bundle") + tracked files $(mib "$tracked") + untracked $(mib "$untracked")" \
  "= $(mib "$total") of the $(mib "$LIMIT") a device call carries"
if [ "$total" -gt "$LIMIT" ]; then
  echo "over the limit" >&2
  exit 1
fi
echo "Bundle ready: $BUNDLE (carry it: see docs/gpu_bundle.md)"
