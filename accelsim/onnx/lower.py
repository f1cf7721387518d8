"""Rewrites of an imported graph into the forms accelsim's integer layers take, each exact in float:

- **QOperator → QDQ**: ``quantize_static(quant_format=QuantFormat.QOperator)`` writes fused integer ops
  (QLinearConv, QLinearMatMul, and com.microsoft's QGemm, QLinearAdd, QLinearMul, QLinearSigmoid,
  QLinearLeakyRelu, QLinearAveragePool, QLinearGlobalAveragePool, QLinearSoftmax, QLinearConcat). Each is, by its
  definition in the ONNX and ONNX Runtime operator docs, DequantizeLinear of its inputs → the float op →
  QuantizeLinear of its output (a bias: int32 at scale x_scale × w_scale, zero point 0); the QDQ form is what the
  rest of accelsim reads.
- **1-D Conv → 2-D Conv of height 1** (as MLAS runs a 1-D conv): Unsqueeze before, Squeeze after — on the integer
  tensors around the Q/DQ pair in a QDQ graph, so the DQ → Conv → Q pattern stays intact.
- **ConvTranspose**: stride equals kernel → Gemm + depth-to-space (float and QDQ); any other QDQ ConvTranspose →
  the stride-1 Conv over its zero-point-inserted input (accelsim.onnx.conv_transpose).
"""

from __future__ import annotations

import numpy as np

from accelsim.errors import InputError
from accelsim.graph.ir import Node
from accelsim.onnx.conv_transpose import as_conv, as_gemm

#: QOperator ops (domain, op) -> (float op, quantized inputs as (x, scale, zero point) index triples, output
#: (scale, zero point) indices or None for a float output, bias (index) or None)
QOPERATOR = {
    "QLinearConv": ("Conv", ((0, 1, 2), (3, 4, 5)), (6, 7), 8),
    "QLinearMatMul": ("MatMul", ((0, 1, 2), (3, 4, 5)), (6, 7), None),
    "QGemm": ("Gemm", ((0, 1, 2), (3, 4, 5)), (7, 8), 6),
    "QLinearAdd": ("Add", ((0, 1, 2), (3, 4, 5)), (6, 7), None),
    "QLinearMul": ("Mul", ((0, 1, 2), (3, 4, 5)), (6, 7), None),
    "QLinearSigmoid": ("Sigmoid", ((0, 1, 2),), (3, 4), None),
    "QLinearLeakyRelu": ("LeakyRelu", ((0, 1, 2),), (3, 4), None),
    "QLinearAveragePool": ("AveragePool", ((0, 1, 2),), (3, 4), None),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", ((0, 1, 2),), (3, 4), None),
    "QLinearSoftmax": ("Softmax", ((0, 1, 2),), (3, 4), None),
    "QLinearConcat": ("Concat", None, (0, 1), None),   # inputs: y_scale, y_zp, then (x, scale, zp) per input
}
QOPERATOR_DOMAINS = ("", "ai.onnx", "com.microsoft")


class _Builder:
    def __init__(self, constants: dict):
        self.constants = constants
        self.nodes: list[Node] = []
        self.count = 0
        self.lowered: dict[str, str] = {}   # node key -> the op it was lowered from (ConvTranspose)

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}::accelsim{self.count}"

    def const(self, base: str, value) -> str:
        name = self.fresh(base)
        self.constants[name] = np.asarray(value)
        return name

    def add(self, name, op, inputs, outputs, **attrs) -> None:
        self.nodes.append(Node(name=name, op_type=op, inputs=tuple(inputs), outputs=tuple(outputs), attrs=attrs))


def _qoperator(n: Node, b: _Builder, source: str) -> None:
    op, quantized, out_q, bias = QOPERATOR[n.op_type]
    ins = list(n.inputs) + [""] * 10
    attrs = dict(n.attrs)
    if quantized is None:  # QLinearConcat: (x, scale, zero point) triples after the output's scale and zero point
        quantized = tuple((i, i + 1, i + 2) for i in range(2, len(n.inputs), 3))
    attrs.pop("opset", None)  # QLinearSoftmax: the Softmax opset it follows (its axis semantics; 13: one axis)
    float_ins = []
    for k, (x, s, z) in enumerate(quantized):
        xf = b.fresh(f"{ins[x]}::dq")
        axis = {}
        if np.size(b.constants.get(ins[s], 0)) > 1:  # per-channel weight: output channels of Conv (0), MatMul's N (1)
            axis = {"axis": 0 if op == "Conv" or (op == "Gemm" and attrs.get("transB", 0)) else 1}
        b.add(f"{n.key}/dq{k}", "DequantizeLinear", [ins[x], ins[s], ins[z]] if ins[z] else [ins[x], ins[s]], [xf],
              **axis)
        float_ins.append(xf)
    if bias is not None and ins[bias]:
        if ins[bias] not in b.constants:
            raise InputError(f"node '{n.key}' ({n.op_type}): its bias must be a constant", source=source)
        xs = np.asarray(b.constants[ins[quantized[0][1]]], dtype=np.float32)
        ws = np.asarray(b.constants[ins[quantized[1][1]]], dtype=np.float32)
        bias_int = np.asarray(b.constants[ins[bias]])
        if bias_int.dtype.kind == "f":  # QGemm's C may be float
            float_ins.append(ins[bias])
        else:
            bias_scale = (xs * ws).astype(np.float32).reshape(-1)
            per_channel = bias_scale.size > 1
            scale = b.const(f"{ins[bias]}::scale", bias_scale if per_channel else bias_scale.reshape(()))
            bf = b.fresh(f"{ins[bias]}::dq")
            b.add(f"{n.key}/dq_bias", "DequantizeLinear", [ins[bias], scale], [bf], **({"axis": 0} if per_channel
                                                                                      else {}))
            float_ins.append(bf)
    if op == "Gemm" and out_q is not None and not ins[out_q[0]]:
        out_q = None  # QGemm without y_scale: a float output
    for key in ("channels_last",):
        if attrs.pop(key, 0):
            raise InputError(f"node '{n.key}' ({n.op_type}): channels_last is not supported", source=source)
    if out_q is None:
        b.add(n.key, op, float_ins, [n.outputs[0]], **attrs)
        return
    yf = b.fresh(f"{n.outputs[0]}::float")
    b.add(n.key, op, float_ins, [yf], **attrs)
    s, z = ins[out_q[0]], ins[out_q[1]]
    b.add(f"{n.key}/q", "QuantizeLinear", [yf, s, z] if z else [yf, s], [n.outputs[0]])


def _conv1d(n: Node, producer: dict, consumers: dict, b: _Builder) -> bool:
    """A Conv whose weight (or its DequantizeLinear's integers) is a rank-3 constant, as a 2-D conv of height 1."""
    w_name = n.inputs[1]
    dq_x, dq_w = producer.get(n.inputs[0]), producer.get(w_name)
    qdq = dq_w is not None and dq_w.op_type == "DequantizeLinear"
    w = b.constants.get(dq_w.inputs[0] if qdq else w_name)
    if w is None or np.ndim(w) != 3:
        return False
    a = dict(n.attrs)
    two_d = {"kernel_shape": (1, *a.get("kernel_shape", w.shape[2:])), "strides": (1, *a.get("strides", (1,))),
             "dilations": (1, *a.get("dilations", (1,))), "group": a.get("group", 1)}
    if "pads" in a:
        two_d["pads"] = (0, a["pads"][0], 0, a["pads"][1])
    if "auto_pad" in a:
        two_d["auto_pad"] = a["auto_pad"]
    axes = b.const("axes", np.asarray([2], dtype=np.int64))
    y_consumers = consumers.get(n.outputs[0], [])
    q_y = y_consumers[0] if len(y_consumers) == 1 and y_consumers[0].op_type == "QuantizeLinear" else None
    if qdq and dq_x is not None and dq_x.op_type == "DequantizeLinear" and q_y is not None:
        x4 = b.fresh(f"{dq_x.inputs[0]}::2d")
        b.add(f"{n.key}/unsqueeze", "Unsqueeze", [dq_x.inputs[0], axes], [x4])
        xf = b.fresh(f"{n.inputs[0]}::2d")
        b.add(f"{n.key}/dq_x", "DequantizeLinear", [x4, *dq_x.inputs[1:]], [xf], **dict(dq_x.attrs))
        w4 = b.const(f"{dq_w.inputs[0]}::2d", np.asarray(w)[:, :, None, :])
        wf = b.fresh(f"{w_name}::2d")
        b.add(f"{n.key}/dq_w", "DequantizeLinear", [w4, *dq_w.inputs[1:]], [wf], **dict(dq_w.attrs))
        yf = b.fresh(f"{n.outputs[0]}::2d")
        b.add(n.key, "Conv", [xf, wf, *n.inputs[2:]], [yf], **two_d)
        y4 = b.fresh(f"{q_y.outputs[0]}::2d")
        b.add(q_y.key, "QuantizeLinear", [yf, *q_y.inputs[1:]], [y4], **dict(q_y.attrs))
        b.add(f"{n.key}/squeeze", "Squeeze", [y4, axes], [q_y.outputs[0]])
        b.skip.add(id(q_y))
        return True
    if qdq:
        return False  # a 1-D conv outside a Q/DQ pattern runs in float as it is
    x4 = b.fresh(f"{n.inputs[0]}::2d")
    b.add(f"{n.key}/unsqueeze", "Unsqueeze", [n.inputs[0], axes], [x4])
    w4 = b.const(f"{w_name}::2d", np.asarray(w)[:, :, None, :])
    y4 = b.fresh(f"{n.outputs[0]}::2d")
    b.add(n.key, "Conv", [x4, w4, *n.inputs[2:]], [y4], **two_d)
    b.add(f"{n.key}/squeeze", "Squeeze", [y4, axes], [n.outputs[0]])
    return True


def _index(nodes):
    producer = {o: n for n in nodes for o in n.outputs}
    consumers: dict = {}
    for n in nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    return producer, consumers


def lower(nodes: list[Node], domains: list[str], constants: dict, source: str) -> tuple[list[Node], dict]:
    """The graph's nodes with QOperator ops in QDQ form, then 1-D convs as 2-D ones and stride-equals-kernel
    ConvTransposes as Gemms (``constants`` gains the reshaped weights and new scales); and {node key: the op it was
    lowered from} for the Gemms that stand for a ConvTranspose."""
    b = _Builder(constants)
    for n, domain in zip(nodes, domains):
        if n.op_type in QOPERATOR and domain in QOPERATOR_DOMAINS:
            _qoperator(n, b, source)
        elif domain in ("", "ai.onnx"):
            b.nodes.append(n)
        else:  # pragma: no cover - import_onnx refuses other domains first
            raise InputError(f"node '{n.key}': op {domain}:{n.op_type} is not supported", source=source)
    qdq_nodes, b.nodes = b.nodes, []
    b.skip = set()
    producer, consumers = _index(qdq_nodes)
    for n in qdq_nodes:
        if id(n) in b.skip:
            continue
        if not ((n.op_type == "Conv" and _conv1d(n, producer, consumers, b))
                or (n.op_type == "ConvTranspose" and (as_gemm(n, producer, consumers, b)
                                                      or as_conv(n, producer, consumers, b)))):
            b.nodes.append(n)
    return b.nodes, b.lowered


def lowered_from(name: str) -> str | None:
    """The tensor of the imported model that a tensor the 1-D conv lowering added is the 2-D view of (None for a
    tensor of the model itself): ``<tensor>::2d::accelsim<i>`` -> ``<tensor>``."""
    if "::2d::accelsim" not in name:
        return None
    return name.split("::2d::accelsim")[0]
