"""Pooling ops of YAML workloads (maxpool, avgpool, global_avgpool, flatten) against ONNX Runtime's own
MaxPool / AveragePool / GlobalAveragePool / Flatten (the semantics docs/workloads.md promises)."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from accelsim.numerics.floatops import float_op, pool2d  # noqa: E402
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent, conv_out_size  # noqa: E402

_Q = LayerQuant(weights=QuantIntent(), activations=QuantIntent())


def _ort(op: str, x: np.ndarray, **attrs) -> np.ndarray:
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    g = helper.make_graph([node], "p", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]


CASES = [((2, 3, 9, 9), (2, 2), (2, 2), (0, 0, 0, 0)), ((1, 4, 8, 7), (3, 3), (2, 2), (1, 1, 1, 1)),
         ((1, 2, 10, 10), (3, 2), (1, 2), (1, 0, 2, 1)), ((3, 1, 5, 6), (5, 5), (1, 1), (2, 2, 2, 2)),
         ((1, 8, 7, 7), (7, 7), (7, 7), (0, 0, 0, 0))]


@pytest.mark.parametrize("shape,kernel,stride,pads", CASES)
@pytest.mark.parametrize("op", ["maxpool", "avgpool"])
def test_pool_matches_onnxruntime(op, shape, kernel, stride, pads):
    x = np.random.default_rng(hash((op, shape)) % 2**32).normal(0, 1, shape).astype(np.float32)
    n, c, h, w = shape
    ho = conv_out_size(h, kernel[0], stride[0], pads[0], pads[2], 1)
    wo = conv_out_size(w, kernel[1], stride[1], pads[1], pads[3], 1)
    layer = Layer(name="p", op=op, inputs=("x",), in_shapes=(shape,), out_shape=(n, c, ho, wo), quant=_Q,
                  kernel=kernel, stride=stride, padding=pads)
    ours = float_op(layer, [x])
    theirs = _ort("MaxPool" if op == "maxpool" else "AveragePool", x, kernel_shape=list(kernel), strides=list(stride),
                  pads=list(pads))
    assert ours.shape == theirs.shape
    if op == "maxpool":
        assert np.array_equal(ours.astype(np.float32), theirs)  # a max is exact
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)  # float32 sums in ORT, float64 here


def test_maxpool_on_codes_is_exact():
    """maxpool commutes with a monotone quantizer: pooling the int8 codes equals quantizing the pooled floats."""
    rng = np.random.default_rng(7)
    codes = rng.integers(-128, 128, (2, 3, 8, 8)).astype(np.int8)
    layer = Layer(name="p", op="maxpool", inputs=("x",), in_shapes=(codes.shape,), out_shape=(2, 3, 4, 4), quant=_Q,
                  kernel=(3, 3), stride=(2, 2), padding=(1, 1, 1, 1))
    scale, zp = 0.05, 3
    pooled_codes = pool2d(codes, layer)
    assert pooled_codes.dtype == np.int8
    pooled_real = pool2d((codes.astype(np.float64) - zp) * scale, layer)
    assert np.array_equal(pooled_codes, np.rint(pooled_real / scale + zp).astype(np.int8))


def test_global_avgpool_and_flatten_match_onnxruntime():
    x = np.random.default_rng(3).normal(0, 1, (2, 5, 6, 4)).astype(np.float32)
    gap = Layer(name="g", op="global_avgpool", inputs=("x",), in_shapes=(x.shape,), out_shape=(2, 5, 1, 1), quant=_Q)
    np.testing.assert_allclose(float_op(gap, [x]), _ort("GlobalAveragePool", x), rtol=1e-5, atol=1e-6)
    flat = Layer(name="f", op="flatten", inputs=("x",), in_shapes=(x.shape,), out_shape=(2, 120), quant=_Q)
    assert np.array_equal(float_op(flat, [x]).astype(np.float32), _ort("Flatten", x, axis=1))


def test_cnn_workload_with_pooling_runs(tmp_path):
    """A hand-written CNN classifier (conv, maxpool, avgpool, global_avgpool, flatten, linear): every layer has
    its row, pooling is timed on the vector unit, flatten costs nothing."""
    from accelsim.engine import run
    from accelsim.hardware import load_profile
    from accelsim.loading import load_workload

    (tmp_path / "cnn.yaml").write_text("""\
name: cnn
inputs: {x: {shape: [2, 3, 16, 16]}}
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel: 3, padding: 1, activation: relu}
  - {name: pool1, op: maxpool, kernel: 2}
  - {name: pool2, op: avgpool, kernel: 3, stride: 2, padding: 1}
  - {name: gap, op: global_avgpool}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out_features: 10}
""")
    w = load_workload(tmp_path / "cnn.yaml")
    assert [layer.out_shape for layer in w.layers] == [(2, 8, 16, 16), (2, 8, 8, 8), (2, 8, 4, 4), (2, 8, 1, 1),
                                                       (2, 8), (2, 10)]
    r = run(w, load_profile("edge-npu-pot16"))
    f = r.frame.set_index("layer")
    assert f.loc["flat", "energy_pj"] == f.loc["flat", "energy_static_pj"] and f.loc["flat", "dram_bytes"] == 0
    assert f.loc["pool1", "compute_cycles"] > 0 and not f.loc["pool1", "ran_in_float"]
    assert f.loc["pool2", "ran_in_float"] and f.loc["gap", "ran_in_float"]
    assert f.loc["fc", "sqnr_db"] > 20
