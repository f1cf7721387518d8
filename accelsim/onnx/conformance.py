"""Node-level bit-exactness of a QDQ model's integer layers with ONNX Runtime.

ONNX Runtime runs the model with its default graph optimizations (which fuse DQ -> MatMul/Gemm/Conv ->
Q into integer kernels: QLinearMatMul, QGemm, QLinearConv); the integer tensors around every integer
layer (its quantized input(s) and its quantized output) are exposed as extra graph outputs. accelsim
then computes each layer from ONNX Runtime's own input integers under a contract (``onnxruntime-cpu``)
and compares with ONNX Runtime's output integers, element by element. Feeding each node ONNX Runtime's
inputs keeps float glue elsewhere in the graph (computed by different float kernels) out of the
comparison: it is the node that is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import tempfile

import numpy as np

from accelsim.hardware import load_profile
from accelsim.onnx.contract import ContractLayer
from accelsim.onnx.graph import OnnxGraph
from accelsim.quant.legalize import QuantPlan


def _elem_type(arr_dtype) -> int:
    from onnx import TensorProto

    return {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8,
            np.dtype(np.int16): TensorProto.INT16, np.dtype(np.uint16): TensorProto.UINT16,
            np.dtype(np.int32): TensorProto.INT32, np.dtype(np.float32): TensorProto.FLOAT}[np.dtype(arr_dtype)]


def _session(model_bytes: bytes, optimized_path=None):
    import onnxruntime as ort

    opts = ort.SessionOptions()  # default graph optimizations (ORT_ENABLE_ALL)
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    if optimized_path:
        opts.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def _node_model(g: OnnxGraph, L):
    """The layer's QDQ pattern alone: int input(s) -> DQ -> MatMul/Gemm/Conv (DQ weights, bias) -> Q."""
    from onnx import helper, numpy_helper

    nodes = [g.producer[i] for i in L.node.input if i and i in g.producer
             and g.producer[i].op_type == "DequantizeLinear"] + [L.node, L.y_q_node]
    inputs, inits, seen, pre = [], [], set(), []
    for n in nodes:
        for i in n.input:
            if not i or i in seen or i in {o for m in nodes for o in m.output}:
                continue
            seen.add(i)
            if i in g.constants:
                inits.append(numpy_helper.from_array(np.asarray(g.constants[i]), i))
            else:  # a float input, quantized by a QuantizeLinear with the layer's own parameters (the
                # canonical Q -> DQ pattern ONNX Runtime fuses; exact: the inputs are multiples of the scale)
                p = L.x_q if i == L.x_int else L.b_q
                sname, zname = f"{i}::scale", f"{i}::zero_point"
                inits += [numpy_helper.from_array(np.asarray(p.scale, dtype=np.float32).reshape(()), sname),
                          numpy_helper.from_array(np.asarray(p.zero_point).reshape(()), zname)]
                pre.append(helper.make_node("QuantizeLinear", [f"{i}::float", sname, zname], [i], name=f"{i}::q"))
                inputs.append(helper.make_tensor_value_info(f"{i}::float", _elem_type(np.float32), None))
    # ONNX Runtime does not fuse a pattern whose Q output is a graph output: read the integers through a
    # DequantizeLinear with scale 1 and zero point 0 (exact in float32 for 8- and 16-bit values)
    zero = np.zeros((), dtype=L.y_q.zero_point.dtype)
    inits += [numpy_helper.from_array(np.asarray(1.0, dtype=np.float32), "accelsim_one"),
              numpy_helper.from_array(zero, "accelsim_zero")]
    nodes.append(helper.make_node("DequantizeLinear", [L.y_int, "accelsim_one", "accelsim_zero"], ["accelsim_y"],
                                  name="accelsim_read"))
    out = helper.make_tensor_value_info("accelsim_y", _elem_type(np.float32), None)
    graph = helper.make_graph(pre + nodes, "node", inputs, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=list(g.model.opset_import))
    model.ir_version = g.model.ir_version
    return model


def fused_in_model(path) -> dict[str, str]:
    """Node name -> the integer kernel ONNX Runtime runs it as in the whole model (default optimizations)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        opt = f"{tmp}/optimized.onnx"
        _session(onnx.load(str(path)).SerializeToString(), opt)
        m = onnx.load(opt)
    return {n.name: n.op_type for n in m.graph.node
            if n.op_type in ("QLinearMatMul", "QGemm", "QLinearConv", "MatMulInteger", "ConvInteger")}


@dataclass
class NodeCheck:
    layer: str
    kind: str
    elements: int
    mismatches: int
    max_abs_diff: int
    kernel: str              # what ORT runs the extracted node as (QLinearMatMul, QGemm, QLinearConv)
    fused_in_model: bool     # ORT also runs it as an integer kernel inside the whole model


def node_level_check(path, feeds: list[dict], hw="onnxruntime-cpu") -> list[NodeCheck]:
    """Every QDQ integer layer of the model at ``path``, compared with ONNX Runtime on the same inputs.

    The inputs of each layer are the integers the whole model produces on ``feeds`` (run by ONNX Runtime
    with those tensors exposed); the layer's QDQ pattern is then run alone by ONNX Runtime (default
    optimizations fuse it into an integer kernel) and by accelsim under ``hw``.
    """
    import onnx
    from onnx import helper

    g = OnnxGraph(path)
    profile = load_profile(hw)
    model = onnx.load(str(path))
    wanted = {}
    for L in g.layers:
        if L.y_int is None:
            continue
        wanted[L.x_int] = L.x_q.zero_point.dtype
        if L.b_int:
            wanted[L.b_int] = L.b_q.zero_point.dtype
    existing = {o.name for o in model.graph.output}
    for name, dtype in wanted.items():
        if name not in existing:
            model.graph.output.append(helper.make_tensor_value_info(name, _elem_type(dtype), None))
    whole = _session(model.SerializeToString())
    names = [o.name for o in whole.get_outputs()]
    fused = fused_in_model(path)
    checks = []
    for L in g.layers:
        if L.y_int is None:
            continue
        single = _node_model(g, L)
        sess = _session(single.SerializeToString())
        kernel = "?"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                _session(single.SerializeToString(), f"{tmp}/n.onnx")
                ops = [n.op_type for n in onnx.load(f"{tmp}/n.onnx").graph.node]
            kernel = next((o for o in ops if o in ("QLinearMatMul", "QGemm", "QLinearConv", "MatMulInteger",
                                                  "ConvInteger")), "float (" + "/".join(ops) + ")")
        except Exception:  # noqa: BLE001 - the kernel name is informative only
            pass
        c = NodeCheck(L.name, L.kind, 0, 0, 0, kernel, (L.node.name in fused))
        layer = ContractLayer(L, QuantPlan(layer=L.name, weights=None, activations=None), profile, {}, True)
        in_names = [i.name for i in sess.get_inputs()]
        for feed in feeds:
            outs = dict(zip(names, whole.run(None, feed)))
            env = {n[:-len("::float")]: outs[n[:-len("::float")]] for n in in_names}
            floats = {}
            for n in in_names:
                base = n[:-len("::float")]
                p = L.x_q if base == L.x_int else L.b_q
                floats[n] = ((env[base].astype(np.int64) - np.asarray(p.zero_point).astype(np.int64))
                             .astype(np.float32) * np.float32(p.scale.reshape(-1)[0]))
            theirs = np.rint(sess.run(None, floats)[0]).astype(np.int64)
            layer(env)
            ours = env[L.y_int]
            diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
            c.elements += theirs.size
            c.mismatches += int(np.count_nonzero(diff))
            c.max_abs_diff = max(c.max_abs_diff, int(diff.max(initial=0)))
        checks.append(c)
    return checks
