"""`ecg-edge export` and `ecg-edge inspect`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ecg_edge import paths
from ecg_edge.errors import EcgEdgeError
from ecg_edge.options import POSITIVE_INT

OUT_SUFFIXES = {".bin": "bin", ".h": "c-header", ".onnx": "onnx", ".tflite": "tflite"}


def _resolve_inputs(checkpoint: Path | None, plan_path: Path | None) -> tuple[Path, Path | None]:
    """Defaults: compress's OUT/compressed.pt + plan.json, else train's best.pt with no plan."""
    if checkpoint is not None:
        return checkpoint, plan_path
    cdir = paths.default_compress_dir()
    if (cdir / "compressed.pt").is_file():
        plan = plan_path or ((cdir / "plan.json") if (cdir / "plan.json").is_file() else None)
        return cdir / "compressed.pt", plan
    ck = paths.default_checkpoint()
    if not ck.is_file():
        raise EcgEdgeError(f"no checkpoint given and neither {cdir / 'compressed.pt'} nor {ck} exists; "
                           "run `ecg-edge train` (and `ecg-edge compress`) first or pass CHECKPOINT")
    return ck, plan_path


def _calibration(ckpt, data_dir: Path | None, split: str, ckpt_path: Path | None = None):
    from ecg_edge.checkpoint import recorded_dataset_dir
    from ecg_edge.compress.engine import check_agreement
    from ecg_edge.data.prepared import load_prepared

    d = data_dir or recorded_dataset_dir(ckpt.data, ckpt_path) or paths.default_dataset_dir()
    ds = load_prepared(d)
    # calibrating on another task's windows would ship wrong activation scales without a word
    check_agreement(ckpt, ds, f"--data {d}")
    X, _ = ds.split(split)
    return X, d


def check_plan_for(plan, plan_path: Path | None, ckpt, checkpoint: Path) -> None:
    """Refuse a plan that does not belong to these weights: another model's layers, or a plan
    whose weights (fine-tuned, or compressed for another plan) are not the ones in CHECKPOINT."""
    from ecg_edge.compress.layers import discover_layers
    from ecg_edge.layerplan.plan import check_plan_fits, plan_from_dict, same_assignment
    from ecg_edge.models.registry import model_from_checkpoint

    where = str(plan_path) if plan_path else f"{checkpoint}: extra['plan']"
    check_plan_fits(plan, [(li.name, li.params) for li in discover_layers(model_from_checkpoint(ckpt))], where,
                    arch=ckpt.arch, classes=list(ckpt.classes))
    if plan_path is None:
        return
    embedded = ckpt.extra.get("plan")
    ft = int((plan.metrics or {}).get("finetune_epochs") or 0)
    if embedded is None and ft > 0:
        raise EcgEdgeError(f"{plan_path}: this plan was fine-tuned ({ft} epochs), so its weights are in the "
                           f"compressed.pt written with it, not in {checkpoint}; export that one: "
                           f"ecg-edge export {plan_path.parent / 'compressed.pt'} --plan {plan_path}")
    if embedded is not None and not same_assignment(plan, plan_from_dict(embedded, f"{checkpoint}: extra['plan']")):
        raise EcgEdgeError(f"{plan_path}: differs from the plan {checkpoint} was compressed with (bits/sparsity "
                           "per layer); its weights would be compressed twice. Export the trained checkpoint "
                           "with this plan, or this checkpoint with its own plan (leave out --plan)")


@click.command()
@click.argument("args", nargs=-1, type=click.Path(path_type=Path))
@click.option("--plan", "plan_path", type=click.Path(path_type=Path), default=None,
              help="plan.json from `ecg-edge compress` [default: beside compressed.pt]")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), default=None,
              help="output file [default: ecg-edge-out/model.bin]")
@click.option("--format", "fmt", type=click.Choice(("bin", "c-header", "onnx", "tflite", "c-project")), default=None,
              help="bin (model.bin), c-header (aligned const uint8_t array), onnx / tflite (mobile runtimes), "
                   "c-project (a firmware folder streaming a recorded signal; OUT is a folder) "
                   "[default: from the output suffix, else bin]")
@click.option("--model", "model_bin", type=click.Path(path_type=Path), default=None,
              help="c-project: wrap this model.bin instead of packing a checkpoint")
@click.option("--target", "target_name", default="cortex-m4", show_default=True, help="c-project: the target")
@click.option("--record", "record", type=click.Path(path_type=Path), default=None,
              help="c-project: WFDB record streamed by the example main.c [default: $ECG_EDGE_DATA/mitdb/100]")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="c-project: seconds of the record embedded")
@click.option("--adc-fs", type=POSITIVE_INT, default=None, help="c-project: ADC rate (Hz) [default: the record's rate]")
@click.option("--hop", type=click.IntRange(min=1), default=None,
              help="c-project: samples at the model rate between windows [default: the model's pp.hop]")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="prepared dataset for activation calibration [default: the checkpoint's dataset_dir]")
@click.option("--calib-split", type=click.Choice(("train", "val")), default="train", show_default=True)
@click.option("--calib-windows", type=POSITIVE_INT, default=256, show_default=True,
              help="windows used to calibrate int8 activation ranges (seeded subset)")
@click.option("--calib-percentile", type=click.FloatRange(90.0, 100.0, max_open=True), default=None,
              help="clip activation ranges to the (100-p, p) percentiles instead of min/max (logits keep min/max)")
@click.option("--calib-input-percentile", type=click.FloatRange(90.0, 100.0, max_open=True), default=None,
              help="clip only the input's range to its (100-p, p) percentiles (finer input step)")
@click.option("--json", "as_json", is_flag=True, help="print the packing summary as JSON")
def export(args: tuple[Path, ...], plan_path: Path | None, out: Path | None, fmt: str | None,
           data_dir: Path | None, calib_split: str, calib_windows: int, calib_percentile: float | None,
           calib_input_percentile: float | None, as_json: bool, model_bin: Path | None, target_name: str,
           record: Path | None, seconds: float, adc_fs: int | None, hop: int | None) -> None:
    """Pack CHECKPOINT (+ --plan) into model.bin (or a C header, or a firmware folder).

    `ecg-edge export model.bin` (a lone argument ending in .bin/.h/.onnx/.tflite is the OUTPUT,
    and its suffix picks the format unless --format says otherwise) packs
    compress's compressed.pt + plan.json, or the trained checkpoint as int8 when there is none.
    """

    checkpoint = None
    if fmt == "c-project" and out is None and args:
        *args, out = args  # `export [CKPT] --format c-project DIR`
    for a in args:
        if fmt == "c-project" and checkpoint is None:
            checkpoint = a
        elif a.suffix in OUT_SUFFIXES and out is None:
            out = a
        elif checkpoint is None:
            checkpoint = a
        else:
            raise EcgEdgeError(f"unexpected argument {a}; usage: ecg-edge export [CHECKPOINT] [--plan plan.json] -o OUT")
    from ecg_edge.outputs import claim_file

    if fmt == "c-project":
        if out is None:
            raise EcgEdgeError("--format c-project needs the output folder: ecg-edge export --format c-project DIR")
        _export_c_project(out, checkpoint, plan_path, model_bin, target_name, record, seconds, adc_fs, hop,
                          data_dir, calib_split, calib_windows, calib_percentile, calib_input_percentile)
        return
    out = out or paths.default_model_bin()
    fmt = fmt or OUT_SUFFIXES.get(out.suffix, "bin")
    checkpoint, plan_path = _resolve_inputs(checkpoint, plan_path)
    with claim_file(out, inputs=[checkpoint, plan_path, data_dir], option="-o/--out"):
        _export_to(out, fmt, checkpoint, plan_path, data_dir, calib_split, calib_windows, calib_percentile,
                   calib_input_percentile, as_json)


def _export_to(out: Path, fmt: str, checkpoint: Path, plan_path: Path | None, data_dir: Path | None,
               calib_split: str, calib_windows: int, calib_percentile: float | None,
               calib_input_percentile: float | None, as_json: bool) -> None:
    from ecg_edge.atomic import write_bytes, write_text
    from ecg_edge.checkpoint import load_checkpoint
    from ecg_edge.layerplan.plan import CompressionPlan

    ckpt = load_checkpoint(checkpoint)
    plan = CompressionPlan.load(plan_path) if plan_path else None
    if plan is None and ckpt.extra.get("plan") is not None:
        from ecg_edge.layerplan.plan import plan_from_dict

        plan = plan_from_dict(ckpt.extra["plan"], f"{checkpoint}: extra['plan']")
    if plan is not None:
        check_plan_for(plan, plan_path, ckpt, checkpoint)
    X, calib_dir = _calibration(ckpt, data_dir, calib_split, checkpoint)

    if fmt in ("onnx", "tflite"):
        from ecg_edge.modelbin.calibrate import CalibSettings

        _export_mobile(fmt, ckpt, plan, X, out, CalibSettings(calib_windows, calib_percentile, calib_input_percentile))
        if fmt == "tflite" or plan is not None:  # the int8 formats: quantized as model.bin is
            click.echo("QAT checkpoint: weights and activation quantization as trained" if "qat" in ckpt.extra
                       else f"calibrated on {min(calib_windows, len(X))} {calib_split} windows of {calib_dir}")
        return
    from ecg_edge.modelbin.cheader import to_c_header
    from ecg_edge.modelbin.packer import pack, result_summary

    res = pack(ckpt, plan, X, max_calib_windows=calib_windows, source=str(checkpoint.resolve()),
               percentile=calib_percentile, input_percentile=calib_input_percentile)
    if fmt == "c-header":
        write_text(out, to_c_header(res.device_image, out.stem, str(checkpoint)))  # what firmware flashes
    else:
        write_bytes(out, res.data)
    if as_json:
        click.echo(json.dumps({"out": str(out), "format": fmt, **result_summary(res)}, indent=2))
        return
    click.echo(f"packed {checkpoint}" + (f" with plan {plan_path}" if plan_path else (" with its embedded plan" if plan else " as int8 (no plan)"))
               + ("; QAT checkpoint: weights and activation quantization as trained" if "qat" in ckpt.extra
                  else f"; calibrated on {min(calib_windows, len(X))} {calib_split} windows of {calib_dir}"))
    trailer = len(res.data) - res.device_size
    size = (f"model.bin {len(res.data)} bytes: device image {res.device_size} B (flashed) + host trailer {trailer} B"
            if trailer and fmt != "c-header" else f"model.bin {res.device_size} bytes")
    click.echo(f"wrote {out} ({fmt}): {size}; true CR {res.true_cr:.2f}x vs fp32 "
               f"parameters ({res.fp32_param_bytes} B), nominal {res.nominal_cr:.2f}x; arena {res.arena_bytes} B "
               f"(lower bound {res.arena_lower_bound} B)")
    for n in res.notes:
        click.echo(f"note: {n}")


def _export_c_project(out: Path, checkpoint: Path | None, plan_path: Path | None, model_bin: Path | None,
                      target_name: str, record: Path | None, seconds: float, adc_fs: int | None, hop: int | None,
                      data_dir: Path | None, calib_split: str, calib_windows: int, calib_percentile: float | None,
                      calib_input_percentile: float | None) -> None:
    from ecg_edge.data.raw import read_adc
    from ecg_edge.outputs import replace_dir
    from ecg_edge.sim.cproject import fill_project, plan_project
    from ecg_edge.targets.registry import get_target

    target = get_target(target_name)
    rec_path = record or (paths.data_root() / "mitdb" / "100")
    if not rec_path.with_suffix(".hea").is_file():
        raise EcgEdgeError(f"--record {rec_path}: no WFDB header {rec_path.with_suffix('.hea')}; pass --record RECORD")
    if model_bin is not None:
        if checkpoint is not None:
            raise EcgEdgeError(f"pass either --model {model_bin} or a checkpoint ({checkpoint}), not both")
        try:
            data, source = model_bin.read_bytes(), str(model_bin)
        except OSError as exc:
            raise EcgEdgeError(f"--model {model_bin}: {exc.strerror or exc}") from exc
    else:
        from ecg_edge.checkpoint import load_checkpoint
        from ecg_edge.layerplan.plan import CompressionPlan
        from ecg_edge.modelbin.packer import pack

        checkpoint, plan_path = _resolve_inputs(checkpoint, plan_path)
        ckpt = load_checkpoint(checkpoint)
        plan = CompressionPlan.load(plan_path) if plan_path else None
        if plan is not None:
            check_plan_for(plan, plan_path, ckpt, checkpoint)
        X, _ = _calibration(ckpt, data_dir, calib_split, checkpoint)
        data = pack(ckpt, plan, X, max_calib_windows=calib_windows, source=str(checkpoint.resolve()),
                    percentile=calib_percentile, input_percentile=calib_input_percentile).data
        source = str(checkpoint)
    from ecg_edge.devicepre.chain import ChainError, DeviceChain
    from ecg_edge.modelbin.reader import read_model

    meta = read_model(data, source).meta
    try:
        DeviceChain.from_meta(meta, source)
    except ChainError as exc:
        raise EcgEdgeError(f"c-project: {exc}") from exc
    leads = [str(x) for x in meta.get("lead_names", [])] or None
    raw = read_adc(rec_path, leads, seconds)
    rate = int(adc_fs or round(raw.fs))
    if adc_fs is not None and abs(raw.fs - adc_fs) > 1e-9:
        raise EcgEdgeError(f"--adc-fs {adc_fs}: the record {rec_path} is sampled at {raw.fs:g} Hz; the example "
                           "signal must be streamed at its own rate")
    info = plan_project(data, target, raw.codes, rate, hop, source)  # every refusal before a file is written
    with replace_dir(out, kind="work", command="export --format c-project",
                     inputs=[p for p in (rec_path, model_bin, checkpoint) if p], option="OUT") as tmp:
        fill_project(tmp, info, data, target, raw.codes, source=source,
                     signal_source=f"{rec_path.name} ({','.join(raw.lead_names)})")
    click.echo(f"wrote {out}: {target.name} firmware project, {info.windows} windows of {info.window} samples "
               f"every {info.hop} at {info.fs} Hz from {info.seconds:.1f} s at {info.adc_fs} Hz; RAM {info.ram_need} "
               f"of {info.ram_budget} B; model {info.model_bytes} B + signal {info.signal_bytes} B in flash")
    click.echo(f"build: make -C {out}; run in QEMU: make -C {out} run")
    if info.trained_chain != "device":
        click.echo(f"warning: the model was trained on the {info.trained_chain} chain; the device runs the device "
                   "chain (train on `data prepare/synth --preprocess device` data to match)", err=True)


def _export_mobile(fmt: str, ckpt, plan, X, out: Path, calib) -> None:
    """ONNX / TFLite of the graph model.bin would be written from with the same calibration."""
    try:
        if fmt == "onnx":
            from ecg_edge.mobile.onnx_export import export_onnx

            info = export_onnx(ckpt, plan, out, calib_X=X, qdq=plan is not None, calib=calib)
        else:
            from ecg_edge.mobile.tflite_export import export_tflite

            info = export_tflite(ckpt, plan, out, X, calib=calib)
    except ModuleNotFoundError as exc:
        raise EcgEdgeError(f"--format {fmt} needs the Python package {exc.name!r}, which is not installed") from exc
    click.echo(f"wrote {out} ({info.format}, {info.bytes} bytes)")
    for n in info.notes:
        click.echo(f"note: {n}")


def inspect_report(mb, path: Path) -> str:
    from ecg_edge.layerplan.bitpack import ENCODING_NAMES
    from ecg_edge.layerplan.plan import nominal_cr
    from ecg_edge.modelbin.layout import OP_NAMES

    lines = [f"{path}: model.bin v{mb.version}, {mb.file_size} bytes, {len(mb.tensors)} tensors, {len(mb.ops)} ops, "
             f"task {mb.meta.get('task', '?')!r}, classes {mb.classes}"]
    t_in = mb.tensors[mb.input_tensor]
    lines.append(f"input [{t_in.length}][{t_in.channels}] scale {t_in.scale:.6g} zero_point {t_in.zero_point}")
    names = mb.meta.get("op_names") if isinstance(mb.meta.get("op_names"), list) else []
    names = names if len(names) == len(mb.ops) else [""] * len(mb.ops)
    w = max([len(n) for n in names] + [5])
    lines.append(f"{'#':>3} {'layer':{w}s} {'op':15s} {'out [L][C]':>12s} {'weights':>10s} {'bits':>4s} {'sparsity':>8s} {'encoding':>9s} {'bytes':>7s}")
    blocks = [op.block for op in mb.ops if op.block is not None]
    for k, op in enumerate(mb.ops):
        t = mb.tensors[op.out]
        b = op.block
        if b is not None:
            sp = 1.0 - b.nnz / (b.c_out * b.span)
            lines.append(f"{k:3d} {names[k]:{w}s} {OP_NAMES[op.op]:15s} {f'[{t.length}][{t.channels}]':>12s} "
                         f"{f'{b.c_out}x{b.span}':>10s} {b.bits:4d} {sp:8.1%} {ENCODING_NAMES[b.encoding]:>9s} {b.size:7d}")
        else:
            lines.append(f"{k:3d} {names[k]:{w}s} {OP_NAMES[op.op]:15s} {f'[{t.length}][{t.channels}]':>12s} {'-':>10s} {'-':>4s} {'-':>8s} {'-':>9s} {0:7d}")
    sec = {n: s.size for n, s in mb.sections.items()}
    other = mb.file_size - sum(sec.values())
    lines.append("bytes by section: " + ", ".join(f"{n} {v}" for n, v in sec.items())
                 + f", header+table+padding {other}; device image (flashed) {mb.file_size}")
    if mb.host_trailer_bytes:
        lines.append(f"host trailer (not flashed): {mb.host_trailer_bytes} B, keys {', '.join(mb.host_keys)}")
    fp32 = mb.meta.get("fp32_param_bytes")
    if fp32:
        nominal = nominal_cr([b.c_out * b.span for b in blocks], [b.bits for b in blocks], [b.nnz for b in blocks])
        lines.append(f"compression: true CR {fp32 / mb.file_size:.2f}x ({fp32} B fp32 parameters / {mb.file_size} B "
                     f"device image); nominal CR {nominal:.2f}x (32-bit / bits x non-zeros, ignores every other byte)")
    from ecg_edge.modelbin.planner import PlanOp, plan_arena

    sizes = [t.size_bytes for t in mb.tensors]
    pops = [PlanOp(o.op, o.inputs, o.out) for o in mb.ops]
    lower = plan_arena(sizes, pops, mb.input_tensor, mb.output_tensor).lower_bound
    lines.append(f"arena: {mb.arena_size} B planned, lower bound {lower} B (largest live set, in-place ADDs)")
    plan = mb.meta.get("plan")
    if plan:  # the reader refused one that is not a JSON object; its layers are validated here
        from ecg_edge.layerplan.plan import plan_from_summary

        summary = json.loads(plan) if isinstance(plan, str) else plan
        plan_from_summary(summary, f"{mb.source}: META 'plan'")
        lines.append(f"plan: method {summary.get('method')!r}, target {summary.get('target')!r}")
    return "\n".join(lines)


@click.command("inspect")
@click.argument("model_bin", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="print header, sections, tensors, ops and META as JSON")
@click.option("--attribution", "attr_ckpt", type=click.Path(path_type=Path), default=None,
              help="CHECKPOINT MODEL_BIN was packed from: per op kind, argmax agreement and logit error with "
                   "that op alone ideal (float op, int8 output) vs the float graph, on --data's --split")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="--attribution: prepared dataset [default: the checkpoint's dataset_dir]")
@click.option("--split", type=click.Choice(("train", "val", "test")), default="test", show_default=True,
              help="--attribution: windows evaluated")
@click.option("--max-windows", type=POSITIVE_INT, default=None, help="--attribution: the first N windows only")
@click.option("--per-op", is_flag=True, help="--attribution: also one row per op (each alone ideal)")
@click.option("--row", "rows", multiple=True,
              help="--attribution: an extra pipeline PATTERN=MODE[,...]: PATTERN an op kind (SOFTMAX), op name "
                   "or glob ('*.attention.*'), 'input' or '*' (every other op); MODE I integer, Q float op with "
                   "int8 output, F float (repeatable)")
def inspect_cmd(model_bin: Path | None, as_json: bool, attr_ckpt: Path | None, data_dir: Path | None, split: str,
                max_windows: int | None, per_op: bool, rows: tuple[str, ...]) -> None:
    """Per layer op, shape, bits, sparsity, encoding and bytes of MODEL_BIN; totals by section;
    true vs nominal compression ratio; arena bytes vs lower bound. With --attribution CHECKPOINT:
    where the integer ops lose argmax agreement with the float graph instead."""
    from ecg_edge.modelbin.reader import read_model_file

    model_bin = model_bin or paths.default_model_bin()
    mb = read_model_file(model_bin)
    if attr_ckpt is not None:
        _attribution(mb, attr_ckpt, data_dir, split, max_windows, per_op, rows, as_json)
        return
    if data_dir or max_windows or per_op or rows:
        raise EcgEdgeError("--data/--max-windows/--per-op/--row apply to --attribution CHECKPOINT only")
    if as_json:
        from dataclasses import asdict

        ops = []
        for o in mb.ops:
            d = {k: v for k, v in asdict(o).items() if k != "block"}
            if o.block is not None:
                d["block"] = {k: getattr(o.block, k) for k in ("bits", "encoding", "c_out", "span", "kernel", "nnz", "size")}
            ops.append(d)
        click.echo(json.dumps({"file_size": mb.file_size, "arena_size": mb.arena_size,
                               "sections": {n: asdict(s) for n, s in mb.sections.items()},
                               "tensors": [asdict(t) for t in mb.tensors], "ops": ops, "meta": mb.meta},
                              indent=2, default=str))
        return
    click.echo(inspect_report(mb, model_bin))


def _attribution(mb, ckpt_path: Path, data_dir: Path | None, split: str, max_windows: int | None, per_op: bool,
                 rows: tuple[str, ...], as_json: bool) -> None:
    from dataclasses import asdict

    import numpy as np

    from ecg_edge.checkpoint import load_checkpoint, recorded_dataset_dir
    from ecg_edge.compress.engine import check_agreement
    from ecg_edge.data.prepared import load_prepared
    from ecg_edge.modelbin.attribution import attribute, default_rows, format_attribution, parse_row

    specs = default_rows(mb, per_op) + [parse_row(r) for r in rows]
    ckpt = load_checkpoint(ckpt_path)
    d = data_dir or recorded_dataset_dir(ckpt.data, ckpt_path) or paths.default_dataset_dir()
    ds = load_prepared(d)
    check_agreement(ckpt, ds, f"--data {d}")
    X, _ = ds.split(split)
    X = X[:max_windows] if max_windows else X
    res = attribute(mb, ckpt, np.asarray(X), specs)
    if as_json:
        click.echo(json.dumps(asdict(res), indent=2))
        return
    click.echo(f"{mb.source} vs {ckpt_path}, {split} split of {d}")
    click.echo(format_attribution(res))
