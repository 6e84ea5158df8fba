"""Per-op attribution: the all-integer pipeline is the model.bin (bit-exact with the executor),
the all-float one is the graph's float forward, Q rows sit on the int8 grid, and bad rows or a
foreign checkpoint are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.attribution import (
    RowSpec,
    attribute,
    default_rows,
    matched_graph,
    parse_row,
    resolve_modes,
    run_pipeline,
)
from ecg_edge.modelbin.graph import float_forward
from ecg_edge.modelbin.hubert_graph import adapt_inputs
from ecg_edge.modelbin.packer import pack
from ecg_edge.modelbin.reader import read_model
from tests.tinydata import hubert_checkpoint, hubert_windows, small_hubert


@pytest.fixture(scope="module")
def packed():
    model = small_hubert()
    ck = hubert_checkpoint(model)
    mb = read_model(pack(ck, None, hubert_windows(1, 8)).data)
    return model, ck, mb


def test_integer_and_float_pipelines_are_the_file_and_the_graph(packed) -> None:
    model, ck, mb = packed
    g = matched_graph(mb, ck)
    X = hubert_windows(2, 5)
    xg = adapt_inputs(model, X)
    n_ops = len(mb.ops)
    y_int = run_pipeline(mb, g, xg, "I", ["I"] * n_ops)
    t = mb.tensors[mb.output_tensor]
    want = executor.run(mb, executor.quantize_inputs(mb, X)).astype(np.float64)
    assert np.array_equal(y_int, (want - t.zero_point) * t.scale)
    y_f = run_pipeline(mb, g, xg, "F", ["F"] * n_ops)
    assert np.allclose(y_f, float_forward(g, xg)[g.output].reshape(len(X), -1), rtol=0, atol=1e-12)
    y_q = run_pipeline(mb, g, xg, "I", ["Q"] * n_ops)
    steps = y_q / t.scale + t.zero_point
    assert np.allclose(steps, np.round(steps)) and not np.array_equal(y_q, y_int)


def test_rows_report_agreement_and_error(packed) -> None:
    _, ck, mb = packed
    rows = default_rows(mb) + [parse_row("*=F")]
    a = attribute(mb, ck, hubert_windows(3, 12), rows, chunk=5)
    by = {r.label: r for r in a.rows}
    assert a.n == 12 and len(a.rows) == len(rows)
    assert by["*=F"].agreement == 1.0 and by["*=F"].logit_error < 1e-12
    assert by["model.bin (every op integer)"].ops_changed == 0
    assert by["SOFTMAX ideal (Q)"].ops_changed == sum(o.name == "SOFTMAX" for o in mb.ops)
    assert all(0.0 <= r.agreement <= 1.0 and r.logit_error > 0 for r in a.rows[:-1])
    assert a.fp32_vs_reference is not None and a.fp32_vs_modelbin is not None


def test_bad_rows_and_foreign_checkpoints_are_refused(packed) -> None:
    model, ck, mb = packed
    with pytest.raises(EcgEdgeError, match="PATTERN=MODE"):
        parse_row("SOFTMAX=X")
    with pytest.raises(EcgEdgeError, match="matches no op"):
        resolve_modes(mb, RowSpec("r", (("NOSUCH", "Q"),)))
    in_mode, modes = resolve_modes(mb, parse_row("*.attention.*=F,input=F"))
    assert in_mode == "F" and "F" in modes and "I" in modes
    other = hubert_checkpoint(small_hubert(seed=5))
    with pytest.raises(EcgEdgeError, match="source_checkpoint_sha256"):
        matched_graph(mb, other)


def test_inspect_attribution_cli(tiny_ckpt_path, tiny_dataset, tmp_path, capsys) -> None:
    import json

    from ecg_edge.cli import main

    out = tmp_path / "m.bin"
    assert main(["export", str(tiny_ckpt_path), "--data", str(tiny_dataset), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out), "--attribution", str(tiny_ckpt_path), "--data", str(tiny_dataset),
                 "--max-windows", "8", "--row", "CONV1D=F,ADD=F", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    labels = [r["label"] for r in res["rows"]]
    assert res["n"] == 8 and labels[0].startswith("model.bin") and "CONV1D ideal (Q)" in labels
    assert labels[-1] == "CONV1D=F,ADD=F" and all(r["n"] == 8 for r in res["rows"])
    assert main(["inspect", str(out), "--per-op"]) != 0
    assert "--attribution CHECKPOINT only" in capsys.readouterr().err
