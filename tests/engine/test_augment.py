"""Batched augmentation: shapes, ranges, per-sample randomness, reproducibility."""
from __future__ import annotations

import pytest
import torch

from engine.data.augment import ViewSpec, augment_views, default_mean_std, normalize_only

FULL = ViewSpec(size=24, blur_p=0.5, solarize_p=0.5, grayscale_p=0.5)


def _images(b=6, c=3, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _unnormalize(x, channels):
    mean, std = default_mean_std(channels)
    return x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_device_and_range(channels):
    out = augment_views(_images(c=channels, h=40, w=28), FULL, _gen(0))
    assert out.shape == (6, channels, 24, 24)
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    raw = _unnormalize(out, channels)
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
    assert torch.isfinite(out).all()


def test_same_image_gets_different_views_within_a_batch():
    batch = _images(b=1).expand(8, -1, -1, -1).contiguous()
    out = augment_views(batch, FULL, _gen(0))
    for i in range(1, 8):
        assert not torch.allclose(out[0], out[i])


def test_seed_reproduces_and_different_seeds_differ():
    images = _images()
    a = augment_views(images, FULL, _gen(7))
    b = augment_views(images, FULL, _gen(7))
    c = augment_views(images, FULL, _gen(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("channels", [1, 3])
def test_flip_only_spec_equals_flipped_normalised_input(channels):
    images = _images(c=channels)
    spec = ViewSpec(size=32, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_p=1.0,
                    jitter_p=0.0, grayscale_p=0.0)
    out = augment_views(images, spec, _gen(0))
    expected = torch.flip(normalize_only(images, 32), dims=[-1])
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_identity_spec_with_given_mean_std():
    images = _images()
    spec = ViewSpec(size=32, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_p=0.0,
                    jitter_p=0.0, grayscale_p=0.0)
    out = augment_views(images, spec, _gen(0), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    torch.testing.assert_close(out, images.float() / 127.5 - 1, rtol=1e-4, atol=1e-4)


def test_grayscale_p1_makes_channels_equal():
    spec = ViewSpec(size=16, grayscale_p=1.0)
    raw = _unnormalize(augment_views(_images(), spec, _gen(0)), 3)
    torch.testing.assert_close(raw[:, 0], raw[:, 1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(raw[:, 1], raw[:, 2], rtol=1e-4, atol=1e-4)


def test_solarize_p1_inverts_bright_pixels():
    images = torch.full((2, 1, 8, 8), 230, dtype=torch.uint8)
    spec = ViewSpec(size=8, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter_p=0.0, solarize_p=1.0)
    raw = _unnormalize(augment_views(images, spec, _gen(0)), 1)
    torch.testing.assert_close(raw, torch.full_like(raw, 1 - 230 / 255), rtol=1e-4, atol=1e-4)


def test_blur_p1_smooths_and_keeps_mean():
    images = _images(b=4)
    sharp = ViewSpec(size=32, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_p=0.0, jitter_p=0.0,
                     grayscale_p=0.0)
    blurred = ViewSpec(**{**sharp.__dict__, "blur_p": 1.0, "blur_sigma": (1.5, 2.0)})
    a, b = augment_views(images, sharp, _gen(0)), augment_views(images, blurred, _gen(0))
    assert b.diff(dim=-1).abs().mean() < 0.5 * a.diff(dim=-1).abs().mean()
    torch.testing.assert_close(b.mean(dim=(2, 3)), a.mean(dim=(2, 3)), rtol=0, atol=0.05)


def test_normalize_only_resizes():
    out = normalize_only(_images(c=1, h=28, w=28), 32)
    assert out.shape == (6, 1, 32, 32)


def test_rejects_float_input_and_bad_channels():
    with pytest.raises(TypeError, match="uint8"):
        augment_views(torch.rand(2, 3, 8, 8), FULL, _gen(0))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        augment_views(torch.zeros(2, 4, 8, 8, dtype=torch.uint8), FULL, _gen(0))
