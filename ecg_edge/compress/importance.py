"""Layer importance (paper section 2.3): I_l = alpha * rho_l + beta * delta_l.

- rho_l (PDI, "parameter density index"): the layer's share of the compressible weights,
  n_l / sum_k n_k.
- delta_l (PVI, the paper also calls it "Parameter Deviation Index"): log-scaled weight
  variance normalised by the maximum over layers. The paper does not print the log scaling; we
  use  delta_l = log(1 + v_l / v_min) / max_k log(1 + v_k / v_min),  v_l = Var(W_l) (population
  variance of all the layer's weights), v_min = the smallest v_k > 0. Dividing by v_min makes
  the score independent of the weights' unit; log1p compresses outlier layers (the paper's
  "log-scaled variance normalizes outliers"), keeps the order of the variances and stays > 0;
  the final division puts the most variable layer at exactly 1.
- Defaults alpha = beta = 0.5: the paper gives no values; equal weights give both terms the same
  say. Note the two terms have different ranges (rho sums to 1 over layers, so each rho is ~1/L,
  while delta's maximum is 1), so with equal weights delta dominates the ranking and rho breaks
  ties between layers of similar variance; set alpha/beta to shift the emphasis.
- `normalized` = I_l / max_k I_k in (0, 1]: what the accuracy floors of eq. (3) use, so that
  gamma * normalized <= gamma and the whole search never spends more than the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_ALPHA = 0.5
DEFAULT_BETA = 0.5


@dataclass(frozen=True)
class Importance:
    names: list[str]
    params: np.ndarray  # n_l
    variance: np.ndarray  # v_l
    pdi: np.ndarray  # rho_l
    pvi: np.ndarray  # delta_l
    score: np.ndarray  # I_l
    normalized: np.ndarray  # I_l / max I

    def of(self, name: str) -> dict[str, float]:
        i = self.names.index(name)
        return {"pdi": float(self.pdi[i]), "pvi": float(self.pvi[i]), "importance": float(self.score[i]),
                "importance_norm": float(self.normalized[i])}


def pdi(params: np.ndarray) -> np.ndarray:
    params = np.asarray(params, dtype=np.float64)
    return params / params.sum()


def pvi(variances: np.ndarray) -> np.ndarray:
    v = np.asarray(variances, dtype=np.float64)
    pos = v[v > 0]
    if pos.size == 0:
        return np.zeros_like(v)
    logv = np.log1p(v / pos.min())
    return logv / logv.max()


def layer_importance(names: list[str], weights: list[np.ndarray], alpha: float = DEFAULT_ALPHA,
                     beta: float = DEFAULT_BETA) -> Importance:
    if len(names) != len(weights) or not names:
        raise ValueError("importance needs one weight array per layer and at least one layer")
    params = np.array([np.asarray(w).size for w in weights], dtype=np.float64)
    var = np.array([float(np.var(np.asarray(w, dtype=np.float64))) for w in weights])
    rho, delta = pdi(params), pvi(var)
    score = alpha * rho + beta * delta
    mx = score.max()
    norm = score / mx if mx > 0 else np.ones_like(score)
    return Importance(list(names), params, var, rho, delta, score, norm)
