"""`ecg-edge simulate`: a model.bin on simulated Cortex-M targets: exact instructions per
inference, estimated latency, flash and RAM against the budgets, parity with the host runtime."""

from __future__ import annotations

from pathlib import Path

import click

from ecg_edge.errors import EcgEdgeError
from ecg_edge.options import NON_NEGATIVE_INT, POSITIVE_INT
from ecg_edge.paths import default_model_bin, work_root
from ecg_edge.targets.registry import TARGETS, get_target


def _targets(spec: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for s in spec:
        for part in s.split(","):
            part = part.strip()
            if part == "all":
                names += list(TARGETS)
            elif part:
                names.append(get_target(part).name)
    return list(dict.fromkeys(names)) or ["cortex-m4"]


@click.command("simulate")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--target", "target_spec", multiple=True, default=("cortex-m4",), show_default=True,
              help="cortex-m4|cortex-m7|cortex-m33|cortex-m55 (alias cortex-m), comma list, or 'all'")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="prepared dataset; without it, seeded random int8 windows are used")
@click.option("--split", default="test", show_default=True)
@click.option("--n", "n_windows", type=POSITIVE_INT, default=100, show_default=True, help="windows to simulate")
@click.option("--opt", type=click.Choice(["O2", "Os"]), default="O2", show_default=True)
@click.option("--no-mve", "no_mve", is_flag=True,
              help="cortex-m55: run the DSP (SMLAD) kernels instead of the Helium (MVE) ones, for comparison")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="where to save simulate.json and simulate.md [default: ecg-edge-out/simulate]")
@click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True, help="seed of the random windows")
@click.option("--stream", "stream", type=click.Path(path_type=Path), default=None,
              help="a WFDB record streamed raw (ADC codes at its own rate) through the device preprocessing and "
                   "the model on the target: instructions per second of ECG, peak RAM, duty cycle, host agreement")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="--stream: seconds of the record")
@click.option("--hop", type=POSITIVE_INT, default=None, help="--stream: samples at the model rate between windows "
              "[default: the model's pp.hop]")
def simulate(model: Path | None, target_spec: tuple[str, ...], data_dir: Path | None, split: str,
             n_windows: int, opt: str, out_dir: Path | None, seed: int, stream: Path | None, seconds: float,
             hop: int | None, no_mve: bool) -> None:
    """Run MODEL (default: ecg-edge-out/model.bin) on simulated Cortex-M targets under QEMU."""
    from ecg_edge.sim.toolchain import find_toolchain

    find_toolchain()  # before any work: says exactly what to install

    path = model or default_model_bin()
    if not path.is_file():
        raise EcgEdgeError(f"{path}: no such model.bin (export one with `ecg-edge export`)")
    if stream is not None:
        from ecg_edge.outputs import result_set

        out = out_dir or (work_root() / "simulate")
        with result_set(out, command="simulate --stream", inputs=[path, stream], explicit=out_dir is not None) as stage:
            _simulate_stream_into(stage, out, path, stream, seconds, hop, target_spec)
        return
    if n_windows < 1:
        raise EcgEdgeError(f"--n must be >= 1, got {n_windows}")
    from ecg_edge.outputs import result_set

    out = out_dir or (work_root() / "simulate")
    with result_set(out, command="simulate", inputs=[path, data_dir], explicit=out_dir is not None) as stage:
        _simulate_into(stage, out, path, data_dir, split, n_windows, seed, target_spec, opt, not no_mve)


def _simulate_stream_into(stage: Path, out: Path, path: Path, record: Path, seconds: float, hop: int | None,
                          target_spec: tuple[str, ...]) -> None:
    from ecg_edge.atomic import write_json, write_text
    from ecg_edge.data.raw import read_adc
    from ecg_edge.devicepre.chain import ChainError, DeviceChain
    from ecg_edge.modelbin.reader import read_model
    from ecg_edge.sim.stream_sim import markdown, simulate_stream

    if not record.with_suffix(".hea").is_file():
        raise EcgEdgeError(f"--stream {record}: no WFDB header {record.with_suffix('.hea')}")
    data = path.read_bytes()
    meta = read_model(data, str(path)).meta
    try:
        DeviceChain.from_meta(meta, str(path))
    except ChainError as exc:
        raise EcgEdgeError(str(exc)) from exc
    raw = read_adc(record, [str(x) for x in meta.get("lead_names", [])] or None, seconds)
    results, md = [], [f"# ecg-edge simulate --stream: {path.name} on {record.name}\n"]
    for name in _targets(target_spec):
        click.echo(f"streaming {raw.codes.shape[1] / raw.fs:.1f} s of {record} through {path} on {name} ...", err=True)
        res = simulate_stream(data, raw.codes, int(round(raw.fs)), get_target(name), hop, record=record.name,
                              source=str(path))
        results.append(res)
        md.append(f"\n## {name}\n\n" + markdown(res))
        click.echo(markdown(res))
    md.append("\nInstructions are exact counts (QEMU TCG plugin) summed over every push (preprocessing: offset, "
              "resampler, band-pass) and every infer (window z-score quantization + the model); duty cycle = "
              "instructions per second x estimated cycles per instruction / clock. Peak RAM = .data + .bss (arena, "
              "ring, stream state, libc) + the painted stack peak.\n")
    write_json(stage / "simulate_stream.json", {"model": str(path), "record": str(record),
                                                "results": [r.to_dict() for r in results]})
    write_text(stage / "simulate_stream.md", "".join(md))
    click.echo(f"saved {out / 'simulate_stream.json'} and {out / 'simulate_stream.md'}", err=True)
    bad = [r for r in results if r.agree_windows != r.host_windows or r.windows != r.host_windows]
    if bad:
        raise EcgEdgeError("stream parity failure: " + "; ".join(
            f"{r.target}: {r.agree_windows}/{r.host_windows} windows equal the host stream" for r in bad))


def _simulate_into(stage: Path, out: Path, path: Path, data_dir: Path | None, split: str, n_windows: int,
                   seed: int, target_spec: tuple[str, ...], opt: str, mve: bool = True) -> None:
    from ecg_edge.atomic import write_json, write_text
    from ecg_edge.sim.api import fit_estimate
    from ecg_edge.sim.api import simulate as run_sim
    from ecg_edge.sim.build import FirmwareDoesNotFit
    from ecg_edge.sim.inputs import dataset_windows, random_windows
    from ecg_edge.sim.result import SimResult, breakdown_markdown, markdown_table

    data = path.read_bytes()
    if data_dir is not None:
        windows, _ = dataset_windows(data, data_dir, split, n_windows, source=str(path))
        source = f"{data_dir} split {split!r}, first {windows.shape[0]} windows"
    else:
        windows = random_windows(data, n_windows, seed, source=str(path))
        source = f"{windows.shape[0]} random int8 windows (seed {seed})"
    results = []
    for name in _targets(target_spec):
        click.echo(f"simulating {path} on {name} (-{opt}), {source} ...", err=True)
        try:
            results.append(run_sim(data, windows, name, opt, mve=mve))
        except FirmwareDoesNotFit as exc:  # a "no" row with what it needs, not an abort
            results.append(fit_estimate(data, int(windows[0].size), name, opt, reason=str(exc)))
    table = markdown_table(results)
    details = "".join((breakdown_markdown(r) if isinstance(r, SimResult) else f"**{r.target}**: {r.reason}\n") + "\n"
                      for r in results)
    notes = ("Instructions are exact counts (QEMU TCG plugin, from the start marker to the end marker of one "
             "invoke). Estimated ms = instructions x cycles-per-instruction / clock; QEMU counts instructions, "
             "not cycles, so the CPI factor per core is a stated estimate (ecg_edge/targets/registry.py). "
             "Parity: the target's int8 logits compared byte for byte with the host C runtime's. Energy per "
             "inference = instructions x CPI x a published run-mode current per MHz x supply voltage "
             "(figure and source per target in ecg_edge/targets/registry.py; n/a where none was found); duty "
             "cycle = active time / window length (one inference per window).\n")
    md = f"# ecg-edge simulate: {path.name}\n\nInputs: {source}.\n\n{table}\n{details}{notes}"
    click.echo(table + "\n" + details, nl=False)
    write_json(stage / "simulate.json", {"model": str(path), "inputs": source, "results": [r.to_dict() for r in results]})
    write_text(stage / "simulate.md", md)
    click.echo(f"saved {out / 'simulate.json'} and {out / 'simulate.md'}", err=True)
    bad = [r for r in results if isinstance(r, SimResult) and r.parity and r.parity.mismatches]
    if bad:
        raise EcgEdgeError("parity failure: " + "; ".join(
            f"{r.target}: {r.parity.mismatches} windows differ from the host runtime (first {r.parity.mismatched_windows[:5]})"
            for r in bad))
