"""``python -m engine.cli``: the same commands as ``pretext-studio-cli`` (torchrun starts it this way)."""
import sys

from engine.cli.program import main

sys.exit(main())
