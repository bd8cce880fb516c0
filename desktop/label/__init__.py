"""Step 3, Label & Fine-tune: classes, the label grid, the map, suggestions and training."""
