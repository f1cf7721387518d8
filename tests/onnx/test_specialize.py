"""If nodes decided by the bound inputs, inlined as the branch taken (accelsim.onnx.specialize): the integer layers
inside a branch run on the contract, bit-exact with ONNX Runtime, and are timed; a condition the inputs decide
differently keeps its If, and the run says so."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from accelsim.cli import main  # noqa: E402
from accelsim.graph.execute import run_graph  # noqa: E402
from accelsim.onnx.conformance import node_level_check  # noqa: E402
from accelsim.onnx.graph import OnnxGraph  # noqa: E402
from accelsim.onnx.specialize import specialize  # noqa: E402
from tests.onnx.qdq_models import qdq_mlp_conv  # noqa: E402
from tests.onnx.real_models import MODELS  # noqa: E402


def _if_model(path):
    """The small QDQ model of tests/onnx/qdq_models.py in the then-branch of an If on the ``flag`` input (its
    weights stay in the outer graph, read by the branch); the else-branch is the model's input, reshaped."""
    inner = qdq_mlp_conv(seed=2).graph
    out_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])
    then = helper.make_graph(list(inner.node), "then", [], [out_info])
    shape = onnx.numpy_helper.from_array(np.asarray([16, 12], np.int64), "else_shape")
    other = helper.make_graph([helper.make_node("Reshape", ["x", "else_shape"], ["z"])], "else", [],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, None])],
                              initializer=[shape])
    g = helper.make_graph([helper.make_node("If", ["flag"], ["out"], name="choose", then_branch=then,
                                            else_branch=other)], "if_qdq",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
                           helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, None])],
                          initializer=list(inner.initializer))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _feeds(flags):
    rng = np.random.default_rng(5)
    return [{"x": rng.normal(0, 1, (1, 3, 8, 8)).astype(np.float32), "flag": np.asarray(f)} for f in flags]


def test_branch_taken_is_inlined_and_equals_onnxruntime(tmp_path):
    _if_model(tmp_path / "m.onnx")
    g = OnnxGraph(tmp_path / "m.onnx")
    assert not g.layers  # inside the branch: invisible until the inputs decide it
    warnings: list[str] = []
    s = specialize(g, _feeds([True, True]), warnings)
    assert {L.name for L in s.layers} == {"choose/then/conv", "choose/then/gemm", "choose/then/matmul_w",
                                          "choose/then/matmul_aa"}
    assert "inlined" in warnings[0] and "choose (then)" in warnings[0]
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    for feed in _feeds([True, False]):
        ours = run_graph(specialize(g, [feed]), feed, executors={})["out"]  # Q/DQ as the spec defines them
        np.testing.assert_array_equal(ours, sess.run(None, feed)[0])


def test_integer_layers_inside_a_branch_are_bit_exact(tmp_path):
    _if_model(tmp_path / "m.onnx")
    checks = node_level_check(tmp_path / "m.onnx", _feeds([True]))
    assert len(checks) == 4 and sum(c.elements for c in checks) > 0
    assert not [c for c in checks if c.mismatches]


def test_run_times_the_branch_and_keeps_an_undecided_if(tmp_path, capsys):
    _if_model(tmp_path / "m.onnx")
    for flags, decided in (([True, True], True), ([True, False], False)):
        np.savez(tmp_path / "d.npz", **{f"{k}.{i}": v for i, f in enumerate(_feeds(flags)) for k, v in f.items()})
        code = main(["run", str(tmp_path / "m.onnx"), "--hw", "onnxruntime-host", "--data", str(tmp_path / "d.npz"),
                     "--format", "json", "--no-write"])
        out = capsys.readouterr()
        if not decided:  # the branch is not inlined: no integer layer is left to run, and the run says why
            assert code == 2 and "no MatMul, Gemm or Conv" in out.err
            continue
        assert code == 0, out.err
        doc = json.loads(out.out)
        rows = {r["layer"]: r for r in doc["layers"]}
        assert rows["choose/then/conv"]["macs"] == 8 * 8 * 4 * 3 * 3 * 3
        assert not rows["choose/then/conv"]["ran_in_float"]
        assert "choose (then)" in out.err and "inlined" in out.err


def test_silero_vad_default_export_is_timed():
    """Silero VAD's default export: the whole network inside an If on the sample rate. At 16 kHz the 16 kHz network
    (its convs, its LSTM) is inlined, and equals ONNX Runtime."""
    m = MODELS[3]
    if m.path is None:
        pytest.skip("silero-vad is not installed (README: set-up installs it)")
    path = m.path.parent / "silero_vad.onnx"
    t = np.arange(512) / 16000.0
    feed = {"input": (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None],
            "state": np.zeros((2, 1, 128), np.float32), "sr": np.asarray(16000, np.int64)}
    s = specialize(OnnxGraph(path), [feed])
    assert not any(n.op_type == "If" for n in s.nodes if n.key.startswith("If_0"))
    assert sum(1 for n in s.nodes if n.op_type in ("Conv", "LSTM")) >= 6
    theirs = ort.InferenceSession(str(path)).run(None, feed)
    ours = run_graph(s, feed)
    for name, v in zip(("output", "stateN"), theirs):
        np.testing.assert_allclose(ours[name], v, rtol=0, atol=1e-5)
