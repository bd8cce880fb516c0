"""Decoding single images: every pixel mode, EXIF rotation and every kind of broken file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from engine.data import imageio
from engine.data.imageio import UnusableImage
from tests.image_files import deny_reading, write_png_header, write_truncated_jpeg


def save(tmp_path: Path, name: str, im: Image.Image, **params) -> Path:
    path = tmp_path / name
    im.save(path, **params)
    return path


def test_exif_orientation_6_swaps_header_and_decodes_upright(tmp_path):
    # Stored 40 wide x 20 tall: the top half red, the bottom half blue.
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:10] = (255, 0, 0)
    pixels[10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show rotated 90 degrees clockwise
    path = save(tmp_path, "rotated.jpg", Image.fromarray(pixels), exif=exif, quality=95)

    assert imageio.read_header(path) == (20, 40, "RGB")
    out = imageio.decode(path, 3)
    assert out.shape == (40, 20, 3)
    # After the clockwise turn the stored top (red) is on the right.
    right, left = out[:, 12:].astype(int), out[:, :8].astype(int)
    assert right[..., 0].mean() > 200 and right[..., 2].mean() < 60
    assert left[..., 2].mean() > 200 and left[..., 0].mean() < 60


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 8).astype(np.uint16).reshape(8, 64)
    path = save(tmp_path, "deep.png", Image.fromarray(ramp))
    assert imageio.read_header(path)[2].startswith("I;16")

    out = imageio.decode(path, 1)
    assert out.dtype == np.uint8 and out.shape == (8, 64, 1)
    assert out.min() == 0 and out.max() == 255
    assert len(np.unique(out)) > 200  # a ramp, not a clipped block of 255
    np.testing.assert_allclose(out[..., 0].astype(float), ramp / 257.0, atol=0.51)


def test_float_image_in_unit_range_is_stretched_to_255(tmp_path):
    values = np.linspace(0.0, 1.0, 16, dtype=np.float32).reshape(4, 4)
    path = save(tmp_path, "float.tif", Image.fromarray(values, "F"))
    out = imageio.decode(path, 3)
    assert out.shape == (4, 4, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255


def test_rgba_and_palette_transparency_composite_on_white(tmp_path):
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[:3] = (200, 10, 10, 255)  # opaque red on top, fully transparent below
    out = imageio.decode(save(tmp_path, "alpha.png", Image.fromarray(rgba, "RGBA")), 3)
    assert (out[:3] == (200, 10, 10)).all()
    assert (out[3:] == 255).all()

    palette = Image.new("P", (6, 6), 1)
    palette.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    palette.paste(0, (0, 0, 6, 3))
    out = imageio.decode(save(tmp_path, "clear.gif", palette, transparency=0), 3)
    assert (out[:3] == 255).all()
    assert (out[3:] == (0, 200, 0)).all()


def test_cmyk_one_bit_and_animated_gif_give_valid_arrays(tmp_path):
    cmyk = Image.new("CMYK", (12, 8), (0, 255, 255, 0))  # pure red in ink
    out = imageio.decode(save(tmp_path, "cmyk.jpg", cmyk, quality=95), 3)
    assert out.shape == (8, 12, 3) and out.dtype == np.uint8
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60

    bits = Image.fromarray(np.indices((8, 8)).sum(0) % 2 == 0)
    assert bits.mode == "1"
    out = imageio.decode(save(tmp_path, "bits.png", bits), 1)
    assert out.shape == (8, 8, 1) and set(np.unique(out)) == {0, 255}

    frames = [Image.new("RGB", (10, 10), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    out = imageio.decode(path, 3)
    assert out.shape == (10, 10, 3)
    assert (out[..., 0] > 200).all() and (out[..., 2] < 60).all()  # the first (red) frame


def test_decode_resized_crops_the_centre_square(tmp_path):
    # 60 x 20: a white middle third between black sides; the centre crop is all white.
    pixels = np.zeros((20, 60, 3), np.uint8)
    pixels[:, 20:40] = 255
    path = save(tmp_path, "wide.png", Image.fromarray(pixels))
    out = imageio.decode_resized(path, 10, 3)
    assert out.shape == (3, 10, 10) and out.dtype == np.uint8
    assert (out == 255).all()
    gray = imageio.decode_resized(path, 16, 1)
    assert gray.shape == (1, 16, 16) and (gray == 255).all()


def test_large_jpeg_uses_draft_and_matches_a_full_resize(tmp_path):
    yy, xx = np.mgrid[0:480, 0:640]
    pixels = np.stack([xx * 255 // 639, yy * 255 // 479, np.full_like(xx, 90)], -1).astype(np.uint8)
    path = save(tmp_path, "big.jpg", Image.fromarray(pixels), quality=95)
    drafted = []
    real_draft = Image.Image.draft

    def spy(self, mode, size):
        drafted.append(size)
        return real_draft(self, mode, size)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("PIL.JpegImagePlugin.JpegImageFile.draft", spy)
        out = imageio.decode_resized(path, 32, 3)
    assert drafted, "a JPEG 15x larger than the target should be decoded at reduced scale"
    full = Image.fromarray(imageio.decode(path, 3)).resize((43, 32), Image.Resampling.BILINEAR)
    reference = np.asarray(full)[:, 5:37].transpose(2, 0, 1).astype(int)
    assert out.shape == (3, 32, 32)
    assert np.abs(out.astype(int) - reference).mean() < 6


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(UnusableImage) as info:
        imageio.read_header(path)
    assert info.value.reason == "empty"


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: milk, eggs")
    with pytest.raises(UnusableImage) as info:
        imageio.decode(path, 3)
    assert info.value.reason == "not an image"


def test_truncated_jpeg_has_a_header_but_fails_to_decode(tmp_path):
    path = write_truncated_jpeg(tmp_path / "cut.jpg")
    assert imageio.read_header(path) == (64, 64, "RGB")
    with pytest.raises(UnusableImage) as info:
        imageio.decode(path, 3)
    assert info.value.reason == "truncated"
    with pytest.raises(UnusableImage, match="truncated"):
        imageio.decode_resized(path, 16, 3)


def test_verify_reads_a_large_jpeg_whole_and_reports_its_full_size(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (300, 480, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = save(tmp_path, "photo.jpg", Image.fromarray(pixels), exif=exif, quality=90)
    gray = save(tmp_path, "gray.jpg", Image.fromarray(pixels[..., 0]), quality=90)
    assert imageio.verify(rotated) == imageio.read_header(rotated) == (300, 480, "RGB")
    assert imageio.verify(gray) == (480, 300, "L")
    cut = write_truncated_jpeg(tmp_path / "cut.jpg", size=400)       # decoded at 1/8 scale: 50 px
    with pytest.raises(UnusableImage) as info:
        imageio.verify(cut)
    assert info.value.reason == "truncated"


def test_unreadable_file(tmp_path, monkeypatch):
    path = save(tmp_path, "locked.png", Image.new("RGB", (4, 4)))
    deny_reading(monkeypatch, path)
    with pytest.raises(UnusableImage) as info:
        imageio.read_header(path)
    assert info.value.reason == "unreadable"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("width, height", [(100_000, 100_000), (10_000, 9_000)])
def test_decompression_bombs_are_refused_from_the_header(tmp_path, width, height):
    path = write_png_header(tmp_path / "bomb.png", width, height)
    for read in (imageio.read_header, lambda p: imageio.decode(p, 3)):
        with pytest.raises(UnusableImage) as info:
            read(path)
        assert info.value.reason == "decompression bomb"


def test_grayscale_modes():
    for mode in ("L", "LA", "1", "I;16", "I;16B", "I", "F"):
        assert imageio.is_grayscale_mode(mode), mode
    for mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
        assert not imageio.is_grayscale_mode(mode), mode


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "RGB", "P", "LA", "RGBA"])
@pytest.mark.parametrize("extra", [{}, {"transparency": 0}, {"dpi": (72, 72)}, {"exif": b"Exif\x00\x00II*\x00"},
                                   {"pnginfo": "text"}])
def test_the_quick_png_header_agrees_with_pillow(tmp_path, mode, extra):
    image = Image.new(mode, (7, 5))
    options = dict(extra)
    if options.get("pnginfo") == "text":
        info = PngImagePlugin.PngInfo()
        info.add_text("note", "a text chunk")
        options["pnginfo"] = info
    if "transparency" in options:
        if mode in ("LA", "RGBA", "1", "I;16"):
            options.pop("transparency")
        elif mode == "RGB":
            options["transparency"] = (0, 0, 0)
    path = tmp_path / "a.png"
    image.save(path, **options)
    with Image.open(path) as opened:
        expected = (opened.size[0], opened.size[1], opened.mode)
    assert imageio.read_header(path) == expected
    quick = imageio._png_header(path)
    assert quick in (None, expected)
    assert (quick is None) == bool(set(extra) & {"exif", "pnginfo"})   # text and EXIF are left to Pillow


def test_a_png_whose_header_checksum_is_bad_is_left_to_pillow_and_refused(tmp_path):
    path = tmp_path / "bad.png"
    Image.new("RGB", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF                                                     # a byte of IHDR's width
    path.write_bytes(bytes(data))
    assert imageio._png_header(path) is None
    with pytest.raises(imageio.UnusableImage):
        imageio.read_header(path)
