"""Backbones and the model files built from them (format-versioned ``.pt`` files)."""
