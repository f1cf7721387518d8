"""Float64 reference semantics of every layer op (the float model accelsim measures error against)."""

from __future__ import annotations

import math

import numpy as np

from accelsim.workload.layers import Layer


def split_heads(layer: Layer, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Operands of a matmul as (..., M, K) and (..., K, N), after head splitting and transposition."""
    h = layer.heads
    if h > 1:
        if a.ndim == 2:
            a = a.reshape(a.shape[0], h, -1).transpose(1, 0, 2)
        if b.ndim == 2:
            b = b.reshape(b.shape[0], h, -1).transpose(1, 0, 2)
    if layer.transpose_b:
        b = np.swapaxes(b, -1, -2)
    return a, b


def merge_heads(layer: Layer, y: np.ndarray) -> np.ndarray:
    if layer.merge_heads:
        return y.transpose(1, 0, 2).reshape(y.shape[1], -1)
    return y


def apply_activation(y: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(y, 0.0)
    if activation == "relu6":
        return np.clip(y, 0.0, 6.0)
    return y


def conv2d_float(x: np.ndarray, w: np.ndarray, layer: Layer) -> np.ndarray:
    from accelsim.numerics.api import conv_patches

    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    g = layer.groups
    og = o // g
    _, _, ho, wo = layer.out_shape
    out = np.empty((n, o, ho, wo))
    w_k = w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o).astype(np.float64)
    for img in range(n):
        for gi in range(g):
            patches = conv_patches(x[img, gi * cg:(gi + 1) * cg].astype(np.float64), (kh, kw), layer.stride,
                                   layer.padding, layer.dilation)
            out[img, gi * og:(gi + 1) * og] = (patches @ w_k[:, gi * og:(gi + 1) * og]).T.reshape(og, ho, wo)
    return out


def pool2d(x: np.ndarray, layer: Layer) -> np.ndarray:
    """ONNX MaxPool / AveragePool on NCHW (any dtype for max: codes pool exactly): floor output size; padded
    cells never win a max and are excluded from an average (count_include_pad = 0, the ONNX default)."""
    kh, kw = layer.kernel
    sh, sw = layer.stride
    top, left, bottom, right = layer.padding
    _, _, ho, wo = layer.out_shape
    n, c, h, w = x.shape
    is_max = layer.op == "maxpool"
    if is_max:
        fill = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf
        padded = np.full((n, c, h + top + bottom, w + left + right), fill, dtype=x.dtype)
    else:
        padded = np.zeros((n, c, h + top + bottom, w + left + right), dtype=np.float64)
        count = np.zeros((h + top + bottom, w + left + right))
        count[top:top + h, left:left + w] = 1.0
    padded[:, :, top:top + h, left:left + w] = x
    out = None
    cells = np.zeros((ho, wo))
    for i in range(kh):
        for j in range(kw):
            win = padded[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            if is_max:
                out = win.copy() if out is None else np.maximum(out, win)
            else:
                out = win.astype(np.float64) if out is None else out + win
                cells += count[i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
    return out if is_max else out / cells


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def float_op(layer: Layer, xs: list[np.ndarray], weight=None, bias=None) -> np.ndarray:
    """One layer in float64 on float inputs (weights/bias as given)."""
    x = np.asarray(xs[0], dtype=np.float64)
    op = layer.op
    if op == "linear":
        y = x @ np.asarray(weight, dtype=np.float64)
        if bias is not None:
            y = y + bias
        return apply_activation(y, layer.activation)
    if op == "conv2d":
        y = conv2d_float(x, weight, layer)
        if bias is not None:
            y = y + np.asarray(bias, dtype=np.float64)[None, :, None, None]
        return apply_activation(y, layer.activation)
    if op == "matmul":
        a, b = split_heads(layer, x, np.asarray(xs[1], dtype=np.float64))
        return merge_heads(layer, a @ b)
    if op == "add":
        return x + np.asarray(xs[1], dtype=np.float64)
    if op == "mul":
        return x * np.asarray(xs[1], dtype=np.float64)
    if op == "relu":
        return np.maximum(x, 0.0)
    if op == "softmax":
        x = x * layer.scale
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if op == "gelu":  # exact (erf) GELU, as BERT's reference
        return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))
    if op == "silu":
        return x / (1.0 + np.exp(-x))
    if op == "layernorm":  # without the affine parameters (identity gamma/beta)
        mu = x.mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5)
    if op == "rmsnorm":
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-6)
    if op in ("maxpool", "avgpool"):
        return pool2d(x, layer)
    if op == "global_avgpool":
        return x.mean(axis=(2, 3), keepdims=True)
    if op == "flatten":
        return x.reshape(x.shape[0], -1)
    raise ValueError(f"unknown op '{op}'")
