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
def synth(task: str, n: int, leads: str, seed: int, out: Path, fs: float, samples: int,
          windows_per_patient: int, label_noise: float, noise_scale: float, synthetic_noise: bool) -> None:
    """Generate a synthetic ECGSYN dataset (prepared, split by synthetic patient)."""
    from ecg_edge.data.synth import make_synthetic_dataset

    ds = make_synthetic_dataset(task, n, _parse_leads(leads), seed, out, fs=fs, n_samples=samples,
                                windows_per_patient=windows_per_patient, label_noise=label_noise,
                                noise_scale=noise_scale, real_noise=not synthetic_noise)
    m = ds.manifest
    sizes = ", ".join(f"{s} {sum(c.values())}" for s, c in m.counts.items())
    click.echo(f"wrote {out}: {m.task}, {len(m.classes)} classes, leads {','.join(m.leads)}, "
               f"{m.fs:g} Hz x {m.n_samples}; {sizes}; noise {m.provenance.get('noise')}; "
               f"{m.provenance.get('seconds')} s")
