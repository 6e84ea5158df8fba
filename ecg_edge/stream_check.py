"""The streaming path against the offline paths on one long raw record (the figure behind
"streamed through the C path gives the same window predictions as `ecg-edge predict`"):

    python -m ecg_edge.stream_check MODEL.bin RECORD [--seconds S] [--out DIR]

1. the C stream (ecg_rt_stream_push/infer via cffi) over the record's raw ADC codes;
2. the offline device path: the numpy integer reference chain over the whole record, windows
   through the C runtime's offline invoke -- must equal 1 bit for bit;
3. `ecg-edge predict`'s path on the same record (WFDB in mV, the model's own preprocessing record,
   host quantization of the float windows, C runtime): argmax agreement per window start.
Prints a table and writes stream_check.json."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np

from ecg_edge.data.raw import read_adc
from ecg_edge.devicepre import reference as R
from ecg_edge.devicepre.chain import DeviceChain
from ecg_edge.modelbin.reader import read_model
from ecg_edge.options import NON_NEGATIVE, entry_point
from ecg_edge.runtime import CRuntime
from ecg_edge.runtime.stream import CStream


def check(model_path: Path, record: Path, seconds: float | None = None) -> dict:
    from ecg_edge.predict import Model, windows_of

    data = model_path.read_bytes()
    mb = read_model(data, str(model_path))
    chain = DeviceChain.from_meta(mb.meta, str(model_path))
    raw = read_adc(record, [str(x) for x in mb.meta.get("lead_names", [])] or None, seconds)
    adc_fs = int(round(raw.fs))
    t0 = time.perf_counter()
    stream = CStream(data, adc_fs=adc_fs).push(np.ascontiguousarray(raw.codes.T))
    t_stream = time.perf_counter() - t0
    t0 = time.perf_counter()
    offline = CRuntime(data, str(model_path)).invoke_batch(R.stream_windows(raw.codes, chain, adc_fs=adc_fs))
    t_offline = time.perf_counter() - t0
    out: dict = {"model": str(model_path), "record": str(record), "seconds": raw.codes.shape[1] / raw.fs,
                 "adc_fs": adc_fs, "fs": chain.fs, "window": chain.window, "hop": chain.hop,
                 "trained_chain": chain.trained_chain, "stream_windows": len(stream),
                 "stream_equals_offline_reference": bool(stream.shape == offline.shape and np.array_equal(stream, offline)),
                 "host_stream_s": round(t_stream, 2), "offline_reference_s": round(t_offline, 2)}
    if seconds is None:  # predict reads whole records
        m = Model(model_path, runtime="c")
        w, starts, _, _, _, _ = windows_of(record.with_suffix(".hea"), m.recipe, None)
        pred = m.logits(w).argmax(axis=1)
        by_start = dict(zip(starts.tolist(), pred.tolist(), strict=True))
        s_pred = stream.argmax(axis=1)
        common = [(i, by_start[i * chain.hop]) for i in range(len(stream)) if i * chain.hop in by_start]
        agree = sum(int(s_pred[i] == p) for i, p in common)
        out.update({"predict_windows": len(w), "common_windows": len(common), "predict_agree": agree,
                    "predict_disagree_windows": [i for i, p in common if s_pred[i] != p][:20]})
    return out


@click.command(help=__doc__.split("\n")[0])
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("record", type=click.Path(path_type=Path))
@click.option("--seconds", type=NON_NEGATIVE, default=None, help="first S seconds only (skips the predict comparison)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
def command(model: Path, record: Path, seconds: float | None, out: Path | None) -> None:
    res = check(model, record.with_suffix(""), seconds)
    for k, v in res.items():
        print(f"{k:34s} {v}")
    if out:
        from ecg_edge.atomic import write_json

        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "stream_check.json", res)


main = entry_point(command, "python -m ecg_edge.stream_check")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
