"""Figures of the ablation report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ecg_edge.atomic import atomic_path  # noqa: E402


def pareto_png(report: dict[str, Any], path: Path) -> None:
    """Test accuracy vs bytes shipped for every row (log x), the Pareto front drawn."""
    rows = [r for r in report["rows"] if r["model_bytes"]]
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, r in enumerate(rows):
        marker = "*" if r["method"] in ("laq", "lap", "laq+lap", "budget") else ("s" if r["method"] == "fp32" else "o")
        color = f"C{i % 10}"
        ax.scatter(r["model_bytes"], r["test"]["accuracy"], marker=marker, s=70 if marker == "*" else 30,
                   facecolors="none" if r["finetuned"] else color, edgecolors=color)
        ax.annotate(r["label"], (r["model_bytes"], r["test"]["accuracy"]), fontsize=6, xytext=(3, 2),
                    textcoords="offset points")
    pts = sorted((r["model_bytes"], r["test"]["accuracy"]) for r in rows)
    front, best = [], -1.0
    for b, a in pts:
        if a > best:
            front.append((b, a))
            best = a
    ax.plot(*zip(*front, strict=True), "k--", lw=0.8, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("bytes shipped (" + ("model.bin" if report["accuracy_from"] == "modelbin" else "weight blocks") + ")")
    ax.set_ylabel(f"test accuracy ({report['accuracy_from']})")
    ax.set_title(f"{report['arch']}: accuracy vs bytes (hollow = fine-tuned)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


_SHORT = (("hubert.encoder.layers.", "L"), ("hubert.feature_extractor.conv_layers.", "fe"),
          ("hubert.feature_projection.", "proj."), ("hubert.encoder.", ""), ("attention.", ""),
          ("feed_forward.", "ff."), ("intermediate_dense", "in"), ("output_dense", "out"), ("blocks.", "b"))


def short_name(name: str) -> str:
    for a, b in _SHORT:
        name = name.replace(a, b)
    return name


def layers_png(report: dict[str, Any], path: Path, methods: tuple[str, ...] = ("LAQ", "LAP (8-bit)", "LAQ+LAP")) -> None:
    """Per-layer bits (bars) and sparsity (line) of the adaptive plans."""
    rows = [r for r in report["rows"] if r["label"] in methods]
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 3.2 * len(rows)), squeeze=False)
    for ax, r in zip(axes[:, 0], rows, strict=True):
        names = [short_name(lp["name"]) for lp in r["layers"]]
        x = range(len(names))
        ax.bar(x, [lp["bits"] for lp in r["layers"]], color="tab:blue", alpha=0.7)
        ax.set_ylim(0, 8.5)
        ax.set_ylabel("bits")
        ax2 = ax.twinx()
        ax2.plot(list(x), [lp["sparsity"] for lp in r["layers"]], "o-", color="tab:red")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("sparsity", color="tab:red")
        ax.set_title(r["label"], fontsize=9)
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
