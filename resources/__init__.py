"""Bundled resources: icons, style sheet, desktop entry and the sample dataset."""
from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = RESOURCES_DIR / "sample"
