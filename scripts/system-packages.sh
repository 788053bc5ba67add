#!/usr/bin/env bash
# Debian/Ubuntu packages the PDF export and its tests need. Installs them when run as root,
# otherwise prints the exact command. pandoc must stay below 3.8 (newer breaks nbconvert's tables);
# Debian 12 ships 2.17.
set -euo pipefail
packages=(pandoc texlive-xetex texlive-fonts-recommended texlive-plain-generic poppler-utils)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "Install pandoc (<3.8), a TeX distribution with xelatex and poppler (pdftotext) yourself;" \
       "see README.md (macOS/Windows)." >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing ${missing[*]} with apt-get (about 600 MB, once)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing system packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
fi
