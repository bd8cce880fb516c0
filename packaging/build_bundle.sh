#!/usr/bin/env bash
# Build the PyInstaller onedir bundle into dist/pretext-studio/ (run it as `make bundle`).
# Slow (many minutes) and large (it carries the venv's torch build, CUDA libraries
# included when torch is a CUDA build), so it is not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet -e '.[package]'
fi
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/pretext-studio.spec
seconds=$(( $(date +%s) - start ))
echo "built dist/pretext-studio/ in $((seconds / 60)) min $((seconds % 60)) s;" \
     "size $(du -sh dist/pretext-studio | cut -f1), $(find dist/pretext-studio -type f | wc -l) files"
