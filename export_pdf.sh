#!/usr/bin/env bash
# Turn the homework notebook into the two files Canvas wants (notebook + PDF), also zipped.
# Run `./export_pdf.sh --help` for usage. The input notebook is never modified.
# The work is done by the Python package pdf_export beside this script; this finds a Python.
set -euo pipefail
unset CDPATH

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd -P)

# Whether Python $1 has nbconvert (found without importing it: that is slow).
has_nbconvert() {
    "$1" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("nbconvert") is None)' \
        >/dev/null 2>&1
}

# $PYTHON, the repo's .venv, then python3/python on PATH: the first that has nbconvert, else
# the first that runs (pdf_export then answers --help, or says that nbconvert is missing).
find_python() {
    local candidate fallback=""
    for candidate in "${PYTHON:-}" "$SCRIPT_DIR/.venv/bin/python" \
        "$SCRIPT_DIR/.venv/Scripts/python.exe" python3 python; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if has_nbconvert "$candidate"; then
            echo "$candidate"
            return 0
        fi
        fallback=${fallback:-$candidate}
    done
    [ -n "$fallback" ] && echo "$fallback"
}

if ! python=$(find_python); then
    printf '%s: error: %s\n' "$PROG" "no Python with nbconvert found. Run 'make' in the repo\
 (it creates .venv), or: pip install nbconvert, or set PYTHON=/path/to/python" >&2
    exit 1
fi

export PYTHONPATH="$SCRIPT_DIR${PYTHONPATH:+:$PYTHONPATH}"
export PDF_EXPORT_PROG="$PROG"
exec "$python" -m pdf_export "$@"
