"""Rewrites at import (accelsim.onnx.lower, accelsim.onnx.conv_transpose): stride-equals-kernel ConvTranspose as
Gemm + depth-to-space, exact in float; any other QDQ ConvTranspose as the Conv over its zero-point-inserted input;
an integer layer on contracts that list ConvTranspose in integer_ops, float between its Q/DQ on ONNX Runtime's
(which has no integer ConvTranspose)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.cli import main  # noqa: E402
from accelsim.graph.execute import run_graph  # noqa: E402
from accelsim.onnx.conformance import node_level_check  # noqa: E402
from accelsim.onnx.graph import OnnxGraph  # noqa: E402
from tests.onnx.qdq_models import quantize_records  # noqa: E402


def _model(path, pads=(0, 0, 0, 0), kernel=2, seed=0):
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, kernel, kernel)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, 3).astype(np.float32), "b")
    wc = numpy_helper.from_array(rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32), "wc")
    nodes = [helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("ConvTranspose", ["r", "w", "b"], ["y"], strides=[kernel, kernel], pads=list(pads),
                              name="up")]
    g = helper.make_graph(nodes, "ct", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, None, None])],
                          initializer=[w, b, wc])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("pads,kernel", [((0, 0, 0, 0), 2), ((1, 0, 0, 1), 2), ((0, 0, 0, 0), 3)])
def test_conv_transpose_lowered_equals_onnxruntime(tmp_path, pads, kernel):
    _model(tmp_path / "m.onnx", pads, kernel)
    g = OnnxGraph(tmp_path / "m.onnx")
    assert dict(g.graph.lowered_ops) == {"up": "ConvTranspose"}
    assert {L.name: L.kind for L in g.layers}["up"] == "linear"
    x = np.random.default_rng(1).normal(0, 1, (1, 2, 5, 7)).astype(np.float32)
    ours = run_graph(g, {"x": x})["y"]
    theirs = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})[0]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_overlapping_float_conv_transpose_stays_as_it_is(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (2, 3, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], name="up")], "ct",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, None, None])],
                          initializer=[w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "o.onnx"))
    assert not OnnxGraph(tmp_path / "o.onnx").graph.lowered_ops


def _up_rows(tmp_path, capsys) -> dict:
    """The QDQ quantization of tmp_path/m.onnx run on ONNX Runtime's CPU contract and on tensorcore-int8: the row
    of its ConvTranspose 'up' on each (each run's end-to-end cosine above 0.99)."""
    rng = np.random.default_rng(3)
    data = [rng.normal(0, 1, (1, 2, 5, 7)).astype(np.float32) for _ in range(4)]
    quantize_records(str(tmp_path / "m.onnx"), str(tmp_path / "q.onnx"), [{"x": d} for d in data], "QDQ")
    np.savez(tmp_path / "d.npz", **{f"x.{i}": d for i, d in enumerate(data)})
    rows = {}
    for hw in ("onnxruntime-cpu", "tensorcore-int8"):
        assert main(["run", str(tmp_path / "q.onnx"), "--hw", hw, "--data", str(tmp_path / "d.npz"), "--reference",
                     str(tmp_path / "m.onnx"), "--format", "json", "--no-write"]) == 0
        doc = json.loads(capsys.readouterr().out)
        rows[hw] = next(r for r in doc["layers"] if r["layer"] == "up")
        assert doc["summary"]["profiles"][0]["end_to_end"]["mean"] > 0.99
    assert rows["onnxruntime-cpu"]["ran_in_float"] and not rows["tensorcore-int8"]["ran_in_float"]
    return rows


def test_qdq_conv_transpose_is_integer_where_the_contract_says(tmp_path, capsys):
    _model(tmp_path / "m.onnx")
    assert _up_rows(tmp_path, capsys)["tensorcore-int8"]["macs"] == 5 * 7 * 4 * 3 * 2 * 2


def _overlapping(path, kernel=3, stride=2, pads=(1, 1, 1, 1), output_padding=(1, 1), dilations=(1, 1), group=1,
                 c_in=4, c_out=3):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (c_in, c_out // group, kernel, kernel)).astype(np.float32),
                                     "w"),
             numpy_helper.from_array(rng.normal(0, 0.1, c_out).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(0, 0.3, (c_in, 2, 3, 3)).astype(np.float32), "wc")]
    nodes = [helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("ConvTranspose", ["r", "w", "b"], ["y"], strides=[stride, stride], pads=list(pads),
                              output_padding=list(output_padding), dilations=list(dilations), group=group,
                              name="up")]
    g = helper.make_graph(nodes, "ct", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, None, None])],
                          initializer=inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


OVERLAPPING = [dict(), dict(stride=1, pads=(0, 0, 0, 0), output_padding=(0, 0)),
               dict(kernel=4, pads=(1, 1, 1, 1), output_padding=(0, 0)),
               dict(dilations=(2, 2), output_padding=(0, 1)),
               dict(group=2, c_out=4, output_padding=(0, 0), pads=(0, 1, 1, 0))]


@pytest.mark.parametrize("kw", OVERLAPPING, ids=["k3s2op1", "s1", "k4s2", "dilated", "grouped"])
def test_overlapping_qdq_conv_transpose_runs_as_an_integer_conv(tmp_path, kw):
    """Its Q/DQ semantics equal ONNX Runtime's float ConvTranspose between the same Q/DQ (every element), and the
    Conv it is lowered to equals ONNX Runtime's integer Conv bit for bit."""
    _overlapping(tmp_path / "m.onnx", **kw)
    rng = np.random.default_rng(3)
    data = [{"x": rng.normal(0, 1, (1, 2, 5, 7)).astype(np.float32)} for _ in range(4)]
    per_channel = "group" not in kw  # onnxruntime.quantization fails on grouped per-channel ConvTranspose
    quantize_records(str(tmp_path / "m.onnx"), str(tmp_path / "q.onnx"), data, "QDQ", per_channel=per_channel)
    g = OnnxGraph(tmp_path / "q.onnx")
    assert dict(g.graph.lowered_ops) == {"up": "ConvTranspose"}
    assert {L.name: L.kind for L in g.layers}["up"] == "conv2d"
    sess = ort.InferenceSession(str(tmp_path / "q.onnx"))
    for feed in data[:2]:
        np.testing.assert_array_equal(run_graph(g, feed, executors={})["y"], sess.run(None, feed)[0])
    checks = {c.layer: c for c in node_level_check(tmp_path / "q.onnx", data[:2], lowered=True)}
    assert checks["up"].elements > 0 and checks["up"].mismatches == 0


def test_overlapping_conv_transpose_timed_by_its_own_macs(tmp_path, capsys):
    _overlapping(tmp_path / "m.onnx")
    rows = _up_rows(tmp_path, capsys)
    assert rows["tensorcore-int8"]["macs"] == 5 * 7 * 4 * 3 * 3 * 3   # input pixels x C_in x O x kh x kw
