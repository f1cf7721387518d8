"""ConvTranspose in the forms accelsim's integer layers take (import rewrites, accelsim.onnx.lower), each exact:

- **stride equals kernel** (no overlap, no gap: the 2x upsampling of detection and segmentation heads) → a Gemm of
  each input pixel's channels by the weight (C_in, O x kh x kw), the bias repeated over the kernel cells, and a
  depth-to-space rearrangement (Reshape, Transpose, Reshape, Slice for the pads): every output element is exactly
  one Gemm output, so the Gemm's requantization is the ConvTranspose's. Float and QDQ.
- **any other QDQ ConvTranspose** (overlapping windows, stride < kernel; dilations; groups; output_padding) → the
  Conv it is by definition (the transposed convolution is the gradient of a convolution, Dumoulin & Visin 2016,
  "A guide to convolution arithmetic", section 4): the input's integers with s - 1 zero points inserted between
  neighbours (a code equal to the zero point is a real 0), padded by d (k - 1) - pad at each edge, convolved at
  stride 1 with the weight's input and output channels swapped per group and its window flipped. The integer
  accumulator then sums exactly the products the ConvTranspose sums (the inserted codes contribute 0), and one
  requantization follows. Timed by the ConvTranspose's own MACs (accelsim.graph.layers), not by the zeros'.

A contract that lists ConvTranspose in ``integer_ops`` runs either form as an integer layer; one that does not
(ONNX Runtime's CPU provider, which keeps DQ → ConvTranspose → Q in float32) runs it in float between its Q/DQ.
Other ConvTransposes (auto_pad, output_shape, pads wider than the window, float models with overlap) run in
float as they are.
"""

from __future__ import annotations

import numpy as np

from accelsim.graph.ir import Node

_END = np.iinfo(np.int64).max


def _auto_pad(a: dict) -> str:
    v = a.get("auto_pad", "NOTSET")
    return v.decode() if isinstance(v, bytes) else v


def _gemm_fits(n: Node, w) -> bool:
    a = dict(n.attrs)
    kh_kw = tuple(np.shape(w)[2:])
    auto_pad = _auto_pad(a)
    return (w is not None and np.ndim(w) == 4 and int(a.get("group", 1)) == 1
            and tuple(a.get("strides", (1, 1))) == kh_kw and tuple(a.get("dilations", (1, 1))) == (1, 1)
            and not any(a.get("output_padding", ())) and "output_shape" not in a and auto_pad in ("NOTSET", ""))


def as_gemm(n: Node, producer: dict, consumers: dict, b) -> bool:
    """A stride-equals-kernel ConvTranspose as Gemm + depth-to-space (module docstring); False to keep it as is."""
    w_name = n.inputs[1]
    dq_x, dq_w = producer.get(n.inputs[0]), producer.get(w_name)
    qdq = dq_w is not None and dq_w.op_type == "DequantizeLinear"
    w = b.constants.get(dq_w.inputs[0] if qdq else w_name)
    if w is None or not _gemm_fits(n, w):
        return False
    c, o, kh, kw = np.shape(w)
    cells = o * kh * kw
    y_consumers = consumers.get(n.outputs[0], [])
    q_y = y_consumers[0] if len(y_consumers) == 1 and y_consumers[0].op_type == "QuantizeLinear" else None
    bias = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
    dq_b = producer.get(bias) if bias else None
    if qdq and (dq_x is None or dq_x.op_type != "DequantizeLinear" or q_y is None
                or (bias and (dq_b is None or dq_b.op_type != "DequantizeLinear" or dq_b.inputs[0] not in b.constants))
                or np.size(b.constants.get(dq_x.inputs[1], 0)) != 1):
        return False
    if not qdq and bias and bias not in b.constants:
        return False
    x_src = dq_x.inputs[0] if qdq else n.inputs[0]   # the integers (QDQ) or the float input
    shape = b.fresh(f"{n.key}/shape")
    b.add(f"{n.key}/shape", "Shape", [x_src], [shape])
    rows = b.fresh(f"{n.key}/nhwc")
    b.add(f"{n.key}/nhwc", "Transpose", [x_src], [rows], perm=(0, 2, 3, 1))
    x2d = b.fresh(f"{x_src}::rows")
    b.add(f"{n.key}/rows", "Reshape", [rows, b.const("shape", np.asarray([-1, c], np.int64))], [x2d])
    # the weight (C, O, kh, kw) as (C, O x kh x kw): column (o, i, j)
    if qdq:
        xf = b.fresh(f"{n.inputs[0]}::rows")
        b.add(f"{n.key}/dq_x", "DequantizeLinear", [x2d, *dq_x.inputs[1:]], [xf], **dict(dq_x.attrs))
        w_scale, w_zp = (b.constants.get(i) if i else None for i in (list(dq_w.inputs) + [""])[1:3])
        per_channel = np.size(w_scale) > 1
        w_args = [b.const(f"{dq_w.inputs[0]}::gemm", np.asarray(w).reshape(c, cells)),
                  b.const("scale", np.repeat(np.asarray(w_scale).reshape(-1), kh * kw) if per_channel
                          else np.asarray(w_scale))]
        if w_zp is not None:
            w_args.append(b.const("zero_point", np.repeat(np.asarray(w_zp).reshape(-1), kh * kw) if per_channel
                                  else np.asarray(w_zp)))
        wf = b.fresh(f"{w_name}::gemm")
        b.add(f"{n.key}/dq_w", "DequantizeLinear", w_args, [wf], **({"axis": 1} if per_channel else {}))
        gemm_in = [xf, wf]
        if bias:
            b_scale = np.asarray(b.constants[dq_b.inputs[1]])
            bf = b.fresh(f"{bias}::gemm")
            b.add(f"{n.key}/dq_b", "DequantizeLinear",
                  [b.const(f"{dq_b.inputs[0]}::gemm", np.repeat(np.asarray(b.constants[dq_b.inputs[0]]), kh * kw)),
                   b.const("scale", np.repeat(b_scale.reshape(-1), kh * kw) if b_scale.size > 1 else b_scale)],
                  [bf], **({"axis": 0} if b_scale.size > 1 else {}))
            gemm_in.append(bf)
        yf = b.fresh(f"{n.outputs[0]}::gemm")
        b.add(n.key, "Gemm", gemm_in, [yf])
        y2d = b.fresh(f"{q_y.outputs[0]}::gemm")
        b.add(q_y.key, "QuantizeLinear", [yf, *q_y.inputs[1:]], [y2d], **dict(q_y.attrs))
        out_name = q_y.outputs[0]
        b.skip.add(id(q_y))
    else:
        gemm_in = [x2d, b.const(f"{w_name}::gemm", np.asarray(w).reshape(c, cells))]
        if bias:
            gemm_in.append(b.const(f"{bias}::gemm", np.repeat(np.asarray(b.constants[bias]), kh * kw)))
        y2d = b.fresh(f"{n.outputs[0]}::gemm")
        b.add(n.key, "Gemm", gemm_in, [y2d])
        out_name = n.outputs[0]
    b.lowered[n.key] = "ConvTranspose"
    # (N x H x W, O x kh x kw) -> (N, H, W, O, kh, kw) -> (N, O, H, kh, W, kw) -> (N, O, H kh, W kw) -> crop the pads
    nhw = b.fresh(f"{n.key}/nhw")
    b.add(f"{n.key}/nhw", "Gather", [shape, b.const("idx", np.asarray([0, 2, 3], np.int64))], [nhw])
    six = b.fresh(f"{n.key}/shape6")
    b.add(f"{n.key}/shape6", "Concat", [nhw, b.const("cells", np.asarray([o, kh, kw], np.int64))], [six], axis=0)
    y6 = b.fresh(f"{n.key}/y6")
    b.add(f"{n.key}/unfold", "Reshape", [y2d, six], [y6])
    yt = b.fresh(f"{n.key}/yt")
    b.add(f"{n.key}/depth_to_space", "Transpose", [y6], [yt], perm=(0, 3, 1, 4, 2, 5))
    hw = b.fresh(f"{n.key}/hw")
    h_w = b.fresh(f"{n.key}/hw_in")
    b.add(f"{n.key}/hw_in", "Gather", [shape, b.const("idx", np.asarray([2, 3], np.int64))], [h_w])
    b.add(f"{n.key}/hw", "Mul", [h_w, b.const("k", np.asarray([kh, kw], np.int64))], [hw])
    four = b.fresh(f"{n.key}/shape4")
    b.add(f"{n.key}/shape4", "Concat", [b.const("zeros", np.asarray([0, o], np.int64)), hw], [four], axis=0)
    pads = tuple(int(v) for v in dict(n.attrs).get("pads", (0, 0, 0, 0)))
    y4 = out_name if not any(pads) else b.fresh(f"{n.key}/full")
    b.add(f"{n.key}/fold", "Reshape", [yt, four], [y4])
    if any(pads):
        top, left, bottom, right = pads
        b.add(f"{n.key}/crop", "Slice", [y4, b.const("starts", np.asarray([top, left], np.int64)),
                                         b.const("ends", np.asarray([-bottom if bottom else _END,
                                                                     -right if right else _END],
                                                                    np.int64)),
                                         b.const("axes", np.asarray([2, 3], np.int64))], [out_name])
    return True




def _qdq_parts(n: Node, producer: dict, consumers: dict, b):
    """(DQ of x, DQ of the constant weight, the output's Q, DQ of the constant bias or None) of a QDQ
    ConvTranspose, or None when the node is not one (per-tensor x, a 4-D integer weight)."""
    dq_x, dq_w = producer.get(n.inputs[0]), producer.get(n.inputs[1])
    y_consumers = consumers.get(n.outputs[0], [])
    q_y = y_consumers[0] if len(y_consumers) == 1 and y_consumers[0].op_type == "QuantizeLinear" else None
    bias = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
    dq_b = producer.get(bias) if bias else None
    if (dq_x is None or dq_x.op_type != "DequantizeLinear" or dq_w is None or dq_w.op_type != "DequantizeLinear"
            or q_y is None or np.size(b.constants.get(dq_x.inputs[1], 0)) != 1
            or np.ndim(b.constants.get(dq_w.inputs[0])) != 4
            or (bias and (dq_b is None or dq_b.op_type != "DequantizeLinear" or dq_b.inputs[0] not in b.constants))):
        return None
    return dq_x, dq_w, q_y, dq_b


def _conv_weight(w: np.ndarray, group: int) -> np.ndarray:
    """ConvTranspose's weight (C_in, O/g, kh, kw) as the Conv's (O, C_in/g, kh, kw): per group, input and output
    channels swapped, the window flipped."""
    c, og, kh, kw = w.shape
    per_group = w.reshape(group, c // group, og, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(per_group.reshape(group * og, c // group, kh, kw)[:, :, ::-1, ::-1])


def _per_output(v, size: int, group: int):
    """A weight's per-output-channel scale or zero point (O/g entries, ConvTranspose's axis 1) over the Conv's O
    output channels (axis 0); a scalar stays one."""
    v = np.asarray(v)
    return v if v.size == 1 else np.tile(v.reshape(-1), group) if v.size * group == size else None


def as_conv(n: Node, producer: dict, consumers: dict, b) -> bool:
    """A QDQ ConvTranspose as the stride-1 Conv over its zero-point-inserted input (module docstring); False to
    keep it as it is."""
    a = dict(n.attrs)
    parts = _qdq_parts(n, producer, consumers, b)
    if parts is None or _auto_pad(a) not in ("NOTSET", "") or "output_shape" in a:
        return False
    dq_x, dq_w, q_y, dq_b = parts
    w = np.asarray(b.constants[dq_w.inputs[0]])
    group = int(a.get("group", 1))
    k = w.shape[2:]
    s = tuple(int(v) for v in a.get("strides", (1, 1)))
    d = tuple(int(v) for v in a.get("dilations", (1, 1)))
    p = tuple(int(v) for v in a.get("pads", (0, 0, 0, 0)))
    extra = tuple(int(v) for v in a.get("output_padding", (0, 0)))
    begin = [d[i] * (k[i] - 1) - p[i] for i in range(2)]
    end = [d[i] * (k[i] - 1) - p[i + 2] + extra[i] for i in range(2)]
    w_axis = int(dict(dq_w.attrs).get("axis", 1))
    scale, zp = (b.constants.get(i) if i else None for i in (list(dq_w.inputs) + [""])[1:3])
    out = group * w.shape[1]
    w_scale = _per_output(scale, out, group)
    w_zp = None if zp is None else _per_output(zp, out, group)
    if (min(begin + end) < 0 or w_scale is None or (zp is not None and w_zp is None)
            or (np.size(scale) > 1 and w_axis != 1) or any(e >= st for e, st in zip(extra, s))):
        return False
    x_codes = _zero_insert(n, dq_x, s, b)
    xf = b.fresh(f"{n.inputs[0]}::inserted")
    b.add(f"{n.key}/dq_x", "DequantizeLinear", [x_codes, *dq_x.inputs[1:]], [xf], **dict(dq_x.attrs))
    channel = {"axis": 0} if np.size(w_scale) > 1 else {}
    w_args = [b.const(f"{dq_w.inputs[0]}::conv", _conv_weight(w, group)), b.const("scale", w_scale)]
    if w_zp is not None:
        w_args.append(b.const("zero_point", w_zp))
    wf = b.fresh(f"{n.inputs[1]}::conv")
    b.add(f"{n.key}/dq_w", "DequantizeLinear", w_args, [wf], **channel)
    conv_in = [xf, wf]
    if dq_b is not None:
        b_scale = _per_output(b.constants[dq_b.inputs[1]], out, group)
        if b_scale is None:
            return False
        bf = b.fresh(f"{n.inputs[2]}::conv")
        b.add(f"{n.key}/dq_b", "DequantizeLinear", [dq_b.inputs[0], b.const("scale", b_scale)], [bf],
              **({"axis": 0} if b_scale.size > 1 else {}))
        conv_in.append(bf)
    yf = b.fresh(f"{n.outputs[0]}::conv")
    b.add(n.key, "Conv", conv_in, [yf], kernel_shape=tuple(k), dilations=d, group=group,
          pads=(begin[0], begin[1], end[0], end[1]))
    b.add(q_y.key, "QuantizeLinear", [yf, *q_y.inputs[1:]], [q_y.outputs[0]], **dict(q_y.attrs))
    b.skip.add(id(q_y))
    b.lowered[n.key] = "ConvTranspose"
    return True


def _zero_insert(n: Node, dq_x: Node, s: tuple, b) -> str:
    """The input's integer codes with s - 1 zero points between neighbours along H and W: (N, C, H, W) ->
    (N, C, (H - 1) sh + 1, (W - 1) sw + 1). The first node, ``<key>/insert``, reads the codes as the model has
    them (accelsim.graph.layers times the ConvTranspose at that shape)."""
    src = dq_x.inputs[0]
    if s == (1, 1):
        out = b.fresh(f"{src}::inserted")
        b.add(f"{n.key}/insert", "Identity", [src], [out])
        return out
    zp = dq_x.inputs[2] if len(dq_x.inputs) > 2 and dq_x.inputs[2] else ""
    six = b.fresh(f"{src}::cells")
    b.add(f"{n.key}/insert", "Unsqueeze", [src, b.const("axes", np.asarray([3, 5], np.int64))], [six])
    padded = b.fresh(f"{src}::padded")
    pads = np.asarray([0, 0, 0, 0, 0, 0, 0, 0, 0, s[0] - 1, 0, s[1] - 1], np.int64)
    b.add(f"{n.key}/insert_pad", "Pad", [six, b.const("pads", pads), *([zp] if zp else [])], [padded])
    shape = b.fresh(f"{n.key}/insert_shape")
    b.add(f"{n.key}/insert_shape", "Shape", [src], [shape])
    hw = b.fresh(f"{n.key}/insert_hw")
    b.add(f"{n.key}/insert_hw", "Gather", [shape, b.const("idx", np.asarray([2, 3], np.int64))], [hw])
    scaled = b.fresh(f"{n.key}/insert_hws")
    b.add(f"{n.key}/insert_hws", "Mul", [hw, b.const("s", np.asarray(s, np.int64))], [scaled])
    four = b.fresh(f"{n.key}/insert_shape4")
    b.add(f"{n.key}/insert_shape4", "Concat", [b.const("zeros", np.asarray([0, 0], np.int64)), scaled], [four],
          axis=0)
    full = b.fresh(f"{src}::spread")
    b.add(f"{n.key}/insert_fold", "Reshape", [padded, four], [full])
    out = b.fresh(f"{src}::inserted")
    ends = np.asarray([1 - s[0] if s[0] > 1 else _END, 1 - s[1] if s[1] > 1 else _END], np.int64)
    b.add(f"{n.key}/insert_crop", "Slice", [full, b.const("starts", np.zeros(2, np.int64)), b.const("ends", ends),
                                             b.const("axes", np.asarray([2, 3], np.int64))], [out])
    return out
