"""The one atomic write path: whole files or none, and OS refusals as one clear line."""
import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.core import atomic


def test_text_and_json_land_whole_with_no_temp_left(tmp_path: Path):
    atomic.write_json(tmp_path / "sub" / "a.json", {"x": 1})
    atomic.write_text(tmp_path / "b.txt", "é")
    assert (tmp_path / "sub" / "a.json").read_text() == '{"x": 1}'
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "é"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "b.txt", "sub"]


@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "the folder is on a read-only file system"),
                                          (errno.EACCES, "permission denied")])
def test_an_os_refusal_names_the_file_and_the_reason_and_keeps_the_old_file(tmp_path: Path, monkeypatch, code, reason):
    target = tmp_path / "config.json"
    target.write_text("old")

    def refuse(source, destination):
        raise OSError(code, "refused")

    monkeypatch.setattr(atomic, "replace_file", refuse)
    with pytest.raises(atomic.DiskWriteError) as raised:
        atomic.write_text(target, "new")
    assert str(raised.value) == f"cannot write {target}: {reason}"
    assert raised.value.errno == code
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_an_os_error_wrapped_by_a_library_is_found_in_the_cause_chain(tmp_path: Path):
    def torch_like_save(handle):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as error:
            raise RuntimeError("PytorchStreamWriter failed writing file data") from error

    with pytest.raises(atomic.DiskWriteError, match="the disk is full"):
        atomic.write_atomic(tmp_path / "last.pt", torch_like_save)
    assert list(tmp_path.iterdir()) == []


def test_other_failures_pass_through_unchanged(tmp_path: Path):
    def broken(handle):
        raise ValueError("not serialisable")

    with pytest.raises(ValueError, match="not serialisable"):
        atomic.write_atomic(tmp_path / "x.bin", broken)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_that_hides_its_os_error_is_not_taken_for_a_refused_write(tmp_path: Path):
    def broken_download(handle):
        try:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        except OSError:
            raise RuntimeError("the download broke off") from None

    with pytest.raises(RuntimeError, match="the download broke off"):
        atomic.write_atomic(tmp_path / "weights.pth", broken_download)
    assert list(tmp_path.iterdir()) == []


def test_two_threads_writing_one_file_at_once_both_finish(tmp_path: Path):
    target, both_writing, errors = tmp_path / "meta.json", threading.Barrier(2), []

    def write(text: str) -> None:
        def slow(handle):
            handle.write(text.encode())
            both_writing.wait(10)
        try:
            atomic.write_atomic(target, slow)
        except Exception as error:   # noqa: BLE001 - collected for the assert
            errors.append(error)

    threads = [threading.Thread(target=write, args=(text,)) for text in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and target.read_text() in ("first", "second")
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_only_the_temp_files_of_processes_that_ended_are_stale(tmp_path: Path):
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                               capture_output=True, text=True, check=True).stdout)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        temps = {who: tmp_path / f".{who}.json.{pid}-7{atomic.TEMP_SUFFIX}"
                 for who, pid in (("ended", ended), ("running", running.pid), ("this", os.getpid()))}
        temps["unnamed"] = tmp_path / f".old.json{atomic.TEMP_SUFFIX}"
        for temp in temps.values():
            temp.write_bytes(b"half a file")
        assert atomic.remove_stale_temps(tmp_path) == sorted([temps["ended"], temps["unnamed"]])
    finally:
        running.kill()
        running.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([temps["running"].name, temps["this"].name])
    assert atomic.remove_stale_temps(tmp_path / "no-such-folder") == []
