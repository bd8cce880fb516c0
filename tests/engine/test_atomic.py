"""The one atomic write path: whole files or none, and OS refusals as one clear line."""
import errno
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
