"""Elementwise math (ONNX semantics, numpy; float32 in, float32 out as ONNX Runtime computes): one vector
operation per output element, charged as the accelsim vector op of its energy class (a transcendental as gelu,
a sigmoid as silu)."""

from __future__ import annotations

import math

import numpy as np

from accelsim.ops.registry import define

_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _f(fn):
    """An elementwise op computed in float64 and returned in the input's float type."""
    return lambda x, **_: fn(np.asarray(x, dtype=np.float64)).astype(np.asarray(x).dtype)


def _typed(fn):
    """An op whose numpy result may widen (a python float scalar, float64 attributes): the input's type kept."""
    return lambda x, *rest, **a: np.asarray(fn(x, *rest, **a)).astype(np.asarray(x).dtype)


def _clip(x, lo=None, hi=None):
    return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi).astype(x.dtype)


def _div(a, b):
    return a // b if np.asarray(a).dtype.kind in "iu" else a / b


ADD = dict(timed_as="add")
MUL = dict(timed_as="mul")

for _name, _fn in (("Equal", np.equal), ("Greater", np.greater), ("Less", np.less),
                   ("GreaterOrEqual", np.greater_equal), ("LessOrEqual", np.less_equal),
                   ("And", np.logical_and), ("Or", np.logical_or), ("Xor", np.logical_xor)):
    define(_name, (lambda f: lambda a, b: f(a, b))(_fn), **ADD)
define("Not", lambda a: np.logical_not(a), **ADD)
define("IsNaN", lambda x: np.isnan(x), **ADD)
define("IsInf", lambda x, **_: np.isinf(x), **ADD)
define("Add", lambda a, b: a + b, **ADD)
define("Sub", lambda a, b: a - b, **ADD)
define("Mul", lambda a, b: a * b, **MUL)
define("Div", _div, **MUL)
define("Pow", lambda a, b: np.power(a, b).astype(np.asarray(a).dtype), **MUL)
define("Neg", lambda x: -x, **ADD)
define("Abs", lambda x: np.abs(x), **ADD)
define("Sqrt", lambda x: np.sqrt(x), **MUL)
define("Reciprocal", lambda x: (1 / x).astype(x.dtype), **MUL)
define("Exp", lambda x: np.exp(x), **MUL)
define("Log", lambda x: np.log(x), **MUL)
define("Floor", lambda x: np.floor(x), **ADD)
define("Ceil", lambda x: np.ceil(x), **ADD)
define("Erf", _f(_ERF), timed_as="gelu")
define("Tanh", lambda x: np.tanh(x), timed_as="gelu")
def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x << 0: 1 / (1 + inf) = 0, the right limit
        return (1 / (1 + np.exp(-x))).astype(x.dtype)


define("Sigmoid", _sigmoid, timed_as="silu")
define("Gelu", lambda x, approximate="none": _f(lambda v: 0.5 * v * (1 + _ERF(v / math.sqrt(2))))(x),
       timed_as="gelu")
define("Relu", lambda x: np.maximum(x, 0).astype(x.dtype), timed_as="relu")
define("Max", lambda *xs: np.maximum.reduce(xs), timed_as="relu")
define("Min", lambda *xs: np.minimum.reduce(xs), timed_as="relu")
define("Clip", lambda x, lo=None, hi=None, **a: _clip(x, a.get("min", lo), a.get("max", hi)), timed_as="relu")
define("LeakyRelu", _typed(lambda x, alpha=0.01: np.where(x >= 0, x, x * np.float32(alpha))), timed_as="relu")
define("PRelu", _typed(lambda x, slope: np.where(x >= 0, x, x * slope)), timed_as="relu")
# HardSigmoid / HardSwish: max(0, min(1, alpha x + beta)) (x times it): ONNX's definition, float32 arithmetic
define("HardSigmoid", _typed(lambda x, alpha=0.2, beta=0.5: np.clip(
    x * np.float32(alpha) + np.float32(beta), 0, 1)), timed_as="silu")
define("HardSwish", _typed(lambda x: x * np.clip(x * np.float32(1 / 6) + np.float32(0.5), 0, 1)), timed_as="silu")
