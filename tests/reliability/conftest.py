"""The reliability suite reuses the desktop fixtures (offscreen Qt, isolated user dirs, windows)
and the session-wide trained runs of the export tests."""
from tests.desktop.conftest import (  # noqa: F401 - fixtures
    isolated_dirs, make_window, qapp_args, runs_dir, settings, window,
)
from tests.engine.export_data import exported, finetuned, pretrained, rgb_run  # noqa: F401 - fixtures
