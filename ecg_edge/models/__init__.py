"""The two model families of the paper: ResNet1D and HuBERT-ECG."""

from ecg_edge.models.registry import build_model, model_summary

__all__ = ["build_model", "model_summary"]
