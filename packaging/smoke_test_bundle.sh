#!/usr/bin/env bash
# Build the bundle, then start it offscreen with --self-test and check that it exits 0.
#     packaging/smoke_test_bundle.sh            # build + test
#     SKIP_BUILD=1 packaging/smoke_test_bundle.sh   # test an existing dist/pretext-studio/
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=dist/pretext-studio
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    packaging/build_bundle.sh
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# No Python on the PATH and no venv: the bundle must carry everything it needs.
status=0
env -i HOME="$scratch/home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
    XDG_CONFIG_HOME="$scratch/config" XDG_CACHE_HOME="$scratch/cache" \
    XDG_DATA_HOME="$scratch/data" XDG_STATE_HOME="$scratch/state" \
    "$BUNDLE/pretext-studio" --self-test | tee "$scratch/out.txt" || status=$?
if [ "$status" -ne 0 ]; then
    echo "SMOKE TEST FAILED: $BUNDLE/pretext-studio --self-test exited $status" >&2
    exit 1
fi
grep -q "self-test passed" "$scratch/out.txt"
echo "smoke test passed: $BUNDLE/pretext-studio --self-test exited 0 ($(du -sh "$BUNDLE" | cut -f1))"
