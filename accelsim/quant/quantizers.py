"""Uniform affine quantizers: parameters from a range, quantize, dequantize; calibration.

real = scale * (q - zero_point); q = clamp(round_half_even(real / scale) + zero_point, qmin, qmax).

Types are int2..int16 / uint2..uint16 (accelsim.inttypes); ``narrow`` drops the most negative code of a
signed type (-127..127 for int8, TFLite's weight convention). Granularity: per tensor, per channel
(``axis``), or per group (:func:`quantize_per_group`: one scale per ``group_size`` consecutive elements
along the reduction axis, per output channel). Calibration (:func:`calibrate_range`): minmax,
percentile, MSE-optimal clipping, and entropy (TensorRT's KL-divergence threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelsim.inttypes import storage_dtype, type_range


@dataclass(frozen=True)
class QuantParams:
    """Scale(s) and zero point(s) of one tensor. ``axis`` is the channel axis for per-channel params."""

    type_name: str
    scale: np.ndarray          # float64, shape () or (C,)
    zero_point: np.ndarray     # int64, same shape
    axis: int | None = None
    narrow: bool = False       # signed range without its most negative code

    @property
    def qmin(self) -> int:
        return type_range(self.type_name, self.narrow)[0]

    @property
    def qmax(self) -> int:
        return type_range(self.type_name, self.narrow)[1]

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def _bcast(self, values: np.ndarray, ndim: int) -> np.ndarray:
        if self.axis is None:
            return values
        shape = [1] * ndim
        shape[self.axis] = -1
        return values.reshape(shape)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        s = self._bcast(self.scale, x.ndim)
        z = self._bcast(self.zero_point, x.ndim)
        q = np.divide(x, s, dtype=np.float64)  # float64 division whatever the input dtype
        np.rint(q, out=q)                       # in place: LLM weights are hundreds of MB
        q += z
        np.clip(q, self.qmin, self.qmax, out=q)
        return q.astype(storage_dtype(self.type_name))

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        return (q - self._bcast(self.zero_point, q.ndim)) * self._bcast(self.scale, q.ndim)


def params_from_range(lo: np.ndarray, hi: np.ndarray, type_name: str, symmetric: bool, *,
                      axis: int | None = None, power_of_two: bool = False,
                      tensor: np.ndarray | None = None, narrow: bool = False) -> QuantParams:
    """Scale and zero point covering [lo, hi] (arrays for per-channel), always including 0.

    Symmetric: zero point 0 (signed) or the midpoint (unsigned), scale = max|range| / qmax.
    ``power_of_two``: scales rounded to 2^-n; the exponent (floor or ceil of log2) is the one with
    the smaller quantization MSE on ``tensor`` when it is given, else the ceiling (no clipping).
    """
    qmin, qmax = type_range(type_name, narrow)
    lo = np.minimum(np.asarray(lo, dtype=np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, dtype=np.float64), 0.0)
    if symmetric:
        amax = np.maximum(np.abs(lo), np.abs(hi))
        if qmin < 0:
            scale = amax / qmax
            zp = np.zeros_like(scale, dtype=np.int64)
        else:
            mid = (qmax + 1) // 2
            scale = amax / max(1, qmax - mid)
            zp = np.full(scale.shape, mid, dtype=np.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
        zp = None
    scale = np.where(scale > 0, scale, 1.0)
    if power_of_two:
        scale = _pot_scale(scale, lo, hi, type_name, symmetric, axis, tensor)
    if zp is None:
        zp = np.clip(np.rint(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return QuantParams(type_name=type_name, scale=np.asarray(scale, dtype=np.float64),
                       zero_point=np.asarray(zp, dtype=np.int64), axis=axis, narrow=narrow)


def _pot_scale(scale, lo, hi, type_name, symmetric, axis, tensor) -> np.ndarray:
    """Power-of-two scales: the ceiling exponent, or one below it where that has the smaller MSE."""
    up = np.exp2(np.ceil(np.log2(scale)))
    if tensor is None:
        return up
    flat = np.atleast_1d(up).copy()
    for idx in range(flat.size):
        t = tensor if axis is None else np.take(tensor, idx, axis=axis)
        sample = error_sample(np.asarray(t, dtype=np.float64).ravel())
        p_up = _params(flat[idx], lo, hi, type_name, symmetric, idx, axis)
        p_dn = _params(flat[idx] / 2.0, lo, hi, type_name, symmetric, idx, axis)
        if _mse(sample, *p_dn, type_name) < _mse(sample, *p_up, type_name):
            flat[idx] /= 2.0
    return flat.reshape(np.shape(up))


def _params(scale, lo, hi, type_name, symmetric, idx, axis):
    qmin, qmax = type_range(type_name)
    if symmetric:
        zp = 0 if qmin < 0 else (qmax + 1) // 2
    else:
        lo_i = np.atleast_1d(lo)[idx if axis is not None and np.size(lo) > 1 else 0]
        zp = int(np.clip(np.rint(qmin - lo_i / scale), qmin, qmax))
    return float(scale), zp


def error_sample(v: np.ndarray, size: int = 65536) -> tuple[np.ndarray, float, np.ndarray, int]:
    """(bulk, bulk weight, tail, n) standing for the flat tensor ``v`` in quantization-error sums:
    small tensors whole; large ones as a strided sample of the bulk, weighted up, plus every value
    beyond the sample's 99.9th |percentile| counted exactly (rare extremes keep their true weight)."""
    if v.size <= size:
        return v, 1.0, v[:0], v.size
    sub = v[np.linspace(0, v.size - 1, size).astype(np.int64)]
    cut = float(np.percentile(np.abs(sub), 99.9))
    tail = v[np.abs(v) > cut]
    bulk = sub[np.abs(sub) <= cut]
    return bulk, (v.size - tail.size) / max(1, bulk.size), tail, v.size


def _mse(sample: tuple, scale: float, zp: int, type_name: str) -> float:
    qmin, qmax = type_range(type_name)
    bulk, w_bulk, tail, n = sample

    def sq(t):
        q = np.clip(np.rint(t / scale) + zp, qmin, qmax)
        return float(np.sum(((q - zp) * scale - t) ** 2))
    return (w_bulk * sq(bulk) + (sq(tail) if tail.size else 0.0)) / max(1, n)


def calibrate_range(t: np.ndarray, method: str, *, axis: int | None = None, percentile: float = 99.99,
                    type_name: str = "int8", symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of a tensor, per tensor or per channel along ``axis``.

    minmax: the observed extremes. percentile: the p-th / (100-p)-th percentiles.
    mse: the clipping threshold (a fraction of the min-max range, searched on a grid) with the
    smallest quantization MSE. entropy: the |x| threshold minimizing the KL divergence between the
    clipped histogram and its quantized version (TensorRT, Migacz 2017), applied to both sides.
    """
    t = np.asarray(t)
    if t.size and method in ("minmax", "percentile"):
        axes = None if axis is None else tuple(i for i in range(t.ndim) if i != axis % t.ndim)
        if method == "minmax":
            return (np.asarray(t.min(axis=axes), dtype=np.float64), np.asarray(t.max(axis=axes), dtype=np.float64))
        moved = t.reshape(-1) if axis is None else np.moveaxis(t, axis, 0).reshape(t.shape[axis], -1)
        lo, hi = np.percentile(moved, [100.0 - percentile, percentile], axis=-1)
        return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if axis is None:
        views = [t.ravel()]
    else:
        moved = np.moveaxis(t, axis, 0)
        views = [moved[i].ravel() for i in range(moved.shape[0])]
    los, his = [], []
    for v in views:
        if v.size == 0:
            los.append(0.0)
            his.append(0.0)
            continue
        if method == "minmax":
            lo, hi = float(v.min()), float(v.max())
        elif method == "percentile":
            lo, hi = (float(x) for x in np.percentile(v, [100.0 - percentile, percentile]))
        elif method == "mse":
            lo, hi = _mse_range(v, type_name, symmetric)
        elif method == "entropy":
            lo, hi = _entropy_range(v, type_name)
        else:
            raise ValueError(f"unknown calibration method '{method}'")
        los.append(lo)
        his.append(hi)
    if axis is None:
        return np.asarray(los[0]), np.asarray(his[0])
    return np.asarray(los), np.asarray(his)


def _mse_range(v: np.ndarray, type_name: str, symmetric: bool) -> tuple[float, float]:
    """The clipping range with the smallest quantization MSE: a log-spaced search of the clip fraction
    over [1e-3, 1] of the min-max range (heavy outliers can call for clipping to a tiny fraction),
    refined linearly around the best point. Fraction 1 (min-max) is always a candidate."""
    lo0, hi0 = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    # large tensors: a strided sample of the bulk, weighted up, plus every tail value exactly (rare
    # extremes decide the clipping and must carry their true weight, 1/N each)
    bulk, w_bulk, tail, _ = error_sample(v)

    def err(frac: float) -> float:
        p = params_from_range(lo0 * frac, hi0 * frac, type_name, symmetric)
        e_bulk = float(np.sum((p.dequantize(p.quantize(bulk)) - bulk) ** 2))
        e_tail = float(np.sum((p.dequantize(p.quantize(tail)) - tail) ** 2)) if tail.size else 0.0
        return (w_bulk * e_bulk + e_tail) / v.size

    coarse = np.concatenate([np.geomspace(1e-3, 1.0, 64), [1.0]])
    errs = [err(f) for f in coarse]
    i = int(np.argmin(errs))
    lo_f, hi_f = coarse[max(i - 1, 0)], coarse[min(i + 1, len(coarse) - 1)]
    fine = np.linspace(lo_f, hi_f, 33)
    best = min(((err(f), f) for f in fine), default=(errs[i], coarse[i]))
    frac = best[1] if best[0] <= errs[i] else coarse[i]
    return lo0 * frac, hi0 * frac


def _entropy_range(v: np.ndarray, type_name: str, bins: int = 2048) -> tuple[float, float]:
    """TensorRT's entropy calibration (S. Migacz, "8-bit Inference with TensorRT", GTC 2017).

    Histogram |x| into ``bins``; for every candidate threshold bin i >= levels, the reference P is
    the first i bins with the tail folded into the last; the candidate Q merges those i bins into
    ``levels`` quantization levels and spreads each level's mass uniformly over its non-empty bins.
    The threshold minimizing KL(P || Q) wins. ``levels`` = 2^(bits-1) for tensors with both signs
    (one side of a signed range), 2^bits for one-signed tensors.
    """
    lo0, hi0 = float(v.min()), float(v.max())
    amax = max(abs(lo0), abs(hi0))
    if amax == 0.0:
        return 0.0, 0.0
    bits = int(type_name.lstrip("u").removeprefix("int"))
    levels = 1 << (bits - 1) if lo0 < 0 < hi0 else 1 << bits
    hist, edges = np.histogram(np.abs(v), bins=bins, range=(0.0, amax))
    hist = hist.astype(np.float64)
    if levels >= bins:
        return lo0, hi0
    best_i, best_kl = bins, math.inf
    for i in range(levels, bins + 1):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()
        if p.sum() == 0:
            continue
        # merge the i bins into `levels` groups, then expand back over each group's non-empty bins
        group = (np.arange(i) * levels) // i
        mass = np.bincount(group, weights=hist[:i], minlength=levels)
        nonzero = np.bincount(group, weights=(hist[:i] > 0).astype(np.float64), minlength=levels)
        q = np.where(hist[:i] > 0, mass[group] / np.maximum(nonzero[group], 1.0), 0.0)
        pn = p / p.sum()
        qs = q.sum()
        if qs == 0:
            continue
        qn = q / qs
        mask = pn > 0
        if np.any(qn[mask] == 0):
            kl = math.inf
        else:
            kl = float(np.sum(pn[mask] * np.log(pn[mask] / qn[mask])))
        if kl < best_kl:
            best_kl, best_i = kl, i
    threshold = float(edges[best_i])
    return max(lo0, -threshold), min(hi0, threshold)


def quantize_per_group(w: np.ndarray, type_name: str, symmetric: bool, group_size: int, *,
                       calibration: str = "minmax", percentile: float = 99.99, power_of_two: bool = False,
                       narrow: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group quantization of a weight (K, N) along K: (w_q (K, N), scale (K/G, N), zero_point (K/G, N)).

    One scale (and zero point) per ``group_size`` consecutive input elements of each output channel
    (GPTQ / AWQ / llama.cpp block layout). ``calibration``: minmax or mse.
    """
    k, n = w.shape
    if group_size <= 0 or k % group_size:
        raise ValueError(f"group_size {group_size} must divide the reduction length {k}")
    g = group_size
    cols = np.asarray(w, dtype=np.float64).reshape(k // g, g, n).transpose(1, 0, 2).reshape(g, -1)
    lo, hi = calibrate_range(cols, calibration, axis=1, percentile=percentile, type_name=type_name,
                             symmetric=symmetric)
    p = params_from_range(lo, hi, type_name, symmetric, axis=1, power_of_two=power_of_two, tensor=cols,
                          narrow=narrow)
    q = p.quantize(cols).reshape(g, k // g, n).transpose(1, 0, 2).reshape(k, n)
    return q, p.scale.reshape(k // g, n), p.zero_point.reshape(k // g, n)


def dequantize_per_group(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantize_per_group` (float64)."""
    g = q.shape[0] // scale.shape[0]
    s = np.repeat(scale, g, axis=0)
    z = np.repeat(zero_point, g, axis=0)
    return (q.astype(np.float64) - z) * s
