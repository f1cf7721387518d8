"""Build single-node ONNX models in memory and run them with ONNX Runtime (the oracle)."""

from __future__ import annotations

import numpy as np

onnx = __import__("pytest").importorskip("onnx")
ort = __import__("pytest").importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

_TP = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
       np.dtype(np.int32): TensorProto.INT32, np.dtype(np.float32): TensorProto.FLOAT}


def _session(nodes, inputs, outputs, initializers, opset=21):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _const(name, value, dtype):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def qlinearmatmul(x, w, x_scale, x_zp, w_scale, w_zp, y_scale, y_zp, *, weights_const=True):
    """ONNX QLinearMatMul(x (M,K), w (K,N)); zero points carry their dtypes."""
    y_dtype = np.asarray(y_zp).dtype
    inits = [_const("xs", x_scale, np.float32), _const("xz", x_zp, x.dtype),
             _const("ws", w_scale, np.float32), _const("wz", w_zp, w.dtype),
             _const("ys", y_scale, np.float32), _const("yz", y_zp, y_dtype)]
    inputs = [helper.make_tensor_value_info("x", _TP[x.dtype], list(x.shape))]
    feeds = {"x": x}
    if weights_const:
        inits.append(numpy_helper.from_array(w, "w"))
    else:
        inputs.append(helper.make_tensor_value_info("w", _TP[w.dtype], list(w.shape)))
        feeds["w"] = w
    node = helper.make_node("QLinearMatMul", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    out = helper.make_tensor_value_info("y", _TP[y_dtype], None)
    return _session([node], inputs, [out], inits).run(None, feeds)[0]


def qlinearconv(x, w, bias, x_scale, x_zp, w_scale, w_zp, y_scale, y_zp, *, strides, pads, dilations, group):
    y_dtype = np.asarray(y_zp).dtype
    inits = [_const("xs", x_scale, np.float32), _const("xz", x_zp, x.dtype),
             numpy_helper.from_array(w, "w"), _const("ws", w_scale, np.float32), _const("wz", w_zp, w.dtype),
             _const("ys", y_scale, np.float32), _const("yz", y_zp, y_dtype)]
    names = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.asarray(bias, dtype=np.int32), "b"))
        names.append("b")
    node = helper.make_node("QLinearConv", names, ["y"], strides=list(strides), pads=list(pads),
                            dilations=list(dilations), group=group, kernel_shape=list(w.shape[2:]))
    inputs = [helper.make_tensor_value_info("x", _TP[x.dtype], list(x.shape))]
    out = helper.make_tensor_value_info("y", _TP[y_dtype], None)
    return _session([node], inputs, [out], inits).run(None, {"x": x})[0]


def matmulinteger(x, w, x_zp, w_zp):
    inits = [_const("xz", x_zp, x.dtype), _const("wz", w_zp, w.dtype), numpy_helper.from_array(w, "w")]
    node = helper.make_node("MatMulInteger", ["x", "w", "xz", "wz"], ["y"])
    inputs = [helper.make_tensor_value_info("x", _TP[x.dtype], list(x.shape))]
    out = helper.make_tensor_value_info("y", TensorProto.INT32, None)
    return _session([node], inputs, [out], inits).run(None, {"x": x})[0]


def convinteger(x, w, x_zp, w_zp, *, strides, pads, dilations, group):
    inits = [_const("xz", x_zp, x.dtype), _const("wz", w_zp, w.dtype), numpy_helper.from_array(w, "w")]
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], strides=list(strides), pads=list(pads),
                            dilations=list(dilations), group=group)
    inputs = [helper.make_tensor_value_info("x", _TP[x.dtype], list(x.shape))]
    out = helper.make_tensor_value_info("y", TensorProto.INT32, None)
    return _session([node], inputs, [out], inits).run(None, {"x": x})[0]
