"""Reusable widgets for the pages."""
