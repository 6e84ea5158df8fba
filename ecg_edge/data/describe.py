"""`ecg-edge data describe`: what is in a prepared dataset, as a table, JSON and a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecg_edge.data.prepared import SPLITS, PreparedDataset, load_prepared


def summary(ds: PreparedDataset) -> dict[str, Any]:
    m = ds.manifest
    counts = {s: dict(m.counts.get(s, {})) for s in SPLITS}
    patients = {}
    for s in SPLITS:
        try:
            patients[s] = int(len(np.unique(ds.groups(s))))
        except Exception:  # older datasets without groups still describe
            patients[s] = None
    totals = {c: sum(counts[s].get(c, 0) for s in SPLITS) for c in m.classes}
    return {"path": str(ds.root), "task": m.task, "source": m.source, "classes": m.classes, "fs": m.fs,
            "n_samples": m.n_samples, "seconds": m.n_samples / m.fs, "leads": m.leads, "counts": counts,
            "totals": totals, "windows": sum(totals.values()), "patients": patients,
            "split_by": m.provenance.get("split", {}).get("by", "patient"), "skipped": m.skipped,
            "noise": m.provenance.get("noise")}


def table(s: dict[str, Any]) -> str:
    cls = s["classes"]
    w = max(8, *(len(c) for c in cls))
    lines = [f"{s['path']}: task {s['task']}, {s['fs']:g} Hz x {s['n_samples']} samples "
             f"({s['seconds']:.2f} s), leads {','.join(s['leads'])}, split by {s['split_by']}",
             f"source: {s['source']}",
             f"{'class':<{w}} " + " ".join(f"{x:>7}" for x in (*SPLITS, "total"))]
    for c in cls:
        row = [s["counts"][sp].get(c, 0) for sp in SPLITS]
        lines.append(f"{c:<{w}} " + " ".join(f"{v:>7}" for v in (*row, sum(row))))
    tot = [sum(s["counts"][sp].values()) for sp in SPLITS]
    lines.append(f"{'windows':<{w}} " + " ".join(f"{v:>7}" for v in (*tot, sum(tot))))
    lines.append(f"{'patients':<{w}} " + " ".join(f"{(v if v is not None else '-'):>7}"
                                                   for v in (*(s['patients'][sp] for sp in SPLITS),
                                                             sum(v or 0 for v in s['patients'].values()))))
    if s["skipped"]:
        lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in s["skipped"].items()))
    else:
        lines.append("skipped: none")
    return "\n".join(lines)


def plot_examples(ds: PreparedDataset, dest: Path, seconds: float = 5.0) -> None:
    """One example trace (first lead) per class, from the first split that has it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecg_edge.atomic import atomic_path

    classes = ds.classes
    fig, axes = plt.subplots(len(classes), 1, figsize=(11, 1.5 * len(classes) + 0.5), squeeze=False)
    n = min(ds.manifest.n_samples, int(seconds * ds.manifest.fs))
    t = np.arange(n) / ds.manifest.fs
    for ci, c in enumerate(classes):
        ax = axes[ci, 0]
        for sp in SPLITS:
            X, y = ds.split(sp)
            hit = np.flatnonzero(y == ci)
            if len(hit):
                ax.plot(t, np.asarray(X[hit[0], 0, :n]), lw=0.7, color="k")
                ax.set_ylabel(c, rotation=0, ha="right", va="center", fontsize=9)
                break
        else:
            ax.text(0.5, 0.5, f"{c}: no example", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        if ci < len(classes) - 1:
            ax.set_xticks([])
    axes[-1, 0].set_xlabel(f"s (lead {ds.manifest.leads[0]})")
    fig.suptitle(f"{ds.manifest.task}: one example per class", fontsize=10)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def describe(path: str | Path, out: str | Path | None = None, plot: bool = True) -> tuple[dict[str, Any], str]:
    from ecg_edge.atomic import write_json
    from ecg_edge.outputs import result_set

    ds = load_prepared(path)
    s = summary(ds)
    out_dir = Path(out) if out is not None else ds.root
    # the default (beside the dataset) adds describe.* to the dataset; an --out is a folder of its own
    with result_set(out_dir, command="data describe", inputs=[] if out is None else [ds.root]) as stage:
        if plot:
            plot_examples(ds, stage / "describe.png")
            s["png"] = str(out_dir / "describe.png")
        write_json(stage / "describe.json", s)
    return s, table(s)
