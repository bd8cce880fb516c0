"""Embeddings (cached per run) and the "what should I label next?" suggestions."""
import os

import numpy as np
import pytest

from engine.core.atomic import DiskWriteError
from engine.core.events import Progress, Stage
from engine.finetune.run import Prediction
from engine.maps import embed
from engine.maps.embed import embed_run
from engine.maps.suggest import suggest
from tests.engine.disk_helpers import refuse_writes_of
from tests.engine.fewlabel_data import pretrained  # noqa: F401 - the fixture

SIZES = (200, 120, 60, 30, 15)


def blobs(seed: int = 0, dim: int = 32):
    """Five gaussian clusters of very different sizes: (features (N, dim), cluster of each row)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(SIZES), dim)) * 3
    features = np.concatenate([c + rng.normal(size=(s, dim)) for c, s in zip(centres, SIZES)])
    return features.astype(np.float32), np.repeat(np.arange(len(SIZES)), SIZES)


@pytest.mark.parametrize("seed", range(5))
def test_before_any_label_five_picks_hit_five_clusters(seed):
    features, cluster = blobs(seed)
    paths = [f"img{i}.png" for i in range(len(features))]
    picks = suggest(features, paths, 5, seed=seed)
    assert sorted(cluster[[p.index for p in picks]]) == [0, 1, 2, 3, 4]
    assert all(p.kind == "diversity" and "cluster not yet labeled" in p.reason for p in picks)
    assert [p.path for p in picks] == [paths[p.index] for p in picks]


def test_labeled_clusters_are_skipped():
    features, cluster = blobs()
    paths = [f"img{i}.png" for i in range(len(features))]
    labeled = [paths[0], paths[200]]                       # one image in each of the two largest clusters
    picks = suggest(features, paths, 3, labeled=labeled)
    assert sorted(cluster[[p.index for p in picks]]) == [2, 3, 4]
    assert not set(labeled) & {p.path for p in picks}
    for pick in picks:                                     # each names its cluster: a label there covers it
        assert pick.path in pick.cluster
        assert pick.cluster == {paths[i] for i in np.nonzero(cluster == cluster[pick.index])[0]}


def test_with_a_model_the_unsure_images_come_with_their_reason():
    features, cluster = blobs()
    paths = [f"img{i}.png" for i in range(len(features))]
    confidence = np.linspace(0.99, 0.5, len(paths))        # the last rows are the least sure
    predictions = [Prediction(p, "dress", float(c), "coat", float(1 - c), "") for p, c in zip(paths, confidence)]
    picks = suggest(features, paths, 10, labeled=[paths[-1]], predictions=predictions)
    unsure = [p for p in picks if p.kind == "uncertainty"]
    assert len(picks) == 10 and len(unsure) == 7 and paths[-1] not in {p.path for p in picks}
    assert all(p.index >= len(paths) - 4 * 7 - 1 for p in unsure)
    worst = min(unsure, key=lambda p: confidence[p.index])
    assert worst.reason == f"the model is unsure: {confidence[worst.index]:.0%} dress vs {1 - confidence[worst.index]:.0%} coat"
    assert {p.kind for p in picks} == {"uncertainty", "diversity"}


def test_asking_for_more_than_there_is_returns_every_unlabeled_image():
    features, _ = blobs()
    paths = [f"img{i}.png" for i in range(8)]
    picks = suggest(features[:8], paths, 20, labeled=paths[:3])
    assert sorted(p.path for p in picks) == sorted(paths[3:])
    assert suggest(features[:8], paths, 5, labeled=paths) == []


def test_embeddings_are_cached_next_to_the_backbone_until_it_changes(pretrained, tmp_path):
    run_dir, root, truth = pretrained
    events = []
    first = embed_run(run_dir, device="cpu", cache_dir=str(tmp_path / "cache"), on_event=events.append)
    assert first.features.shape == (len(truth), first.meta["feature_dim"]) and sorted(first.paths) == sorted(truth)
    assert any(isinstance(e, Progress) and e.stage is Stage.EMBED for e in events)
    assert len(list((run_dir / "embeddings").glob("*.npy"))) == 1

    events.clear()
    again = embed_run(run_dir, device="cpu", cache_dir=str(tmp_path / "cache"), on_event=events.append)
    assert not any(isinstance(e, Progress) and e.stage is Stage.EMBED for e in events)
    np.testing.assert_array_equal(again.features, first.features)

    backbone = run_dir / "backbone.pt"
    stat = backbone.stat()
    os.utime(backbone, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    events.clear()
    embed_run(run_dir, device="cpu", cache_dir=str(tmp_path / "cache"), on_event=events.append)
    assert any(isinstance(e, Progress) and e.stage is Stage.EMBED for e in events)
    assert len(list((run_dir / "embeddings").glob("*.npy"))) == 1


def test_a_feature_cache_that_cannot_be_written_whole_leaves_neither_file(tmp_path, monkeypatch):
    refuse_writes_of(monkeypatch, ".json")
    folder = tmp_path / "embeddings"
    with pytest.raises(DiskWriteError, match="k.json: the disk is full"):
        embed._save_cached(folder, "k", np.zeros((2, 3), np.float32), ["a.png", "b.png"])
    assert list(folder.iterdir()) == []
