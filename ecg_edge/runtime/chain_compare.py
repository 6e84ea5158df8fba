"""Accuracy of the device preprocessing chain against the zero-phase chain, on the shipped bytes.

    python -m ecg_edge.runtime.chain_compare --zero-phase ZP.bin ZP_DATA --device DEV.bin DEV_DATA --out DIR

ZP_DATA and DEV_DATA are the same recordings prepared with `--preprocess zero-phase` and
`--preprocess device` (same seed/split, so the windows pair up); each model.bin runs on the host C
runtime. Rows: today's offline chain (zero-phase model on zero-phase windows), the device chain
end to end (device-trained model on device windows), and the mismatch a deployment would have
without it (zero-phase model fed the device's windows). Deltas are paired bootstrap 95% intervals
by patient/record. Writes chain_compare.json / .txt / .png into DIR."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import EcgEdgeError
from ecg_edge.modelbin import executor
from ecg_edge.modelbin.reader import read_model
from ecg_edge.options import entry_point
from ecg_edge.runtime import CRuntime
from ecg_edge.stats import bootstrap_metrics, delta_line, paired_bootstrap


def predict(model: Path, data: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, predictions of the shipped bytes, groups) of one split."""
    raw = model.read_bytes()
    mb = read_model(raw, str(model))
    ds = load_prepared(data)
    X, y = ds.split(split)
    xq = executor.quantize_inputs(mb, np.asarray(X))
    return y, CRuntime(raw, str(model)).predict(xq), ds.groups(split)


def compare(zp_model: Path, zp_data: Path, dev_model: Path, dev_data: Path, split: str = "test") -> dict:
    y, a, g = predict(zp_model, zp_data, split)
    y2, b, g2 = predict(dev_model, dev_data, split)
    _, c, _ = predict(zp_model, dev_data, split)
    if not (np.array_equal(y, y2) and np.array_equal(g, g2)):
        raise EcgEdgeError(f"{zp_data} and {dev_data}: the {split} splits hold different windows (labels or "
                           "groups differ); prepare both from the same recordings with the same seed")
    k = int(max(y.max(), a.max(), b.max(), c.max())) + 1
    rows = {"zero-phase model, zero-phase windows (offline today)": a,
            "device model, device windows (device chain end to end)": b,
            "zero-phase model, device windows (deployed without the device chain)": c}
    out: dict = {"split": split, "n": int(y.size), "rows": {}, "deltas": {}}
    for name, p in rows.items():
        m = bootstrap_metrics(y, p, groups=g, n_classes=k)
        out["rows"][name] = {key: {"value": iv.estimate, "ci95": iv.as_list()} for key, iv in m.items()}
    out["deltas"]["device - zero-phase"] = paired_bootstrap(y, a, b, groups=g, n_classes=k).to_dict()
    out["deltas"]["mismatch - zero-phase"] = paired_bootstrap(y, a, c, groups=g, n_classes=k).to_dict()
    return out


def table(res: dict) -> str:
    lines = [f"| chain ({res['split']} split, {res['n']} windows) | accuracy | macro-F1 |", "|---|---|---|"]
    for name, m in res["rows"].items():
        cell = [f"{m[k]['value']:.4f} [{m[k]['ci95'][0]:.4f}, {m[k]['ci95'][1]:.4f}]" for k in ("accuracy", "macro_f1")]
        lines.append(f"| {name} | {cell[0]} | {cell[1]} |")
    lines.append("")
    lines += [f"{k}: {delta_line(v)}" for k, v in res["deltas"].items()]
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res["rows"])
    acc = [res["rows"][n]["accuracy"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(range(len(names)), [a["value"] for a in acc],
            xerr=np.array([[a["value"] - a["ci95"][0], a["ci95"][1] - a["value"]] for a in acc]).T, color="#4c72b0")
    ax.set_yticks(range(len(names)), [n.split(" (")[0] for n in names])
    ax.set_xlabel("accuracy of model.bin on the host C runtime (95% CI)")
    ax.set_xlim(max(0.0, min(a["ci95"][0] for a in acc) - 0.05), 1.0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


_PAIR = click.Path(path_type=Path)


@click.command(help=__doc__.split("\n")[0])
@click.option("--zero-phase", nargs=2, type=_PAIR, required=True, metavar="MODEL DATA")
@click.option("--device", nargs=2, type=_PAIR, required=True, metavar="MODEL DATA")
@click.option("--split", default="test", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def command(zero_phase: tuple[Path, Path], device: tuple[Path, Path], split: str, out: Path) -> None:
    from ecg_edge.atomic import write_json, write_text

    res = compare(zero_phase[0], zero_phase[1], device[0], device[1], split)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "chain_compare.json", res)
    text = table(res)
    write_text(out / "chain_compare.txt", text + "\n")
    plot(res, out / "chain_compare.png")
    print(text)
    print(f"wrote {out / 'chain_compare.json'}, .txt, .png")


main = entry_point(command, "python -m ecg_edge.runtime.chain_compare")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
