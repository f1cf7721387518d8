"""Per-input-channel scale migration between a linear layer's activations and its weights.

For x (.., K) and W (K, N), any s > 0 (K,) gives x W = (x / s)(diag(s) W): the product is unchanged in exact
arithmetic, but which operand carries a channel's outliers moves. Quantization error does change, and that is
the point:

- SmoothQuant (Xiao et al., ICML 2023, eq. 4): s_k = max|x_k|^alpha / max|W_k|^(1 - alpha). alpha = 0 leaves
  the activations alone, alpha = 1 moves every activation outlier into the weights; 0.5 balances the two
  per-channel ranges. Used for W8A8, where activation outlier channels (BERT's LayerNorm outputs have a few
  channels 10-100x the median) waste a per-tensor int8 range.
- AWQ (Lin et al., MLSys 2024, sec. 3.2): s_k = mean|x_k|^alpha, with alpha searched on a grid for the smallest
  ||x W - (x / s) Q(diag(s) W)||^2 over calibration activations: the weights of salient input channels (large
  activations) are scaled up before rounding, so their relative rounding error shrinks. Used for weight-only
  low-bit (int4 per group) quantization.

Where x / s is computed is a contract question (accelsim.graph.contract): in the activation quantizer, it is
the reciprocal scale the quantize step already multiplies by, made per channel (no extra operation).
"""

from __future__ import annotations

import numpy as np

#: AWQ's grid: alpha in {0, 0.05, ..., 0.95} (the reference implementation's n_grid = 20)
AWQ_GRID = tuple(i / 20 for i in range(20))
#: rows of calibration activations AWQ's search scores (a sample keeps the search fast on long inputs)
AWQ_ROWS = 1024


def _rows(x: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, k)


def smoothquant_scales(x: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's s (K,) for calibration activations ``x`` (.., K) and weight ``w`` (K, N)."""
    k = w.shape[0]
    ax = np.abs(_rows(x, k)).max(axis=0)
    aw = np.abs(np.asarray(w, dtype=np.float64)).max(axis=1)
    s = np.power(np.maximum(ax, 1e-5), alpha) / np.power(np.maximum(aw, 1e-5), 1.0 - alpha)
    s = np.where((ax > 0) & (aw > 0), s, 1.0)  # a dead channel keeps its scale
    return np.clip(s, 1e-5, 1e5)


def awq_scales(x: np.ndarray, w: np.ndarray, quantize_weight, grid=AWQ_GRID) -> tuple[np.ndarray, float]:
    """AWQ's (s (K,), alpha): ``quantize_weight(w) -> dequantized w`` is the layer's weight quantizer (its type,
    granularity, groups). s is normalized by sqrt(max(s) min(s)) as the reference implementation does."""
    k = w.shape[0]
    xs = _rows(x, k)
    if xs.shape[0] > AWQ_ROWS:  # an even sample over the calibration rows (deterministic)
        xs = xs[np.linspace(0, xs.shape[0] - 1, AWQ_ROWS).astype(np.int64)]
    w = np.asarray(w, dtype=np.float64)
    mean = np.maximum(np.abs(xs).mean(axis=0), 1e-8)
    ref = xs @ w
    best, best_err = (np.ones(k), 0.0), None
    for alpha in grid:
        s = mean ** alpha
        s = s / np.sqrt(s.max() * s.min())
        out = (xs / s) @ quantize_weight(w * s[:, None])
        err = float(np.mean((out - ref) ** 2))
        if best_err is None or err < best_err:
            best, best_err = (s, alpha), err
    return best
