"""QuantizeLinear / DequantizeLinear (ONNX spec: round half to even, saturate; per-axis scales). Not timed:
a Q/DQ pair is the quantization intent, fused into the integer layers around it."""

from __future__ import annotations

import numba as nb
import numpy as np

from accelsim.ops.registry import define


def _axis_shape(scale: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    if scale.ndim == 0 or scale.size == 1:
        return scale.reshape(())
    shape = [1] * x.ndim
    shape[axis % x.ndim] = -1
    return scale.reshape(shape)


@nb.njit(cache=True, nogil=True)
def _quantize_per_tensor(x, scale, zero_point, qmin, qmax, out):
    # one pass: float32 quotient, round half to even, + zero point, saturate (numpy twin: quantize_linear_numpy)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    for i in range(flat_x.size):
        q = np.rint(flat_x[i] / scale) + zero_point
        flat_out[i] = qmin if q < qmin else (qmax if q > qmax else q)


def quantize_linear(x, scale, zero_point=None, axis: int = 1) -> np.ndarray:
    """round_half_even(x / scale) + zero_point, saturated to the zero point's type (ONNX QuantizeLinear). A
    per-tensor scale on a float32 tensor takes the one-pass Numba kernel; anything else its numpy twin."""
    dtype = zero_point.dtype if zero_point is not None else np.uint8
    x = np.asarray(x)
    if x.dtype == np.float32 and np.size(scale) == 1 and (zero_point is None or np.size(zero_point) == 1) \
            and x.size >= 4096:
        info = np.iinfo(dtype)
        out = np.empty(x.shape, dtype=dtype)
        zp = 0.0 if zero_point is None else float(np.asarray(zero_point).reshape(-1)[0])
        _quantize_per_tensor(np.ascontiguousarray(x), np.float32(np.asarray(scale).reshape(-1)[0]), np.float32(zp),
                             np.float32(info.min), np.float32(info.max), out)
        return out
    return quantize_linear_numpy(x, scale, zero_point, axis)


def quantize_linear_numpy(x, scale, zero_point=None, axis: int = 1) -> np.ndarray:
    """The numpy twin of :func:`quantize_linear`. In float32 throughout: the quotient is ONNX Runtime's float32
    division; adding an integer zero point to an integer-valued float32 is exact below 2^24, and any quotient
    beyond that saturates either way."""
    dtype = zero_point.dtype if zero_point is not None else np.uint8
    info = np.iinfo(dtype)
    s = _axis_shape(np.asarray(scale), x, axis).astype(np.float32)
    q = np.rint(np.asarray(x, dtype=np.float32) / s)
    if zero_point is not None:
        q += _axis_shape(np.asarray(zero_point), x, axis).astype(np.float32)
    return np.clip(q, info.min, info.max, out=q).astype(dtype)


def dequantize_linear(q, scale, zero_point=None, axis: int = 1) -> np.ndarray:
    """(q - zero_point) x scale in float32: the difference of two integers below 2^24 is exact in float32 (8-
    and 16-bit codes), so this is ONNX Runtime's one float32 multiply; 32-bit codes (a bias) go through int64."""
    q = np.asarray(q)
    s = _axis_shape(np.asarray(scale), q, axis).astype(np.float32)
    if q.dtype.itemsize <= 2:
        v = q.astype(np.float32)
        if zero_point is not None:
            v -= _axis_shape(np.asarray(zero_point), q, axis).astype(np.float32)
        v *= s
        return v
    z = 0 if zero_point is None else _axis_shape(np.asarray(zero_point), q, axis).astype(np.int64)
    return ((q.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32)


define("QuantizeLinear", lambda x, s, z=None, axis=1, **_: quantize_linear(x, s, z, axis), cost="layout")
define("DequantizeLinear", lambda q, s, z=None, axis=1, **_: dequantize_linear(q, s, z, axis), cost="layout")
