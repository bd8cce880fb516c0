"""ONNX export with verification: graph, parity check against torch, and the files written beside the model."""
