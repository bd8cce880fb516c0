"""The decoded-image store on a hostile disk: full, killed midway, or built by two processes at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from engine.data.decoded_store import build_store, cache_key
from engine.data.scan import scan_folder
from tests.reliability.disks import small_disk
from tests.reliability.fixtures import REPO, run_python

BUILD = """
import json, os, sys, time
from pathlib import Path
from engine.core.events import Warning
from engine.data import decoded_store
from engine.data.scan import scan_folder
real, decoded, warnings = decoded_store.decode_one, [], []
def slow_decode(path, size, channels):
    decoded.append(path)
    if os.environ.get("BEGUN") and len(decoded) == 1:     # tell the test decoding began, wait for its go
        Path(os.environ["BEGUN"]).touch()
        while not Path(os.environ["GO"]).exists():
            time.sleep(0.02)
    time.sleep(float(sys.argv[3]))
    return real(path, size, channels)
decoded_store.decode_one = slow_decode
report = scan_folder(sys.argv[1], verify=False)
sink = lambda event: warnings.append(event.message) if isinstance(event, Warning) else None
if os.environ.get("READY"):
    Path(os.environ["READY"]).touch()
store, _ = decoded_store.build_store(report, 32, 3, cache_dir=sys.argv[2], on_event=sink)
print(json.dumps({"decoded": len(decoded), "images": len(store), "warnings": warnings}))
"""


def test_a_full_disk_builds_the_store_in_memory_with_a_warning_and_leaves_no_temp_file(image_folder, tmp_path):
    with small_disk(tmp_path / "cache", "64k") as cache:             # the store needs 24 x 3 x 32 x 32 = 72 KB
        done = run_python(BUILD, str(image_folder), str(cache), "0")
        assert done.returncode == 0, done.stderr                     # no SIGBUS (exit -7)
        result = json.loads(done.stdout)
        assert result["images"] == 24
        assert any("the disk is full" in w and "keeping images in memory only" in w for w in result["warnings"])
        assert list(cache.rglob("*.partial")) == []


def test_temp_files_of_a_build_killed_midway_are_removed_at_the_next_build(image_folder, tmp_path):
    cache = tmp_path / "cache"
    abandoned = cache / "0123abcd-feed"
    abandoned.mkdir(parents=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (abandoned / f".images.npy.{int(ended.stdout)}-1.partial").write_bytes(b"\0" * 4096)   # its writer has ended
    build_store(scan_folder(image_folder), 16, 3, cache_dir=cache)
    assert not abandoned.exists()
    assert [p.name for p in cache.iterdir()] == [cache_key(scan_folder(image_folder), 16, 3)]


def test_two_processes_building_one_store_decode_it_once(image_folder, tmp_path):
    cache, begun, ready = tmp_path / "cache", tmp_path / "begun", tmp_path / "ready"
    environment = {**os.environ, "BEGUN": str(begun), "GO": str(ready)}
    first = subprocess.Popen([sys.executable, "-c", BUILD, str(image_folder), str(cache), "0.05"], cwd=REPO,
                             env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not begun.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert begun.exists(), first.communicate()[1]
        # the second reaches build_store while the first is decoding; its READY file lets the first go on
        second = run_python(BUILD, str(image_folder), str(cache), "0", READY=str(ready))
        out, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0 and second.returncode == 0, (err, second.stderr)
    decoded = [json.loads(out)["decoded"], json.loads(second.stdout)["decoded"]]
    assert decoded == [24, 0]                                        # the second waited, then reused the store
    assert list(cache.rglob("*.partial")) == []
