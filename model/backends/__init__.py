"""What runs the network for StanceClassifier: PyTorch, ONNX Runtime, int8 with an fp32 recheck."""
