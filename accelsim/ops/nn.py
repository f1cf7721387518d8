"""Neural-network ops (ONNX semantics, numpy, float32): MAC ops (MatMul, Gemm, Conv, ConvTranspose), pooling,
normalization, softmax, reductions and Resize, written for speed on whole models. A case these kernels do not
cover (an attribute value they do not implement) is handed to ``onnx.reference`` (accelsim.ops.reference), never
approximated."""

from __future__ import annotations

import math

import numpy as np

from accelsim.ops.registry import define


class NotCovered(Exception):
    """Raised by a hand-written kernel for an attribute value it does not implement: the node then runs through
    onnx.reference (accelsim.ops.run_node)."""


def _softmax_family(kind: str):
    """Softmax, LogSoftmax, Hardmax: over one axis (opset 13 on, default -1); before opset 13 over the input
    flattened to 2-D at ``axis`` (default 1): every axis from ``axis`` on."""
    def run(x, axis=None, opset=13):
        if opset >= 13:
            axes = (-1 if axis is None else int(axis)) % x.ndim
            axes = (axes,)
        else:
            axes = tuple(range((1 if axis is None else int(axis)) % x.ndim, x.ndim))
        if kind == "hardmax":
            flat = np.moveaxis(x, axes, tuple(range(-len(axes), 0))).reshape(*[x.shape[i] for i in range(x.ndim)
                                                                                 if i not in axes], -1)
            hot = np.zeros_like(flat)
            np.put_along_axis(hot, flat.argmax(axis=-1)[..., None], 1, axis=-1)
            shape = [x.shape[i] for i in range(x.ndim) if i not in axes] + [x.shape[i] for i in axes]
            return np.moveaxis(hot.reshape(shape), tuple(range(-len(axes), 0)), axes).astype(x.dtype)
        shifted = x - x.max(axis=axes, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=axes, keepdims=True)
        return (shifted - np.log(total) if kind == "log" else e / total).astype(x.dtype)
    return run


def _layer_norm(x, scale, bias=None, axis=-1, epsilon=1e-5, **_):
    axes = tuple(range(axis % x.ndim, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + np.float32(epsilon)) * scale
    return (y + bias if bias is not None else y).astype(x.dtype)


def _batch_norm(x, scale, bias, mean, var, epsilon=1e-5, training_mode=0, **_):
    """Inference BatchNormalization: (x - mean) / sqrt(var + eps) * scale + bias per channel (axis 1)."""
    if training_mode:
        raise NotCovered("training_mode")
    shape = (1, -1) + (1,) * (x.ndim - 2)
    k = (scale / np.sqrt(var.astype(np.float32) + np.float32(epsilon))).astype(np.float32)
    return ((x - mean.reshape(shape)) * k.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


def _reduce(fn):
    def run(x, axes=None, keepdims=1, noop_with_empty_axes=0, **_):
        if axes is None or len(axes) == 0:
            if noop_with_empty_axes:
                return x
            axes = None
        ax = None if axes is None else tuple(int(a) for a in axes)
        return np.asarray(fn(x, axis=ax, keepdims=bool(keepdims))).astype(x.dtype)
    return run


def _gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0, **_):
    a = a.T if transA else a
    b = b.T if transB else b
    y = np.float32(alpha) * (a @ b)
    if c is not None:
        y = y + np.float32(beta) * c
    return y.astype(a.dtype)


def auto_pads(auto_pad, in_sizes, kernel, strides, dilations, pads=None) -> tuple[int, ...]:
    """Explicit pads (begins..., ends...) of a Conv / pool from ONNX's auto_pad (SAME_UPPER puts the odd cell at
    the end, SAME_LOWER at the beginning; VALID none)."""
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else (auto_pad or "NOTSET")
    n = len(kernel)
    if auto_pad in ("NOTSET", ""):
        return tuple(pads) if pads is not None else (0,) * (2 * n)
    if auto_pad == "VALID":
        return (0,) * (2 * n)
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        begins.append(lo)
        ends.append(total - lo)
    return tuple(begins + ends)


def conv_pads(attrs, in_sizes, kernel) -> tuple[int, ...]:
    """A Conv node's explicit pads (begins..., ends...) for an input of spatial sizes ``in_sizes``: its ``pads``, or
    what its ``auto_pad`` (SAME_UPPER, SAME_LOWER, VALID) makes of them."""
    n = len(kernel)
    return auto_pads(attrs.get("auto_pad", "NOTSET"), tuple(in_sizes), tuple(kernel),
                     tuple(attrs.get("strides", (1,) * n)), tuple(attrs.get("dilations", (1,) * n)),
                     attrs.get("pads"))


def _conv(x, w, b=None, strides=None, pads=None, dilations=None, group=1, auto_pad="NOTSET", **_):
    """Conv, 1-D or 2-D (a 1-D conv is a 2-D one of height 1), by im2col and one GEMM per image and group."""
    from accelsim.numerics.api import conv_patches

    if x.ndim == 3:
        k1 = w.shape[2]
        p = auto_pads(auto_pad, x.shape[2:], (k1,), strides or (1,), dilations or (1,), pads)
        y = _conv(x[:, :, None, :], w[:, :, None, :], b, strides=(1, *(strides or (1,))),
                  pads=(0, p[0], 0, p[1]), dilations=(1, *(dilations or (1,))), group=group)
        return y[:, :, 0, :]
    if x.ndim != 4:
        raise NotCovered(f"{x.ndim - 2}-D Conv")
    strides, dilations = tuple(strides or (1, 1)), tuple(dilations or (1, 1))
    pads = auto_pads(auto_pad, x.shape[2:], w.shape[2:], strides, dilations, pads)
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


def conv_transpose_pads(in_sizes, kernel, strides, dilations, pads, output_padding, output_shape, auto_pad):
    """(pads begins..., ends...), output_padding of a ConvTranspose, by ONNX's rules: ``output_shape`` given,
    the total padding is stride (in - 1) + output_padding + (k - 1) d + 1 - out, split as auto_pad says
    (SAME_UPPER: the odd cell at the end; SAME_LOWER and NOTSET: at the beginning, as the spec's formula puts it
    and ONNX Runtime computes it)."""
    n = len(kernel)
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else (auto_pad or "NOTSET")
    output_padding = tuple(output_padding or (0,) * n)
    if output_shape is None and auto_pad in ("NOTSET", "", "VALID"):
        return (tuple(pads or (0,) * (2 * n)) if auto_pad != "VALID" else (0,) * (2 * n)), output_padding
    if output_shape is None:  # SAME_*: output = input x stride
        output_shape = [size * s for size, s in zip(in_sizes, strides)]
    begins, ends = [], []
    for size, k, s, d, op_, out in zip(in_sizes, kernel, strides, dilations, output_padding, output_shape[-n:]):
        total = s * (size - 1) + op_ + (k - 1) * d + 1 - int(out)
        if total < 0:
            raise NotCovered("output_shape beyond the full transposed convolution")
        lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        begins.append(lo)
        ends.append(total - lo)
    return tuple(begins + ends), output_padding


def _conv_transpose(x, w, b=None, strides=None, pads=None, dilations=None, group=1, output_padding=None,
                    output_shape=None, auto_pad="NOTSET", **_):
    """ConvTranspose as GEMM + col2im (as MLAS computes it): each input pixel's C_in vector times the weight
    (C_in, O/g x kh x kw) gives its kernel-sized contribution, added into the output at stride x its position."""
    if x.ndim == 3:
        one = lambda v, d: (d, *(v or (d,)))  # noqa: E731
        p = None if pads is None else (0, pads[0], 0, pads[1])
        y = _conv_transpose(x[:, :, None, :], w[:, :, None, :], b, strides=one(strides, 1), pads=p,
                            dilations=one(dilations, 1), group=group,
                            output_padding=None if output_padding is None else (0, *output_padding),
                            output_shape=None if output_shape is None else (1, output_shape[-1]), auto_pad=auto_pad)
        return y[:, :, 0, :]
    if x.ndim != 4:
        raise NotCovered(f"{x.ndim - 2}-D ConvTranspose")
    strides, dilations = tuple(strides or (1, 1)), tuple(dilations or (1, 1))
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    pads, out_pad = conv_transpose_pads((h, wd), (kh, kw), strides, dilations, pads, output_padding, output_shape,
                                        auto_pad)
    full_h = strides[0] * (h - 1) + out_pad[0] + (kh - 1) * dilations[0] + 1
    full_w = strides[1] * (wd - 1) + out_pad[1] + (kw - 1) * dilations[1] + 1
    cg = c // group
    out = np.zeros((n, og * group, full_h, full_w), dtype=np.float32)
    for g in range(group):
        xg = x[:, g * cg:(g + 1) * cg].reshape(n, cg, h * wd)
        wg = w[g * cg:(g + 1) * cg].reshape(cg, og * kh * kw)
        cols = np.einsum("nck,cm->nmk", xg, wg).reshape(n, og, kh, kw, h, wd).astype(np.float32)
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilations[0], j * dilations[1]
                out[:, g * og:(g + 1) * og, r0:r0 + strides[0] * (h - 1) + 1:strides[0],
                    c0:c0 + strides[1] * (wd - 1) + 1:strides[1]] += cols[:, :, i, j]
    out = out[:, :, pads[0]:full_h - pads[2], pads[1]:full_w - pads[3]]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=np.float32)


def pool_geometry(size, k, s, d, lo, hi, ceil_mode) -> int:
    """Output length of a pooling window along one axis (ONNX: floor, or ceil with the last window starting
    inside the input or its leading pad, as ONNX Runtime and PyTorch count it)."""
    span = size + lo + hi - ((k - 1) * d + 1)
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + lo:
        out -= 1
    return out


def _pool(x, kernel_shape, strides=None, pads=None, kind="max", ceil_mode=0, count_include_pad=0,
          dilations=None, auto_pad="NOTSET", storage_order=0, **_):
    """MaxPool / AveragePool over the trailing 1 or 2 axes. AveragePool divides by the cells inside the input
    (count_include_pad = 0, the default) or inside input and pads (1), never by cells past the pads."""
    nd = len(kernel_shape)
    if nd not in (1, 2) or x.ndim != nd + 2 or any(d != 1 for d in (dilations or ())) or storage_order:
        raise NotCovered("pooling beyond 2-D, dilated, or column-major indices")
    strides = tuple(strides or (1,) * nd)
    sizes = x.shape[2:]
    pads = auto_pads(auto_pad, sizes, kernel_shape, strides, (1,) * nd, pads)
    outs = [pool_geometry(sz, k, s, 1, pads[i], pads[i + nd], ceil_mode)
            for i, (sz, k, s) in enumerate(zip(sizes, kernel_shape, strides))]
    # pad to cover every window: the declared pads, then the ceil-mode overflow
    need = [(o - 1) * s + k for o, s, k in zip(outs, strides, kernel_shape)]
    extra = [max(0, nd_ - (sz + pads[i] + pads[i + nd])) for i, (nd_, sz) in enumerate(zip(need, sizes))]
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd] + extra[i]) for i in range(nd)]
    # max pooling pads with the type's lowest value (-inf; an integer tensor's minimum: QOperator models max-pool
    # the codes)
    fill = (-np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min) if kind == "max" else 0.0
    xp = np.pad(x, widths, constant_values=fill)
    axes = tuple(range(2, 2 + nd))
    view = np.lib.stride_tricks.sliding_window_view(xp, tuple(kernel_shape), axis=axes)
    view = view[(slice(None), slice(None)) + tuple(slice(None, o * s, s) for o, s in zip(outs, strides))]
    view = view[(slice(None), slice(None)) + tuple(slice(0, o) for o in outs)]
    win_axes = tuple(range(-nd, 0))
    if kind == "max":
        return view.max(axis=win_axes).astype(x.dtype)
    # cells counted: inside the input (count_include_pad 0) or inside input + declared pads (1)
    mask = np.zeros(xp.shape[2:], dtype=np.float32)
    region = tuple(slice(0 if count_include_pad else pads[i], pads[i] + sizes[i] + (pads[i + nd] if count_include_pad
                                                                                    else 0)) for i in range(nd))
    mask[region] = 1
    mview = np.lib.stride_tricks.sliding_window_view(mask, tuple(kernel_shape))
    mview = mview[tuple(slice(None, o * s, s) for o, s in zip(outs, strides))][tuple(slice(0, o) for o in outs)]
    count = mview.sum(axis=win_axes)
    return (view.sum(axis=win_axes) / count).astype(x.dtype)


_RESIZE_COORDS = {
    "half_pixel": lambda i, s, n_in, n_out: (i + 0.5) / s - 0.5,
    "pytorch_half_pixel": lambda i, s, n_in, n_out: (i + 0.5) / s - 0.5 if n_out > 1 else np.zeros_like(i),
    "align_corners": lambda i, s, n_in, n_out: i * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros_like(i),
    "asymmetric": lambda i, s, n_in, n_out: i / s,
    "tf_half_pixel_for_nn": lambda i, s, n_in, n_out: (i + 0.5) / s,
}
_NEAREST = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
            "floor": np.floor, "ceil": np.ceil}


def _text(v, default):
    return (v.decode() if isinstance(v, bytes) else v) if v is not None else default


def _resize(x, roi=None, scales=None, sizes=None, mode="nearest", coordinate_transformation_mode="half_pixel",
            nearest_mode="round_prefer_floor", antialias=0, axes=None, keep_aspect_ratio_policy="stretch",
            exclude_outside=0, **_):
    """Resize (and Upsample) by nearest or (n-)linear interpolation, separably along each resized axis: the
    source coordinate of each output index by the coordinate transformation, then the nearest index or the two
    taps. Cubic, antialiasing, ``axes`` and crop-and-resize run through onnx.reference."""
    mode = _text(mode, "nearest")
    ctm = _text(coordinate_transformation_mode, "half_pixel")
    nearest = _text(nearest_mode, "round_prefer_floor")
    if (mode not in ("nearest", "linear") or antialias or axes is not None or ctm not in _RESIZE_COORDS
            or _text(keep_aspect_ratio_policy, "stretch") != "stretch" or nearest not in _NEAREST):
        raise NotCovered("resize mode")
    if sizes is not None and np.size(sizes):
        out_sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        scale = [o / i for o, i in zip(out_sizes, x.shape)]
    else:
        scale = [float(v) for v in np.asarray(scales, dtype=np.float32).reshape(-1)]
        out_sizes = [int(math.floor(i * s)) for i, s in zip(x.shape, scale)]
    y = x
    for axis, (n_in, n_out, s) in enumerate(zip(x.shape, out_sizes, scale)):
        if n_in == n_out and s == 1.0:
            continue
        i = np.arange(n_out, dtype=np.float64)
        src = _RESIZE_COORDS[ctm](i, np.float64(np.float32(s)), n_in, n_out)
        if mode == "nearest":
            idx = np.clip(_NEAREST[nearest](src), 0, n_in - 1).astype(np.int64)
            y = np.take(y, idx, axis=axis)
            continue
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = (src - lo).astype(np.float32)
        shape = [1] * y.ndim
        shape[axis] = -1
        frac = frac.reshape(shape)
        y = (np.take(y, lo, axis=axis) * (1 - frac) + np.take(y, hi, axis=axis) * frac).astype(x.dtype)
    return y


def _resize_versioned(x, *rest, opset=13, **a):
    """Resize as the model's opset defines it: opset 10 took (X, scales), asymmetric coordinates and, for nearest,
    the index rounded down (ONNX Runtime's opset-10 behaviour for upsampling; downsampling rounds up)."""
    if opset >= 11:
        return _resize(x, *rest, **a)
    scales = rest[0] if rest else a.get("scales")
    down = any(float(s) < 1 for s in np.asarray(scales).reshape(-1))
    return _resize(x, scales=scales, mode=a.get("mode", "nearest"), coordinate_transformation_mode="asymmetric",
                   nearest_mode="ceil" if down else "floor")


def _upsample(x, scales=None, mode="nearest", **_):
    return _resize(x, scales=scales, mode=mode, coordinate_transformation_mode="asymmetric", nearest_mode="floor")


define("Softmax", _softmax_family("softmax"), timed_as="softmax", versioned=True)
define("LogSoftmax", _softmax_family("log"), timed_as="softmax", versioned=True)
define("Hardmax", _softmax_family("hardmax"), timed_as="softmax", versioned=True)
define("LayerNormalization", lambda x, scale, bias=None, **a: _layer_norm(x, scale, bias, **a), timed_as="layernorm")
define("BatchNormalization", _batch_norm, timed_as="mul", ops=2)
for _name, _fn in (("ReduceMean", np.mean), ("ReduceSum", np.sum), ("ReduceMax", np.max), ("ReduceMin", np.min),
                   ("ReduceProd", np.prod)):
    define(_name, _reduce(_fn), cost="reduce", timed_as="add", input_attrs=("axes",))
define("MatMul", lambda a, b: np.matmul(a, b), cost="mac", integer="linear")
define("Gemm", lambda a, b, c=None, **at: _gemm(a, b, c, **at), cost="mac", integer="linear")
define("Conv", _conv, cost="mac", integer="conv2d")
define("ConvTranspose", _conv_transpose, cost="mac")
define("MaxPool", lambda x, **at: _pool(x, kind="max", **at), cost="window", timed_as="maxpool")
define("AveragePool", lambda x, **at: _pool(x, kind="avg", **at), cost="window", timed_as="avgpool")
define("GlobalAveragePool", lambda x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype),
       cost="reduce", timed_as="global_avgpool")
define("GlobalMaxPool", lambda x: x.max(axis=tuple(range(2, x.ndim)), keepdims=True), cost="reduce",
       timed_as="maxpool")
define("Resize", _resize_versioned, timed_as="mul", ops=2, versioned=True)
define("Upsample", _upsample, timed_as="mul", ops=2)
