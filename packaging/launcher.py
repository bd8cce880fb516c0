"""The bundle's entry point: ``pretext-studio`` in a PyInstaller onedir build."""
import multiprocessing
import sys

from desktop.app import main

if __name__ == "__main__":
    multiprocessing.freeze_support()   # torch / DataLoader workers re-enter the executable
    sys.exit(main())
