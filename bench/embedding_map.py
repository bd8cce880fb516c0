"""Embedding map costs: embed and lay out 10k and 100k images, and draw the 100k map.

    python bench/embedding_map.py [--sizes 10000 100000] [--frames 40]

Embedding: the default CPU backbone (smallcnn, 28 px grayscale, the sample's format) over
an image store of N images, the same ``engine.maps.embed.compute_features`` the app calls.
The 10k images are Fashion-MNIST test images when the dataset is installed
(/usr/share/datasets/fashion-mnist), else random; the 100k are random tensors. Projection:
the instant PCA view, then the neighbour-graph layout (fitted on 10k images, the rest
placed by their neighbours). Weights are random: the cost does not depend on them.

Drawing: a ``MapView`` with the 100k points in 11 colour groups at 1200 × 800 px; each
frame pans the view by 1 % and repaints it synchronously (``viewport().repaint()``), the
same work as a drag. Also timed: recolouring after one more label (100 labeled), the hover
hit test, and a 64-vertex lasso over 100k points.
Run under Xvfb (or QT_QPA_PLATFORM=offscreen) on a quiet machine.
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.data.decoded_store import ImageStore  # noqa: E402
from engine.maps.embed import compute_features  # noqa: E402
from engine.maps.lasso import points_in_polygon  # noqa: E402
from engine.maps.projection import layout_map, pca_map  # noqa: E402
from engine.models.backbones import build_backbone  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def images(count: int) -> tuple[torch.Tensor, str]:
    """uint8 ``(count, 1, 28, 28)`` and where they came from."""
    if count <= 10_000 and FASHION.is_file():
        pixels = np.frombuffer(gzip.open(FASHION).read()[16:], np.uint8).reshape(-1, 1, 28, 28)[:count]
        return torch.from_numpy(pixels.copy()), "Fashion-MNIST"
    return torch.randint(0, 256, (count, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)), \
        "random"


def time_embedding(count: int) -> dict:
    pixels, source = images(count)
    store = ImageStore(pixels, [f"{i}.png" for i in range(count)], 28, 1, on_disk=False)
    model, _dim = build_backbone("smallcnn", in_channels=1, image_size=28)
    start = time.perf_counter()
    features = compute_features(model, store, [0.5], [0.25], torch.device("cpu")).numpy()
    embed = time.perf_counter() - start
    start = time.perf_counter()
    pca_map(features)
    pca_s = time.perf_counter() - start
    start = time.perf_counter()
    layout = layout_map(features, seed=0)
    layout_s = time.perf_counter() - start
    return {"images": count, "source": source, "embed_s": embed, "pca_s": pca_s, "layout_s": layout_s,
            "laid_out": len(layout.layout_rows), "placed": layout.placed, "xy": layout.xy}


def time_drawing(xy: np.ndarray, frames: int) -> dict:
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from desktop.common.map_colours import colour_groups
    from desktop.common.map_view import MapView

    app = QApplication.instance() or QApplication([])
    view = MapView()
    view.resize(1200, 800)
    view.show()
    paths = [f"{i}.png" for i in range(len(xy))]
    colours = {f"class {c}": f"#{(37 * c) % 256:02x}{(91 * c) % 256:02x}{(171 * c) % 256:02x}" for c in range(10)}
    labels = {p: f"class {i % 10}" for i, p in enumerate(paths) if i % 3}
    start = time.perf_counter()
    view.set_points(xy)
    view.set_groups(colour_groups(paths, "label", colours, labels, {}))
    app.processEvents()
    setup = time.perf_counter() - start
    viewport = view.plot.viewport()
    viewport.repaint()
    (x0, x1), (y0, y1) = view.box.viewRange()
    step = (x1 - x0) * 0.01
    times = []
    for frame in range(frames):
        view.box.setRange(xRange=(x0 + frame * step, x1 + frame * step), yRange=(y0, y1), padding=0)
        start = time.perf_counter()
        viewport.repaint()
        times.append(time.perf_counter() - start)
    relabel = []
    for count in (100, 101):       # a user's 101st click, with most points still unlabeled
        few = {p: f"class {i % 10}" for i, p in enumerate(paths[:count])}
        start = time.perf_counter()
        view.set_groups(colour_groups(paths, "label", colours, few, {}))
        app.processEvents()
        relabel.append(time.perf_counter() - start)
    centre = xy.mean(0)
    hits = []
    for i in range(20):
        start = time.perf_counter()
        view.row_at(QPointF(float(centre[0] + i * 0.01), float(centre[1])))
        hits.append(time.perf_counter() - start)
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    lasso = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * (xy.std(0) * 0.8)
    start = time.perf_counter()
    selected = int(points_in_polygon(xy, lasso).sum())
    lasso_s = time.perf_counter() - start
    view.close()
    times.sort()
    return {"setup_s": setup, "relabel_ms": 1000 * relabel[-1], "frame_median_ms": 1000 * statistics.median(times),
            "frame_p90_ms": 1000 * times[int(0.9 * (len(times) - 1))], "frame_max_ms": 1000 * times[-1],
            "hover_ms": 1000 * statistics.median(hits), "lasso_ms": 1000 * lasso_s, "lasso_selected": selected}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    largest = None
    for count in args.sizes:
        row = time_embedding(count)
        largest = row["xy"]
        print(f"{count:>7,} images ({row['source']}): embed {row['embed_s']:.1f} s · PCA {row['pca_s']:.2f} s · "
              f"layout {row['layout_s']:.1f} s ({row['laid_out']:,} laid out, {row['placed']:,} placed) · "
              f"total {row['embed_s'] + row['pca_s'] + row['layout_s']:.1f} s")
    drawing = time_drawing(largest, args.frames)
    print(f"map of {len(largest):,} points: first draw {drawing['setup_s']:.2f} s · pan frame median "
          f"{drawing['frame_median_ms']:.1f} ms, p90 {drawing['frame_p90_ms']:.1f} ms, max "
          f"{drawing['frame_max_ms']:.1f} ms · recolour after a label {drawing['relabel_ms']:.0f} ms · hover hit test {drawing['hover_ms']:.2f} ms · lasso "
          f"{drawing['lasso_ms']:.1f} ms ({drawing['lasso_selected']:,} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
