"""Accuracy of the bytes that ship: model.bin run by the integer executor (or the C runtime) over
a prepared split, plus argmax agreement with the PyTorch fake-quant model it was packed from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.reader import ModelBin, read_model_file
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.stats import paired_bootstrap


def run_split(mb: ModelBin, X: np.ndarray, runtime: str = "numpy", chunk: int = 64) -> np.ndarray:
    """int8 logits (N, n_classes) of float windows X (N, leads, samples)."""
    if runtime == "numpy":
        rt = None
    elif runtime == "c":
        try:
            from ecg_edge.runtime import CRuntime
        except ImportError as exc:
            raise EcgEdgeError(f"--runtime c: the C runtime binding is not available ({exc}); "
                               "build it with `pip install -e .` (make setup)") from exc
        rt = CRuntime(mb.device_image)  # the flashed bytes, exactly
    else:
        raise EcgEdgeError(f"runtime {runtime!r} unknown; expected 'numpy' or 'c'")
    outs = []
    for s in range(0, X.shape[0], chunk):
        xq = executor.quantize_inputs(mb, np.asarray(X[s:s + chunk]))
        outs.append(executor.run(mb, xq) if rt is None else np.asarray(rt.invoke_batch(xq)))
    return np.concatenate(outs) if outs else np.zeros((0, mb.n_classes), np.int8)


def fake_quant_logits(mb: ModelBin, checkpoint: Path, X: np.ndarray) -> np.ndarray:
    """Logits of the PyTorch fake-quant model: the checkpoint's weights re-quantized with the plan
    recorded in model.bin (identity for a compress compressed.pt), BN and activations in float."""
    from ecg_edge.checkpoint import load_checkpoint
    from ecg_edge.layerplan.plan import plan_from_summary
    from ecg_edge.modelbin.graph import fake_quant_model
    from ecg_edge.modelbin.packer import checkpoint_sha256
    from ecg_edge.models.predict import predict

    ckpt = load_checkpoint(checkpoint)
    want = mb.meta.get("source_checkpoint_sha256")
    if want and checkpoint_sha256(ckpt) != want:
        raise EcgEdgeError(f"{checkpoint}: weights differ from the checkpoint {mb.source} was packed from "
                           "(META source_checkpoint_sha256)")
    plan = plan_from_summary(json.loads(mb.meta.get("plan", "{}") or "{}"), f"{mb.source}: META 'plan'")
    if "qat" in (ckpt.extra or {}):  # a QAT checkpoint: its trained integer graph is the reference
        from ecg_edge.compress.qat import qat_int8_logits

        return qat_int8_logits(ckpt, plan, X)
    model = fake_quant_model(model_from_checkpoint(ckpt), plan)
    return predict(model, X)


def evaluate_model_bin(path: str | Path, dataset_dir: str | Path, split: str = "test",
                       runtime: str = "numpy", checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Metrics of model.bin on a split (ecg_edge.metrics) plus `agreement_fakequant`: the
    fraction of windows where its argmax equals the fake-quant PyTorch model's (None, with
    `agreement_note`, when the source checkpoint cannot be found)."""
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.metrics import add_record_metrics, classification_metrics

    path = Path(path)
    mb = read_model_file(path)
    ds = load_prepared(dataset_dir)
    X, y = ds.split(split)
    C, L = executor.window_shape(mb)
    if X.shape[1:] != (C, L):
        raise EcgEdgeError(f"{dataset_dir}: split {split!r} windows are {X.shape[1]} leads x {X.shape[2]} samples; "
                           f"{path} expects {C} x {L}")
    if list(ds.classes) != mb.classes:
        raise EcgEdgeError(f"{dataset_dir}: classes {ds.classes} differ from {path}'s META classes {mb.classes}")
    logits = run_split(mb, X, runtime)
    pred = logits.argmax(axis=1)
    res = classification_metrics(y, pred, mb.classes)
    add_record_metrics(res, logits, np.asarray(y), ds, split, mb.classes)
    res.update({"model_bin": str(path), "bytes": mb.file_size, "runtime": runtime, "split": split,
                "dataset": str(dataset_dir)})
    res.update({"labels": [int(v) for v in y], "predictions": [int(v) for v in pred]})
    ck = Path(checkpoint) if checkpoint else (Path(mb.meta["source_checkpoint"]) if mb.meta.get("source_checkpoint") else None)
    if ck is not None and ck.is_file():
        ref = fake_quant_logits(mb, ck, np.asarray(X))
        res["agreement_fakequant"] = float((ref.argmax(axis=1) == pred).mean()) if len(pred) else 1.0
        res["fakequant_accuracy"] = float((ref.argmax(axis=1) == y).mean()) if len(y) else 0.0
        if len(y):
            try:
                groups = ds.groups(split)
            except EcgEdgeError:
                groups = None
            res["vs_fakequant"] = paired_bootstrap(np.asarray(y), ref.argmax(axis=1), pred, groups=groups,
                                                   n_classes=len(mb.classes)).to_dict()
        res["fakequant_checkpoint"] = str(ck)
    else:
        res["agreement_fakequant"] = None
        res["agreement_note"] = ("source checkpoint not found" + (f" at {ck}" if ck else "")
                                 + "; pass checkpoint= to measure agreement with fake-quant")
    return res
