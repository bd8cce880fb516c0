"""Batched JPEG decoding (nvJPEG on CUDA; the same torchvision path runs on the CPU here)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data.decoded_store import build_store, decode_one
from engine.data.gpu_decode import BatchedJpegDecoder
from engine.data.scan import scan_folder


def write_jpeg(path: Path, array: np.ndarray, orientation: int | None = None) -> Path:
    image = Image.fromarray(array)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(path, quality=95, exif=exif)
    return path


@pytest.fixture
def jpeg_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "jpegs"
    root.mkdir()
    for i in range(6):
        smooth = np.kron(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
        write_jpeg(root / f"{i}.jpg", smooth)
    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(root / "gray.png")
    data = (root / "0.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return root


def test_batched_decode_matches_the_pil_path(jpeg_folder):
    decoder = BatchedJpegDecoder(16, 3, "cpu", fallback=decode_one)
    paths = sorted(str(p) for p in jpeg_folder.glob("[0-9].jpg"))
    for path, batched in zip(paths, decoder(paths)):
        reference = decode_one(path, 16, 3)
        assert batched.shape == reference.shape == (3, 16, 16) and batched.dtype == np.uint8
        assert np.abs(batched.astype(int) - reference.astype(int)).mean() < 6


def test_non_jpeg_and_broken_files_take_the_pil_path_with_a_reason(jpeg_folder):
    decoder = BatchedJpegDecoder(16, 1, "cpu", fallback=decode_one)
    gray, truncated = decoder([str(jpeg_folder / "gray.png"), str(jpeg_folder / "truncated.jpg")])
    assert gray.shape == (1, 16, 16)
    assert truncated.reason == "truncated"


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((16, 32, 3), np.uint8)
    array[:, :16] = 255                      # left half white
    path = write_jpeg(tmp_path / "rotated.jpg", array, orientation=6)   # shown rotated 90° clockwise
    decoder = BatchedJpegDecoder(16, 3, "cpu", fallback=decode_one)
    upright = decoder([str(path)])[0]
    reference = decode_one(str(path), 16, 3)
    assert np.abs(upright.astype(int) - reference.astype(int)).mean() < 8
    assert upright[:, :8].mean() > 200 and upright[:, 8:].mean() < 60   # white on top after rotation


def test_store_built_with_the_batched_decoder_drops_broken_files(jpeg_folder, tmp_path):
    report = scan_folder(jpeg_folder, verify=False)
    decoder = BatchedJpegDecoder(16, 3, "cpu", fallback=decode_one)
    store, problems = build_store(report, 16, 3, cache_dir=tmp_path / "cache", batch_decoder=decoder)
    assert len(store) == 7 and [p.path for p in problems] == ["truncated.jpg"]
