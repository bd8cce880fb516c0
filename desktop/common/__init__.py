"""Widgets and helpers that several steps share: thumbnails, banners, charts, theme colours."""
