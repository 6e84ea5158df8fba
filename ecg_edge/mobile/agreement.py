"""An int8 .tflite / QDQ .onnx against the model.bin of the same checkpoint and calibration:
do they carry model.bin's tensor table, and how far are their logits from the numpy reference
executor's on a dataset split (in model.bin output steps), with the accuracy and macro-F1
difference and its paired-bootstrap 95% CI (by patient/record group).

    python -m ecg_edge.mobile.agreement m.tflite model.bin --data D [--split test]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin.records import ModelBin
from ecg_edge.options import entry_point


@dataclass
class Agreement:
    n_windows: int
    input_qparams: tuple[float, int]  # the export's input (scale, zero point)
    model_bin_input_qparams: tuple[float, int]
    tensors_matched: int  # model.bin tensors whose (scale, zero point) the export carries
    n_tensors: int
    max_steps: int  # largest |logit difference| in model.bin output steps
    mean_steps: float
    identical_windows: float  # fraction of windows with every logit equal
    argmax_agreement: float
    delta: dict[str, Any]  # stats.Comparison.to_dict(): export - model.bin


def export_qparams(path: Path) -> tuple[tuple[float, int], list[tuple[float, int]]]:
    """(input (scale, zero point), every per-tensor activation quantization) of the export,
    as float32 scales (what both file formats store)."""
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(path))
        q = it.get_input_details()[0]["quantization"]
        acts = [d["quantization"] for d in it.get_tensor_details() if d["quantization"][0] != 0.0]
        return (float(q[0]), int(q[1])), [(float(np.float32(s)), int(z)) for s, z in acts]
    if path.suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
        pairs = [(float(v), int(inits[k[:-len(".scale")] + ".zp"])) for k, v in inits.items()
                 if k.endswith(".scale") and k[:-len(".scale")] + ".zp" in inits]
        if "input.scale" not in inits:
            raise EcgEdgeError(f"{path}: no 'input.scale' initializer: not a QDQ export of ecg-edge")
        return (float(inits["input.scale"]), int(inits["input.zp"])), pairs
    raise EcgEdgeError(f"{path}: expected a .tflite or .onnx file, got suffix {path.suffix!r}")


def export_logits(path: Path, X: np.ndarray) -> np.ndarray:
    from ecg_edge.mobile.runners import LiteRTRunner, OrtRunner

    runner = LiteRTRunner(path) if path.suffix == ".tflite" else OrtRunner(path)
    return runner.predict(X)


def agreement(export: Path, mb: ModelBin, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> Agreement:
    from ecg_edge.modelbin import executor
    from ecg_edge.stats import paired_bootstrap

    in_q, acts = export_qparams(export)
    t_in, t_out = mb.tensors[mb.input_tensor], mb.tensors[mb.output_tensor]
    carried = set(acts)
    matched = sum(1 for t in mb.tensors if (float(np.float32(t.scale)), t.zero_point) in carried)
    ours = executor.run(mb, executor.quantize_inputs(mb, X)).astype(np.int64)
    got = np.round(export_logits(export, X) / t_out.scale + t_out.zero_point).astype(np.int64)
    d = np.abs(got - ours)
    cmp = paired_bootstrap(y, ours.argmax(1), got.argmax(1), groups=groups, n_classes=len(mb.classes))
    return Agreement(len(X), in_q, (float(np.float32(t_in.scale)), t_in.zero_point), matched, len(mb.tensors),
                     int(d.max(initial=0)), float(d.mean()) if d.size else 0.0,
                     float((d.max(axis=1) == 0).mean()) if d.size else 1.0,
                     float((got.argmax(1) == ours.argmax(1)).mean()) if d.size else 1.0, cmp.to_dict())


@click.command(help="An int8 .tflite/.onnx against the model.bin of the same checkpoint: tensor table and logits.")
@click.argument("export", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("model_bin", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="prepared dataset the logits are compared on")
@click.option("--split", default="test", show_default=True, type=click.Choice(("train", "val", "test")))
def command(export: Path, model_bin: Path, data: Path, split: str) -> None:
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.modelbin.reader import read_model_file
    from ecg_edge.stats import delta_line

    mb = read_model_file(model_bin)
    ds = load_prepared(data)
    X, y = ds.split(split)
    a = agreement(export, mb, X, y, ds.groups(split))
    click.echo(f"input (scale, zero point): {export.name} ({a.input_qparams[0]:.6g}, {a.input_qparams[1]}), "
               f"{model_bin.name} ({a.model_bin_input_qparams[0]:.6g}, {a.model_bin_input_qparams[1]})")
    click.echo(f"model.bin tensors whose (scale, zero point) {export.name} carries: {a.tensors_matched}/{a.n_tensors}")
    click.echo(f"{a.n_windows} {split} windows: |logit difference| in model.bin output steps max {a.max_steps}, "
               f"mean {a.mean_steps:.4f}; windows with identical logits {a.identical_windows:.4f}; "
               f"argmax agreement {a.argmax_agreement:.4f}")
    click.echo(f"{export.name} - {model_bin.name}: {delta_line(a.delta)}")


main = entry_point(command, "python -m ecg_edge.mobile.agreement")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
