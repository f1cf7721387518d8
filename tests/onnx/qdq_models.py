"""Small QDQ models built in memory (the format onnxruntime.quantization.quantize_static writes)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def _c(name, value, dtype):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def qdq_mlp_conv(seed: int = 0, path=None, per_channel: bool = True, act=np.uint8):
    """x (1, 3, 8, 8) -> Q/DQ -> Conv (bias) -> Relu -> Q/DQ -> Flatten -> Q/DQ -> Gemm (transB, bias) -> Q/DQ
    -> MatMul (weights) -> Q/DQ -> MatMul with itself transposed (two activations) -> Q/DQ -> y."""
    rng = np.random.default_rng(seed)
    az = (lambda: act(rng.integers(100, 156))) if act == np.uint8 else (lambda: act(rng.integers(-20, 20)))
    nodes, inits = [], []

    def qdq(src, name, scale, zp):
        inits.extend([_c(f"{name}_s", scale, np.float32), _c(f"{name}_z", zp, act)])
        nodes.append(helper.make_node("QuantizeLinear", [src, f"{name}_s", f"{name}_z"], [f"{name}_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"]))
        return f"{name}_dq"

    def weight(name, w, axis):
        amax = np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis)) if per_channel else np.abs(w).max()
        s = (amax / 127).astype(np.float32)
        shape = [1] * w.ndim
        if per_channel:
            shape[axis] = -1
        q = np.clip(np.rint(w / s.reshape(shape)), -127, 127).astype(np.int8)
        inits.extend([numpy_helper.from_array(q, f"{name}_wq"), _c(f"{name}_ws", s, np.float32),
                      _c(f"{name}_wz", np.zeros(np.shape(s), np.int8), np.int8)])
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_wq", f"{name}_ws", f"{name}_wz"], [f"{name}_w"],
                                      axis=axis))
        return f"{name}_w", s

    def bias(name, b, x_scale, w_scale):
        s = (np.float32(x_scale) * np.asarray(w_scale, np.float32)).astype(np.float32)
        q = np.rint(b / s).astype(np.int32)
        inits.extend([numpy_helper.from_array(q, f"{name}_bq"), _c(f"{name}_bs", s, np.float32),
                      _c(f"{name}_bz", np.zeros(np.shape(s), np.int32), np.int32)])
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_bq", f"{name}_bs", f"{name}_bz"], [f"{name}_b"],
                                      axis=0))
        return f"{name}_b"

    xs = [np.float32(0.02), np.float32(0.03), np.float32(0.05), np.float32(0.04), np.float32(0.06), np.float32(0.5)]
    a = qdq("x", "in", xs[0], az())
    wc, sc = weight("conv", rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), 0)
    bc = bias("conv", rng.normal(0, 0.1, 4).astype(np.float32), xs[0], sc)
    nodes.append(helper.make_node("Conv", [a, wc, bc], ["conv_y"], pads=[1, 1, 1, 1], name="conv"))
    c = qdq("conv_y", "conv_o", xs[1], az())
    nodes.append(helper.make_node("Relu", [c], ["relu_y"], name="relu"))
    r = qdq("relu_y", "relu_o", xs[1], az())
    nodes.append(helper.make_node("Flatten", [r], ["flat"], axis=1, name="flatten"))
    f = qdq("flat", "flat_o", xs[1], az())
    wg, sg = weight("gemm", rng.normal(0, 0.1, (32, 256)).astype(np.float32), 0)
    bg = bias("gemm", rng.normal(0, 0.1, 32).astype(np.float32), xs[1], sg)
    nodes.append(helper.make_node("Gemm", [f, wg, bg], ["gemm_y"], transB=1, name="gemm"))
    gq = qdq("gemm_y", "gemm_o", xs[2], az())
    wm, _ = weight("mm", rng.normal(0, 0.2, (32, 16)).astype(np.float32), 1)
    nodes.append(helper.make_node("MatMul", [gq, wm], ["mm_y"], name="matmul_w"))
    m = qdq("mm_y", "mm_o", xs[3], az())
    nodes.append(helper.make_node("Transpose", [m], ["mt"], perm=[1, 0], name="transpose"))
    t = qdq("mt", "mt_o", xs[3], az())
    nodes.append(helper.make_node("MatMul", [t, m], ["aa_y"], name="matmul_aa"))
    qdq("aa_y", "aa_o", xs[5], az())
    nodes.append(helper.make_node("Identity", ["aa_o_dq"], ["y"], name="out"))
    graph = helper.make_graph(nodes, "qdq_small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16, 16])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if path is not None:
        import onnx
        onnx.save(model, str(path))
    return model


def quantize_records(float_path, out_path, records: list[dict], fmt: str = "QDQ", **kw) -> None:
    """onnxruntime.quantization.quantize_static of ``float_path`` calibrated on ``records`` (dicts of model inputs),
    in the QDQ or QOperator format; ``kw``: quantize_static's other options (activation_type, ...)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(records)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(float_path), str(out_path), Reader(),
                    quant_format=QuantFormat.QDQ if fmt == "QDQ" else QuantFormat.QOperator, **kw)
