"""GPTQ: weight rounding that compensates each rounding error with the weights not yet rounded
(Frantar et al., ICLR 2023, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers").

Goal: codes Q for W (K inputs, N outputs) minimizing ||X W - X Q||^2 over calibration inputs X (rows, K), i.e.
sum_n (w_n - q_n)^T H (w_n - q_n) with H = X^T X. Optimal Brain Quantization rounds input k (all N outputs at
once, as the columns share H), then moves the remaining inputs k' > k by the least-squares correction

    W[k', :] -= (H^-1)[k, k'] / (H^-1)[k, k] * (W[k, :] - Q[k, :])

where H^-1 is the inverse Hessian of the inputs not yet rounded. GPTQ gets every such inverse from one upper
Cholesky factor U of H^-1 (H^-1 = U^T U): row k of U divided by U[k, k] is exactly that update. Blocks of B
inputs are updated lazily (the update of the inputs after a block is one matrix product), which changes only
the floating-point order, not the algorithm.

The quantizer is the layer's own (per channel, per tensor or per group, with scales fixed from the original
weights: GPTQ's "static groups"), so the codes run through the contract's integer kernel unchanged.
Calibration inputs are the float model's (the layers before are not yet quantized): the one-shot variant.
"""

from __future__ import annotations

import numpy as np

#: inputs rounded per lazy block (the paper's B = 128)
BLOCK = 128


def auto_damp(k: int, rows: int) -> float:
    """GPTQ's dampening when the user gives none: the paper's 0.01 x mean(diag H) when the calibration has many
    more rows than the layer has inputs, growing as 0.25 K / rows up to 1 when it has few. H estimated from fewer
    rows than inputs is rank-deficient, and the sequential corrections then fit the calibration rows rather than
    the layer (measured on all-MiniLM-L6-v2's 36 linear layers, int4 per group of 128, 113 calibration tokens:
    damp 0.01 gains 0.1 dB of output SQNR over round-to-nearest on held-out sentences, damp 0.3-1 gains 1.8-1.9 dB;
    docs/recipes.md)."""
    return float(min(1.0, max(0.01, 0.25 * k / max(1, rows))))


def hessian(x: np.ndarray, k: int) -> np.ndarray:
    """H = 2 X^T X / rows for calibration inputs ``x`` (.., K) (float64)."""
    xs = np.asarray(x, dtype=np.float64).reshape(-1, k)
    return 2.0 * (xs.T @ xs) / max(1, xs.shape[0])


def gptq_codes(w: np.ndarray, h: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, qmin: int, qmax: int,
               damp: float = 0.01, block: int = BLOCK) -> np.ndarray:
    """Integer codes (K, N) of ``w`` (K, N): ``scale`` / ``zero_point`` broadcast to (K, N) (per channel: (1, N);
    per group: one row per input); codes clipped to [qmin, qmax]; ``damp`` x mean(diag H) added to H's diagonal."""
    k, n = np.shape(w)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (k, n))
    zp = np.broadcast_to(np.asarray(zero_point, dtype=np.float64), (k, n))
    codes = np.empty((k, n), dtype=np.int64)

    def quantize(row: int, values: np.ndarray) -> np.ndarray:
        q = np.clip(np.rint(values / scale[row]) + zp[row], qmin, qmax)
        codes[row] = q.astype(np.int64)
        return (q - zp[row]) * scale[row]

    _optimal_brain_rounding(w, h, quantize, damp, block)
    return codes


def gptq_format(w: np.ndarray, h: np.ndarray, scales: np.ndarray, round_elements, damp: float = 0.01,
                block: int = BLOCK) -> np.ndarray:
    """Format elements (K, N) of ``w`` (K, N) on a float format's grid: ``scales`` (K, N) fixed from the original
    weights (accelsim.numerics.formats.fixed_scales: a per-tensor / per-channel FP8 scale, or an MX / NVFP4 block
    scale along K), ``round_elements(v)`` the format's round to nearest even with saturation. The value of
    element (k, n) is elements[k, n] * scales[k, n]; GPTQ's corrections are the same as for integer codes."""
    k, n = np.shape(w)
    scales = np.asarray(scales, dtype=np.float64)
    elements = np.empty((k, n), dtype=np.float32)

    def quantize(row: int, values: np.ndarray) -> np.ndarray:
        s = scales[row]
        safe = np.where(s > 0, s, 1.0)
        q = np.where(s > 0, round_elements((values / safe).astype(np.float32)), np.float32(0.0))
        elements[row] = q
        return q.astype(np.float64) * s

    _optimal_brain_rounding(w, h, quantize, damp, block)
    return elements


def _optimal_brain_rounding(w: np.ndarray, h: np.ndarray, quantize, damp: float, block: int) -> None:
    """GPTQ's loop (see the module docstring): ``quantize(row, values)`` rounds input ``row``'s (N,) values and
    returns what they become (float64); the rounding error of each input moves the inputs not yet rounded."""
    w = np.array(w, dtype=np.float64)
    k = w.shape[0]
    h = np.array(h, dtype=np.float64)
    dead = np.diag(h) == 0          # inputs that are always zero: any code is exact; keep H invertible
    h[dead, dead] = 1.0
    w[dead, :] = 0.0
    h[np.diag_indices(k)] += damp * float(np.mean(np.diag(h)))
    u = np.linalg.cholesky(np.linalg.inv(h)).T   # upper: H^-1 = U^T U
    for b0 in range(0, k, block):
        b1 = min(k, b0 + block)
        wb = w[b0:b1].copy()
        err = np.zeros_like(wb)
        for i in range(b1 - b0):
            row = b0 + i
            e = (wb[i] - quantize(row, wb[i])) / u[row, row]
            wb[i + 1:] -= np.outer(u[row, row + 1:b1], e)
            err[i] = e
        w[b1:] -= u[b0:b1, b1:].T @ err
