"""Float (and Q/DQ) semantics of the graph's ops (ONNX's vocabulary) outside the integer layers.

Numpy, float32 where the model is float32 (as ONNX Runtime computes), each op a small function of
(inputs, attributes). QuantizeLinear / DequantizeLinear follow the ONNX spec (round half to even,
saturate; per-axis scales). Ops not in OPS are reported by name before anything runs. No onnx import:
tensor-valued attributes are numpy arrays (the ONNX importer converts them), Cast's ``to`` is ONNX's
element-type number.
"""

from __future__ import annotations

import math

import numpy as np

#: ONNX TensorProto element types (onnx.proto: FLOAT = 1, UINT8 = 2, ...) -> numpy
ELEMENT_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
                 9: np.bool_, 10: np.float16, 11: np.float64}


def attrs(node) -> dict:
    """A node's attributes as a mutable dict."""
    return dict(node.attrs)


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


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _layer_norm(x, scale, bias=None, axis=-1, epsilon=1e-5, **_):
    axes = tuple(range(axis % x.ndim, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + np.float32(epsilon)) * scale
    return (y + bias if bias is not None else y).astype(x.dtype)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _slice(x, starts, ends, axes=None, steps=None):
    axes = list(range(len(starts))) if axes is None else [int(a) % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    sl = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        sl[a] = slice(int(s), int(e), int(st))
    return x[tuple(sl)]


def _gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0, **_):
    a = a.T if transA else a
    b = b.T if transB else b
    y = np.float32(alpha) * (a @ b)
    if c is not None:
        y = y + np.float32(beta) * c
    return y.astype(a.dtype)


def _conv(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1, **_):
    from accelsim.numerics.api import conv_patches

    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    wo = (wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    og = o // group
    wk = w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o)
    out = np.empty((n, o, ho, wo), dtype=np.float32)
    for img in range(n):
        for g in range(group):
            patches = conv_patches(x[img, g * cg:(g + 1) * cg], (kh, kw), strides, pads, dilations)
            out[img, g * og:(g + 1) * og] = (patches @ wk[:, g * og:(g + 1) * og]).T.reshape(og, ho, wo)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _pool(x, kernel_shape, strides=None, pads=(0, 0, 0, 0), kind="max", **_):
    kh, kw = kernel_shape
    sh, sw = strides or (1, 1)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=fill)
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ho, :wo]
    return (win.max(axis=(-1, -2)) if kind == "max" else win.mean(axis=(-1, -2))).astype(x.dtype)


def _reshape(x, shape, allowzero=0):
    shape = [int(s) for s in shape]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _cast(x, to):
    return np.asarray(x).astype(ELEMENT_TYPES[to])


def _constant(**a):
    if "value" in a:
        return np.asarray(a["value"])
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64), ("value_floats", np.float32),
                       ("value_ints", np.int64)):
        if key in a:
            return np.asarray(a[key], dtype=dtype)
    raise ValueError(f"Constant with attributes {sorted(a)} is not supported")


def _constant_of_shape(shape, value=None):
    v = np.asarray(value) if value is not None else np.zeros(1, np.float32)
    return np.full([int(s) for s in shape], v.reshape(-1)[0], dtype=v.dtype)


def _unsqueeze(x, axes):
    out = x
    for a in sorted(int(a) % (x.ndim + len(axes)) for a in axes):
        out = np.expand_dims(out, a)
    return out


def _squeeze(x, axes=None):
    return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))


def _reduce_mean(x, axes=None, keepdims=1, **_):
    ax = None if axes is None or len(axes) == 0 else tuple(int(a) for a in axes)
    return x.mean(axis=ax, keepdims=bool(keepdims)).astype(x.dtype)


def _split(x, split=None, axis=0, num_outputs=None):
    if split is None:
        n = num_outputs
        return np.array_split(x, n, axis=axis)
    idx = np.cumsum([int(s) for s in split])[:-1]
    return np.split(x, idx, axis=axis)


def _clip(x, lo=None, hi=None):
    return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi).astype(x.dtype)


def _f(fn):
    """An elementwise op computed in float64 and returned in the input's float type."""
    return lambda x, **_: fn(np.asarray(x, dtype=np.float64)).astype(np.asarray(x).dtype)


# op -> fn(inputs..., **attributes); inputs given positionally (None for an absent optional input);
# attributes that became inputs in newer opsets (axes, split) are accepted either way
OPS = {
    "Identity": lambda x: x,
    "Constant": lambda **a: _constant(**a),
    "ConstantOfShape": lambda shape, value=None: _constant_of_shape(shape, value),
    "Shape": lambda x, start=0, end=None: np.asarray(x.shape[start:end], dtype=np.int64),
    "Size": lambda x: np.asarray(x.size, dtype=np.int64),
    "Cast": lambda x, to, **_: _cast(x, to),
    "Reshape": lambda x, shape, allowzero=0: _reshape(x, shape, allowzero),
    "Flatten": lambda x, axis=1: x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1),
    "Transpose": lambda x, perm=None: np.transpose(x, perm),
    "Unsqueeze": lambda x, axes=None: _unsqueeze(x, axes),
    "Squeeze": lambda x, axes=None: _squeeze(x, axes),
    "Concat": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "Split": lambda x, split=None, axis=0, num_outputs=None: _split(x, split, axis, num_outputs),
    "Slice": lambda x, starts, ends, axes=None, steps=None: _slice(x, starts, ends, axes, steps),
    "Gather": lambda x, idx, axis=0: np.take(x, np.asarray(idx, dtype=np.int64), axis=axis),
    "Expand": lambda x, shape: x * np.ones([int(s) for s in shape], dtype=x.dtype),
    "Range": lambda start, limit, delta: np.arange(start, limit, delta, dtype=np.asarray(start).dtype),
    "Where": lambda c, a, b: np.where(c, a, b),
    "Equal": lambda a, b: np.equal(a, b), "Greater": lambda a, b: np.greater(a, b),
    "Less": lambda a, b: np.less(a, b), "GreaterOrEqual": lambda a, b: np.greater_equal(a, b),
    "LessOrEqual": lambda a, b: np.less_equal(a, b), "And": lambda a, b: np.logical_and(a, b),
    "Or": lambda a, b: np.logical_or(a, b), "Not": lambda a: np.logical_not(a),
    "IsNaN": lambda x: np.isnan(x), "IsInf": lambda x, **_: np.isinf(x),
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
    "Div": lambda a, b: (a // b if np.asarray(a).dtype.kind in "iu" else a / b),
    "Pow": lambda a, b: np.power(a, b).astype(np.asarray(a).dtype), "Neg": lambda x: -x,
    "Sqrt": lambda x: np.sqrt(x), "Exp": lambda x: np.exp(x), "Log": lambda x: np.log(x),
    "Abs": lambda x: np.abs(x), "Reciprocal": lambda x: (1 / x).astype(x.dtype),
    "Erf": _f(_ERF), "Tanh": lambda x: np.tanh(x),
    "Sigmoid": lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype),
    "Relu": lambda x: np.maximum(x, 0).astype(x.dtype),
    "Gelu": lambda x, approximate="none": _f(lambda v: 0.5 * v * (1 + _ERF(v / math.sqrt(2))))(x),
    "Max": lambda *xs: np.maximum.reduce(xs), "Min": lambda *xs: np.minimum.reduce(xs),
    "Clip": lambda x, lo=None, hi=None, **a: _clip(x, a.get("min", lo), a.get("max", hi)),
    "Softmax": lambda x, axis=-1: _softmax(x, axis).astype(x.dtype),
    "LayerNormalization": lambda x, scale, bias=None, **a: _layer_norm(x, scale, bias, **a),
    "ReduceMean": lambda x, axes=None, **a: _reduce_mean(x, axes, **a),
    "MatMul": lambda a, b: np.matmul(a, b),
    "Gemm": lambda a, b, c=None, **at: _gemm(a, b, c, **at),
    "Conv": lambda x, w, b=None, **at: _conv(x, w, b, **at),
    "MaxPool": lambda x, **at: _pool(x, kind="max", **at),
    "AveragePool": lambda x, **at: _pool(x, kind="avg", **at),
    "GlobalAveragePool": lambda x: x.mean(axis=(2, 3), keepdims=True),
    "QuantizeLinear": lambda x, s, z=None, axis=1, **_: quantize_linear(x, s, z, axis),
    "DequantizeLinear": lambda q, s, z=None, axis=1, **_: dequantize_linear(q, s, z, axis),
}

# attributes that newer opsets pass as inputs (name of the input position -> attribute name)
_INPUT_ATTRS = {"Unsqueeze": ("axes",), "Squeeze": ("axes",), "ReduceMean": ("axes",), "Split": ("split",)}


def run_node(node, inputs: list) -> list:
    """Execute one node on numpy inputs; returns its outputs as a list."""
    a = attrs(node)
    a.pop("kernel_shape", None) if node.op_type == "Conv" else None
    fn = OPS[node.op_type]
    args = list(inputs)
    extra = _INPUT_ATTRS.get(node.op_type)
    if extra and len(args) > 1:
        a[extra[0]] = None if args[1] is None else [int(v) for v in np.asarray(args[1]).reshape(-1)]
        args = args[:1]
    while args and args[-1] is None:
        args.pop()
    out = fn(*args, **a)
    return list(out) if isinstance(out, list) else [out]


def _layer_op(*values, layer):
    """An accelsim layer node (accelsim.graph.layer_chain): its activation inputs, then weight and bias."""
    from accelsim.numerics.floatops import float_op

    n = len(layer.inputs)
    rest = list(values[n:]) + [None, None]
    return float_op(layer, list(values[:n]), rest[0], rest[1])


def _register_layer_ops() -> None:
    from accelsim.workload.layers import FLOAT_OPS, INT_ELEMENTWISE_OPS
    from accelsim.workload.layers import MAC_OPS as LAYER_MAC_OPS

    for op in (*LAYER_MAC_OPS, *INT_ELEMENTWISE_OPS, *FLOAT_OPS):
        OPS[f"accelsim.{op}"] = _layer_op


_register_layer_ops()
