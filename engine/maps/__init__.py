"""Embeddings of a folder and what is built on them: the 2-D map, similarity search, lasso and suggestions."""
