"""One small adapter per runtime, all with the same two calls: `predict(X)` (float windows
(N, leads, samples) -> float logits (N, n_classes), dequantized where the runtime is int8) and
`invoke_one(i)` (one single-sample inference on a prepared input, for latency).

Every runtime is pinned to one thread. Inputs are quantized on the host exactly like model.bin's
inputs (numerics.quantize_activation), laid out [samples][leads].
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ecg_edge.errors import EcgEdgeError
from ecg_edge.numerics import quantize_activation

TFLM_DEFAULT_ARENA = 4 * 1024 * 1024


def _dequant(q: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return (q.astype(np.float64) - zp) * scale


class OrtRunner:
    """onnxruntime, CPU provider, 1 intra-op and 1 inter-op thread, full graph optimisation.

    `session.x64quantprecision=1`: on x86 with AVX2 but no VNNI, onnxruntime's fused QDQ
    kernels turn int8 activations into uint8 and multiply with VPMADDUBSW, whose int16 pair
    sums saturate for full-range int8 weights (measured: 60 output steps off on a model with
    |levels| up to 127). The precise path costs no measurable time here and matches the QDQ
    float semantics to one step.
    """

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.x64quantprecision", "1")
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        self._X: np.ndarray | None = None

    def prepare(self, X: np.ndarray) -> None:
        self._X = np.ascontiguousarray(X, dtype=np.float32)

    def invoke_one(self, i: int) -> np.ndarray:
        return self.sess.run(None, {self.input: self._X[i:i + 1]})[0][0]

    def predict(self, X: np.ndarray, batch: int = 32) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        return np.concatenate([self.sess.run(None, {self.input: X[s:s + batch]})[0]
                               for s in range(0, len(X), batch)]).astype(np.float64)


class _TFLiteInt8:
    """Shared int8 I/O handling of the two TFLite interpreters."""

    in_scale: float
    in_zp: int
    out_scale: float
    out_zp: int
    _Xq: np.ndarray | None = None

    def quantize(self, X: np.ndarray) -> np.ndarray:
        return quantize_activation(np.asarray(X).transpose(0, 2, 1), self.in_scale, self.in_zp)

    def prepare(self, X: np.ndarray) -> None:
        self._Xq = self.quantize(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.prepare(X)
        out = np.stack([self.invoke_one(i) for i in range(len(X))])
        return _dequant(out, self.out_scale, self.out_zp)


class LiteRTRunner(_TFLiteInt8):
    """ai-edge-litert's Interpreter (the successor of tflite-runtime, whose 2.14 wheel is built
    against NumPy 1.x and fails to import under NumPy 2), 1 thread, default XNNPACK delegate."""

    def __init__(self, path: str | Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(path), num_threads=1)
        self.it.allocate_tensors()
        ind, outd = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.in_idx, self.out_idx = ind["index"], outd["index"]
        self.in_scale, self.in_zp = float(ind["quantization"][0]), int(ind["quantization"][1])
        self.out_scale, self.out_zp = float(outd["quantization"][0]), int(outd["quantization"][1])

    def invoke_one(self, i: int) -> np.ndarray:
        self.it.set_tensor(self.in_idx, self._Xq[i:i + 1])
        self.it.invoke()
        return self.it.get_tensor(self.out_idx)[0]


class TFLMRunner(_TFLiteInt8):
    """TFLite Micro's Python interpreter (the reference kernels a microcontroller runs), with
    the recording allocator so the arena actually used can be read back."""

    def __init__(self, path: str | Path, arena_size: int = TFLM_DEFAULT_ARENA) -> None:
        from tflite_micro import runtime

        self.model = Path(path).read_bytes()
        self.it = runtime.Interpreter.from_bytes(self.model, arena_size=arena_size)
        ind, outd = self.it.get_input_details(0), self.it.get_output_details(0)
        self.in_scale = float(ind["quantization_parameters"]["scales"][0])
        self.in_zp = int(ind["quantization_parameters"]["zero_points"][0])
        self.out_scale = float(outd["quantization_parameters"]["scales"][0])
        self.out_zp = int(outd["quantization_parameters"]["zero_points"][0])

    def invoke_one(self, i: int) -> np.ndarray:
        self.it.set_input(self._Xq[i:i + 1], 0)
        self.it.invoke()
        return np.asarray(self.it.get_output(0))[0]

    def arena_report(self) -> dict[str, int]:
        """Parse TFLite Micro's RecordingMicroAllocator report (printed by C++ to fd 2)."""
        text = capture_fd2(self.it.print_allocations)
        rep: dict[str, int] = {}
        for key in ("total", "head", "tail"):
            m = re.search(rf"Arena allocation {key} (\d+) bytes", text)
            if m:
                rep[key] = int(m.group(1))
        if "total" not in rep:
            raise EcgEdgeError(f"TFLite Micro allocation report not understood: {text[:200]!r}")
        return rep


def capture_fd2(fn) -> str:
    """Run fn with the process's file descriptor 2 redirected to a temporary file."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


class OursRunner:
    """Our C runtime through its cffi binding, on model.bin bytes from the packer.

    Without a built C runtime it refuses (ImportError, which the bench reports as the row's
    reason): the numpy reference executor computes the same integers, but a row measured with
    it would print numpy's latency and memory under the C runtime's name.
    """

    def __init__(self, path: str | Path) -> None:
        from ecg_edge.errors import ToolchainMissing
        from ecg_edge.modelbin.executor import quantize_inputs
        from ecg_edge.modelbin.reader import read_model

        data = Path(path).read_bytes()
        self.mb = read_model(data, source=str(path))
        self._quantize = quantize_inputs
        try:
            from ecg_edge.runtime import CRuntime
        except (ImportError, ToolchainMissing) as exc:
            raise ImportError(f"our C runtime is not available ({exc}); build it with "
                              "`python ecg_edge/runtime/build_ffi.py`") from exc
        self.rt = CRuntime(data)
        out_t = self.mb.tensors[self.mb.output_tensor]
        self.out_scale, self.out_zp = float(out_t.scale), int(out_t.zero_point)
        self._Xq: np.ndarray | None = None

    @property
    def arena_size(self) -> int:
        return int(self.rt.arena_size)

    def prepare(self, X: np.ndarray) -> None:
        self._Xq = np.ascontiguousarray(self._quantize(self.mb, np.asarray(X)))

    def invoke_one(self, i: int) -> np.ndarray:
        return np.asarray(self.rt.invoke(self._Xq[i])).reshape(-1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.prepare(X)
        out = np.asarray(self.rt.invoke_batch(self._Xq))
        return _dequant(out.reshape(len(X), -1), self.out_scale, self.out_zp)


RUNNERS = {"ort": OrtRunner, "litert": LiteRTRunner, "tflm": TFLMRunner, "ours": OursRunner}
