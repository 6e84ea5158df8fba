"""`ecg-edge data ...`: synthesize, prepare and describe datasets."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def data() -> None:
    """Datasets: synthesize, prepare from recordings, describe."""


def _parse_leads(value: str) -> int | list[str]:
    v = value.strip()
    if v.isdigit():
        return int(v)
    return [s.strip() for s in v.split(",") if s.strip()]


@data.command()
@click.option("--task", type=click.Choice(["chapman4", "cpsc9"]), default="chapman4", show_default=True)
@click.option("--n", "n", type=int, default=2400, show_default=True, help="number of 10.24 s windows")
@click.option("--leads", default="1", show_default=True, help="1 (lead II), 12, or lead names like II,V1")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--fs", type=float, default=500.0, show_default=True)
@click.option("--samples", type=int, default=5120, show_default=True)
@click.option("--windows-per-patient", type=int, default=5, show_default=True)
@click.option("--label-noise", type=float, default=0.0, show_default=True,
              help="fraction of windows given a wrong label")
@click.option("--noise-scale", type=float, default=1.0, show_default=True)
@click.option("--synthetic-noise", is_flag=True, help="do not use NSTDB noise records even when present")
@click.option("--split", "split", default="0.7,0.15,0.15", show_default=True,
              help="train,val,test fractions (by synthetic patient)")
def synth(task: str, n: int, leads: str, seed: int, out: Path, fs: float, samples: int,
          windows_per_patient: int, label_noise: float, noise_scale: float, synthetic_noise: bool, split: str) -> None:
    """Generate a synthetic ECGSYN dataset (prepared, split by synthetic patient)."""
    from ecg_edge.data.splits import SplitConfig
    from ecg_edge.data.synth import make_synthetic_dataset
    from ecg_edge.errors import DataError

    try:
        fr = tuple(float(v) for v in split.split(","))
    except ValueError as exc:
        raise DataError(f"--split {split!r}: expected three comma-separated fractions, e.g. 0.7,0.15,0.15") from exc
    ds = make_synthetic_dataset(task, n, _parse_leads(leads), seed, out, fs=fs, n_samples=samples,
                                windows_per_patient=windows_per_patient, label_noise=label_noise,
                                noise_scale=noise_scale, real_noise=not synthetic_noise,
                                split=SplitConfig(fractions=fr, seed=seed))
    m = ds.manifest
    sizes = ", ".join(f"{s} {sum(c.values())}" for s, c in m.counts.items())
    click.echo(f"wrote {out}: {m.task}, {len(m.classes)} classes, leads {','.join(m.leads)}, "
               f"{m.fs:g} Hz x {m.n_samples}; {sizes}; noise {m.provenance.get('noise')}; "
               f"{m.provenance.get('seconds')} s")


@data.command()
@click.argument("source", type=click.Choice(["challenge", "cpsc2018", "chapman", "mitdb", "cpsc2021", "folder"]))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", type=click.Choice(["chapman4", "cpsc9", "mitdb-rhythm", "cpsc2021-af"]), required=True)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--labels", "labels", type=click.Path(path_type=Path), default=None,
              help="labels CSV (record id -> label[s]) for the folder source")
@click.option("--fs", "rec_fs", type=float, default=None, help="sampling rate of bare .mat records (Hz)")
@click.option("--leads", default="II", show_default=True, help="lead names (II, or I,II,V1), or 12")
@click.option("--target-fs", type=float, default=500.0, show_default=True)
@click.option("--samples", type=int, default=5120, show_default=True, help="window length after pad/crop")
@click.option("--stride", type=int, default=None, help="window hop in samples for rhythm sources (default: --samples)")
@click.option("--band", default="0.5,40", show_default=True, help="band-pass edges in Hz, or 'none'")
@click.option("--normalise", type=click.Choice(["zscore", "none"]), default="zscore", show_default=True)
@click.option("--min-seconds", type=float, default=5.0, show_default=True, help="skip shorter records")
@click.option("--split", "split", default="0.7,0.15,0.15", show_default=True, help="train,val,test fractions")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--class-map", default=None, help="mitdb: aux notes to classes, e.g. '(N=SR,(AFIB=AFIB'")
def prepare(source: str, path: Path, task: str, out: Path, labels: Path | None, rec_fs: float | None,
            leads: str, target_fs: float, samples: int, stride: int | None, band: str, normalise: str,
            min_seconds: float, split: str, seed: int, class_map: str | None) -> None:
    """Prepare a dataset from recordings: SOURCE layout at PATH -> windows, splits, cache."""
    from ecg_edge.data.describe import summary, table
    from ecg_edge.data.labels import parse_class_map, task_classes
    from ecg_edge.data.prepare import PrepareConfig
    from ecg_edge.data.prepare import prepare as run_prepare
    from ecg_edge.data.preprocess import PreprocessConfig
    from ecg_edge.data.splits import SplitConfig
    from ecg_edge.errors import DataError

    try:
        fr = tuple(float(v) for v in split.split(","))
        bp = None if band.strip().lower() == "none" else tuple(float(v) for v in band.split(","))
    except ValueError as exc:
        raise DataError(f"--split {split!r} / --band {band!r}: expected comma-separated numbers") from exc
    if bp is not None and len(bp) != 2:
        raise DataError(f"--band {band!r}: expected LOW,HIGH in Hz or 'none'")
    cfg = PrepareConfig(source=source, path=str(path), task=task, leads=leads,
                        preprocess=PreprocessConfig(fs=target_fs, n_samples=samples, band=bp, normalise=normalise),
                        split=SplitConfig(fractions=fr, seed=seed), stride=stride, min_seconds=min_seconds,
                        labels_csv=str(labels) if labels else None, fs=rec_fs,
                        class_map=parse_class_map(class_map, task_classes(task)) if class_map else None)
    ds = run_prepare(cfg, out)
    click.echo(table(summary(ds)))


@data.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="where describe.json / describe.png go (default: the dataset folder)")
@click.option("--no-plot", is_flag=True, help="skip the PNG")
def describe(path: Path, out: Path | None, no_plot: bool) -> None:
    """Class counts per split, fs, length, leads, skipped records; JSON and a PNG beside."""
    from ecg_edge.data.describe import describe as run_describe

    s, text = run_describe(path, out, plot=not no_plot)
    click.echo(text)
    click.echo(f"json: {Path(out or path) / 'describe.json'}" + (f"; png: {s['png']}" if "png" in s else ""))
