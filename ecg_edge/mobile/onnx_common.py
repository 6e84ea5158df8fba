"""What both ONNX exporters (the conv nets' and HuBERT-ECG's) share: the example input, the
TorchScript export that names an op ONNX cannot express, and the file's metadata."""

from __future__ import annotations

import io
import re
import warnings

import onnx
import torch

from ecg_edge.checkpoint import Checkpoint
from ecg_edge.mobile.common import UnsupportedOpError

FP32_OPSET = 17


def dummy_input(ckpt: Checkpoint) -> torch.Tensor:
    """An input of the checkpoint's shape: the model config wins; the data contract's `leads`
    may be a count or a list of lead names."""
    leads = ckpt.config.get("in_leads") or ckpt.data.get("leads") or 1
    leads = len(leads) if isinstance(leads, (list, tuple)) else int(leads)
    n = int(ckpt.config.get("n_samples") or ckpt.data.get("n_samples") or 5120)
    return torch.zeros(1, leads, n)


def torch_to_onnx_bytes(model: torch.nn.Module, example: torch.Tensor, opset: int = FP32_OPSET) -> bytes:
    """torch.onnx.export (TorchScript exporter: the dynamo one needs onnxscript, not installed)
    with a dynamic batch axis; an op ONNX cannot express raises UnsupportedOpError naming it."""
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example,), buf, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    except Exception as exc:  # the exporter raises several types; name the op when it tells us
        m = re.search(r"operator '([^']+)'", str(exc))
        if m:
            raise UnsupportedOpError(f"ONNX (opset {opset})", m.group(1)) from exc
        raise UnsupportedOpError(f"ONNX (opset {opset})", type(exc).__name__, "", str(exc).splitlines()[0]) from exc
    return buf.getvalue()


def write_metadata(model: onnx.ModelProto, ckpt: Checkpoint, extra: dict[str, str]) -> None:
    props = {"classes": ",".join(ckpt.classes), "input_layout": "N,leads,samples (float32)",
             "producer": "ecg-edge", **extra}
    for k, v in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
