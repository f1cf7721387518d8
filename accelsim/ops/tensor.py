"""Shape, layout and data-movement ops (ONNX semantics). Views and shape computations cost nothing (``layout``);
ops that copy elements (Transpose, Concat, Gather, Slice, ...) cost one vector operation per output element."""

from __future__ import annotations

import numpy as np

from accelsim.ops.registry import define

#: ONNX TensorProto element types (onnx.proto: FLOAT = 1, UINT8 = 2, ...) -> numpy
ELEMENT_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
                 9: np.bool_, 10: np.float16, 11: np.float64}


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


def _reshape(x, shape, allowzero=0):
    shape = [int(s) for s in shape]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _unsqueeze(x, axes):
    out = x
    for a in sorted(int(a) % (x.ndim + len(axes)) for a in axes):
        out = np.expand_dims(out, a)
    return out


def _squeeze(x, axes=None):
    return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))


def _split(x, split=None, axis=0, num_outputs=None):
    if split is None:
        n = num_outputs or 1
        return np.array_split(x, n, axis=axis)
    idx = np.cumsum([int(s) for s in split])[:-1]
    return np.split(x, idx, axis=axis)


def _slice(x, starts, ends, axes=None, steps=None):
    starts, ends = np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1)
    axes = list(range(len(starts))) if axes is None else [int(a) % x.ndim for a in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else np.asarray(steps).reshape(-1)
    sl = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        n = x.shape[a]
        # ONNX clamps starts/ends to the axis (INT64_MAX / INT64_MIN mean "to the end"), as Python slicing does
        sl[a] = slice(int(np.clip(s, -n - 1, n)), int(np.clip(e, -n - 1, n)), int(st))
    return x[tuple(sl)]


def _cast(x, to, **_):
    return np.asarray(x).astype(ELEMENT_TYPES[to])


LAYOUT = dict(cost="layout")
COPY = dict(cost="vector", timed_as="add")

define("Identity", lambda x: x, **LAYOUT)
define("Constant", lambda **a: _constant(**a), **LAYOUT)
define("ConstantOfShape", lambda shape, value=None: _constant_of_shape(shape, value), **LAYOUT)
define("Shape", lambda x, start=0, end=None: np.asarray(x.shape[start:end], dtype=np.int64), **LAYOUT)
define("Size", lambda x: np.asarray(x.size, dtype=np.int64), **LAYOUT)
define("Cast", _cast, **LAYOUT)
define("Reshape", lambda x, shape, allowzero=0: _reshape(x, shape, allowzero), **LAYOUT)
define("Flatten", lambda x, axis=1: x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1), **LAYOUT)
define("Unsqueeze", lambda x, axes=None: _unsqueeze(x, axes), input_attrs=("axes",), **LAYOUT)
define("Squeeze", lambda x, axes=None: _squeeze(x, axes), input_attrs=("axes",), **LAYOUT)
define("Range", lambda start, limit, delta: np.arange(start, limit, delta, dtype=np.asarray(start).dtype), **LAYOUT)
define("Transpose", lambda x, perm=None: np.transpose(x, perm), **COPY)
define("Concat", lambda *xs, axis: np.concatenate(xs, axis=axis), **COPY)
define("Split", lambda x, split=None, axis=0, num_outputs=None: _split(x, split, axis, num_outputs),
       input_attrs=("split",), **COPY)
define("Slice", lambda x, starts, ends, axes=None, steps=None: _slice(x, starts, ends, axes, steps), **COPY)
define("Gather", lambda x, idx, axis=0: np.take(x, np.asarray(idx, dtype=np.int64), axis=axis), **COPY)
define("Expand", lambda x, shape: x * np.ones([int(s) for s in shape], dtype=x.dtype), **COPY)
define("Tile", lambda x, repeats: np.tile(x, [int(r) for r in repeats]), **COPY)
define("Where", lambda c, a, b: np.where(c, a, b), cost="vector", timed_as="mul")
