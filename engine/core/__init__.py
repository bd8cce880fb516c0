"""The engine's foundations: typed events, config types, device choice, locks, the user cache and atomic writes.

Nothing here imports another stage."""
