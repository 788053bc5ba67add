#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 base).
# It installs Python 3.11, the CPU-only torch build, the pinned requirements and bubblewrap, and
# fetches the course's data once (course/data.sha256, from course/data.mirrors), verified by
# SHA-256, so grading a submission downloads nothing.
# The paths below can be moved with environment variables (tests, other images).
set -euo pipefail

SOURCE=${AUTOGRADER_SOURCE:-/autograder/source}
VENV=${GRADER_VENV:-/opt/grader-venv}
DATA=${GRADER_DATA:-/opt/grader-data}
CHECKSUMS="$SOURCE/course/data.sha256"
MIRRORS="$SOURCE/course/data.mirrors"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    python3.11 python3.11-venv bubblewrap ca-certificates curl >/dev/null

python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# The CPU-only torch build (PyPI's default build carries CUDA: gigabytes Gradescope never uses).
mapfile -t torch_pins < <(grep -hE '^(torch|torchvision)==' "$SOURCE/requirements.txt" "$SOURCE/grader/requirements.txt" | sort -u)
"$VENV/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu "${torch_pins[@]}"
"$VENV/bin/pip" install -q -r "$SOURCE/requirements.txt" -r "$SOURCE/grader/requirements.txt"

fetch() {  # fetch <path under the data directory>: <mirror>/<file name>.gz, first that works
  local path=$1 mirror
  mkdir -p "$DATA/$(dirname "$path")"
  while read -r mirror; do
    if curl -fsSL --retry 3 "$mirror/$(basename "$path").gz" | gunzip >"$DATA/$path"; then
      return 0
    fi
  done <"$MIRRORS"
  echo "could not download data file $path" >&2
  return 1
}

mkdir -p "$DATA"
if [ -f "$CHECKSUMS" ]; then
  while read -r _ path; do
    fetch "$path"
  done <"$CHECKSUMS"
  (cd "$DATA" && sha256sum --check --strict "$CHECKSUMS")
fi

# Submissions may run as the unprivileged user 'nobody': it must read the code, venv and data.
chmod -R a+rX "$SOURCE" "$VENV" "$DATA"
