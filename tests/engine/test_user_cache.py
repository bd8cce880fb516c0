"""The user cache folder: its size by kind, clearing it, and the CLI's cache command."""
from __future__ import annotations

import pytest

from engine.cli import program as cli
from engine.core.user_cache import cache_root, clear, human_size, usage
from engine.data.decoded_store import build_store, cache_key
from engine.data.scan import scan_folder
from engine.data.scan_memory import scan_remembered


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    """A private user cache folder (XDG_CACHE_HOME) filled the way the app fills it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return cache_root()


def test_the_app_keeps_every_cache_under_one_root_and_usage_counts_it_by_kind(image_folder, user_cache):
    report = scan_remembered(image_folder)
    build_store(report, 16, 3)
    thumbnail = user_cache / "thumbnails" / "ab" / "cd.jpg"
    thumbnail.parent.mkdir(parents=True)
    thumbnail.write_bytes(b"x" * 1234)
    sizes = {folder.holds: folder.bytes for folder in usage()}
    assert set(sizes) == {"decoded images", "thumbnails", "folder scans"}
    assert sizes["decoded images"] > 24 * 3 * 16 * 16 and sizes["thumbnails"] == 1234 and sizes["folder scans"] > 0
    assert (user_cache / "decoded" / cache_key(report, 16, 3) / "meta.json").is_file()


def test_clear_frees_everything_and_the_next_use_makes_it_again(image_folder, user_cache, monkeypatch):
    report = scan_folder(image_folder)
    build_store(report, 16, 3)
    before = sum(folder.bytes for folder in usage())
    assert clear() == before > 0 and usage() == []
    assert clear() == 0
    store, _ = build_store(report, 16, 3)
    assert len(store) == 24 and usage()[0].holds == "decoded images"


def test_an_absent_cache_is_empty(tmp_path):
    assert usage(tmp_path / "never") == [] and clear(tmp_path / "never") == 0


@pytest.mark.parametrize("count, text", [(0, "0 bytes"), (999, "999 bytes"), (1536, "1.5 KB"),
                                         (26_800_000, "26.8 MB"), (3 * 10 ** 9, "3.0 GB"), (5 * 10 ** 15, "5000.0 TB")])
def test_human_sizes(count, text):
    assert human_size(count) == text


def test_the_cache_command_lists_and_clears(image_folder, user_cache, capsys):
    build_store(scan_folder(image_folder), 16, 3)
    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"cache folder: {user_cache}" in out and "decoded images: " in out
    assert (user_cache / "decoded").is_dir()
    assert cli.main(["cache", "--clear"]) == 0
    out = capsys.readouterr().out
    assert "cleared: " in out and " freed" in out and usage() == []
    assert cli.main(["cache"]) == 0 and "empty" in capsys.readouterr().out
