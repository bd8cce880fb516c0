"""The decoded image store: built once, reused, invalidated, compacted, cancellable."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from engine.core.atomic import DiskWriteError
from engine.core.events import Cancelled, CancelToken, Finished, Stage, Started, Warning
from engine.core.locks import holding
from engine.data import decoded_store as cache
from engine.data import imageio
from engine.data.decoded_store import ImageStore, build_store, cache_key
from engine.data.scan import ScanError, ScanReport, scan_folder
from tests.engine.disk_helpers import refuse_writes_of
from tests.engine.run_helpers import count_decodes
from tests.image_files import write_truncated_jpeg


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args):
        raise AssertionError("the store should have been reused, not decoded again")

    monkeypatch.setattr(imageio, "decode_resized", fail)


def test_build_decodes_every_image_in_report_order(image_folder, tmp_path):
    report = scan_folder(image_folder)
    store, problems = build_store(report, 16, 3, cache_dir=tmp_path / "cache")
    assert problems == []
    assert isinstance(store, ImageStore) and len(store) == 24
    assert store.images.shape == (24, 3, 16, 16) and store.images.dtype == torch.uint8
    assert store.paths == [r.path for r in report.images]
    assert (store.size, store.channels, store.on_disk) == (16, 3, False)
    expected = imageio.decode_resized(image_folder / store.paths[5], 16, 3)
    assert np.array_equal(store.images[5].numpy(), expected)

    batch = store.batch(torch.tensor([5, 0, 23, 5]))
    assert batch.shape == (4, 3, 16, 16) and batch.dtype == torch.uint8
    assert torch.equal(batch[0], store.images[5]) and torch.equal(batch[2], store.images[23])
    folder = tmp_path / "cache" / cache_key(report, 16, 3)
    assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "meta.json"]


def test_second_build_reuses_the_store_without_decoding(image_folder, tmp_path, monkeypatch):
    report = scan_folder(image_folder)
    first, _ = build_store(report, 16, 3, cache_dir=tmp_path)
    forbid_decoding(monkeypatch)
    seen = []
    second, problems = build_store(report, 16, 3, cache_dir=tmp_path, on_event=seen.append)
    assert torch.equal(first.images, second.images) and second.paths == first.paths
    assert problems == []
    assert isinstance(seen[0], Started) and seen[0].info.reused is True
    assert isinstance(seen[-1], Finished) and seen[-1].info.reused is True and seen[-1].info.images == 24
    assert not any(isinstance(e, Warning) for e in seen)


def test_other_size_or_channels_is_another_store(image_folder, tmp_path, monkeypatch):
    report = scan_folder(image_folder)
    build_store(report, 16, 3, cache_dir=tmp_path)
    calls = count_decodes(monkeypatch)
    gray, _ = build_store(report, 12, 1, cache_dir=tmp_path)
    assert len(calls) == 24 and gray.images.shape == (24, 1, 12, 12)


def test_touching_a_file_invalidates_the_store(image_folder, tmp_path, monkeypatch):
    before = scan_folder(image_folder)
    build_store(before, 16, 3, cache_dir=tmp_path)
    target = image_folder / before.images[0].path
    stat = target.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime + 10))
    after = scan_folder(image_folder)
    assert cache_key(after, 16, 3) != cache_key(before, 16, 3)
    calls = count_decodes(monkeypatch)
    store, _ = build_store(after, 16, 3, cache_dir=tmp_path)
    assert len(calls) == 24 and len(store) == 24


def test_a_new_version_of_a_folders_store_replaces_the_old_one_and_leaves_other_stores(image_folder, tmp_path):
    caches = tmp_path / "caches"
    before = scan_folder(image_folder)
    build_store(before, 16, 3, cache_dir=caches)
    build_store(before, 12, 1, cache_dir=caches)               # another size: another lineage
    target = image_folder / before.images[0].path
    stat = target.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime + 10))
    after = scan_folder(image_folder)
    legacy = caches / ("0" * 64)                                   # a store named before names had a lineage
    legacy.mkdir()
    (legacy / "meta.json").write_text("{}")
    build_store(after, 16, 3, cache_dir=caches)
    assert sorted(p.name for p in caches.iterdir()) == sorted([cache_key(after, 16, 3), cache_key(before, 12, 1)])


def test_an_old_version_being_built_in_this_process_is_left_alone(image_folder, tmp_path):
    caches = tmp_path / "caches"
    before = scan_folder(image_folder)
    build_store(before, 16, 3, cache_dir=caches)
    target = image_folder / before.images[0].path
    stat = target.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime + 10))
    with holding(str(caches / cache_key(before, 16, 3))):      # as while another thread reads or builds it
        build_store(scan_folder(image_folder), 16, 3, cache_dir=caches)
    assert (caches / cache_key(before, 16, 3) / "meta.json").is_file()


def test_truncated_file_found_while_decoding_is_dropped_and_remembered(image_folder, tmp_path, monkeypatch):
    write_truncated_jpeg(image_folder / "a" / "img_0005b.jpg")
    report = scan_folder(image_folder, verify=False)  # the header alone looks fine
    assert report.usable == 25
    store, problems = build_store(report, 16, 3, cache_dir=tmp_path)
    assert [(p.path, p.reason) for p in problems] == [("a/img_0005b.jpg", "truncated")]
    assert len(store) == 24 and store.images.shape[0] == 24
    assert "a/img_0005b.jpg" not in store.paths
    index = store.paths.index("a/img_0006.png")  # the row after the dropped one
    expected = imageio.decode_resized(image_folder / "a" / "img_0006.png", 16, 3)
    assert np.array_equal(store.images[index].numpy(), expected)
    assert report.without(problems).usable == 24

    forbid_decoding(monkeypatch)
    reused, again = build_store(report, 16, 3, cache_dir=tmp_path)
    assert again == problems and reused.paths == store.paths


def test_large_store_stays_memory_mapped(image_folder, tmp_path):
    report = scan_folder(image_folder)
    in_memory, _ = build_store(report, 16, 3, cache_dir=tmp_path)
    mapped, _ = build_store(report, 16, 3, cache_dir=tmp_path, memory_limit_bytes=1000)
    assert not in_memory.on_disk and mapped.on_disk
    assert torch.equal(mapped.images, in_memory.images)
    assert mapped.batch(torch.tensor([3, 1])).shape == (2, 3, 16, 16)
    assert cache.estimate_bytes(24, 16, 3) == 24 * 3 * 16 * 16


def test_cancel_mid_build_leaves_no_files(image_folder, tmp_path, monkeypatch):
    report = scan_folder(image_folder)
    token = CancelToken()
    calls = []
    real = imageio.decode_resized

    def cancel_after_five(path, size, channels):
        calls.append(path)
        if len(calls) == 5:
            token.cancel()
        return real(path, size, channels)

    monkeypatch.setattr(imageio, "decode_resized", cancel_after_five)
    seen = []
    with pytest.raises(Cancelled):
        build_store(report, 16, 3, cache_dir=tmp_path / "cache", on_event=seen.append, cancel=token)
    assert len(calls) < 24
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
    assert seen[-1] == Finished(Stage.CACHE, "cancelled")


def test_a_store_whose_meta_json_cannot_be_written_is_not_left_half_made(image_folder, tmp_path, monkeypatch):
    refuse_writes_of(monkeypatch, "meta.json")
    with pytest.raises(DiskWriteError, match="meta.json: the disk is full"):
        build_store(scan_folder(image_folder), 16, 3, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").rglob("*")) == []


def test_unwritable_cache_dir_builds_in_memory_with_a_warning(image_folder, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    seen = []
    store, problems = build_store(scan_folder(image_folder), 16, 3, cache_dir=blocker, on_event=seen.append)
    assert len(store) == 24 and not store.on_disk and problems == []
    warnings = [e for e in seen if isinstance(e, Warning)]
    assert len(warnings) == 1 and "in memory" in warnings[0].message
    assert blocker.read_text().startswith("a file")


def test_damaged_store_is_rebuilt(image_folder, tmp_path, monkeypatch):
    report = scan_folder(image_folder)
    first, _ = build_store(report, 16, 3, cache_dir=tmp_path)
    (tmp_path / cache_key(report, 16, 3) / "meta.json").write_text("{not json")
    calls = count_decodes(monkeypatch)
    seen = []
    store, _ = build_store(report, 16, 3, cache_dir=tmp_path, on_event=seen.append)
    assert len(calls) == 24 and torch.equal(store.images, first.images)
    assert any(isinstance(e, Warning) and "damaged" in e.message for e in seen)


def test_grayscale_store_and_empty_report(gray_folder, tmp_path):
    store, _ = build_store(scan_folder(gray_folder), 28, 1, cache_dir=tmp_path)
    assert store.images.shape == (16, 1, 28, 28)
    with pytest.raises(ScanError, match="no usable images"):
        build_store(ScanReport(root=str(tmp_path)), 16, 3, cache_dir=tmp_path)


def test_two_threads_building_the_same_store_decode_once_and_share_it(image_folder, tmp_path, monkeypatch):
    import threading

    report = scan_folder(image_folder)
    calls = count_decodes(monkeypatch)
    stores = []
    builders = [threading.Thread(target=lambda: stores.append(build_store(report, 16, 3, tmp_path / "c")[0]))
                for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    assert len(stores) == 2 and len(calls) == 24
    assert torch.equal(stores[0].images, stores[1].images)
    assert not list((tmp_path / "c").rglob("*.partial"))


def test_a_cancel_while_waiting_for_another_builder_stops_the_wait(image_folder, tmp_path):
    from engine.core.locks import holding

    report = scan_folder(image_folder)
    folder = tmp_path / "c" / cache_key(report, 16, 3)
    token = CancelToken()
    token.cancel()
    with holding(str(folder)), pytest.raises(Cancelled):
        build_store(report, 16, 3, tmp_path / "c", cancel=token)
