"""One model + one prepared dataset -> compression plans: validation, the search, optional
fine-tuning, the compressed checkpoint, exact bytes and the target fit check. The CLI and the
ablation report both drive this class, so they share one search context (cached layers)."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ecg_edge import __version__
from ecg_edge.checkpoint import Checkpoint
from ecg_edge.compress.allocate import DEFAULT_SPARSITIES, Option, budget
from ecg_edge.compress.finetune import FinetuneConfig, finetune
from ecg_edge.compress.importance import DEFAULT_ALPHA, DEFAULT_BETA, layer_importance
from ecg_edge.compress.layers import discover_layers, fp32_parameter_bytes
from ecg_edge.compress.qat import QATConfig
from ecg_edge.compress.quantize import ORDERS, CompressedLayer, compress_with_mask
from ecg_edge.compress.search import (
    METRICS,
    READINGS,
    SearchContext,
    SearchResult,
    fixed,
    lap,
    laq,
    laq_lap,
)
from ecg_edge.compress.sensitivity import DEFAULT_BITS, DEFAULT_WINDOWS
from ecg_edge.compress.sensitivity import DEFAULT_SPARSITIES as QAT_SPARSITIES
from ecg_edge.compress.sizes import BLOCKS_ONLY, EXACT, ModelSize, measure
from ecg_edge.data.prepared import PreparedDataset
from ecg_edge.errors import EcgEdgeError
from ecg_edge.layerplan.bitpack import ENCODING_NAMES
from ecg_edge.layerplan.plan import CompressionPlan, LayerPlan, nominal_cr
from ecg_edge.metrics import classification_metrics
from ecg_edge.models.predict import predict
from ecg_edge.models.registry import model_from_checkpoint
from ecg_edge.targets.budget import FitReport, check_fit
from ecg_edge.targets.registry import Target

# Both readings of eq. (3) were measured on the same models and data (tolerance 0.01, 360
# validation windows; `ecg-edge report ablation`, current figures in NOTES.md "Readings of eq. (3)"): on ResNet1D / synthetic
# chapman4 the conservative reading's LAQ plan is 41,216 B of model.bin against 62,688 B for
# the printed one at the same validation accuracy (0.9722), and on HuBERT-tiny 136,292 B against
# 144,052 B (weight blocks; val 0.8611 vs 0.8556). With importance dominated by weight variance,
# the "important" layers are the small high-variance ones (stem, shortcuts, head); the
# conservative reading hands the slack to the large low-variance layers, which hold the bytes.
# Better accuracy per byte, so it is the default; `--reading printed` keeps the literal formula.
DEFAULT_READING = "conservative"
METHOD_RE = re.compile(r"^(fp32|laq|lap|laq\+lap|budget|qat|fixed-q([1-8])|fixed-p(\d{1,2}))$")
QUANTIZING = ("laq", "laq+lap", "budget", "qat", "fixed-q")


@dataclass
class CompressOptions:
    tolerance: float = 0.01
    reading: str = DEFAULT_READING
    order: str = "prune-then-quantize"
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    val_max: int = 1024  # fixed validation subset used by every search
    seed: int = 0
    scan: bool = False
    laq_share: float = 0.5
    max_bytes: int | None = None
    budget_sparsities: tuple[float, ...] = DEFAULT_SPARSITIES
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(epochs=0))
    use_packer: bool = True
    metric: str = "accuracy"  # search score: "accuracy" (paper) or "macro_f1"
    # method "qat": label-free sensitivity -> allocation -> distillation QAT -> verify/repair
    sensitivity: str = "kl"  # "kl" | "hutchinson"
    sens_windows: int = DEFAULT_WINDOWS
    qat_bits: tuple[int, ...] = DEFAULT_BITS
    qat_sparsities: tuple[float, ...] = QAT_SPARSITIES
    target_cr: float | None = None  # whole-file byte budget = fp32 parameter bytes / target_cr
    max_macs: int | None = None
    max_repairs: int = 3
    qat: QATConfig = field(default_factory=QATConfig)
    ship_source: str = ""  # the compressed.pt model.bin's META names (default: the input checkpoint)


@dataclass
class Outcome:
    plan: CompressionPlan
    checkpoint: Checkpoint
    layers: dict[str, CompressedLayer]
    size: ModelSize
    fit: FitReport
    search: SearchResult
    val_metrics: dict[str, Any]


def parse_method(method: str) -> tuple[str, float | None]:
    m = METHOD_RE.match(method.strip().lower())
    if not m:
        raise EcgEdgeError(f"--method {method!r}: expected laq, lap, laq+lap, budget, fixed-q<1..8> or fixed-p<0..99>")
    if m.group(2):
        return "fixed-q", float(m.group(2))
    if m.group(3):
        return "fixed-p", float(m.group(3))
    return m.group(1), None


def check_agreement(ckpt: Checkpoint, ds: PreparedDataset, source: str = "") -> None:
    """A checkpoint and a dataset that disagree (classes, samples, leads) are refused."""
    man, d = ds.manifest, ckpt.data or {}
    where = f"{source}: " if source else ""
    if list(ckpt.classes) != list(man.classes):
        raise EcgEdgeError(f"{where}checkpoint classes {ckpt.classes} differ from dataset {ds.root} classes {man.classes}")
    if "n_samples" in d and int(d["n_samples"]) != int(man.n_samples):
        raise EcgEdgeError(f"{where}checkpoint expects {d['n_samples']} samples per window, dataset {ds.root} has {man.n_samples}")
    leads = d.get("leads")
    n_leads = len(leads) if isinstance(leads, (list, tuple)) else leads
    if n_leads is not None and int(n_leads) != man.n_leads:
        raise EcgEdgeError(f"{where}checkpoint expects {n_leads} leads, dataset {ds.root} has {man.n_leads}")
    if isinstance(leads, (list, tuple)) and [str(v).upper() for v in leads] != [str(v).upper() for v in man.leads]:
        raise EcgEdgeError(f"{where}checkpoint expects leads {','.join(map(str, leads))}, dataset {ds.root} has "
                           f"{','.join(man.leads)}")
    if d.get("fs") is not None and abs(float(d["fs"]) - float(man.fs)) > 1e-6:
        raise EcgEdgeError(f"{where}checkpoint expects {float(d['fs']):g} Hz windows, dataset {ds.root} is "
                           f"{float(man.fs):g} Hz")


class Compressor:
    def __init__(self, ckpt: Checkpoint, ds: PreparedDataset, target: Target,
                 opts: CompressOptions | None = None, source: str = "") -> None:
        self.opts = opts or CompressOptions()
        o = self.opts
        if not 0.0 <= o.tolerance < 1.0:
            raise EcgEdgeError(f"--tolerance {o.tolerance}: expected an absolute accuracy drop in [0, 1), e.g. 0.01")
        if o.reading not in READINGS:
            raise EcgEdgeError(f"--reading {o.reading!r}: expected one of {', '.join(READINGS)}")
        if o.order not in ORDERS:
            raise EcgEdgeError(f"--order {o.order!r}: expected one of {', '.join(ORDERS)}")
        check_agreement(ckpt, ds, source)
        self.ckpt, self.ds, self.target, self.source = ckpt, ds, target, source
        self.model = model_from_checkpoint(ckpt)
        if not discover_layers(self.model):
            raise EcgEdgeError(f"{source or 'checkpoint'}: the model has no Conv1d/Linear layer to compress")
        Xv, yv = ds.split("val")
        if len(yv) == 0:
            raise EcgEdgeError(f"{ds.root}: the validation split is empty; the search needs validation windows")
        idx = np.arange(len(yv))
        if len(yv) > o.val_max:
            idx = np.sort(np.random.default_rng(o.seed).choice(len(yv), o.val_max, replace=False))
        self.X_val, self.y_val = np.asarray(Xv[idx], dtype=np.float32), np.asarray(yv[idx])
        if o.metric not in METRICS:
            raise EcgEdgeError(f"--metric {o.metric!r}: expected one of {', '.join(METRICS)}")
        self.ctx = SearchContext(copy.deepcopy(self.model), self.X_val, self.y_val, o.order, metric=o.metric)
        self.names = self.ctx.names
        self.importance = layer_importance(self.names, [self.ctx.fp[n] for n in self.names], o.alpha, o.beta)
        self.bits = sorted(set(target.supported_bits))
        self._sens: dict[tuple, dict[str, list[Option]]] = {}
        self._qat_sens: dict[tuple, Any] = {}  # method "qat": measured sensitivities, by what they measured
        self._check_smallest_fits()

    # --- feasibility ------------------------------------------------------------------------------
    def _check_smallest_fits(self) -> None:
        """Refuse a target that cannot hold even the most aggressive plan."""
        smallest = sum(self.ctx.compressed(n, (self.bits[0], 0.99 if self.bits[0] > 1 else 0.0)).block_bytes()[1]
                       for n in self.names)
        fit = check_fit(self.target, smallest, self._arena_estimate())
        if not fit.fits:
            raise EcgEdgeError(f"target {self.target.name} cannot hold even the smallest plan: {fit.summary()}")
        if self.opts.max_bytes is not None and smallest > self.opts.max_bytes:
            raise EcgEdgeError(f"--max-bytes {self.opts.max_bytes}: even the smallest plan's weight blocks "
                               f"need {smallest} B")

    def _arena_estimate(self) -> int:
        from ecg_edge.compress.sizes import estimate_arena

        return estimate_arena(copy.deepcopy(self.model), self.ds.manifest.n_leads, self.ds.manifest.n_samples)

    # --- searches ---------------------------------------------------------------------------------
    def search(self, method: str, tolerance: float | None = None, reading: str | None = None,
               order: str | None = None, max_bytes: int | None = None) -> SearchResult:
        kind, val = parse_method(method)
        tol = self.opts.tolerance if tolerance is None else tolerance
        reading = reading or self.opts.reading
        self.ctx.set_order(order or self.opts.order)
        if kind == "fp32":
            self.ctx.restore()
            return SearchResult({n: (8, 0.0) for n in self.names}, self.ctx.baseline, self.ctx.baseline, 0, 0.0)
        if kind == "fixed-q":
            if int(val) not in self.bits:
                raise EcgEdgeError(f"{method}: {self.target.name} supports bit-widths {self.bits}")
            return fixed(self.ctx, int(val), 0.0)
        if kind == "fixed-p":
            return fixed(self.ctx, max(self.bits), val / 100.0)
        if kind == "laq":
            return laq(self.ctx, self.importance, tol, self.bits, reading, scan=self.opts.scan)
        if kind == "lap":
            return lap(self.ctx, self.importance, tol, max(self.bits))
        if kind == "laq+lap":
            return laq_lap(self.ctx, self.importance, tol, self.bits, reading, self.opts.laq_share, self.opts.scan)
        budget_bytes = max_bytes if max_bytes is not None else self.opts.max_bytes
        if budget_bytes is None:
            budget_bytes = check_fit(self.target, 0, 0).max_model_bytes
        key = (self.ctx.order, tuple(self.opts.budget_sparsities))
        res, opts = budget(self.ctx, self.bits, budget_bytes, self.opts.budget_sparsities, self._sens.get(key))
        self._sens[key] = opts
        return res

    def run(self, method: str, finetune_cfg: FinetuneConfig | None = None) -> Outcome:
        """Search + finalize; refuses (EcgEdgeError, nothing written) a plan over --max-bytes or
        one that does not fit the target's flash/RAM. Budget mode re-solves with the measured
        non-weight overhead of model.bin until the whole file fits the byte budget."""
        kind, _ = parse_method(method)
        limit = self.opts.max_bytes
        if kind == "qat":
            out = self.shipped()
            limit = self.byte_limit()
        elif kind == "budget":
            limit = limit if limit is not None else check_fit(self.target, 0, 0).max_model_bytes
            out = self.budgeted(limit, finetune_cfg)
        else:
            out = self.finalize(method, self.search(method), finetune_cfg)
        if limit is not None and out.size.total_bytes > limit:
            raise EcgEdgeError(f"the {method} plan needs {out.size.total_bytes} B ({out.size.source}), "
                               f"over --max-bytes {limit} B; raise the budget or use --method budget")
        if not out.fit.fits:
            raise EcgEdgeError(f"the {method} plan does not fit {self.target.name}: {out.fit.summary()}")
        return out

    # --- sensitivity -> allocation -> QAT -> verify and repair on the shipped bytes -------------
    def byte_limit(self) -> int:
        o = self.opts
        if o.max_bytes is not None:
            return o.max_bytes
        if o.target_cr is not None:
            return int(fp32_parameter_bytes(self.model) / o.target_cr)
        return check_fit(self.target, 0, 0).max_model_bytes

    def shipped(self, log=None) -> Outcome:
        """Method "qat": KL (or Hutchinson) sensitivity on training windows, the exact knapsack for
        the whole-file byte budget (and MAC budget), distillation QAT, then the packed model.bin
        is verified on the validation split and repaired until its drop meets --tolerance."""
        import time as _time

        from ecg_edge.compress.allocate import Budget, allocate
        from ecg_edge.compress.sensitivity import measure as measure_sensitivity
        from ecg_edge.compress.sensitivity import training_windows
        from ecg_edge.compress.ship import ShipConfig, ship
        from ecg_edge.modelbin.graph import can_lower
        from ecg_edge.modelbin.packer import pack

        if not can_lower(self.ckpt.arch):
            raise EcgEdgeError(f"--method qat trains the model.bin graph, which does not exist for {self.ckpt.arch}")
        o = self.opts
        log = log or (lambda m: None)
        ship_source = o.ship_source or self.source
        t0 = _time.perf_counter()
        Xt, yt = self.ds.split("train")
        bits = tuple(b for b in o.qat_bits if b in self.bits)
        key = self._sens_key(o.sensitivity, o.sens_windows, bits, o.qat_sparsities, self.ctx.order)
        sens = self._qat_sens.get(key)
        if sens is None:
            sens = measure_sensitivity(self.model, training_windows(Xt, o.sens_windows, o.seed), o.sensitivity,
                                       bits, o.qat_sparsities, self.ctx.order)
            self._qat_sens[key] = sens
            log(f"sensitivity ({sens.method}, {sens.windows} training windows, "
                f"{sum(len(v) for v in sens.options.values())} layer x candidate): {sens.seconds:.1f} s")
        else:
            log(f"sensitivity ({sens.method}, {sens.windows} training windows): measured before, reused")
        limit = self.byte_limit()
        # The knapsack gets the limit minus the non-weight bytes of model.bin (header, tensors,
        # ops, metadata), measured on a packed file of the plan; option bytes count every kept
        # weight as non-zero, so QAT cannot push the shipped file over the limit.
        def upper_total(a: dict) -> tuple[int, int]:  # (file bytes with option bytes, overhead)
            probe = pack(self.ckpt, self._qat_plan(a, sens), Xt[:8], max_calib_windows=8, source=ship_source)
            # (norm and table blocks are not plan layers: they stay in the overhead)
            over = probe.device_size - sum(li.bytes for li in probe.layers if li.name in sens.options)
            return over + sum(sens.option(n, c).bytes for n, c in a.items()), over

        smallest = sum(min(x.bytes for x in v) for v in sens.options.values())
        try:
            assign = allocate(sens.options, Budget(limit, o.max_macs))
        except EcgEdgeError as exc:
            raise EcgEdgeError(f"whole-file budget {limit} B: {exc}; candidates bits {list(bits)} x sparsity "
                               f"{list(o.qat_sparsities)}") from exc
        total, overhead = upper_total(assign)
        if limit - overhead < smallest:
            raise EcgEdgeError(f"whole-file budget {limit} B leaves {limit - overhead} B for weight blocks after "
                               f"model.bin's {overhead} B of other bytes; the most aggressive candidates (bits "
                               f"{list(bits)} x sparsity {list(o.qat_sparsities)}) need {smallest} B")
        for _ in range(6):
            if total <= limit:
                break
            assign = allocate(sens.options, Budget(limit - overhead, o.max_macs))
            total, over = upper_total(assign)
            overhead = max(over, overhead + 4) if total > limit else over
        cfg = ShipConfig(tolerance=o.tolerance, metric=o.metric, max_repairs=o.max_repairs, qat=o.qat)
        Xv, yv = self.ds.split("val")
        aug = None
        if o.qat.augment:
            from ecg_edge.train.augment import Augmenter

            m = self.ds.manifest
            aug = Augmenter(float(m.fs), m.n_samples, m.provenance.get("preprocess"), o.seed)
            log(aug.describe())
        res = ship(self.model, self.ckpt, lambda a: self._qat_plan(a, sens), assign, sens, np.asarray(Xt),
                   np.asarray(yt), np.asarray(Xv), np.asarray(yv), cfg, ship_source, log, aug)
        plan = self._qat_plan(res.assign, sens)
        from ecg_edge.modelbin.reader import read_model

        mb = read_model(res.data)
        infos = {li.name: li for li in res.packed.layers}
        for lp in plan.layers:
            li = infos[lp.name]
            lp.bytes, lp.encoding, lp.nnz = li.bytes, li.encoding, int(round(li.params * (1.0 - li.sparsity)))
        from ecg_edge.modelbin.executor import quantize_inputs, run

        val_pred = run(mb, quantize_inputs(mb, np.asarray(Xv))).argmax(1)
        val_metrics = classification_metrics(np.asarray(yv), val_pred, self.ckpt.classes)
        fp_val_pred = predict(self.model, np.asarray(Xv)).argmax(1)
        fp32 = fp32_parameter_bytes(self.model)
        size = ModelSize(res.packed.device_size, sum(lp.bytes for lp in plan.layers), int(res.packed.arena_bytes), EXACT,
                         "packer", res.data, {"sections": res.packed.sections})
        fit = check_fit(self.target, size.total_bytes, size.arena_bytes)
        plan.metrics.update({
            "model_bytes": size.total_bytes, "bytes_source": EXACT, "weight_block_bytes": size.weight_block_bytes,
            "arena_bytes": size.arena_bytes, "arena_source": "packer", "fp32_param_bytes": fp32,
            "true_cr": fp32 / size.total_bytes, "cr_weight_blocks_only": fp32 / max(size.weight_block_bytes, 1),
            "byte_limit": limit, "max_macs": o.max_macs,
            "executed_macs": int(sum(sens.option(n, c).macs for n, c in res.assign.items())),
            "fit": fit.to_dict(), "metric": o.metric,
            "val_windows": int(len(yv)), "val_metric_shipped": res.val_metric, "val_metric_fp32": res.fp32_val_metric,
            "val_drop_shipped": res.val_drop, "within_tolerance": res.within_tolerance,
            "val_accuracy_fakequant": float(val_metrics["accuracy"]), "val_macro_f1_fakequant": float(val_metrics["macro_f1"]),
            "val_accuracy_fp32": float((fp_val_pred == np.asarray(yv)).mean()),
            "val_delta_shipped": _val_delta(self.ds, np.asarray(yv), fp_val_pred, val_pred),
            "agreement_shipped_vs_fakequant_val": res.agreement, "logits_equal_val": res.logits_equal,
            "repairs": [asdict(r) for r in res.repairs], "rounds": res.rounds,
            "sensitivity": {"method": sens.method, "windows": sens.windows, "seconds": round(sens.seconds, 1),
                            "options": {n: [[o_.choice[0], o_.choice[1], o_.bytes, o_.sensitivity, o_.macs,
                                                 o_.encoding] for o_ in v] for n, v in sens.options.items()}},
            "qat": asdict(o.qat), "search_seconds": _time.perf_counter() - t0, "search_evaluations": 0,
            "nominal_cr": nominal_cr([lp.params for lp in plan.layers], [lp.bits for lp in plan.layers],
                                     [lp.nnz for lp in plan.layers]),
            "mean_bits": float(np.average([lp.bits for lp in plan.layers], weights=[lp.params for lp in plan.layers])),
        })
        extra = {"qat": res.qat.qat.export_state()}
        ck = Checkpoint(self.ckpt.arch, dict(self.ckpt.config), {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                        list(self.ckpt.classes), dict(self.ckpt.data), {"val_shipped": _short(val_metrics)}, extra)
        ck.extra["plan"] = asdict(plan)
        search = SearchResult(res.assign, float(val_metrics["accuracy"]), plan.metrics["val_accuracy_fp32"], 0,
                              plan.metrics["search_seconds"])
        layers = {n: self.ctx.compressed(n, c) for n, c in res.assign.items()}
        return Outcome(plan, ck, layers, size, fit, search, val_metrics)

    def _sens_key(self, method: str, windows: int, bits, sparsities, order: str) -> tuple:
        return (method, int(windows), tuple(sorted(int(b) for b in bits)),
                tuple(sorted(round(float(p), 6) for p in sparsities)), order, self.opts.seed)

    def reuse_sensitivity(self, plan: CompressionPlan, where: str = "plan.json") -> None:
        """Seed method "qat" with the sensitivity a `compress --method qat` plan of this same
        checkpoint recorded (its provenance must name the same checkpoint file and seed)."""
        from pathlib import Path

        from ecg_edge.compress.sensitivity import from_record

        prov, rec = plan.provenance or {}, (plan.metrics or {}).get("sensitivity")
        if plan.method != "qat" or not isinstance(rec, dict) or "options" not in rec:
            raise EcgEdgeError(f"{where}: not a `compress --method qat` plan with a recorded sensitivity")
        if not prov.get("checkpoint") or Path(prov["checkpoint"]).resolve() != Path(self.source).resolve():
            raise EcgEdgeError(f"{where}: its sensitivity was measured on {prov.get('checkpoint')!r}, "
                               f"not on {self.source!r}")
        if int(prov.get("seed", -1)) != self.opts.seed:
            raise EcgEdgeError(f"{where}: seed {prov.get('seed')}, this run uses seed {self.opts.seed}")
        try:
            sens = from_record(rec, where)
        except ValueError as exc:
            raise EcgEdgeError(str(exc)) from exc
        missing = sorted(set(self.names) - set(sens.options))
        if missing:
            raise EcgEdgeError(f"{where}: no sensitivity for layers {missing}")
        opts = [o.choice for v in sens.options.values() for o in v]
        key = self._sens_key(sens.method, int(prov.get("sens_windows", sens.windows)), {b for b, _ in opts},
                             {p for _, p in opts}, plan.order)
        self._qat_sens[key] = sens
        self.opts.sensitivity, self.opts.sens_windows = sens.method, key[1]
        self.opts.qat_bits, self.opts.qat_sparsities, self.opts.order = key[2], key[3], plan.order
        self.ctx.set_order(plan.order)

    def _qat_plan(self, assign: dict, sens) -> CompressionPlan:
        lps = []
        for n in self.names:
            b, p = assign[n]
            o = sens.option(n, (b, p))
            imp = self.importance.of(n)
            lps.append(LayerPlan(name=n, bits=int(b), sparsity=float(p), params=int(self.ctx.fp[n].size),
                                 importance=imp["importance"], pdi=imp["pdi"], pvi=imp["pvi"], bytes=int(o.bytes),
                                 encoding=o.encoding))
        prov = {"checkpoint": self.source, "dataset": str(self.ds.root), "sensitivity": self.opts.sensitivity,
                "sens_windows": self.opts.sens_windows, "metric": self.opts.metric, "seed": self.opts.seed,
                "producer": f"ecg-edge {__version__}", "supported_bits": self.bits}
        return CompressionPlan(method="qat", target=self.target.name, layers=lps, tolerance=self.opts.tolerance,
                               order=self.ctx.order, metrics={}, provenance=prov)

    def budgeted(self, limit: int, finetune_cfg: FinetuneConfig | None = None, method: str = "budget") -> Outcome:
        """Budget mode against a whole-file limit: the knapsack gets the limit minus the largest
        non-weight bytes of model.bin measured so far (META, graph, padding; they depend on the
        plan, e.g. its JSON and the checkpoint path), re-solved until the packed file fits. A
        file over the limit is never returned as if it fitted."""
        overhead, out = 0, None
        for _ in range(6):
            res = self.search("budget", max_bytes=limit - overhead)
            out = self.finalize(method, res, finetune_cfg)
            if out.size.total_bytes <= limit:
                return out
            measured = out.size.total_bytes - out.size.weight_block_bytes
            overhead = max(overhead + out.size.total_bytes - limit, measured)
        raise EcgEdgeError(f"byte budget {limit} B: the closest plan packs to {out.size.total_bytes} B "
                           f"of model.bin after 6 re-solves; raise the budget")

    # --- from a search result to the shipped artefacts --------------------------------------------
    def finalize(self, method: str, res: SearchResult, finetune_cfg: FinetuneConfig | None = None,
                 measure_size: bool = True) -> Outcome:
        kind, _ = parse_method(method)
        ft = finetune_cfg or self.opts.finetune
        base = self.model
        layers = {n: self.ctx.compressed(n, res.assign[n]) for n in self.names}
        if kind == "fp32":
            layers = {n: compress_with_mask(self.ctx.fp[n], 8, np.ones(self.ctx.fp[n].shape, bool)) for n in self.names}
        if ft.epochs > 0 and kind != "fp32":
            Xt, yt = self.ds.split("train")
            base = finetune(self.model, {n: layers[n].bits for n in self.names},
                            {n: layers[n].mask for n in self.names}, Xt, yt, ft)
            layers = {n: compress_with_mask(base.get_submodule(n).weight.detach().numpy(), layers[n].bits,
                                            layers[n].mask) for n in self.names}
        state = {k: v.detach().clone() for k, v in base.state_dict().items()}
        if kind != "fp32":
            for n in self.names:
                state[f"{n}.weight"] = torch.as_tensor(layers[n].weight, dtype=state[f"{n}.weight"].dtype)
        model = copy.deepcopy(self.model)
        model.load_state_dict(state)
        logits = predict(model, self.X_val)
        val_metrics = classification_metrics(self.y_val, logits.argmax(1), self.ckpt.classes)
        plan = self._plan(method, res, layers, val_metrics, ft)
        ck = Checkpoint(self.ckpt.arch, dict(self.ckpt.config), state, list(self.ckpt.classes),
                        dict(self.ckpt.data), {"val_fakequant": _short(val_metrics)}, {})
        block_bytes = sum(lp.bytes for lp in plan.layers)
        if measure_size:
            Xt, _ = self.ds.split("train")
            size = measure(ck, plan, Xt, block_bytes, use_packer=self.opts.use_packer)
        else:
            size = ModelSize(block_bytes, block_bytes, self._arena_estimate(), BLOCKS_ONLY, "estimate")
        fit = check_fit(self.target, size.total_bytes, size.arena_bytes)
        fp32 = fp32_parameter_bytes(self.model)
        plan.metrics.update({
            "model_bytes": size.total_bytes, "bytes_source": size.source,
            "weight_block_bytes": block_bytes, "arena_bytes": size.arena_bytes, "arena_source": size.arena_source,
            "fp32_param_bytes": fp32,
            "true_cr": fp32 / size.total_bytes if size.source != BLOCKS_ONLY else None,
            "cr_weight_blocks_only": fp32 / block_bytes,
            "fit": fit.to_dict(),
        })
        if size.pack_info:
            plan.metrics["pack"] = size.pack_info
        ck.extra["plan"] = asdict(plan)
        return Outcome(plan, ck, layers, size, fit, res, val_metrics)

    def _plan(self, method: str, res: SearchResult, layers: dict[str, CompressedLayer],
              val_metrics: dict[str, Any], ft: FinetuneConfig) -> CompressionPlan:
        kind, _ = parse_method(method)
        lps = []
        for n in self.names:
            cl = layers[n]
            # The fraction actually pruned by the mask (percentile ties make it differ slightly
            # from the requested p_l), floored so the packer's "zeros >= plan sparsity" holds and it
            # never prunes further on top of the shipped weights.
            p = math.floor((1.0 - float(cl.mask.mean())) * 1e6) / 1e6
            enc, nbytes = cl.block_bytes()
            imp = self.importance.of(n)
            lps.append(LayerPlan(name=n, bits=int(cl.bits), sparsity=float(p), params=int(cl.levels.size),
                                 importance=imp["importance"], pdi=imp["pdi"], pvi=imp["pvi"], bytes=int(nbytes),
                                 nnz=cl.nnz, encoding=ENCODING_NAMES[enc]))
        quantized = kind in QUANTIZING
        # Nominal (paper) figures count the weights the mask keeps, not levels that round to 0.
        kept = [int(layers[n].mask.sum()) for n in self.names]
        ncr = nominal_cr([lp.params for lp in lps], [lp.bits if quantized else 32 for lp in lps], kept)
        if kind == "fp32":
            ncr = 1.0
        metrics = {
            "val_accuracy_fakequant": val_metrics["accuracy"], "val_macro_f1_fakequant": val_metrics["macro_f1"],
            "val_accuracy_search": res.val_accuracy, "val_accuracy_fp32": res.baseline_accuracy,
            "val_windows": int(len(self.y_val)), "search_seconds": res.seconds,
            "search_evaluations": res.evaluations, "nominal_cr": ncr,
            "nominal_cr_note": "paper's 32*N / sum(bits*kept)" + ("" if quantized else " with fp32 (32-bit) non-zeros"),
            "mean_bits": float(np.average([lp.bits for lp in lps], weights=[lp.params for lp in lps])),
            "finetune_epochs": ft.epochs,
            "search_trace": res.trace[:2000],  # kept out of provenance: model.bin's metadata copies that
            "arch": self.ckpt.arch, "classes": list(self.ckpt.classes),  # export refuses a plan of another model
        }
        prov = {"checkpoint": self.source, "dataset": str(self.ds.root), "reading": self.opts.reading,
                "search_metric": self.opts.metric,
                "alpha": self.opts.alpha, "beta": self.opts.beta, "val_max": self.opts.val_max,
                "seed": self.opts.seed, "finetune": asdict(ft), "producer": f"ecg-edge {__version__}",
                "supported_bits": self.bits}
        return CompressionPlan(method=method, target=self.target.name, layers=lps,
                               tolerance=self.opts.tolerance, order=self.ctx.order, metrics=metrics, provenance=prov)


def _val_delta(ds: PreparedDataset, y: np.ndarray, fp_pred: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Shipped - fp32 on validation with its paired bootstrap 95% CI (by patient/record when known)."""
    from ecg_edge.stats import paired_bootstrap

    try:
        groups = ds.groups("val")
    except EcgEdgeError:
        groups = None
    return paired_bootstrap(y, fp_pred, pred, groups=groups, n_classes=len(ds.classes)).to_dict()


def _short(m: dict[str, Any]) -> dict[str, float]:
    return {k: m[k] for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "n")}
