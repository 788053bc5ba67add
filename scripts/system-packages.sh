#!/usr/bin/env bash
# Debian/Ubuntu packages for the grader's sandbox (bubblewrap), the Slurm grading recipe, the PDF
# export and their tests. Installs them when run as root, otherwise prints the exact command.
# pandoc must stay below 3.8 (newer breaks nbconvert's tables); Debian 12 ships 2.17. Chromium
# (+ MathJax) serves `export_pdf.sh --web`.
set -euo pipefail
latex=(bubblewrap pandoc texlive-xetex texlive-fonts-recommended texlive-plain-generic poppler-utils
  shellcheck)
browser=(chromium libjs-mathjax)
# A single-node Slurm (with munge) that the tests start to run scripts/grade_array.sbatch.
cluster=(slurm-wlm munge)

missing() {
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || echo "$package"
  done
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "Not Debian/Ubuntu: install bubblewrap (bwrap), pandoc (<3.8), a TeX distribution with" \
       "xelatex and poppler (pdftotext) yourself; see README.md (macOS/Windows)." >&2
  exit 0
fi
mapfile -t need_latex < <(missing "${latex[@]}")
mapfile -t need_browser < <(missing "${browser[@]}")
mapfile -t need_cluster < <(missing "${cluster[@]}")
[ ${#need_latex[@]} -eq 0 ] && [ ${#need_browser[@]} -eq 0 ] && [ ${#need_cluster[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need_latex[*]} ${need_cluster[*]} && sudo apt-get install -y ${need_browser[*]}" >&2
  exit 0
fi
echo "Installing ${need_latex[*]} ${need_browser[*]} ${need_cluster[*]} with apt-get (about 900 MB, once)..."
apt-get update -qq
export DEBIAN_FRONTEND=noninteractive
if [ ${#need_latex[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need_latex[@]}" >/dev/null
fi
if [ ${#need_cluster[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need_cluster[@]}" >/dev/null
fi
if [ ${#need_browser[@]} -gt 0 ]; then
  apt-get install -y -qq "${need_browser[@]}" >/dev/null  # with recommends: fonts for rendering
fi
