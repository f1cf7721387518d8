"""Node-level bit-exactness of a QDQ model's integer layers with ONNX Runtime.

ONNX Runtime runs the model with its default graph optimizations (which fuse DQ -> MatMul/Gemm/Conv ->
Q into integer kernels: QLinearMatMul, QGemm, QLinearConv); the integer tensors around every integer
layer (its quantized input(s) and its quantized output) are exposed as extra graph outputs. accelsim
then computes each layer from ONNX Runtime's own input integers under a contract (``onnxruntime-host``: ONNX Runtime's contract on this CPU)
and compares with ONNX Runtime's output integers, element by element. Feeding each node ONNX Runtime's
inputs keeps float glue elsewhere in the graph (computed by different float kernels) out of the
comparison: it is the node that is checked.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from accelsim.graph.contract import ContractLayer
from accelsim.hardware import load_profile
from accelsim.onnx.export import to_node_proto
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


def _node_model(g: OnnxGraph, L, u8: bool):
    """The layer's QDQ pattern alone: float input(s) -> Q -> DQ -> MatMul/Gemm/Conv (DQ weights, bias) -> Q.

    The inputs are floats that quantize exactly to the layer's integers (multiples of the scale): the
    canonical Q -> DQ pattern ONNX Runtime fuses. ``u8``: int8 activations expressed as uint8 with the zero
    point moved by 128 — the same arithmetic, and what ONNX Runtime's own QDQ s8-to-u8 transform does to
    int8 activations in a whole model on x86 before fusing. Returns (model, shift of the output integers).
    """
    from onnx import helper, numpy_helper

    inits, nodes, inputs = [], [], []

    def params(p, tag):
        zp = np.asarray(p.zero_point).reshape(())
        shift = 0
        if u8 and zp.dtype == np.int8:
            zp, shift = np.asarray(int(zp) + 128, dtype=np.uint8), 128
        inits.extend([numpy_helper.from_array(np.asarray(p.scale, dtype=np.float32).reshape(()), f"{tag}::s"),
                      numpy_helper.from_array(zp, f"{tag}::z")])
        return f"{tag}::s", f"{tag}::z", shift

    def activation_in(p, tag):
        sc, zp, _ = params(p, tag)
        inputs.append(helper.make_tensor_value_info(f"{tag}::float", _elem_type(np.float32), None))
        nodes.append(helper.make_node("QuantizeLinear", [f"{tag}::float", sc, zp], [f"{tag}::q"]))
        nodes.append(helper.make_node("DequantizeLinear", [f"{tag}::q", sc, zp], [f"{tag}::dq"]))
        return f"{tag}::dq"

    mac_inputs = list(L.node.inputs)
    mac_inputs[0] = activation_in(L.x_q, "x")
    if L.b_int:
        mac_inputs[1] = activation_in(L.b_q, "b")
    for idx in ([] if L.b_int else [1]) + ([2] if len(L.node.inputs) > 2 and L.node.inputs[2] else []):
        dq = g.producer.get(L.node.inputs[idx])
        if dq is not None:  # the weight's / bias' DequantizeLinear and its constants, as in the model
            nodes.append(to_node_proto(dq))
            inits.extend(numpy_helper.from_array(np.asarray(g.constants[i]), i) for i in dq.inputs if i)
        else:
            inits.append(numpy_helper.from_array(np.asarray(g.constants[L.node.inputs[idx]]), L.node.inputs[idx]))
    proto = to_node_proto(L.node)
    mac = helper.make_node(L.node.op_type, mac_inputs, ["mac::y"], name=L.node.name)
    mac.attribute.extend(proto.attribute)
    nodes.append(mac)
    ys, yz, shift = params(L.y_q, "y")
    nodes.append(helper.make_node("QuantizeLinear", ["mac::y", ys, yz], ["y::q"]))
    # ONNX Runtime does not fuse a pattern whose Q output is a graph output: read the integers through a
    # DequantizeLinear with scale 1 and zero point 0 (exact in float32 for 8- and 16-bit values)
    out_zero = np.zeros((), dtype=np.uint8 if shift else np.asarray(L.y_q.zero_point).dtype)
    inits += [numpy_helper.from_array(np.asarray(1.0, dtype=np.float32), "one"),
              numpy_helper.from_array(out_zero, "zero")]
    nodes.append(helper.make_node("DequantizeLinear", ["y::q", "one", "zero"], ["y::read"]))
    graph = helper.make_graph(nodes, "node", inputs, [helper.make_tensor_value_info("y::read", _elem_type(np.float32),
                                                                                    None)], initializer=inits)
    opsets = [helper.make_opsetid(o.domain, max(o.version, 13) if o.domain in ("", "ai.onnx") else o.version)
              for o in g.model.opset_import]  # a per-axis DequantizeLinear (a lowered QOperator layer) needs 13
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = g.model.ir_version
    return model, shift


def _as_float(q: np.ndarray, p) -> np.ndarray:
    """Floats that QuantizeLinear maps back exactly onto ``q`` (multiples of the scale)."""
    zp = np.asarray(p.zero_point).astype(np.int64).reshape(())
    return ((q.astype(np.int64) - zp).astype(np.float32) * np.float32(p.scale.reshape(-1)[0])).astype(np.float32)


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


def node_level_check(path, feeds: list[dict], hw="onnxruntime-host", lowered: bool = False) -> list[NodeCheck]:
    """Every QDQ integer layer of the model at ``path``, compared with ONNX Runtime on the same inputs.

    The inputs of each layer are the integers the whole model produces on ``feeds`` (run by ONNX Runtime
    with those tensors exposed); the layer's QDQ pattern is then run alone by ONNX Runtime (default
    optimizations fuse it into an integer kernel) and by accelsim under ``hw``.
    """
    import dataclasses

    import onnx
    from onnx import helper

    from accelsim.onnx.specialize import specialize

    g = specialize(OnnxGraph(path), feeds)   # the layers inside the If branches the inputs take, too
    # a QDQ model: on x86 ONNX Runtime runs its int8 activations as uint8 (HardwareProfile.qdq_s8_to_u8)
    profile = dataclasses.replace(load_profile(hw), qdq_s8_to_u8=True)
    model = onnx.ModelProto()
    model.CopyFrom(g.model)
    wanted = {}
    from accelsim.onnx.lower import lowered_from
    from accelsim.ops import run_node

    # a lowered ConvTranspose's input: the model's integers with zero points inserted (accelsim.onnx.conv_transpose)
    chains = {}
    for n in g.nodes:
        if n.key.endswith("/insert"):
            chain = [m for m in g.nodes if m.key.startswith(n.key)]
            chains[chain[-1].outputs[0]] = (n.inputs[0], chain)

    def source(tensor):  # a 1-D conv's input as the model has it (accelsim runs it as a 2-D conv of height 1)
        return chains[tensor][0] if tensor in chains else lowered_from(tensor) or tensor

    def read(outs, tensor):
        v = outs[source(tensor)]
        if tensor in chains:
            env = {**g.constants, chains[tensor][0]: v}
            for m in chains[tensor][1]:
                env.update(zip(m.outputs, run_node(m, [env[i] if i else None for i in m.inputs], g.graph.opset)))
            return env[tensor]
        return np.expand_dims(v, 2) if lowered_from(tensor) else v

    # the layers ONNX Runtime runs as integer kernels: its contract's integer_ops (a ConvTranspose lowered to a
    # Gemm stays float32 in ONNX Runtime, so it is no integer node to compare)
    # ``lowered``: compare those too, in the form accelsim runs them (ONNX Runtime's integer Conv of a lowered
    # ConvTranspose checks accelsim.onnx.conv_transpose's rewrite in integers: the same exact sums)
    layers = [L for L in g.layers if L.y_int is not None
              and (lowered or g.graph.lowered_ops.get(L.node.key, L.node.op_type) in profile.integer_ops)]
    for L in layers:
        wanted[source(L.x_int)] = L.x_q.zero_point.dtype
        if L.b_int:
            wanted[source(L.b_int)] = L.b_q.zero_point.dtype
    existing = {o.name for o in model.graph.output}
    for name, dtype in wanted.items():
        if name not in existing:
            model.graph.output.append(helper.make_tensor_value_info(name, _elem_type(dtype), None))
    whole = _session(model.SerializeToString())
    names = [o.name for o in whole.get_outputs()]
    fused = fused_in_model(path)
    checks = []
    for L in layers:
        single, shift = _node_model(g, L, u8=True)
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
        for feed in feeds:
            outs = dict(zip(names, whole.run(None, feed)))
            env = {L.x_int: read(outs, L.x_int)}
            floats = {"x::float": _as_float(env[L.x_int], L.x_q)}
            if L.b_int:
                env[L.b_int] = read(outs, L.b_int)
                floats["b::float"] = _as_float(env[L.b_int], L.b_q)
            theirs = np.rint(sess.run(None, floats)[0]).astype(np.int64) - shift
            layer(env)
            ours = env[L.y_int]
            diff = np.abs(ours.astype(np.int64) - theirs)
            c.elements += theirs.size
            c.mismatches += int(np.count_nonzero(diff))
            c.max_abs_diff = max(c.max_abs_diff, int(diff.max(initial=0)))
        checks.append(c)
    return checks
