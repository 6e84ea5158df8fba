"""`ecg-edge data ...`: synthesize, prepare and describe datasets."""

from __future__ import annotations

from pathlib import Path

import click

from ecg_edge.data.labels import SYNTH_TASKS
from ecg_edge.data.sources import SOURCES, TASKS
from ecg_edge.options import (
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    Band,
    Leads,
    NumberList,
    check_band_below_nyquist,
)


@click.group()
def data() -> None:
    """Datasets: synthesize, prepare from recordings, describe."""


def _parse_leads(value: str) -> int | list[str]:
    v = value.strip()
    if v.isdigit():
        return int(v)
    return [s.strip() for s in v.split(",") if s.strip()]


@data.command()
@click.option("--task", type=click.Choice(SYNTH_TASKS), default="chapman4", show_default=True)
@click.option("--n", "n", type=POSITIVE_INT, default=2400, show_default=True, help="number of 10.24 s windows")
@click.option("--leads", type=Leads(), default="1", show_default=True, help="1 (lead II), 12, or lead names like II,V1")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--fs", type=POSITIVE, default=500.0, show_default=True)
@click.option("--samples", type=POSITIVE_INT, default=5120, show_default=True)
@click.option("--windows-per-patient", type=POSITIVE_INT, default=5, show_default=True)
@click.option("--label-noise", type=FRACTION, default=0.0, show_default=True,
              help="fraction of windows given a wrong label")
@click.option("--noise-scale", type=NON_NEGATIVE, default=1.0, show_default=True)
@click.option("--synthetic-noise", is_flag=True, help="do not use NSTDB noise records even when present")
@click.option("--preprocess", "chain", type=click.Choice(["zero-phase", "device"]), default="zero-phase",
              show_default=True, help="zero-phase: sosfiltfilt (offline); device: the integer causal chain "
              "the C stream runs (ecg_edge.devicepre)")
@click.option("--split", "split", type=NumberList(3), default="0.7,0.15,0.15", show_default=True,
              help="train,val,test fractions (by synthetic patient)")
def synth(task: str, n: int, leads: str, seed: int, out: Path, fs: float, samples: int,
          windows_per_patient: int, label_noise: float, noise_scale: float, synthetic_noise: bool,
          chain: str, split: tuple[float, ...]) -> None:
    """Generate a synthetic ECGSYN dataset (prepared, split by synthetic patient)."""
    from ecg_edge.data.preprocess import PreprocessConfig
    from ecg_edge.data.splits import SplitConfig
    from ecg_edge.data.synth import make_synthetic_dataset
    from ecg_edge.outputs import reserve_dir

    with reserve_dir(out, kind="dataset"):
        ds = make_synthetic_dataset(task, n, _parse_leads(leads), seed, out, fs=fs, n_samples=samples,
                                    windows_per_patient=windows_per_patient, label_noise=label_noise,
                                    noise_scale=noise_scale, real_noise=not synthetic_noise,
                                    preprocess=PreprocessConfig(fs=fs, n_samples=samples, chain=chain),
                                    split=SplitConfig(fractions=split, seed=seed))
    m = ds.manifest
    sizes = ", ".join(f"{s} {sum(c.values())}" for s, c in m.counts.items())
    click.echo(f"wrote {out}: {m.task}, {len(m.classes)} classes, leads {','.join(m.leads)}, "
               f"{m.fs:g} Hz x {m.n_samples}; {sizes}; noise {m.provenance.get('noise')}; "
               f"{m.provenance.get('seconds')} s")


@data.command()
@click.argument("source", type=click.Choice(list(SOURCES)))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", type=click.Choice(list(TASKS)), required=True,
              help="a built-in task, or 'own': the classes are the labels the source carries (labels CSV, rhythm notes)")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--labels", "labels", type=click.Path(path_type=Path), default=None,
              help="labels CSV (record id -> label[s]) for the folder source")
@click.option("--classes", "classes", default=None,
              help="keep these classes, in this order (e.g. sinus,afib,other); records of other labels are skipped")
@click.option("--class-map", default=None,
              help="rename labels, old=new,... (e.g. 'noisy=other,AFL=afib'); mitdb also maps rhythm notes ('(N=SR')")
@click.option("--multi-label", type=click.Choice(["skip", "first"]), default="skip", show_default=True,
              help="a record with several labels: skip it, or keep its first label")
@click.option("--fs", "rec_fs", type=POSITIVE, default=None, help="sampling rate of bare .mat / signal .csv records (Hz)")
@click.option("--leads", type=Leads(), default="II", show_default=True, help="lead names (II, or I,II,V1), or 12")
@click.option("--target-fs", type=POSITIVE, default=500.0, show_default=True)
@click.option("--samples", type=POSITIVE_INT, default=5120, show_default=True, help="window length in samples at --target-fs")
@click.option("--windows-per-record", default="all", show_default=True,
              help="windows cut from each record: all (hop --stride, last one end-aligned) or at most N; 1 = centre crop")
@click.option("--stride", type=POSITIVE_INT, default=None, help="window hop in samples at --target-fs (default: --samples)")
@click.option("--band", type=Band(), default="0.5,40", show_default=True, help="band-pass edges in Hz, or 'none'")
@click.option("--normalise", type=click.Choice(["zscore", "none"]), default="zscore", show_default=True)
@click.option("--min-seconds", type=NON_NEGATIVE, default=5.0, show_default=True, help="skip shorter records")
@click.option("--split", "split", type=NumberList(3), default="0.7,0.15,0.15", show_default=True, help="train,val,test fractions")
@click.option("--folds", type=POSITIVE_INT, default=1, show_default=True,
              help="patient-wise k-fold: deal patients into this many folds; test = fold --fold, the other "
              "patients split train:val by --split's first two fractions (1 = one split by --split)")
@click.option("--fold", type=NON_NEGATIVE_INT, default=0, show_default=True, help="test fold, 0 .. --folds - 1")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True)
@click.option("--preprocess", "chain", type=click.Choice(["zero-phase", "device"]), default="zero-phase",
              show_default=True, help="zero-phase: sosfiltfilt (offline); device: the integer causal chain "
              "the C stream runs (ecg_edge.devicepre)")
def prepare(source: str, path: Path, task: str, out: Path, labels: Path | None, classes: str | None,
            class_map: str | None, multi_label: str, rec_fs: float | None, leads: str, target_fs: float,
            samples: int, windows_per_record: str, stride: int | None, band: tuple[float, float] | None, normalise: str,
            min_seconds: float, split: tuple[float, ...], folds: int, fold: int, seed: int, chain: str) -> None:
    """Prepare a dataset from recordings: SOURCE layout at PATH -> windows, splits, cache."""
    from ecg_edge.data.describe import summary, table
    from ecg_edge.data.labels import parse_class_map
    from ecg_edge.data.prepare import PrepareConfig
    from ecg_edge.data.prepare import prepare as run_prepare
    from ecg_edge.data.preprocess import PreprocessConfig
    from ecg_edge.data.splits import SplitConfig
    from ecg_edge.data.windows import parse_windows_per_record

    fr, bp = split, band
    check_band_below_nyquist(bp, target_fs)
    chosen = [c.strip() for c in classes.split(",") if c.strip()] if classes is not None else None
    cfg = PrepareConfig(source=source, path=str(path), task=task, leads=leads,
                        preprocess=PreprocessConfig(fs=target_fs, n_samples=samples, band=bp, normalise=normalise,
                                                    chain=chain),
                        split=SplitConfig(fractions=fr, seed=seed, folds=folds, fold=fold), stride=stride, min_seconds=min_seconds,
                        labels_csv=str(labels) if labels else None, fs=rec_fs,
                        class_map=parse_class_map(class_map) if class_map else None, classes=chosen,
                        multi_label=multi_label, windows_per_record=parse_windows_per_record(windows_per_record))
    from ecg_edge.outputs import reserve_dir

    with reserve_dir(out, kind="dataset", inputs=[path, labels]):
        ds = run_prepare(cfg, out, log=lambda m: click.echo(f"ecg-edge: warning: {m}", err=True))
    click.echo(table(summary(ds)))
    prov = ds.manifest.provenance
    wpr = prov.get("windows_per_record", {})
    click.echo(f"{prov.get('records_used')} records used (an annotated record counts once per single-rhythm "
               f"stretch) of {prov.get('records_read')} read; windows per record {wpr.get('min')}-{wpr.get('max')} "
               f"(mean {wpr.get('mean')}); padded {prov.get('padded_records', 0)}")
    for reason, n in ds.manifest.skipped.items():
        ex = prov.get("skipped_examples", {}).get(reason, [])
        click.echo(f"skipped ({reason}): {n}" + (f", e.g. {ex[0]}" if ex else ""), err=True)


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
