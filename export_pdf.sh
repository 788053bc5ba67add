#!/usr/bin/env bash
# Turn the homework notebook into the two files Canvas wants (notebook + PDF), also zipped.
# Run `./export_pdf.sh --help` for usage. The input notebook is never modified.
set -euo pipefail
unset CDPATH

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd -P)
TEMPLATE_DIR="$SCRIPT_DIR/pdf_export/templates"

usage() {
    cat <<EOF
Usage: $PROG [--web] [--out DIR] [NOTEBOOK]

Makes a PDF of NOTEBOOK (default: homework.ipynb) with nbconvert and packs it for Canvas.
Save the notebook in Jupyter first: the PDF shows what is saved in the file (run all
cells so that outputs and figures are there). NOTEBOOK itself is never changed.
Warns when the notebook was never run or its cells ran out of order (and says which).
A markdown cell whose math LaTeX cannot typeset is named on stderr and shown as plain text.

Options:
  --web      make the PDF with Chromium (nbconvert webpdf) instead of LaTeX (xelatex);
             needs no LaTeX or pandoc, but a Chromium/Chrome browser.
  --out DIR  where to write the results (default: the notebook's folder).
  -h, --help show this help.

Writes, for NOTEBOOK = NAME.ipynb:
  DIR/NAME.pdf                 the PDF
  DIR/submission/NAME.ipynb    upload BOTH files of this folder to Canvas
  DIR/submission/NAME.pdf      (the folder is replaced on every run)
  DIR/submission.zip           the same two files in one zip

Needs: Python with nbconvert (the repo's .venv, or set PYTHON=/path/to/python), and
  LaTeX route: xelatex + pandoc. Debian/Ubuntu:
      sudo apt-get install pandoc texlive-xetex texlive-fonts-recommended texlive-plain-generic
    macOS: MacTeX (https://tug.org/mactex/) and: brew install pandoc
    Windows: MiKTeX (https://miktex.org/download) and pandoc (https://pandoc.org/installing.html)
  --web route: the Python package playwright (pip install 'nbconvert[webpdf]') and Chromium.
    Debian/Ubuntu: sudo apt-get install chromium libjs-mathjax  (works offline; libjs-mathjax
    renders the math without internet). Elsewhere: python -m playwright install chromium
    (one-time download), or point CHROMIUM=/path/to/chromium at an installed Chromium (Linux).
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

warn() {
    printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

# Installation hint for LaTeX + pandoc on this platform.
latex_install_hint() {
    local sudo="sudo "
    [ "$(id -u)" = 0 ] && sudo=""
    case "$(uname -s)" in
    Darwin) echo "install MacTeX (https://tug.org/mactex/), then run: brew install pandoc" ;;
    MINGW* | MSYS* | CYGWIN*)
        echo "install MiKTeX (https://miktex.org/download) and pandoc" \
            "(https://pandoc.org/installing.html), then open a new terminal" ;;
    *)
        echo "run: ${sudo}apt-get install pandoc texlive-xetex texlive-fonts-recommended" \
            "texlive-plain-generic   (Debian/Ubuntu; other Linux: your distribution's" \
            "TeX Live XeTeX and pandoc packages)" ;;
    esac
}

chromium_install_hint() {
    local sudo="sudo "
    [ "$(id -u)" = 0 ] && sudo=""
    case "$(uname -s)" in
    Linux)
        echo "run: ${sudo}apt-get install chromium   (Debian/Ubuntu; or set CHROMIUM=/path/to/chromium)," \
            "or once, with internet: $PY -m playwright install chromium" ;;
    *) echo "run once, with internet: $PY -m playwright install chromium" ;;
    esac
}

# Whether Python $1 can import module $2 (found without importing it: that is slow).
has_module() {
    "$1" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)' \
        "$2" >/dev/null 2>&1
}

# Pick a Python that has nbconvert: $PYTHON, the repo's .venv, then python3/python on PATH.
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" "$SCRIPT_DIR/.venv/bin/python" \
        "$SCRIPT_DIR/.venv/Scripts/python.exe" python3 python; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if has_module "$candidate" nbconvert; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# First Chromium-like browser installed on this system (not playwright's own download).
find_system_chromium() {
    local candidate
    for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Whether playwright has downloaded its own Chromium (python -m playwright install chromium).
playwright_has_chromium() {
    "$PY" - >/dev/null 2>&1 <<'PYEOF'
import os, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    sys.exit(0 if os.path.exists(p.chromium.executable_path) else 1)
PYEOF
}

# Playwright finds browsers only in its own download folder. Build such a folder in $1 whose
# "headless shell" is a link to the system browser $2, so nbconvert webpdf runs offline.
make_playwright_browser_dir() {
    local dir=$1 browser revision arch
    browser="$(cd "$(dirname -- "$2")" && pwd -P)/$(basename -- "$2")"
    revision=$("$PY" - <<'PYEOF'
import json, pathlib, playwright
registry = pathlib.Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
browsers = json.loads(registry.read_text())["browsers"]
print(next(b["revision"] for b in browsers if b["name"] == "chromium-headless-shell"))
PYEOF
    )
    case "$(uname -m)" in
    aarch64 | arm64) arch="linux-arm64" ;;
    *) arch="linux64" ;;
    esac
    mkdir -p "$dir/chromium_headless_shell-$revision/chrome-headless-shell-$arch"
    ln -s "$browser" "$dir/chromium_headless_shell-$revision/chrome-headless-shell-$arch/chrome-headless-shell"
}

# Print the useful part of a failed nbconvert log: LaTeX errors with context, else the tail.
show_failure() {
    local log=$1
    if grep -q '^! ' "$log"; then
        echo "LaTeX errors (the line after 'l.NNN' shows the text that caused it):" >&2
        grep -A 3 '^! ' "$log" | head -n 24 >&2
        echo "Fix that text in the notebook (often math between \$ signs in a markdown cell)," \
            "or try: $PROG --web" >&2
    else
        tail -n 25 "$log" >&2
    fi
}

web=0
out_dir=""
notebook=""
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --web) web=1 ;;
    --out)
        [ $# -ge 2 ] || die "--out needs a folder"
        out_dir=$2
        shift ;;
    --out=*) out_dir=${1#--out=} ;;
    --)
        [ $# -lt 2 ] || notebook=$2
        break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
        [ -z "$notebook" ] || die "only one notebook, please (see --help)"
        notebook=$1 ;;
    esac
    shift
done
notebook=${notebook:-homework.ipynb}

[ -f "$notebook" ] || die "notebook '$notebook' not found (run from its folder or give its path)"
case "$notebook" in
*.ipynb) ;;
*) die "'$notebook' is not a .ipynb notebook" ;;
esac
nb_dir=$(cd "$(dirname -- "$notebook")" && pwd -P)
name=$(basename -- "$notebook" .ipynb)
nb_path="$nb_dir/$name.ipynb"
PY=$(find_python) || die "no Python with nbconvert found. Run 'make' in the repo (it creates" \
    ".venv), or: pip install nbconvert, or set PYTHON=/path/to/python"

# Check every tool first, so a missing one gives one clear message before any work.
nbconvert_args=(--to pdf)
if [ "$web" = 1 ]; then
    has_module "$PY" playwright ||
        die "--web needs the Python package playwright: $PY -m pip install 'nbconvert[webpdf]'"
    browser=""  # a system browser works on Linux; elsewhere playwright's own download
    if [ "$(uname -s)" = Linux ] && [ -n "${CHROMIUM:-}" ]; then
        browser=$(command -v "$CHROMIUM") || die "CHROMIUM=$CHROMIUM is not a program"
    elif [ "$(uname -s)" = Linux ]; then
        browser=$(find_system_chromium) || browser=""
    fi
    if [ -z "$browser" ] && ! playwright_has_chromium; then
        die "--web needs Chromium, which is not installed. To install it," \
            "$(chromium_install_hint). Or drop --web to use LaTeX."
    fi
else
    missing=()
    for tool in xelatex pandoc; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if [ ${#missing[@]} -eq 1 ]; then
        die "making the PDF needs ${missing[0]}, which is not installed. To install it," \
            "$(latex_install_hint). Or try: $PROG --web (needs Chromium instead)."
    elif [ ${#missing[@]} -gt 1 ]; then
        die "making the PDF needs ${missing[0]} and ${missing[1]}, which are not installed." \
            "To install them, $(latex_install_hint). Or try: $PROG --web (needs Chromium instead)."
    fi
fi

out_dir=${out_dir:-$nb_dir}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd -P)
submission="$out_dir/submission"
case "$nb_path" in
"$submission"/*) die "the notebook is inside '$submission', which this script replaces;" \
    "move it or use --out" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/export_pdf.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/copy" "$work/pdf" "$work/submission"
# Snapshot the notebook once: the PDF and the submitted .ipynb both come from this snapshot.
cp -- "$nb_path" "$work/original.ipynb"
cp -- "$nb_path" "$work/copy/$name.ipynb"

if [ "$web" = 1 ]; then
    nbconvert_args=(--to webpdf --template homework_webpdf --WebPDFExporter.page_render_timeout=1000)
    if [ -n "$browser" ]; then
        make_playwright_browser_dir "$work/browsers" "$browser"
        export PLAYWRIGHT_BROWSERS_PATH="$work/browsers"
        export PLAYWRIGHT_SKIP_VALIDATE_HOST_REQUIREMENTS=1
    fi
    # Chromium's sandbox does not work as root (e.g. in containers).
    if [ "$(id -u)" = 0 ]; then
        nbconvert_args+=(--WebPDFExporter.disable_sandbox=True)
    fi
    mathjax=/usr/share/javascript/mathjax/MathJax.js
    if [ -f "$mathjax" ]; then
        nbconvert_args+=("--HTMLExporter.mathjax_url=file://$mathjax?config=TeX-AMS_CHTML-full,Safe")
    else
        warn "math is rendered with MathJax from the internet; offline, install libjs-mathjax"
    fi
elif ! command -v kpsewhich >/dev/null 2>&1 || kpsewhich fvextra.sty >/dev/null 2>&1; then
    # Two xelatex runs (nbconvert's default is three) suffice: the first page's index of
    # answers has a fixed length, so the second run has every page number right.
    nbconvert_args+=(--template homework_latex --PDFExporter.latex_count=2)
else
    warn "LaTeX package fvextra not found: long code lines may be cut off in the PDF" \
        "(Debian: apt-get install texlive-latex-extra; TeX Live: tlmgr install fvextra)"
fi

# Title, index and answer frames for the TA; warnings when the notebook was not run in order;
# for LaTeX, colours and line lengths it can typeset (see the helper's docstring).
prepare_args=(prepare "$work/copy/$name.ipynb" "$name" "$notebook")
[ "$web" = 1 ] || prepare_args+=(--latex)
"$PY" "$SCRIPT_DIR/pdf_export/preprocessors.py" "${prepare_args[@]}"

# Run in the notebook's folder so that images it links (e.g. ![](fig.png)) are found; the
# notebook comes from the copy on stdin, so nbconvert never opens the original.
convert() {
    (cd "$nb_dir" && "$PY" -m nbconvert --stdin "${nbconvert_args[@]}" \
        --TemplateExporter.extra_template_basedirs="$TEMPLATE_DIR" \
        --output-dir "$work/pdf" --output "$name" \
        <"$work/copy/$name.ipynb" >"$work/nbconvert.log" 2>&1)
}

# When LaTeX fails, the markdown cells it cannot typeset (broken math) become verbatim text,
# named on stderr, and the conversion runs again (a few rounds: one error can hide another).
attempt=1
until convert; do
    if [ "$web" = 1 ] || [ "$attempt" -ge 4 ] || ! grep -q '^! ' "$work/nbconvert.log" ||
        ! "$PY" "$SCRIPT_DIR/pdf_export/preprocessors.py" fix-latex "$work/copy/$name.ipynb" \
            "$TEMPLATE_DIR" "$notebook"; then
        echo "$PROG: error: nbconvert could not make the PDF of '$notebook':" >&2
        show_failure "$work/nbconvert.log"
        if grep -q 'No suitable chromium' "$work/nbconvert.log"; then
            echo "No browser found for --web. To install one, $(chromium_install_hint)." >&2
        fi
        exit 1
    fi
    attempt=$((attempt + 1))
done
pdf="$work/pdf/$name.pdf"
[ -s "$pdf" ] || die "nbconvert reported success but wrote no PDF; see: $(tail -n 5 "$work/nbconvert.log")"
if command -v pdftotext >/dev/null 2>&1; then
    chars=$(pdftotext -q "$pdf" - | tr -d '[:space:]' | wc -c)
    [ "$chars" -ge 20 ] || die "the PDF has (almost) no text; is the notebook saved and non-empty?"
fi
cmp -s "$nb_path" "$work/original.ipynb" ||
    warn "the notebook changed while exporting (saved in Jupyter?); the submission has" \
        "the version the PDF was made from"

cp -- "$work/original.ipynb" "$work/submission/$name.ipynb"
cp -- "$pdf" "$work/submission/$name.pdf"
"$PY" -m zipfile -c "$work/submission.zip" "$work/submission/$name.ipynb" \
    "$work/submission/$name.pdf"
cp -- "$pdf" "$out_dir/$name.pdf"
rm -rf "$submission"
cp -R -- "$work/submission" "$submission"
mv -f -- "$work/submission.zip" "$out_dir/submission.zip"

pages=""
if command -v pdfinfo >/dev/null 2>&1; then
    pages=" ($(pdfinfo "$pdf" | awk '/^Pages:/ {print $2}') pages)"
fi
echo "PDF$pages: $out_dir/$name.pdf"
echo "Upload BOTH files to Canvas: $submission/$name.ipynb and $submission/$name.pdf"
echo "(the same two files zipped: $out_dir/submission.zip)"
