"""``pretext-studio --self-test``: does this install (or bundle) have everything it needs?

Checks Qt (an application, the icon, the style sheet and the main window, built but not
shown), torch and torchvision (a tensor op, CUDA / MPS), the engine (its modules, a
backward pass), the export path (the small backbone through the dynamo exporter, run by
onnxruntime) and the bundled resources, prints one line per check and returns 0 when all
pass, else 1.
Without a display it uses Qt's offscreen platform, so it runs on a headless build box.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

from resources import RESOURCES_DIR, SAMPLE_DIR

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def check_resources() -> str:
    icons = RESOURCES_DIR / "icons"
    missing = [str(p) for p in (icons / "app.svg", icons / "app-256.png", RESOURCES_DIR / "style.qss",
                                RESOURCES_DIR / "pretext-studio.desktop", RESOURCES_DIR / "SAMPLE-LICENSE.txt")
               if not p.is_file()]
    if missing:
        raise FileNotFoundError("missing " + ", ".join(missing))
    style = (RESOURCES_DIR / "style.qss").read_text(encoding="utf-8")
    if not style.strip():
        raise ValueError("the style sheet is empty")
    samples = sum(1 for p in SAMPLE_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if SAMPLE_DIR.is_dir() else 0
    if samples == 0:
        raise FileNotFoundError(f"no sample images in {SAMPLE_DIR}")
    pngs = len(list(icons.glob("app-*.png")))
    return f"{RESOURCES_DIR}: icon (svg + {pngs} png), style sheet {len(style):,} chars, sample dataset {samples:,} images"


def check_qt(argv: list[str]) -> str:
    if sys.platform.startswith("linux") and not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import PySide6
    from PySide6.QtCore import QSettings, qVersion

    from desktop.common.theme import apply_theme
    from desktop.shell.application import create_app
    from desktop.shell.main_window import MainWindow

    app = create_app(argv[:1])
    icon = app.windowIcon()
    if icon.isNull() or not icon.availableSizes():
        raise RuntimeError("the application icon did not load")
    apply_theme(app, "light")
    if not app.styleSheet():
        raise RuntimeError("the style sheet did not load")
    with tempfile.TemporaryDirectory(prefix="pretext-self-test-") as scratch:
        settings = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, thumbnail_cache=Path(scratch) / "thumbnails")
        steps = window.sidebar.count()
        window.data_page.shutdown()
        window.deleteLater()
        app.processEvents()
    return (f"PySide6 {PySide6.__version__}, Qt {qVersion()}, platform {app.platformName()}, "
            f"icon {len(icon.availableSizes())} sizes, main window built ({steps} steps)")


def check_torch() -> str:
    import torch

    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    value = float((x @ x.T).sum())
    if value != 83.0:
        raise RuntimeError(f"a 2×3 matmul gave {value}, expected 83")
    cuda = torch.cuda.is_available()
    cuda_text = f"yes ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})" if cuda else \
        f"no (build: {'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU only'})"
    mps = getattr(torch.backends, "mps", None)
    mps_text = "yes" if mps is not None and mps.is_available() else "no"
    import torchvision

    return (f"torch {torch.__version__}, torchvision {torchvision.__version__}, tensor op ok, "
            f"CUDA: {cuda_text}, MPS: {mps_text}, {torch.get_num_threads()} CPU threads")


def check_engine() -> str:
    """The training path: the engine's modules, the devices, and a backward pass of the small backbone."""
    import torch

    import engine.pretrain.loop  # noqa: F401 - fails here, not mid-run, if a module is missing from a bundle
    from engine.core.device import available_devices
    from engine.models.backbones import build_backbone

    model, dim = build_backbone("smallcnn", in_channels=1, image_size=28)
    features = model(torch.rand(4, 1, 28, 28))
    features.square().mean().backward()
    if tuple(features.shape) != (4, dim) or model[0].weight.grad is None:
        raise RuntimeError(f"the small backbone gave features {tuple(features.shape)} and no gradient")
    devices = ", ".join(device.label for device in available_devices())
    return f"modules load, small backbone forward + backward ok, devices: {devices}"


def check_export() -> str:
    """The deployment path: the small backbone through the dynamo exporter (which loads onnxscript
    only when it runs), then run by onnxruntime and compared with torch."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from engine.export.graph import to_onnx
    from engine.models.backbones import build_backbone

    model, _ = build_backbone("smallcnn", in_channels=1, image_size=28)
    example = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        expected = model.eval()(example).numpy()
    exported = to_onnx(model, example, "images", ["features"], {0: "batch"})
    session = ort.InferenceSession(exported.SerializeToString(), providers=["CPUExecutionProvider"])
    (features,) = session.run(None, {"images": example.numpy()})
    gap = float(np.abs(features - expected).max())
    if gap > 1e-3:
        raise RuntimeError(f"the exported small backbone differs from torch by {gap:.2g}")
    providers = ", ".join(ort.get_available_providers())
    return (f"onnxruntime {ort.__version__} (onnx {onnx.__version__}), providers: {providers}, "
            f"small backbone exported (dynamo) and matched torch to {gap:.1g}")


def run_self_test(argv: list[str] | None = None, say: Callable[[str], None] | None = None) -> int:
    """Run every check (one failing does not stop the others); 0 when all pass, else 1."""
    argv = argv or ["pretext-studio"]
    say = say or _say
    try:
        from importlib import metadata
        version = metadata.version("pretext-studio")
    except Exception:  # noqa: BLE001 - a bundle without metadata still runs
        version = "development"
    frozen = "bundle" if getattr(sys, "frozen", False) else "Python install"
    say(f"Pretext Studio {version} self-test ({frozen}, Python {sys.version.split()[0]}, {sys.platform})")
    checks = (("resources", check_resources), ("Qt", lambda: check_qt(argv)),
              ("torch", check_torch), ("engine", check_engine), ("export", check_export))
    failed = []
    for name, check in checks:
        try:
            say(f"  ok    {name}: {check()}")
        except Exception as exc:  # noqa: BLE001 - report every failure, keep going
            failed.append(name)
            say(f"  FAIL  {name}: {type(exc).__name__}: {exc}")
            log.debug("self-test %s failed:\n%s", name, traceback.format_exc())
    if failed:
        say(f"self-test FAILED: {', '.join(failed)} (run with --verbose for tracebacks)")
        return 1
    say("self-test passed")
    return 0


def _say(line: str) -> None:
    if sys.stdout is not None:
        print(line, flush=True)
    else:       # a Windows GUI launcher has no console: the log file gets it
        log.info(line.strip())
