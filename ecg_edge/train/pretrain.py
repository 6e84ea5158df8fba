"""Self-supervised HuBERT-ECG pretraining (the paper's eq. 2): masked prediction of k-means
cluster ids of per-frame targets, on unlabelled windows (the X arrays of prepared datasets).

Iteration 1 clusters time/frequency frame features of the signal; iteration k > 1 clusters the
hidden states of a chosen layer of the model from iteration k-1 and continues training it with
fresh prediction heads (as HuBERT-ECG does). The loss is cross-entropy on masked frames only:
    L = -1/sum(m_t) * sum_t m_t log p(c_t | h_t),  p from cosine(final_proj(h_t), e_c) / 0.1.
Masking uses HubertModel's own mechanism (masked_spec_embed at the given mask_time_indices) with
span starts drawn from a generator seeded per (seed, iteration, epoch), so a resumed run repeats
the interrupted one exactly. The state is checkpointed atomically after every epoch; each
finished iteration writes a HuBERT-ECG checkpoint directory (config.json + model.safetensors)
that `load_hubert_ecg_dir` turns into a classifier for fine-tuning.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecg_edge.atomic import atomic_path, write_json
from ecg_edge.data.prepared import load_prepared
from ecg_edge.errors import DataError, EcgEdgeError
from ecg_edge.models.hubert_checkpoint import adapter_fields, save_hubert_ecg_dir
from ecg_edge.models.hubert_ecg import HubertECGConfig, HubertInputAdapter, build_hubert_encoder
from ecg_edge.progress import progress
from ecg_edge.train.pretrain_targets import KMeansResult, frame_features, kmeans

STATE_VERSION = 1
STATE_FILE = "pretrain_state.pt"


@dataclass
class PretrainConfig:
    data: list[str]
    out: str
    size: str = "tiny"
    in_leads: int = 1
    iterations: int = 2
    clusters: int = 50
    mask_prob: float = 0.33
    mask_length: int = 1  # HuBERT-ECG masks single frames (mask_time_length=1)
    epochs: int = 10  # per iteration
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_frac: float = 0.08
    feature_layer: int | None = None  # iteration >= 2 targets; default: middle layer
    seed: int = 0
    max_windows: int | None = None  # cap on unlabelled windows (keeps CPU runs bounded)
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def model_config(self) -> HubertECGConfig:
        # fs/n_samples of the encoder do not matter: it sees already adapted sequences
        return HubertECGConfig(size=self.size, in_leads=self.in_leads, n_classes=2, **self.model_overrides)

    def fingerprint(self) -> dict[str, Any]:
        """What must match for --resume to continue the same run."""
        d = asdict(self)
        d.pop("out")  # everything else, epochs included, shapes the result (the LR schedule spans them)
        return d


# ----------------------------------------------------------------------------------- data


def adapt_windows(X: np.ndarray, fs: float, n_samples: int, in_leads: int,
                  batch: int = 256, adapter_cfg: dict[str, Any] | None = None) -> np.ndarray:
    """(N, leads, samples at fs) -> (N', in_leads * window_out) through the model's own input
    adapter (`adapter_cfg`: its window/rate/band fields, default the model defaults); a dataset
    with more leads than `in_leads=1` contributes each lead as a window."""
    n, leads = X.shape[0], X.shape[1]
    if leads != in_leads and in_leads != 1:
        raise DataError(f"cannot pretrain a {in_leads}-lead encoder on {leads}-lead windows")
    adapter = HubertInputAdapter(HubertECGConfig(in_leads=leads, n_samples=n_samples, fs=fs,
                                                 **(adapter_cfg or {})))
    out = []
    with torch.no_grad():
        for i in range(0, n, batch):
            y = adapter(torch.from_numpy(np.array(X[i:i + batch], dtype=np.float32)))
            out.append(y.reshape(y.shape[0], leads, -1).numpy())
    a = np.concatenate(out) if out else np.zeros((0, leads, adapter.cfg.window_out), np.float32)
    if in_leads == 1:
        return a.reshape(-1, a.shape[-1])
    return a.reshape(a.shape[0], -1)


def load_unlabelled(dirs: list[str], split: str, in_leads: int, max_windows: int | None = None,
                    seed: int = 0, adapter_cfg: dict[str, Any] | None = None
                    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Adapted unlabelled sequences of one split of every dataset (labels are ignored)."""
    seqs, info = [], []
    for d in dirs:
        ds = load_prepared(d)
        X, _ = ds.split(split)
        if X.shape[0] == 0:
            continue
        a = adapt_windows(X, ds.manifest.fs, ds.manifest.n_samples, in_leads, adapter_cfg=adapter_cfg)
        seqs.append(a)
        info.append({"dataset": str(d), "task": ds.manifest.task, "split": split,
                     "windows": int(X.shape[0]), "sequences": int(a.shape[0]), "fs": ds.manifest.fs})
    if not seqs:
        raise DataError(f"no unlabelled windows in split {split!r} of {', '.join(map(str, dirs))}")
    S = np.concatenate(seqs).astype(np.float32)
    if max_windows is not None and S.shape[0] > max_windows:
        idx = np.sort(np.random.default_rng(seed).choice(S.shape[0], max_windows, replace=False))
        S = S[idx]
    return S, info


# ---------------------------------------------------------------------------------- model


class HubertPretrainModel(nn.Module):
    """HubertModel + HuBERT-ECG's pretraining head (final_proj, label_embedding; cosine / 0.1)."""

    def __init__(self, cfg: HubertECGConfig, n_clusters: int, mask_prob: float, mask_length: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.hubert = build_hubert_encoder(cfg, mask_time_prob=mask_prob, mask_time_length=mask_length)
        self.final_proj = nn.ModuleList([nn.Linear(cfg.hidden_size, cfg.classifier_proj_size)])
        self.label_embedding = nn.ModuleList([nn.Embedding(n_clusters, cfg.classifier_proj_size)])

    def reset_heads(self, n_clusters: int) -> None:
        self.final_proj = nn.ModuleList([nn.Linear(self.cfg.hidden_size, self.cfg.classifier_proj_size)])
        self.label_embedding = nn.ModuleList([nn.Embedding(n_clusters, self.cfg.classifier_proj_size)])

    def forward(self, seq: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(N, seq_len), bool (N, frames) -> cluster logits (N, frames, K)."""
        h = self.hubert(seq, mask_time_indices=mask).last_hidden_state
        p = self.final_proj[0](h)
        emb = self.label_embedding[0].weight
        return torch.cosine_similarity(p[:, :, None, :], emb[None, None], dim=-1) / 0.1

    @torch.no_grad()
    def layer_features(self, seq: np.ndarray, layer: int, batch: int = 128) -> np.ndarray:
        """Hidden states after transformer layer `layer` (1-based), unmasked, eval mode."""
        was = self.training
        self.eval()
        out = []
        for i in range(0, seq.shape[0], batch):
            o = self.hubert(torch.as_tensor(seq[i:i + batch]), output_hidden_states=True)
            out.append(o.hidden_states[layer].numpy())
        self.train(was)
        return np.concatenate(out)

    def export_tensors(self) -> dict[str, torch.Tensor]:
        sd = {f"{k}": v for k, v in self.hubert.state_dict().items()}
        sd.update({f"final_proj.0.{k}": v for k, v in self.final_proj[0].state_dict().items()})
        sd.update({f"label_embedding.0.{k}": v for k, v in self.label_embedding[0].state_dict().items()})
        return sd


def span_mask(n: int, frames: int, prob: float, length: int, gen: torch.Generator) -> torch.Tensor:
    """Bool (n, frames): about `prob` of the frames masked, in spans of `length`, at least one."""
    n_spans = max(1, int(round(prob * frames / length)))
    starts_max = max(1, frames - length + 1)
    n_spans = min(n_spans, starts_max)
    scores = torch.rand(n, starts_max, generator=gen)
    starts = scores.argsort(dim=1)[:, :n_spans]
    mask = torch.zeros(n, frames, dtype=torch.bool)
    for j in range(length):
        mask.scatter_(1, (starts + j).clamp_max(frames - 1), True)
    return mask


def _epoch_seed(seed: int, iteration: int, epoch: int) -> int:
    return (seed * 1_000_003 + iteration * 10_007 + epoch) % (2**31)


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Eq. (2): mean cross-entropy over masked frames; also the count of correct predictions."""
    lm, tm = logits[mask], targets[mask]
    loss = nn.functional.cross_entropy(lm, tm)
    return loss, int((lm.argmax(-1) == tm).sum())


# ------------------------------------------------------------------------------- training


def _targets(model: HubertPretrainModel, cfg: PretrainConfig, iteration: int, S_tr: np.ndarray,
             S_va: np.ndarray) -> tuple[np.ndarray, np.ndarray, KMeansResult, str]:
    mcfg = model.cfg
    if iteration == 1:
        f_tr, f_va = frame_features(S_tr, mcfg), frame_features(S_va, mcfg)
        source = "frame time/frequency features"
    else:
        layer = cfg.feature_layer or max(1, mcfg.num_hidden_layers // 2 + mcfg.num_hidden_layers % 2)
        f_tr, f_va = model.layer_features(S_tr, layer), model.layer_features(S_va, layer)
        source = f"hidden states of transformer layer {layer}"
    km = kmeans(f_tr, cfg.clusters, seed=cfg.seed + iteration)
    return km.assign(f_tr), km.assign(f_va), km, source


def _lr_lambda(total: int, warmup: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def _make_opt(model: nn.Module, cfg: PretrainConfig, steps_per_epoch: int):
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9,
                            weight_decay=cfg.weight_decay)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total, math.ceil(cfg.warmup_frac * total)))
    return opt, sched


@torch.no_grad()
def _evaluate(model: HubertPretrainModel, S: np.ndarray, T: np.ndarray, cfg: PretrainConfig,
              iteration: int) -> dict[str, float]:
    model.eval()
    gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, iteration, 10_000))
    tot_loss, n_masked, n_correct = 0.0, 0, 0
    for i in range(0, S.shape[0], 256):
        seq, tgt = torch.as_tensor(S[i:i + 256]), torch.as_tensor(T[i:i + 256])
        mask = span_mask(seq.shape[0], model.cfg.frames, cfg.mask_prob, cfg.mask_length, gen)
        loss, correct = masked_loss(model(seq, mask), tgt, mask)
        m = int(mask.sum())
        tot_loss += loss.item() * m
        n_masked += m
        n_correct += correct
    model.train()
    return {"loss": tot_loss / max(1, n_masked), "masked_acc": n_correct / max(1, n_masked)}


def _save_state(out: Path, payload: dict[str, Any]) -> None:
    with atomic_path(out / STATE_FILE) as tmp:
        torch.save(payload, tmp)


def _load_state(out: Path, cfg: PretrainConfig) -> dict[str, Any] | None:
    p = out / STATE_FILE
    if not p.is_file():
        return None
    try:
        st = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise EcgEdgeError(f"{p}: unreadable pretraining state ({type(exc).__name__}: {exc})") from exc
    if not isinstance(st, dict) or st.get("version") != STATE_VERSION:
        raise EcgEdgeError(f"{p}: not an ecg-edge pretraining state (version {STATE_VERSION})")
    if st["fingerprint"] != cfg.fingerprint():
        diff = sorted(k for k in cfg.fingerprint() if st["fingerprint"].get(k) != cfg.fingerprint()[k])
        raise EcgEdgeError(f"{p}: --resume with different settings ({', '.join(diff)}); "
                           "use the original options or a new --out")
    return st


def pretrain(cfg: PretrainConfig, resume: bool = False, log: Callable[[str], None] = print,
             on_epoch_end: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run (or resume) pretraining; returns the summary also written to OUT/pretrain.json.
    `on_epoch_end(iteration, epoch)` runs after each epoch's state is saved (tests interrupt
    a run with it)."""
    if not 0 < cfg.mask_prob < 1:
        raise EcgEdgeError(f"--mask-prob {cfg.mask_prob}: expected a value in (0, 1)")
    if cfg.iterations < 1 or cfg.epochs < 1 or cfg.clusters < 2:
        raise EcgEdgeError("--iterations and --epochs must be >= 1 and --clusters >= 2")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    mcfg = cfg.model_config()
    S_tr, info_tr = load_unlabelled(cfg.data, "train", cfg.in_leads, cfg.max_windows, cfg.seed,
                                    adapter_fields(mcfg))
    S_va, info_va = load_unlabelled(cfg.data, "val", cfg.in_leads,
                                    None if cfg.max_windows is None else max(64, cfg.max_windows // 5), cfg.seed,
                                    adapter_fields(mcfg))
    if S_tr.shape[1] != mcfg.sequence_length:
        raise DataError(f"adapted windows have {S_tr.shape[1]} samples, the encoder expects {mcfg.sequence_length}")
    torch.manual_seed(cfg.seed)
    model = HubertPretrainModel(mcfg, cfg.clusters, cfg.mask_prob, cfg.mask_length)
    steps = math.ceil(S_tr.shape[0] / cfg.batch_size)
    opt, sched = _make_opt(model, cfg, steps)
    history: list[dict[str, Any]] = []
    iteration, start_epoch, T_tr, T_va, clusters_info = 1, 0, None, None, {}
    st = _load_state(out, cfg) if resume else None
    if st is not None:
        iteration, start_epoch = st["iteration"], st["epoch"]
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        T_tr, T_va, history, clusters_info = st["T_tr"], st["T_va"], st["history"], st["clusters"]
        T_tr, T_va = T_tr.numpy(), T_va.numpy()
        log(f"resuming iteration {iteration} after epoch {start_epoch}")
    elif resume:
        log(f"no {STATE_FILE} in {out}; starting fresh")
    model.train()
    while iteration <= cfg.iterations:
        if T_tr is None:
            t0 = time.time()
            T_tr, T_va, km, source = _targets(model, cfg, iteration, S_tr, S_va)
            if iteration > 1:
                torch.manual_seed(_epoch_seed(cfg.seed, iteration, -1))
                model.reset_heads(cfg.clusters)
                opt, sched = _make_opt(model, cfg, steps)
            used = np.bincount(T_tr.ravel(), minlength=cfg.clusters)
            clusters_info[str(iteration)] = {"source": source, "k": cfg.clusters, "inertia": km.inertia,
                                             "kmeans_iterations": km.n_iter, "used": int((used > 0).sum()),
                                             "seconds": round(time.time() - t0, 2)}
            log(f"iteration {iteration}: {cfg.clusters} clusters of {source} "
                f"({int((used > 0).sum())} used, {time.time() - t0:.1f}s)")
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.time()
            torch.manual_seed(_epoch_seed(cfg.seed, iteration, epoch))
            gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, iteration, epoch))
            order = torch.randperm(S_tr.shape[0], generator=gen)
            tot, n_masked, n_correct = 0.0, 0, 0
            bar = progress(range(steps), desc=f"pretrain it{iteration} ep{epoch + 1}/{cfg.epochs}", unit="batch")
            for b in bar:
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size].numpy()
                seq, tgt = torch.as_tensor(S_tr[idx]), torch.as_tensor(T_tr[idx])
                mask = span_mask(len(idx), mcfg.frames, cfg.mask_prob, cfg.mask_length, gen)
                loss, correct = masked_loss(model(seq, mask), tgt, mask)
                if not torch.isfinite(loss):
                    raise EcgEdgeError(f"pretraining loss became {float(loss)} at iteration {iteration}, "
                                       f"epoch {epoch + 1}; lower --lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                opt.step()
                sched.step()
                m = int(mask.sum())
                tot, n_masked, n_correct = tot + loss.item() * m, n_masked + m, n_correct + correct
                bar.set_postfix(loss=f"{tot / max(1, n_masked):.3f}")
            bar.close()
            val = _evaluate(model, S_va, T_va, cfg, iteration)
            rec = {"iteration": iteration, "epoch": epoch + 1, "train_loss": tot / max(1, n_masked),
                   "train_masked_acc": n_correct / max(1, n_masked), "val_loss": val["loss"],
                   "val_masked_acc": val["masked_acc"], "seconds": round(time.time() - t0, 2)}
            history.append(rec)
            log(f"it{iteration} epoch {epoch + 1}/{cfg.epochs}: train loss {rec['train_loss']:.4f} "
                f"(masked acc {rec['train_masked_acc']:.3f}), val loss {rec['val_loss']:.4f} "
                f"(masked acc {rec['val_masked_acc']:.3f}), {rec['seconds']:.1f}s")
            _save_state(out, {"version": STATE_VERSION, "fingerprint": cfg.fingerprint(),
                              "iteration": iteration, "epoch": epoch + 1, "model": model.state_dict(),
                              "opt": opt.state_dict(), "sched": sched.state_dict(), "T_tr": torch.as_tensor(T_tr),
                              "T_va": torch.as_tensor(T_va), "history": history, "clusters": clusters_info})
            if on_epoch_end is not None:
                on_epoch_end(iteration, epoch + 1)
        extra = {"ecg_edge_pretrain": {"iteration": iteration, "clusters": cfg.clusters,
                                       "mask_prob": cfg.mask_prob, "data": cfg.data}}
        save_hubert_ecg_dir(out / f"iter{iteration}", mcfg, model.export_tensors(), [cfg.clusters], extra)
        iteration, start_epoch, T_tr = iteration + 1, 0, None
    save_hubert_ecg_dir(out / "encoder", mcfg, model.export_tensors(), [cfg.clusters],
                        {"ecg_edge_pretrain": {"iterations": cfg.iterations, "data": cfg.data}})
    summary = {"config": asdict(cfg), "model": mcfg.to_dict(), "frames": mcfg.frames,
               "train_sequences": int(S_tr.shape[0]), "val_sequences": int(S_va.shape[0]),
               "data": info_tr + info_va, "clusters": clusters_info, "history": history,
               "encoder_dir": str(out / "encoder")}
    write_json(out / "pretrain.json", summary)
    log(f"pretrained encoder: {out / 'encoder'} (load with load_hubert_ecg_dir or "
        f"`ecg-edge train --arch hubert_ecg --init-from {out / 'encoder'}`)")
    return json.loads(json.dumps(summary, default=str))
