"""Hostile image folders end to end: broken, huge, rotated, odd-mode and very many files,
and a seeded fuzz of the scanner."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap

from desktop.common import thumbnails
from desktop.common.thumbnail_grid import ThumbnailGrid, ThumbnailModel
from desktop.common.thumbnails import Request
from engine import Warning, run_pretraining
from engine.data.augment import default_mean_std, normalize_only
from engine.data.decoded_store import build_store, decode_one
from engine.data.gpu_decode import BatchedJpegDecoder
from engine.data.scan import ScanReport, scan_folder
from engine.store.runs import open_run_folder
from tests.engine.run_helpers import count_decodes, tiny_config
from tests.image_files import deny_reading, write_png_header, write_shape_images, write_truncated_jpeg
from tests.reliability.fixtures import (
    FORMATS, PEAK_MB, bright_corner, corrupt, fuzz_seeds, marked_upright, run_python, write_gif_header, write_oriented,
    write_png_bomb,
)

# --- 1. a messy folder ----------------------------------------------------------------------------

MESSY_PROBLEMS = {
    "cut.jpg": "truncated",
    "empty.png": "empty",
    "notes.jpg": "not an image",
    "locked.png": "unreadable",
    "self.jpg": "unreadable",        # a link to itself
}


@pytest.fixture
def messy_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "messy"
    write_shape_images(root, 6)
    write_shape_images(root / "x.jpg", 1, seed=5)      # a folder named like an image is walked
    write_truncated_jpeg(root / "cut.jpg")
    (root / "empty.png").write_bytes(b"")
    (root / "notes.jpg").write_text("a text file renamed .jpg")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1\0")
    os.symlink(root, root / "loop")                    # a link to its own folder
    os.symlink("self.jpg", root / "self.jpg")
    Image.new("RGB", (8, 8)).save(root / "locked.png")
    deny_reading(monkeypatch, root / "locked.png")     # chmod 000 does not stop root
    return root


def test_01_a_messy_folder_is_scanned_each_problem_has_its_reason_and_training_uses_the_good_images(
        messy_folder, tmp_path):
    good = sorted([f"img_{i:04d}.png" for i in range(6)] + ["x.jpg/img_0000.png"])
    report = scan_folder(messy_folder)
    assert [r.path for r in report.images] == good
    assert {p.path: p.reason for p in report.problems} == MESSY_PROBLEMS
    assert "symbolic links" in next(p.detail for p in report.problems if p.path == "self.jpg")
    assert (report.skipped_hidden, report.skipped_other) == (1, 1)   # .DS_Store; the folder link
    text = report.summary_text()
    assert all(f"{path}: {reason}" in text for path, reason in MESSY_PROBLEMS.items())

    events = []
    result = run_pretraining(tiny_config(messy_folder, tmp_path, batch_size=4), on_event=events.append)
    assert result.status == "completed"
    trained = ScanReport.load(open_run_folder(result.run_dir).scan_path)
    assert [r.path for r in trained.images] == good
    assert {p.path for p in trained.problems} == set(MESSY_PROBLEMS)
    assert any("cut.jpg" in e.message for e in events if isinstance(e, Warning))   # found while decoding


# --- 2. a decompression bomb ------------------------------------------------------------------------

BOMB_PROBE = PEAK_MB + """
import sys
from engine.data import imageio
from engine.data.decoded_store import decode_one
from engine.data.scan import scan_folder
from desktop.common.thumbnails import Request, render
before = peak_mb()
report = scan_folder(sys.argv[1])
for name in ("bomb.png", "bomb.gif", "over.png"):
    path = f"{sys.argv[1]}/{name}"
    assert isinstance(decode_one(path, 64, 3), imageio.UnusableImage)
    try:
        render(Request(path, 1, 0.0, 3, 112, square=False))
    except imageio.UnusableImage:
        pass
print(sorted((p.path, p.reason) for p in report.problems), report.usable)
print("grew_mb", peak_mb() - before)
"""


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_02_a_decompression_bomb_is_refused_from_its_header_in_bounded_memory(tmp_path):
    root = tmp_path / "bombs"
    write_shape_images(root, 2)
    write_png_header(root / "bomb.png", 100_000, 100_000)     # 30 GB of pixels if decoded
    write_gif_header(root / "bomb.gif", 65_535, 65_535)
    write_png_bomb(root / "over.png", 10_000, 9_000)          # 88 KB, 270 MB as RGB: Pillow only warns
    report = scan_folder(root)
    assert report.usable == 2
    assert {p.path: p.reason for p in report.problems} == dict.fromkeys(
        ("bomb.gif", "bomb.png", "over.png"), "decompression bomb")
    assert "10000x9000 pixels is over the limit" in report.summary_text()
    # Pillow's pixel buffers are invisible to tracemalloc: measure a fresh process's peak RSS.
    done = run_python(BOMB_PROBE, str(root), timeout=60)
    assert done.returncode == 0, done.stderr
    reasons, grew = done.stdout.splitlines()
    assert reasons == f"{sorted((p.path, p.reason) for p in report.problems)} 2"
    assert float(grew.split()[1]) < 50


# --- 3. EXIF orientation ------------------------------------------------------------------------------

@pytest.fixture
def rotated_folder(tmp_path: Path) -> Path:
    """Every format with EXIF orientation 3, 6 and 8, each upright with a bright top-left corner."""
    root = tmp_path / "rotated"
    root.mkdir()
    for suffix in FORMATS:
        for orientation in (3, 6, 8):
            write_oriented(root / f"o{orientation}.{suffix}", orientation)
    return root


def test_03_exif_orientation_gives_upright_thumbnails_previews_and_training_tensors(rotated_folder, tmp_path):
    height, width = marked_upright().shape[:2]
    report = scan_folder(rotated_folder)
    assert report.usable == 12 and report.problems == []
    assert {(r.width, r.height) for r in report.images} == {(width, height)}
    paths = [str(rotated_folder / r.path) for r in report.images]

    for path in paths:
        preview = thumbnails.render(Request(path, 1, 0.0, 3, 200, square=False))
        assert preview.shape == (height, width, 3) and bright_corner(preview) == "top-left", path
        thumb = thumbnails.load_or_make(Request(path, 1, 0.0, 3, 32), tmp_path / "thumbs")
        cached = thumbnails.load_or_make(Request(path, 1, 0.0, 3, 32), tmp_path / "thumbs")
        for pixels in (thumb, cached):
            assert pixels.shape == (32, 32, 3) and bright_corner(pixels) == "top-left", path

    store, problems = build_store(report, 32, 3, cache_dir=tmp_path / "cache")
    assert problems == [] and len(store) == 12
    assert [bright_corner(row.permute(1, 2, 0).numpy()) for row in store.images] == ["top-left"] * 12
    jpegs = [p for p in paths if p.endswith(".jpg")]
    for decoded in BatchedJpegDecoder(32, 3, "cpu", fallback=decode_one)(jpegs):   # the CUDA path's code
        assert bright_corner(decoded.transpose(1, 2, 0)) == "top-left"


# --- 4. unusual pixel modes ------------------------------------------------------------------------------

SIDE = 16


def write_mode_images(root: Path) -> dict[str, np.ndarray]:
    """One 16 x 16 file per awkward mode; returns each file's expected upright RGB pixels."""
    root.mkdir(parents=True)
    expected = {}
    ramp = np.linspace(0, 65535, SIDE * SIDE).reshape(SIDE, SIDE).astype(np.uint16)
    Image.fromarray(ramp).save(root / "gray16.png")                       # I;16
    expected["gray16.png"] = np.repeat(np.rint(ramp / 257.0).astype(np.uint8)[..., None], 3, axis=2)
    red = np.zeros((SIDE, SIDE, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).convert("CMYK").save(root / "cmyk.tif")
    expected["cmyk.tif"] = red
    rgba = np.zeros((SIDE, SIDE, 4), np.uint8)
    rgba[:, : SIDE // 2] = (0, 0, 255, 255)                               # opaque blue left, clear right
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    expected["rgba.png"] = np.where(np.arange(SIDE)[None, :, None] < SIDE // 2, [0, 0, 255], 255).astype(np.uint8)
    top = np.broadcast_to(np.arange(SIDE)[:, None] < SIDE // 2, (SIDE, SIDE))
    palette = Image.fromarray(np.where(top, 0, 1).astype(np.uint8), "P")
    palette.putpalette([0, 255, 0, 9, 9, 9])
    palette.save(root / "palette.png", transparency=1)                    # green top, clear bottom
    expected["palette.png"] = np.where(top[..., None], [0, 255, 0], 255).astype(np.uint8)
    checker = (np.indices((SIDE, SIDE)).sum(0) % 2 * 255).astype(np.uint8)
    Image.fromarray(checker).convert("1").save(root / "bits.png")
    expected["bits.png"] = np.repeat(checker[..., None], 3, axis=2)
    frames = [Image.fromarray(red), Image.fromarray(np.roll(red, 2, axis=2))]   # red, then blue
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    expected["anim.gif"] = red
    return expected


def test_04_unusual_pixel_modes_become_valid_tensors(tmp_path):
    expected = write_mode_images(tmp_path / "modes")
    report = scan_folder(tmp_path / "modes")
    assert report.problems == [] and report.channels == 3
    assert report.mode_histogram() == {"I;16": 1, "CMYK": 1, "RGBA": 1, "P": 2, "1": 1}
    store, problems = build_store(report, SIDE, 3, cache_dir=tmp_path / "cache")
    assert problems == [] and store.images.dtype == torch.uint8 and store.images.shape == (6, 3, SIDE, SIDE)
    for row, path in zip(store.images, store.paths):
        got = row.permute(1, 2, 0).numpy().astype(int)
        assert np.abs(got - expected[path]).max() <= 2, path      # RGB in channel order, alpha over white
    mean, std = default_mean_std(3)
    views = normalize_only(store.images, SIDE, mean, std)
    low = (0 - torch.tensor(mean)) / torch.tensor(std)
    high = (1 - torch.tensor(mean)) / torch.tensor(std)
    assert views.dtype == torch.float32 and torch.isfinite(views).all()
    assert ((views >= low.view(1, 3, 1, 1) - 1e-6) & (views <= high.view(1, 3, 1, 1) + 1e-6)).all()

    gray = tmp_path / "gray"
    gray.mkdir()
    for name in ("gray16.png", "bits.png"):
        (gray / name).write_bytes((tmp_path / "modes" / name).read_bytes())
    gray_report = scan_folder(gray)
    assert gray_report.channels == 1
    gray_store, _ = build_store(gray_report, SIDE, 1, cache_dir=tmp_path / "cache")
    assert gray_store.images.shape == (2, 1, SIDE, SIDE)
    assert [row[0].numpy().tolist() for row in gray_store.images] == [
        expected[path][..., 0].tolist() for path in gray_store.paths]


# --- 5. a hundred thousand files -----------------------------------------------------------------------------

HUNDRED_K = 100_000
SCAN_PROBE = PEAK_MB + """
import sys, time
from engine.data.scan import scan_folder
before = peak_mb()
started = time.monotonic()
report = scan_folder(sys.argv[1], verify=False)
print(report.usable, len(report.problems), round(time.monotonic() - started, 1))
print("grew_mb", peak_mb() - before)
report.save(sys.argv[2])
"""


@pytest.mark.slow
def test_05_a_folder_of_100k_files_scans_in_bounded_memory_and_the_grid_decodes_only_what_it_shows(
        tmp_path, qtbot, monkeypatch):
    root = tmp_path / "many"
    for folder in range(100):       # hard links of one tiny PNG per folder (a file takes at most 65k links)
        sub = root / f"{folder:02d}"
        first = write_shape_images(sub, 1, size=12, seed=folder)[0]
        for i in range(1, HUNDRED_K // 100):
            os.link(first, sub / f"{i:04d}.png")
    saved = tmp_path / "report.json"
    done = run_python(SCAN_PROBE, str(root), str(saved), timeout=120)
    assert done.returncode == 0, done.stderr
    counts, grew = done.stdout.splitlines()
    assert counts.split()[:2] == [str(HUNDRED_K), "0"]
    assert float(grew.split()[1]) < 100          # about 250 bytes of report per file

    report = ScanReport.load(saved)
    decodes = count_decodes(monkeypatch)
    loader = thumbnails.ThumbnailLoader(tmp_path / "thumbs")
    model = ThumbnailModel(loader)
    model.set_images(report.root, report.images)
    grid = ThumbnailGrid(model)
    qtbot.addWidget(grid)
    grid.resize(800, 600)
    grid.show()
    qtbot.waitExposed(grid)
    assert model.rowCount() == HUNDRED_K
    qtbot.waitUntil(lambda: model.loaded_count() >= 12, timeout=20_000)
    grid.scrollToBottom()
    last = model.index(HUNDRED_K - 1)
    qtbot.waitUntil(lambda: isinstance(last.data(Qt.ItemDataRole.DecorationRole), QPixmap), timeout=20_000)
    loader.shutdown()
    assert model.loaded_count() < 200 and len(decodes) < 500    # what was on screen, not 100k


# --- fuzz: a few hundred corrupted files ------------------------------------------------------------------------

FUZZ_FILES = 300


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PIL.Image.DecompressionBombWarning")
def test_fuzz_every_corrupted_file_is_classified_and_every_usable_one_decodes(tmp_path):
    rng = np.random.default_rng(3)      # this corpus holds a PNG whose IHDR chunk is cut short
    seeds = fuzz_seeds(rng)
    root = tmp_path / "fuzz"
    root.mkdir()
    for i in range(FUZZ_FILES):
        suffix, data = seeds[i % len(seeds)]
        (root / f"{i:03d}.{suffix}").write_bytes(corrupt(data, rng))
    report = scan_folder(root)
    classified = [r.path for r in report.images] + [p.path for p in report.problems]
    assert sorted(classified) == sorted(os.listdir(root))
    assert {p.reason for p in report.problems} <= {"empty", "truncated", "not an image", "unreadable",
                                                   "decompression bomb"}
    assert 0 < report.usable < FUZZ_FILES and all(p.detail for p in report.problems)
    for channels in (1, 3):
        store, problems = build_store(report, 16, channels, cache_dir=tmp_path / "cache")
        assert problems == [] and len(store) == report.usable


def test_fuzz_regression_a_png_with_a_cut_header_chunk_is_unreadable_not_a_crash(tmp_path):
    ihdr = struct.pack(">IIBBB", 8, 8, 8, 2, 0)    # 11 of the 13 bytes an IHDR chunk needs
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "cut-header.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    write_shape_images(tmp_path, 1)
    report = scan_folder(tmp_path)
    assert report.usable == 1
    assert [(p.path, p.reason) for p in report.problems] == [("cut-header.png", "unreadable")]
    assert "IHDR" in report.problems[0].detail
