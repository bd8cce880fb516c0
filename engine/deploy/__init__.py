"""Running an exported model: onnxruntime, numpy and Pillow only, never torch."""
