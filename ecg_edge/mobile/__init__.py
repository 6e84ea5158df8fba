"""Exports to the runtimes users already know (ONNX / onnxruntime, TFLite / LiteRT, TFLite Micro)
and the side-by-side benchmark against our own runtime."""
