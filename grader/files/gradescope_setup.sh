#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 base).
# It installs Python 3.11, the CPU-only torch build, the pinned requirements and bubblewrap, and
# fetches MNIST once, verified by SHA-256, so grading a submission downloads nothing.
# The paths below can be moved with environment variables (tests, other images).
set -euo pipefail

SOURCE=${AUTOGRADER_SOURCE:-/autograder/source}
VENV=${GRADER_VENV:-/opt/grader-venv}
DATA=${GRADER_DATA:-/opt/grader-data}
MNIST_MIRRORS=(https://ossci-datasets.s3.amazonaws.com/mnist http://yann.lecun.com/exdb/mnist)

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    python3.11 python3.11-venv bubblewrap ca-certificates curl >/dev/null

python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# The CPU-only torch build (PyPI's default build carries CUDA: gigabytes Gradescope never uses).
mapfile -t torch_pins < <(grep -E '^(torch|torchvision)==' "$SOURCE/requirements.txt")
"$VENV/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu "${torch_pins[@]}"
"$VENV/bin/pip" install -q -r "$SOURCE/requirements.txt"

fetch_mnist() {
  local name=$1 mirror
  for mirror in "${MNIST_MIRRORS[@]}"; do
    if curl -fsSL --retry 3 "$mirror/$name.gz" | gunzip >"$DATA/MNIST/raw/$name"; then
      return 0
    fi
  done
  echo "could not download MNIST file $name" >&2
  return 1
}

mkdir -p "$DATA/MNIST/raw"
while read -r _ name; do
  fetch_mnist "$name"
done <"$SOURCE/grader/files/MNIST.sha256"
(cd "$DATA/MNIST/raw" && sha256sum --check --strict "$SOURCE/grader/files/MNIST.sha256")

# Submissions may run as the unprivileged user 'nobody': it must read the code, venv and data.
chmod -R a+rX "$SOURCE" "$VENV" "$DATA"
