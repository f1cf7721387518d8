"""The hand-written kernels of accelsim.ops against ONNX Runtime on the same one-node models (the float output a
whole model must match): attribute cases real models use (Resize modes, ConvTranspose strides / pads /
output_padding / groups / output_shape, pooling with ceil_mode and count_include_pad, BatchNormalization,
HardSigmoid, HardSwish), to float32 rounding. (onnx.reference differs from ONNX Runtime where the spec leaves
room: align_corners with a fractional in x scale, ConvTranspose with groups; ONNX Runtime is the oracle here.)"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper  # noqa: E402

from accelsim.graph.ir import Node  # noqa: E402
from accelsim.ops import REGISTRY, lookup, run_node  # noqa: E402
from accelsim.ops.reference import run_reference  # noqa: E402


def _both(op, inputs: dict, opset=18, **attrs):
    names = list(inputs)
    node = Node(name="n", op_type=op, inputs=tuple(names), outputs=("y",), attrs=attrs)
    values = [None if v is None else v for v in inputs.values()]
    ours = run_node(node, values, opset)[0]
    proto = helper.make_node(op, [n if inputs[n] is not None else "" for n in names], ["y"], **attrs)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for n, v in inputs.items() if v is not None]
    g = helper.make_graph([proto], "g", graph_inputs, [helper.make_tensor_value_info(
        "y", helper.np_dtype_to_tensor_dtype(next(iter(inputs.values())).dtype), None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, {n: v for n, v in inputs.items() if v is not None})[0]
    return ours, theirs


def _close(ours, theirs, rtol=1e-5, atol=1e-5):
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


rng = np.random.default_rng(0)


@pytest.mark.parametrize("mode,ctm,nearest", [
    ("nearest", "asymmetric", "floor"), ("nearest", "half_pixel", "round_prefer_floor"),
    ("nearest", "align_corners", "round_prefer_ceil"), ("nearest", "tf_half_pixel_for_nn", "ceil"),
    ("linear", "half_pixel", "round_prefer_floor"), ("linear", "align_corners", "floor"),
    ("linear", "asymmetric", "floor"), ("linear", "pytorch_half_pixel", "floor")])
@pytest.mark.parametrize("how", ["scales", "sizes", "down"])
def test_resize(mode, ctm, nearest, how):
    x = rng.standard_normal((1, 3, 5, 7)).astype(np.float32)
    if ctm == "tf_half_pixel_for_nn" and how == "sizes":
        pytest.skip("opset 11's Resize takes sizes only with an empty scales input")
    scales = np.array([1, 1, 2, 3], np.float32) if how == "scales" else None
    sizes = np.array([1, 3, 9, 4], np.int64) if how == "sizes" else None
    if how == "down":
        scales = np.array([1, 1, 0.6, 0.5], np.float32)
    roi = np.zeros(0, np.float32) if ctm == "tf_half_pixel_for_nn" else None  # opset 11: roi is not optional
    ours, theirs = _both("Resize", {"x": x, "roi": roi, "scales": scales, "sizes": sizes},
                         opset=11 if ctm == "tf_half_pixel_for_nn" else 18, mode=mode,
                         coordinate_transformation_mode=ctm, nearest_mode=nearest)
    _close(ours, theirs)


@pytest.mark.parametrize("strides,pads,out_pad,group,dil", [
    ((2, 2), (0, 0, 0, 0), (0, 0), 1, (1, 1)), ((2, 2), (1, 1, 1, 1), (1, 1), 1, (1, 1)),
    ((1, 1), (0, 1, 2, 0), (0, 0), 2, (1, 1)), ((3, 2), (1, 0, 0, 1), (2, 1), 1, (2, 1)),
    ((2, 2), (0, 0, 0, 0), (0, 0), 4, (1, 1))])
def test_conv_transpose(strides, pads, out_pad, group, dil):
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((4, 6 // 2 if group == 2 else 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal((w.shape[1] * group,)).astype(np.float32)
    ours, theirs = _both("ConvTranspose", {"x": x, "w": w, "b": b}, strides=list(strides), pads=list(pads),
                         output_padding=list(out_pad), group=group, dilations=list(dil))
    _close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_conv_transpose_output_shape_and_1d():
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    ours, theirs = _both("ConvTranspose", {"x": x, "w": w}, strides=[2, 2], output_shape=[9, 8])
    _close(ours, theirs, rtol=1e-4, atol=1e-4)
    x1 = rng.standard_normal((2, 3, 7)).astype(np.float32)
    w1 = rng.standard_normal((3, 5, 4)).astype(np.float32)
    ours, theirs = _both("ConvTranspose", {"x": x1, "w": w1}, strides=[3], pads=[1, 2])
    _close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("kernel,strides,pads,ceil,cip", [
    ((3, 3), (2, 2), (1, 1, 1, 1), 0, 0), ((3, 3), (2, 2), (1, 1, 1, 1), 1, 0), ((3, 3), (2, 2), (1, 1, 1, 1), 1, 1),
    ((2, 2), (2, 2), (0, 0, 0, 0), 1, 0), ((3, 2), (1, 2), (0, 1, 2, 0), 0, 1), ((2, 2), (1, 1), (0, 0, 0, 0), 0, 0)])
def test_pool(op, kernel, strides, pads, ceil, cip):
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=list(pads), ceil_mode=ceil)
    if op == "AveragePool":
        attrs["count_include_pad"] = cip
    ours, theirs = _both(op, {"x": x}, **attrs)
    _close(ours, theirs)


def test_pool_1d_and_auto_pad():
    x = rng.standard_normal((1, 2, 9)).astype(np.float32)
    _close(*_both("MaxPool", {"x": x}, kernel_shape=[3], strides=[2], pads=[1, 1]))
    x2 = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    _close(*_both("AveragePool", {"x": x2}, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"))


@pytest.mark.parametrize("op,attrs", [("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}), ("HardSwish", {}),
                                      ("LeakyRelu", {"alpha": 0.1}), ("Sigmoid", {}), ("Erf", {}), ("Tanh", {})])
def test_activations(op, attrs):
    x = (rng.standard_normal((2, 3, 4, 5)) * 4).astype(np.float32)
    _close(*_both(op, {"x": x}, **attrs), rtol=1e-6, atol=1e-6)


def test_batch_norm_and_conv_variants():
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    p = [rng.standard_normal(4).astype(np.float32) for _ in range(3)] + [rng.uniform(0.5, 2, 4).astype(np.float32)]
    _close(*_both("BatchNormalization", dict(zip(["x", "s", "b", "m", "v"], [x, *p])), epsilon=1e-3))
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    _close(*_both("Conv", {"x": x, "w": w}, group=2, auto_pad="SAME_UPPER", strides=[2, 2]), rtol=1e-4, atol=1e-4)
    x1 = rng.standard_normal((1, 4, 11)).astype(np.float32)
    w1 = rng.standard_normal((3, 4, 3)).astype(np.float32)
    _close(*_both("Conv", {"x": x1, "w": w1}, pads=[1, 2], strides=[2], dilations=[2]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax"])
def test_reductions_with_axes_as_input(op):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    _close(*_both(op, {"x": x, "axes": np.array([1, -1], np.int64)}, keepdims=0))
    _close(*_both(op, {"x": x}, opset=11, axes=[0]))


def test_softmax_before_opset_13_flattens_at_the_axis():
    """Softmax's meaning changed in opset 13: before it, the input was coerced to 2-D at ``axis``."""
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        _close(*_both(op, {"x": x}, opset=11, axis=1))
        _close(*_both(op, {"x": x}, opset=11))
        _close(*_both(op, {"x": x}, opset=13, axis=1))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_opset_10_takes_scales(mode):
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    _close(*_both("Resize", {"x": x, "scales": np.array([1, 1, 2, 1.5], np.float32)}, opset=10, mode=mode))


def test_every_standard_op_has_a_definition_and_a_cost_class():
    from onnx import defs

    names = {s.name for s in defs.get_all_schemas_with_history() if s.domain == ""}
    missing = [n for n in names if lookup(n) is None]
    assert not missing
    assert all(lookup(n).cost in ("layout", "vector", "reduce", "window", "mac") for n in names)
    hand = [n for n in REGISTRY if not n.startswith("accelsim.")]
    assert len(hand) > 60 and all(n in names for n in hand)


def test_a_reference_op_runs_through_onnx_reference():
    x = (rng.standard_normal((2, 5)) * 3).astype(np.float32)
    node = Node(name="n", op_type="Softplus", inputs=("x",), outputs=("y",))
    assert lookup("Softplus").source == "onnx.reference"
    np.testing.assert_allclose(run_node(node, [x], 17)[0], np.log1p(np.exp(x)), rtol=1e-6)
    assert run_reference(node, [x], 17)[0].dtype == np.float32


@pytest.mark.parametrize("dtype,zp", [(np.uint8, 131), (np.int8, -7), (np.int16, 300), (np.uint16, 0)])
def test_quantize_linear_kernel_equals_its_numpy_twin(dtype, zp):
    """Ties (x / s exactly k + 0.5), saturation at both ends, NaN-free extremes: bit for bit."""
    from accelsim.ops.quant import quantize_linear, quantize_linear_numpy

    s = np.float32(0.05)
    ties = (np.arange(-3000, 3000, dtype=np.float32) + np.float32(0.5)) * s
    x = np.concatenate([ties, rng.standard_normal(5000).astype(np.float32) * 40,
                        np.array([1e30, -1e30, 0, -0.0], np.float32)])
    z = np.asarray(zp, dtype=dtype)
    assert np.array_equal(quantize_linear(x, s, z), quantize_linear_numpy(x, s, z))
    assert quantize_linear(x, s, z).dtype == dtype


def test_max_pool_of_integer_codes():
    """QOperator models max-pool the uint8 codes directly: padding is the type's minimum, not -inf."""
    x = rng.integers(0, 256, (1, 3, 7, 7)).astype(np.uint8)
    ours, theirs = _both("MaxPool", {"x": x}, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    assert ours.dtype == theirs.dtype == np.uint8 and np.array_equal(ours, theirs)
