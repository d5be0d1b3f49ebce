"""Files a person makes for serving, never read by serving code: ONNX export and quantisation,
the packaged mpnet install, and the pickle-to-safetensors conversion."""
