"""Uniform affine quantizers: parameters from a range, quantize, dequantize.

real = scale * (q - zero_point); q = clamp(round_half_even(real / scale) + zero_point, qmin, qmax).
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

    @property
    def qmin(self) -> int:
        return type_range(self.type_name)[0]

    @property
    def qmax(self) -> int:
        return type_range(self.type_name)[1]

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
        x = np.asarray(x, dtype=np.float64)
        s = self._bcast(self.scale, x.ndim)
        z = self._bcast(self.zero_point, x.ndim)
        q = np.rint(x / s) + z
        return np.clip(q, self.qmin, self.qmax).astype(storage_dtype(self.type_name))

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        return (q - self._bcast(self.zero_point, q.ndim)) * self._bcast(self.scale, q.ndim)


def params_from_range(lo: np.ndarray, hi: np.ndarray, type_name: str, symmetric: bool, *,
                      axis: int | None = None, power_of_two: bool = False,
                      tensor: np.ndarray | None = None) -> QuantParams:
    """Scale and zero point covering [lo, hi] (arrays for per-channel), always including 0.

    Symmetric: zero point 0 (signed) or the midpoint (unsigned), scale = max|range| / qmax.
    ``power_of_two``: scales rounded to 2^-n; the exponent (floor or ceil of log2) is the one with
    the smaller quantization MSE on ``tensor`` when it is given, else the ceiling (no clipping).
    """
    qmin, qmax = type_range(type_name)
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
                       zero_point=np.asarray(zp, dtype=np.int64), axis=axis)


def _pot_scale(scale, lo, hi, type_name, symmetric, axis, tensor) -> np.ndarray:
    """Power-of-two scales: the ceiling exponent, or one below it where that has the smaller MSE."""
    up = np.exp2(np.ceil(np.log2(scale)))
    if tensor is None:
        return up
    flat = np.atleast_1d(up).copy()
    for idx in range(flat.size):
        t = tensor if axis is None else np.take(tensor, idx, axis=axis)
        p_up = _params(flat[idx], lo, hi, type_name, symmetric, idx, axis)
        p_dn = _params(flat[idx] / 2.0, lo, hi, type_name, symmetric, idx, axis)
        if _mse(t, *p_dn, type_name) < _mse(t, *p_up, type_name):
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


def _mse(t: np.ndarray, scale: float, zp: int, type_name: str) -> float:
    qmin, qmax = type_range(type_name)
    q = np.clip(np.rint(t / scale) + zp, qmin, qmax)
    return float(np.mean(((q - zp) * scale - t) ** 2))


def calibrate_range(t: np.ndarray, method: str, *, axis: int | None = None, percentile: float = 99.99,
                    type_name: str = "int8", symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of a tensor, per tensor or per channel along ``axis``.

    minmax: the observed extremes. percentile: the p-th / (100-p)-th percentiles.
    mse: the clipping threshold (a fraction of the min-max range, searched on a grid) with the
    smallest quantization MSE.
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
        else:
            raise ValueError(f"unknown calibration method '{method}'")
        los.append(lo)
        his.append(hi)
    if axis is None:
        return np.asarray(los[0]), np.asarray(his[0])
    return np.asarray(los), np.asarray(his)


def _mse_range(v: np.ndarray, type_name: str, symmetric: bool) -> tuple[float, float]:
    lo0, hi0 = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    sample = v if v.size <= 65536 else v[np.linspace(0, v.size - 1, 65536).astype(np.int64)]
    best, best_err = (lo0, hi0), math.inf
    for frac in np.linspace(0.05, 1.0, 96):
        lo, hi = lo0 * frac, hi0 * frac
        p = params_from_range(lo, hi, type_name, symmetric)
        err = float(np.mean((p.dequantize(p.quantize(sample)) - sample) ** 2))
        if err < best_err:
            best, best_err = (lo, hi), err
    return best
