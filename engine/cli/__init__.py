"""``pretext-studio-cli``: the engine's headless commands; ``python -m engine.cli`` runs them too."""
from engine.cli.program import main

__all__ = ["main"]
