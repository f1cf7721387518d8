"""QuantizeLinear / DequantizeLinear (ONNX spec: round half to even, saturate; per-axis scales). Not timed:
a Q/DQ pair is the quantization intent, fused into the integer layers around it."""

from __future__ import annotations

import numpy as np

from accelsim.ops.registry import define


def _axis_shape(scale: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    if scale.ndim == 0 or scale.size == 1:
        return scale.reshape(())
    shape = [1] * x.ndim
    shape[axis % x.ndim] = -1
    return scale.reshape(shape)


def quantize_linear(x, scale, zero_point=None, axis: int = 1) -> np.ndarray:
    dtype = zero_point.dtype if zero_point is not None else np.uint8
    info = np.iinfo(dtype)
    s = _axis_shape(np.asarray(scale), x, axis)
    z = 0 if zero_point is None else _axis_shape(np.asarray(zero_point), x, axis).astype(np.int64)
    q = np.rint(np.asarray(x, dtype=np.float32) / s.astype(np.float32)).astype(np.float64) + z
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_linear(q, scale, zero_point=None, axis: int = 1) -> np.ndarray:
    s = _axis_shape(np.asarray(scale), q, axis).astype(np.float32)
    z = 0 if zero_point is None else _axis_shape(np.asarray(zero_point), q, axis).astype(np.int64)
    return ((np.asarray(q).astype(np.int64) - z).astype(np.float32) * s).astype(np.float32)


define("QuantizeLinear", lambda x, s, z=None, axis=1, **_: quantize_linear(x, s, z, axis), cost="layout")
define("DequantizeLinear", lambda q, s, z=None, axis=1, **_: dequantize_linear(q, s, z, axis), cost="layout")
