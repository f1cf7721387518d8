"""Every other op of the ONNX standard domain: run by ``onnx.reference`` (the ONNX project's reference
evaluator, which implements each op of each opset from the spec), one node at a time, on a one-node model built
from the node and its input types; costed by its kind (:data:`COST`).

Why not ONNX Runtime for these: the reference evaluator covers every op of every opset the installed onnx knows
and runs in-process on numpy arrays; its float32 arithmetic is the spec's, which is what a float reference
is for. It is slow for large tensors on a few ops (Resize, pooling): those have fast kernels in accelsim.ops.nn.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from accelsim.ops.registry import OpDef

#: ops whose attributes are subgraphs (control flow): a subgraph may read any value defined before its node; the
#: one-node model then takes those values as extra graph inputs (``Node.captures``), so onnx.reference runs the
#: branches and bodies with the spec's semantics. An If the bound inputs decide is inlined before this
#: (accelsim.onnx.specialize); Loop and Scan bodies are timed by accelsim.onnx.loops
CONTROL_FLOW = ("If", "Loop", "Scan", "SequenceMap")

#: cost class by op (ops not listed: one vector operation per output element, timed as an add)
COST = {
    **{op: dict(cost="layout") for op in (
        "Shape", "Size", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Constant", "ConstantOfShape",
        "Cast", "CastLike", "Range", "EyeLike", "NonZero", "Optional", "OptionalGetElement", "OptionalHasElement",
        "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert", "SequenceLength",
        "SplitToSequence", "ConcatFromSequence", *CONTROL_FLOW, "RandomNormal", "RandomNormalLike", "RandomUniform",
        "RandomUniformLike", "Bernoulli", "Multinomial", "DynamicQuantizeLinear")},
    **{op: dict(cost="reduce", timed_as="add") for op in (
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "CumSum",
        "TopK", "LpNormalization", "GlobalLpPool", "MeanVarianceNormalization", "Unique")},
    **{op: dict(cost="vector", timed_as="layernorm") for op in (
        "InstanceNormalization", "GroupNormalization", "RMSNormalization", "LRN")},
    **{op: dict(cost="vector", timed_as="softmax") for op in ("LogSoftmax", "Hardmax")},
    **{op: dict(cost="vector", timed_as="gelu") for op in (
        "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Elu", "Selu",
        "Celu", "Softplus", "Softsign", "ThresholdedRelu", "Mish", "Swish")},
    **{op: dict(cost="window", timed_as="maxpool") for op in ("LpPool", "MaxRoiPool", "RoiAlign", "MaxUnpool")},
    **{op: dict(cost="mac") for op in (
        "Einsum", "LSTM", "GRU", "RNN", "MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul",
        "DeformConv", "Attention")},
}


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 1024


def reference_op(op_type: str, domain: str = "") -> OpDef | None:
    """An OpDef for a standard-domain op the installed onnx knows (None otherwise)."""
    if domain not in ("", "ai.onnx"):
        return None
    from onnx import defs

    if not defs.has(op_type):
        return None
    return OpDef(name=op_type, run=_unavailable, source="onnx.reference", **COST.get(op_type, {}))


def _unavailable(*_, **__):  # pragma: no cover - run_node dispatches reference ops to run_reference
    raise RuntimeError("a reference op runs through accelsim.ops.reference.run_reference")


def _proto(node):
    from onnx import helper, numpy_helper

    kw = {k: (numpy_helper.from_array(np.asarray(v)) if isinstance(v, np.ndarray) else v)
          for k, v in node.attrs.items()}
    return helper.make_node(node.op_type, list(node.inputs), list(node.outputs), **kw)


def _evaluator(node, inputs: list, opset: int, captured: dict):
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    names = [i for i in node.inputs if i]
    types = tuple((n, np.asarray(v).dtype.str) for n, v in (*zip(node.inputs, inputs), *captured.items()) if n)
    key = (id(node), types, opset)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is node:
        _CACHE.move_to_end(key)
        return hit[1]
    values = {**dict(zip(node.inputs, inputs)), **captured}
    graph_inputs, seen = [], set()
    for n in [*names, *captured]:
        if n in seen:
            continue
        seen.add(n)
        elem = helper.np_dtype_to_tensor_dtype(np.asarray(values[n]).dtype)
        graph_inputs.append(helper.make_tensor_value_info(n, elem, None))
    outputs = [helper.make_tensor_value_info(o, 0, None) for o in node.outputs if o]
    graph = helper.make_graph([_proto(node)], "node", graph_inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    ev = ReferenceEvaluator(model, new_ops=_compat_ops(opset))
    _CACHE[key] = (node, ev)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ev


def _compat_ops(opset: int) -> list:
    """Implementations onnx.reference lacks for older opsets (onnx 1.23 has DequantizeLinear from opset 19 only,
    so a QDQ subgraph of an opset-17 model fails inside an If): accelsim's own, the spec's arithmetic."""
    if opset >= 19:
        return []
    from onnx.reference.op_run import OpRun

    from accelsim.ops.quant import dequantize_linear

    def _run(self, x, x_scale, x_zero_point=None, axis=None, **_):  # block_size, output_dtype: opset 21+
        return (dequantize_linear(x, x_scale, x_zero_point, 1 if axis is None else axis),)

    return [type("DequantizeLinear", (OpRun,), {"op_domain": "", "_run": _run})]


def _single(v):
    return v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float64 else v


def run_reference(node, inputs: list, opset: int, captured: dict | None = None) -> list:
    """One node through onnx.reference; outputs in the node's output order. ``captured``: values its subgraphs
    read from the graph around it (fed as graph inputs of the one-node model, where the subgraphs see them)."""
    # accelsim's contract layers hand float64 dequantized values to the float glue (accelsim.graph.contract); the
    # spec's evaluator checks types strictly (a body's MatMul of float64 by its float32 weight fails): the float
    # graph these values stand in is float32
    inputs = [_single(v) for v in inputs]
    captured = {k: _single(v) for k, v in (captured or {}).items()}
    ev = _evaluator(node, inputs, opset, captured)
    feeds = {**{n: np.asarray(v) for n, v in captured.items()},
             **{n: np.asarray(v) for n, v in zip(node.inputs, inputs) if n}}
    return list(ev.run(None, feeds))
