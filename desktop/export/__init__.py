"""Step 4, Export: write and verify the ONNX model, and try it on an image."""
