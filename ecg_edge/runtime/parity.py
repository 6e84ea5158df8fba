"""Exact parity between the C runtime and the numpy integer reference (ecg_edge.modelbin.executor):
int8 logits byte for byte on every window; on a mismatch, the first op whose output differs is
named by re-running that window traced on both sides. With ECG_EDGE_PARITY_DUMP=DIR (the debug
mode) every op's output of both sides is written there as .npy for the first differing window."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg_edge.runtime import CRuntime


@dataclass
class ParityResult:
    windows: int
    identical: int
    first_mismatch: str | None = None  # window, op index, op type, tensor, element, both values

    @property
    def ok(self) -> bool:
        return self.identical == self.windows


def first_differing_op(mb, rt: CRuntime, x_q: np.ndarray, dump_dir: str | Path | None = None) -> str | None:
    """Describe the first op whose int8 output differs between C and numpy for one window."""
    from ecg_edge.modelbin import executor

    ref = executor.run_traced(mb, x_q)
    got = rt.invoke_traced(x_q)
    if dump_dir is not None:
        d = Path(dump_dir)
        d.mkdir(parents=True, exist_ok=True)
        for k, (a, b) in enumerate(zip(ref, got, strict=False)):
            np.save(d / f"op{k:03d}_{mb.ops[k].name}_numpy.npy", np.asarray(a))
            np.save(d / f"op{k:03d}_{mb.ops[k].name}_c.npy", np.asarray(b))
    if len(ref) != len(got):
        return f"trace lengths differ: numpy {len(ref)} ops, C {len(got)} ops"
    for k, (a, b) in enumerate(zip(ref, got, strict=True)):
        a = np.asarray(a).reshape(-1)
        b = np.asarray(b).reshape(-1)
        if a.shape != b.shape or not np.array_equal(a, b):
            op = mb.ops[k]
            if a.shape != b.shape:
                return f"op {k} ({op.name} -> tensor {op.out}): sizes differ (numpy {a.size}, C {b.size})"
            e = int(np.flatnonzero(a != b)[0])
            t = mb.tensors[op.out]
            return (f"op {k} ({op.name} -> tensor {op.out}, shape [{t.length}][{t.channels}]): "
                    f"first differing element [{e // t.channels}][{e % t.channels}] "
                    f"numpy {int(a[e])} vs C {int(b[e])}; {int((a != b).sum())} of {a.size} differ")
    return None


def check_parity(model_bytes: bytes, X_q: np.ndarray, source: str = "model.bin",
                 chunk: int = 64) -> ParityResult:
    """Run every window of X_q (N, L, C) int8 through both runtimes and compare the logits."""
    from ecg_edge.modelbin import executor
    from ecg_edge.modelbin.reader import read_model

    mb = read_model(model_bytes, source)
    rt = CRuntime(model_bytes, source)
    X_q = np.asarray(X_q, dtype=np.int8)
    same = 0
    for s in range(0, X_q.shape[0], chunk):
        xb = X_q[s:s + chunk]
        ref = executor.run(mb, xb)
        got = rt.invoke_batch(xb)
        eq = np.all(ref == got, axis=1)
        same += int(eq.sum())
        if not eq.all():
            i = s + int(np.flatnonzero(~eq)[0])
            where = first_differing_op(mb, rt, X_q[i], os.environ.get("ECG_EDGE_PARITY_DUMP"))
            msg = (f"{source}: window {i}: logits numpy {ref[i - s].tolist()} vs C {got[i - s].tolist()}; "
                   f"{where or 'no op output differs (logits copy?)'}")
            return ParityResult(min(s + chunk, X_q.shape[0]), same, msg)
    return ParityResult(int(X_q.shape[0]), same)
