import os

import numpy as np

from engine.core.events import Progress, Stage
from engine.maps.embedding_map import open_map, refine_map
from engine.maps.lasso import points_in_polygon, rectangle
from engine.maps.projection import layout_map, pca, pca_map
from engine.maps.similarity import duplicate_threshold, near_duplicates, nearest_neighbours
from tests.engine.fewlabel_data import pretrained  # noqa: F401 - fixture


def clusters(count: int = 4, per_cluster: int = 150, dim: int = 24, seed: int = 0):
    """Well-separated gaussian clusters: (features (N, dim), cluster of each row)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, dim)) * 4
    features = np.concatenate([c + rng.normal(size=(per_cluster, dim)) for c in centres])
    return features.astype(np.float32), np.repeat(np.arange(count), per_cluster)


def neighbour_purity(xy: np.ndarray, cluster: np.ndarray, k: int = 10) -> float:
    """Share of each point's k nearest map neighbours that come from its own cluster."""
    d = np.square(xy[:, None, :] - xy[None, :, :]).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    return float((cluster[nearest] == cluster[:, None]).mean())


def test_pca_orders_components_by_variance_and_fixes_their_sign():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5)) * np.array([5.0, 0.1, 2.0, 0.1, 0.1])
    projected = pca(x, 2)
    assert projected.shape == (400, 2) and projected.dtype == np.float32
    assert projected[:, 0].var() > projected[:, 1].var() > 1.0
    np.testing.assert_allclose(np.abs(projected[:, 0]), np.abs(x[:, 0] - x[:, 0].mean()), rtol=0.05, atol=0.3)
    np.testing.assert_array_equal(pca(-x, 2), pca(-x, 2))
    np.testing.assert_allclose(pca(x, 2), pca(x * 1.0, 2))


def test_layout_has_one_row_per_image_and_repeats_with_its_seed():
    features, _ = clusters(per_cluster=60)
    first, again, other = (layout_map(features, seed=s) for s in (3, 3, 4))
    assert first.xy.shape == (len(features), 2) and first.xy.dtype == np.float32
    assert np.isfinite(first.xy).all() and first.placed == 0
    np.testing.assert_array_equal(first.xy, again.xy)
    assert not np.allclose(first.xy, other.xy)


def test_layout_keeps_clusters_apart_better_than_pca():
    features, cluster = clusters(count=6, per_cluster=80, dim=48)
    layout = layout_map(features, seed=0)
    assert neighbour_purity(layout.xy, cluster) > 0.98
    assert neighbour_purity(layout.xy, cluster) >= neighbour_purity(pca_map(features), cluster)


def test_a_large_set_is_laid_out_on_a_sample_and_the_rest_placed_beside_their_neighbours():
    features, cluster = clusters(per_cluster=250)
    events = []
    layout = layout_map(features, seed=0, max_layout_points=300, on_event=events.append)
    assert len(layout.layout_rows) == 300 and layout.placed == len(features) - 300
    assert neighbour_purity(layout.xy, cluster) > 0.98
    assert any(isinstance(e, Progress) and e.stage is Stage.PLACING for e in events)


def test_a_lasso_around_one_cluster_selects_exactly_its_members():
    features, cluster = clusters()
    xy = layout_map(features, seed=0).xy
    members = xy[cluster == 2]
    centre = members.mean(0)
    radius = np.linalg.norm(members - centre, axis=1).max() * 1.05
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    lasso = centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    np.testing.assert_array_equal(np.nonzero(points_in_polygon(xy, lasso))[0], np.nonzero(cluster == 2)[0])


def test_polygon_test_handles_concave_shapes_rectangles_and_degenerate_lassos():
    u_shape = np.array([[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3]])
    points = np.array([[0.5, 2.0], [1.5, 2.0], [2.5, 2.0], [1.5, 0.5], [4.0, 1.0]])
    assert points_in_polygon(points, u_shape).tolist() == [True, False, True, True, False]
    assert points_in_polygon(points, rectangle((3, 3), (1, 0))).tolist() == [False, True, True, True, False]
    assert not points_in_polygon(points, u_shape[:2]).any()


def test_nearest_neighbours_of_an_image_come_from_its_own_cluster():
    features, cluster = clusters()
    for row in (0, 170, 599):
        neighbours = nearest_neighbours(features, row, k=20)
        assert len(neighbours) == 20 and row not in [n.index for n in neighbours]
        assert all(cluster[n.index] == cluster[row] for n in neighbours)
        similarities = [n.similarity for n in neighbours]
        assert similarities == sorted(similarities, reverse=True)


def test_near_duplicates_finds_the_planted_pairs_and_nothing_else():
    features, _ = clusters(per_cluster=800, dim=32)          # 3,200 rows: more than one search block
    rng = np.random.default_rng(5)
    originals = rng.choice(len(features), 6, replace=False)
    copies = rng.choice(np.setdiff1d(np.arange(len(features)), originals), 6, replace=False)
    features[copies] = features[originals] * 1.01 + rng.normal(scale=1e-3, size=(6, 32))
    pairs = near_duplicates(features, threshold=0.995)
    assert {(p.first, p.second) for p in pairs} == {tuple(sorted(pair)) for pair in zip(originals, copies)}
    assert all(p.similarity >= 0.995 and p.first < p.second for p in pairs)
    assert len(near_duplicates(features, threshold=0.995, limit=2)) == 2


def test_the_default_duplicate_threshold_comes_from_the_data_and_lists_a_short_list_of_real_pairs():
    rng = np.random.default_rng(7)
    features = (rng.normal(size=(1, 32)) * 6 + rng.normal(size=(2000, 32))).astype(np.float32)   # one tight blob:
    originals = rng.choice(len(features), 5, replace=False)                                      # every cosine is high
    copies = rng.choice(np.setdiff1d(np.arange(len(features)), originals), 5, replace=False)
    features[copies] = features[originals] + rng.normal(scale=1e-3, size=(5, 32))
    assert len(near_duplicates(features, threshold=0.97)) > 1000           # a fixed 97 % lists thousands here
    threshold = duplicate_threshold(features, share=0.005)
    pairs = near_duplicates(features, threshold=threshold)
    assert {(p.first, p.second) for p in pairs} >= {tuple(sorted(pair)) for pair in zip(originals, copies)}
    assert len(pairs) <= 10                                                 # short: the planted pairs and few more
    assert duplicate_threshold(features, share=0.005) == threshold         # the same sample each time


def test_the_map_is_cached_with_the_run_and_dropped_when_the_backbone_changes(pretrained, tmp_path):  # noqa: F811
    run_dir, _root, truth = pretrained
    cache = str(tmp_path / "cache")
    instant = open_map(run_dir, device="cpu", cache_dir=cache)
    assert instant.kind == "pca" and instant.xy.shape == (len(truth), 2) and sorted(instant.paths) == sorted(truth)
    refined = refine_map(instant, seed=0)
    assert refined.kind == "layout" and refined.placed == 0

    reopened = open_map(run_dir, device="cpu", cache_dir=cache)
    assert reopened.kind == "layout"
    np.testing.assert_array_equal(reopened.xy, refined.xy)
    assert open_map(run_dir, device="cpu", cache_dir=cache, seed=1).kind == "pca"

    backbone = run_dir / "backbone.pt"
    stat = backbone.stat()
    os.utime(backbone, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert open_map(run_dir, device="cpu", cache_dir=cache).kind == "pca"
    assert len(list((run_dir / "embeddings").glob("*.layout-*.npz"))) == 0


def test_an_unwritable_run_folder_gives_a_warning_and_still_a_map(pretrained, tmp_path, monkeypatch):  # noqa: F811
    import engine.maps.embedding_map as embedding_map

    run_dir, _root, _truth = pretrained
    instant = open_map(run_dir, device="cpu", cache_dir=str(tmp_path / "cache"))

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(embedding_map.np, "savez", refuse)
    events = []
    refined = refine_map(instant, seed=7, on_event=events.append)
    assert refined.kind == "layout"
    assert any("cannot save the map" in getattr(e, "message", "") for e in events)
