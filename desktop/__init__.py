"""Pretext Studio's desktop GUI (PySide6 + pyqtgraph), built on the plain-Python engine."""
