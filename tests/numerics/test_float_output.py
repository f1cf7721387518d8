"""The float epilogue (requant.outputs: float) and run-time activation scales, against their derivation and
against ONNX Runtime's own kernels (MatMulIntegerToFloat, DynamicQuantizeLinear): tolerance 0."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.numerics.api import qlinear_float_output

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _derivation(x, w, zx, zw, sx, sw, bias):
    acc = (x.astype(np.int64) - np.asarray(zx, dtype=np.int64).reshape(-1, 1)) @ (w.astype(np.int64) - zw)
    mult = (np.asarray(sx, np.float32).reshape(-1, 1) * np.asarray(sw, np.float32).reshape(1, -1)).astype(np.float32)
    y = acc.astype(np.float32) * mult
    return y if bias is None else y + bias.astype(np.float32)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 80), n=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       per_row=st.booleans(), with_bias=st.booleans())
def test_float_output_equals_its_derivation(m, k, n, seed, per_row, with_bias):
    r = np.random.default_rng(seed)
    x = r.integers(-127, 128, (m, k)).astype(np.int8)
    w = r.integers(-127, 128, (k, n)).astype(np.int8)
    sx = r.uniform(1e-3, 0.2, m if per_row else 1)
    sw = r.uniform(1e-3, 0.2, n)
    bias = r.normal(size=n).astype(np.float32) if with_bias else None
    y, stats = qlinear_float_output(x, w, bias, x_scale=sx if per_row else float(sx[0]), x_zero_point=0, w_scale=sw,
                                    w_zero_point=0, hw="tensorcore-int8")
    assert y.dtype == np.float32
    assert np.array_equal(y, _derivation(x, w, 0, 0, sx, sw, bias))
    assert stats.overflow_events == 0


def test_per_row_zero_points_equal_the_derivation():
    r = np.random.default_rng(3)
    x = r.integers(0, 256, (6, 40)).astype(np.uint8)
    w = r.integers(-128, 128, (40, 5)).astype(np.int8)
    zx = r.integers(0, 256, 6)
    sx = r.uniform(0.01, 0.1, 6)
    import dataclasses

    from accelsim.hardware import load_profile

    ort_cpu = load_profile("onnxruntime-cpu")  # asymmetric uint8, with per-token scales added for the test
    hw = dataclasses.replace(ort_cpu, requant=dataclasses.replace(ort_cpu.requant,
                                                                  dynamic_activations=("per_tensor", "per_token")))
    y, _ = qlinear_float_output(x, w, None, x_scale=sx, x_zero_point=zx.astype(np.uint8), w_scale=0.02,
                                w_zero_point=0, hw=hw)
    assert np.array_equal(y, _derivation(x, w, zx, 0, sx, np.full(5, 0.02), None))


def test_contracts_without_the_capability_refuse():
    x = np.zeros((2, 4), np.int8)
    w = np.zeros((4, 3), np.int8)
    with pytest.raises(ValueError, match="no float epilogue"):
        qlinear_float_output(x, w, x_scale=0.1, x_zero_point=0, w_scale=0.1, w_zero_point=0, hw="tflite-int8")
    with pytest.raises(ValueError, match="per-token"):
        qlinear_float_output(x.astype(np.uint8), w, x_scale=[0.1, 0.2], x_zero_point=0, w_scale=0.1, w_zero_point=0,
                             hw="onnxruntime-cpu")


def _session(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def dynamic_case(seed: int):
    """A DynamicQuantizeLinear -> MatMulIntegerToFloat case: (x float32, w int8, w scale, bias)."""
    r = np.random.default_rng(seed)
    m, k, n = int(r.integers(1, 20)), int(r.integers(1, 200)), int(r.integers(1, 40))
    x = (r.normal(size=(m, k)) * r.uniform(0.1, 10) + r.uniform(-2, 2)).astype(np.float32)
    w = r.integers(-128, 128, (k, n)).astype(np.int8)
    sw = r.uniform(1e-3, 0.05, n).astype(np.float32) if seed % 2 else np.float32(r.uniform(1e-3, 0.05))
    bias = r.normal(size=n).astype(np.float32)
    return x, w, sw, bias


def dynamic_ort(x, w, sw, bias):
    """ONNX Runtime's (Y, Xq, x scale, x zero point) of the case."""
    m, k = x.shape
    n = w.shape[1]
    inits = [numpy_helper.from_array(w, "B"), numpy_helper.from_array(np.asarray(sw, np.float32), "bs"),
             numpy_helper.from_array(np.zeros(np.shape(sw), np.int8), "bzp"), numpy_helper.from_array(bias, "bias")]
    nodes = [helper.make_node("DynamicQuantizeLinear", ["X"], ["Xq", "xs", "xzp"]),
             helper.make_node("MatMulIntegerToFloat", ["Xq", "B", "xs", "bs", "xzp", "bzp", "bias"], ["Y"],
                              domain="com.microsoft")]
    s = _session(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [m, k])],
                 [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n]),
                  helper.make_tensor_value_info("Xq", TensorProto.UINT8, [m, k]),
                  helper.make_tensor_value_info("xs", TensorProto.FLOAT, []),
                  helper.make_tensor_value_info("xzp", TensorProto.UINT8, [])], inits)
    return s.run(None, {"X": x})


def dynamic_ours(x, w, sw, bias, hw):
    """accelsim's (Y, Xq, x scale, x zero point): the run-time quantizer and float epilogue a recipe's dynamic
    per-tensor step builds (asymmetric uint8 activations, as on ONNX Runtime)."""
    from accelsim.graph.contract import ContractLayer, dynamic_quantize

    class _Plan:
        class activations:
            type_name, symmetric, dynamic, granularity = "uint8", False, True, "per_tensor"

    p = ContractLayer._dynamic_params(type("L", (), {"plan": _Plan, "dynamic": "per_tensor"})(), x)
    codes = dynamic_quantize(x, p, "uint8")
    y, _ = qlinear_float_output(codes, w, bias, x_scale=p.scale.reshape(-1)[0], x_zero_point=p.zero_point.reshape(-1),
                                w_scale=sw, w_zero_point=0, hw=hw)
    return y, codes, p.scale.reshape(-1)[0], p.zero_point.reshape(-1)[0]


@pytest.mark.parametrize("seed", range(12))
def test_dynamic_quantize_and_float_output_match_onnxruntime(seed):
    """DynamicQuantizeLinear -> MatMulIntegerToFloat (ONNX Runtime's dynamic int8 MatMul) against accelsim's
    run-time quantizer and float epilogue under this host's ONNX Runtime contract (the other kind of x86 host:
    benchmarks/ort_host_check.py under qemu)."""
    case = dynamic_case(seed)
    y_ort, xq_ort, xs_ort, xzp_ort = dynamic_ort(*case)
    y, codes, xs, xzp = dynamic_ours(*case, hw="onnxruntime-host")
    assert float(xs) == float(xs_ort) and int(xzp) == int(xzp_ort)
    assert np.array_equal(codes, xq_ort)
    assert np.array_equal(y, y_ort)
