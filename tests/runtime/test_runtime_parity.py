"""Byte-identical int8 logits, C runtime vs the numpy integer reference (modelbin.executor):
random ResNet1Ds packed dense and sparse at every bit-width, on every window of the test split of
synthetic chapman4 (and of mitdb-rhythm when the shared data is present). A mismatch names the
first differing op (ECG_EDGE_PARITY_DUMP=DIR dumps every op's output of both sides)."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_edge.modelbin import executor
from ecg_edge.modelbin.golden import build_random_model
from ecg_edge.modelbin.reader import read_model
from ecg_edge.runtime import CRuntime
from ecg_edge.runtime.parity import check_parity, first_differing_op
from tests.runtime.conftest import FULL

# (bits, sparsity): a list cycles over the layers (mixed per-layer plans, as LAQ/LAP produce).
PLANS = [
    (8, 0.0),
    (4, 0.5),
    (2, 0.8),
    (1, 0.6),
    (6, 0.97),
    ([8, 3, 5, 7, 6, 2, 4, 1], [0.0, 0.3, 0.9, 0.5, 0.0, 0.7, 0.2, 0.95]),
]
DEFAULT_RESNET = dict(stem_channels=16, stem_kernel=15, widths=[16, 24, 32, 48, 64],
                      strides=[1, 2, 2, 2, 2], kernel=7)


def _model(seed: int, bits, sparsity, X: np.ndarray) -> bytes:
    cfg = dict(n_samples=X.shape[-1], in_leads=X.shape[1], n_classes=4)
    if FULL:
        cfg.update(DEFAULT_RESNET)
    data, _, _ = build_random_model(seed, bits, sparsity, **cfg)
    return data


def _encodings(data: bytes) -> set[int]:
    return {op.block.encoding for op in read_model(data).ops if op.block is not None}


@pytest.mark.parametrize("k", range(len(PLANS)))
def test_parity_synthetic_chapman4_test_split(synth_chapman4, k):
    X, _ = synth_chapman4.split("test")
    assert X.shape[0] >= 20
    bits, sparsity = PLANS[k]
    data = _model(100 + k, bits, sparsity, X)
    X_q = executor.quantize_inputs(read_model(data), X)
    res = check_parity(data, X_q, f"plan {PLANS[k]}")
    assert res.first_mismatch is None, res.first_mismatch
    assert res.identical == res.windows == X.shape[0]
    print(f"parity chapman4 test split, plan {PLANS[k]}: {res.identical}/{res.windows} identical")


def test_plans_cover_every_encoding_and_bit_width(synth_chapman4):
    X, _ = synth_chapman4.split("test")
    encs: set[int] = set()
    bits: set[int] = set()
    for k, (b, s) in enumerate(PLANS):
        data = _model(100 + k, b, s, X)
        encs |= _encodings(data)
        bits |= {op.block.bits for op in read_model(data).ops if op.block is not None}
    assert encs == {0, 1, 2}
    assert bits == set(range(1, 9))


def test_random_inputs_parity_every_bit_width():
    """Uniform random int8 inputs (saturating paths, all zero points) at b = 1..8, dense/sparse."""
    rng = np.random.default_rng(5)
    for bits in range(1, 9):
        for sp in (0.0, 0.7):
            if bits == 1 and sp == 0.0:
                sp = 0.4
            data, x, y = build_random_model(200 + bits, bits, sp)
            rt = CRuntime(data)
            np.testing.assert_array_equal(rt.invoke(x), y)
            X_q = rng.integers(-128, 128, size=(16, *x.shape)).astype(np.int8)
            res = check_parity(data, X_q)
            assert res.ok, res.first_mismatch


def test_mismatch_names_the_first_differing_op(monkeypatch, tmp_path):
    """Corrupt one op's output on the numpy side: the report names that op and dumps both traces."""
    data, x, _ = build_random_model(7, 4, 0.5)
    mb = read_model(data)
    rt = CRuntime(data)
    real = executor.run_traced

    def corrupted(mb_, x_):
        outs = real(mb_, x_)
        outs[3] = outs[3].copy()
        outs[3].reshape(-1)[5] ^= 1
        return outs

    monkeypatch.setattr(executor, "run_traced", corrupted)
    msg = first_differing_op(mb, rt, x, tmp_path)
    assert msg is not None and msg.startswith(f"op 3 ({mb.ops[3].name} -> tensor {mb.ops[3].out}")
    assert (tmp_path / f"op003_{mb.ops[3].name}_c.npy").is_file()
    monkeypatch.setattr(executor, "run_traced", real)
    assert first_differing_op(mb, rt, x) is None


@pytest.mark.slow
def test_parity_mitdb_rhythm(shared_data, tmp_path):
    """mitdb-rhythm windows prepared from the shared MIT-BIH records (real ECG)."""
    from ecg_edge.data.prepare import PrepareConfig, prepare

    if not (shared_data / "mitdb").is_dir():
        pytest.skip("mitdb not in the shared data")
    ds = prepare(PrepareConfig("mitdb", str(shared_data / "mitdb"), "mitdb-rhythm"), tmp_path / "mitdb")
    X, _ = ds.split("test")
    if not FULL:
        X = X[:: max(1, X.shape[0] // 64)]
    for k in (1, 4):
        bits, sparsity = PLANS[k]
        data = _model(300 + k, bits, sparsity, X)
        X_q = executor.quantize_inputs(read_model(data), X)
        res = check_parity(data, X_q, f"mitdb plan {PLANS[k]}")
        assert res.ok, res.first_mismatch
        print(f"parity mitdb-rhythm test split, plan {PLANS[k]}: {res.identical}/{res.windows} identical")
