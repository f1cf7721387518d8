"""Control flow (If, Loop, Scan) through onnx.reference, the subgraphs reading outer values (Node.captures), equal to
ONNX Runtime on the same models; and a real model whose whole network sits in an If (Silero VAD's default export)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.graph.execute import run_graph  # noqa: E402
from accelsim.onnx.graph import OnnxGraph  # noqa: E402

F = TensorProto.FLOAT
vi = helper.make_tensor_value_info


def _check(tmp_path, graph, feeds, opset=17):
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    g = OnnxGraph(path)
    env = run_graph(g, feeds)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for o, theirs in zip(sess.get_outputs(), sess.run(None, feeds)):
        np.testing.assert_allclose(env[o.name], theirs, rtol=1e-6, atol=1e-6)
    return g


@pytest.mark.parametrize("flag", [True, False])
def test_if_branches_read_outer_values(tmp_path, flag):
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, "w")
    then = helper.make_graph([helper.make_node("MatMul", ["h", "w"], ["t"])], "then", [],
                             [vi("t", F, ["a", "b"])])
    other = helper.make_graph([helper.make_node("Mul", ["h", "h"], ["e0"]),
                               helper.make_node("ReduceSum", ["e0"], ["e"], keepdims=1)], "else", [],
                              [vi("e", F, ["a", "b"])])
    nodes = [helper.make_node("Relu", ["x"], ["h"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="branch")]
    g = helper.make_graph(nodes, "if", [vi("x", F, [2, 3]),
                                        vi("c", TensorProto.BOOL, [])],
                          [vi("y", F, ["a", "b"])], initializer=[w])
    x = np.random.default_rng(0).normal(0, 1, (2, 3)).astype(np.float32)
    gv = _check(tmp_path, g, {"x": x, "c": np.array(flag)})
    assert set(next(n for n in gv.nodes if n.op_type == "If").captures) == {"h", "w"}


def test_loop_with_carried_state_and_scan_outputs(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "step"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Mul", ["acc_out", "scale"], ["scanned"])], "body",
        [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []),
         vi("acc_in", F, [3])],
        [vi("cond_out", TensorProto.BOOL, []), vi("acc_out", F, [3]),
         vi("scanned", F, [3])])
    inits = [numpy_helper.from_array(np.array(4, np.int64), "trips"), numpy_helper.from_array(np.array(True), "go"),
             numpy_helper.from_array(np.array([1, 2, 3], np.float32), "step"),
             numpy_helper.from_array(np.array(0.5, np.float32), "scale")]
    g = helper.make_graph([helper.make_node("Loop", ["trips", "go", "x"], ["final", "all"], body=body)], "loop",
                          [vi("x", F, [3])],
                          [vi("final", F, [3]), vi("all", F, ["n", 3])],
                          initializer=inits)
    _check(tmp_path, g, {"x": np.array([0.5, -1, 2], np.float32)})


def test_scan_cumulative_sum(tmp_path):
    body = helper.make_graph([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
                              helper.make_node("Identity", ["s_out"], ["y_t"])], "body",
                             [vi("s_in", F, [2]), vi("x_t", F, [2])],
                             [vi("s_out", F, [2]), vi("y_t", F, [2])])
    g = helper.make_graph([helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1)], "scan",
                          [vi("s0", F, [2]), vi("xs", F, [5, 2])],
                          [vi("s", F, [2]), vi("ys", F, [5, 2])])
    xs = np.random.default_rng(1).normal(0, 1, (5, 2)).astype(np.float32)
    _check(tmp_path, g, {"s0": np.zeros(2, np.float32), "xs": xs})


def test_silero_default_export_runs_its_if(tmp_path):
    """Silero VAD's default model is four nodes: the whole network is the branches of an If on the sample rate."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("silero_vad")
    if spec is None:
        pytest.skip("silero-vad is not installed (README: set-up installs it)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
    g = OnnxGraph(path)
    feeds = {"input": (np.random.default_rng(2).normal(0, 0.1, (1, 512))).astype(np.float32),
             "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)}
    env = run_graph(g, feeds)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for o, theirs in zip(sess.get_outputs(), sess.run(None, feeds)):
        np.testing.assert_allclose(env[o.name], theirs, rtol=1e-4, atol=1e-5)


def _rnn_scan(tmp_path, steps=5, hidden=8, inp=6):
    """x (1, inp) -> MatMul -> Scan over xs (steps, 1, hidden) of h' = tanh(h W + x_t), W an outer constant."""
    rng = np.random.default_rng(2)
    body = helper.make_graph([helper.make_node("MatMul", ["h_in", "w_rec"], ["hw"], name="rec"),
                              helper.make_node("Add", ["hw", "x_t"], ["pre"], name="add"),
                              helper.make_node("Tanh", ["pre"], ["h_out"], name="act"),
                              helper.make_node("Identity", ["h_out"], ["y_t"], name="emit")], "body",
                             [vi("h_in", F, [1, hidden]), vi("x_t", F, [1, hidden])],
                             [vi("h_out", F, [1, hidden]), vi("y_t", F, [1, hidden])])
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (hidden, hidden)).astype(np.float32), "w_rec"),
             numpy_helper.from_array(rng.normal(0, 0.3, (inp, hidden)).astype(np.float32), "w_in")]
    nodes = [helper.make_node("MatMul", ["x", "w_in"], ["h0"], name="proj"),
             helper.make_node("Scan", ["h0", "xs"], ["h", "ys"], body=body, num_scan_inputs=1, name="scan")]
    g = helper.make_graph(nodes, "rnn", [vi("x", F, [1, inp]), vi("xs", F, [steps, 1, hidden])],
                          [vi("h", F, [1, hidden]), vi("ys", F, [steps, 1, hidden])], initializer=inits)
    path = tmp_path / "rnn.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_scan_body_is_timed_over_its_iterations(tmp_path):
    """A Scan's body layers at one iteration's shapes, over all iterations (accelsim.onnx.loops): the recurrent
    MatMul's MACs are steps x hidden x hidden, its Add and Tanh steps x hidden elements."""
    from accelsim.onnx.workload import onnx_workload

    steps, hidden = 5, 8
    w = onnx_workload(str(_rnn_scan(tmp_path, steps, hidden)))
    rows = {layer.name: layer for layer in w.layers}
    assert rows["scan/rec(x5)"].macs == steps * hidden * hidden
    assert rows["scan/add(x5)"].work == steps * hidden and rows["scan/act(x5)"].work >= steps * hidden
    assert rows["proj"].macs == 6 * hidden


def test_loop_body_is_timed_over_its_trip_count(tmp_path):
    from accelsim.onnx.workload import onnx_workload

    body = helper.make_graph(
        [helper.make_node("MatMul", ["acc_in", "w"], ["acc_out"], name="step"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
        [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("acc_in", F, [2, 4])],
        [vi("cond_out", TensorProto.BOOL, []), vi("acc_out", F, [2, 4])])
    inits = [numpy_helper.from_array(np.array(7, np.int64), "trips"), numpy_helper.from_array(np.array(True), "go"),
             numpy_helper.from_array(np.eye(4, dtype=np.float32) * 0.9, "w"),
             numpy_helper.from_array(np.ones((3, 4), np.float32), "w0")]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h"], name="proj"),
             helper.make_node("Loop", ["trips", "go", "h"], ["final"], body=body, name="loop")]
    g = helper.make_graph(nodes, "loop", [vi("x", F, [2, 3])], [vi("final", F, [2, 4])], initializer=inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "l.onnx"))
    rows = {layer.name: layer for layer in onnx_workload(str(tmp_path / "l.onnx")).layers}
    assert rows["loop/step(x7)"].macs == 7 * 2 * 4 * 4



def test_a_loop_body_that_cannot_be_timed_is_one_line(tmp_path):
    """A Loop whose loop-carried value is missing (its value was never computed): an InputError naming the node,
    not a traceback."""
    from accelsim.errors import InputError
    from accelsim.graph.ir import Node
    from accelsim.onnx.loops import loop_layers
    from accelsim.workload.layers import LayerQuant, QuantIntent

    path = _rnn_scan(tmp_path)
    g = OnnxGraph(path)
    scan = next(n for n in g.nodes if n.op_type == "Scan")
    broken = Node(name="scan", op_type="Scan", inputs=("missing", "xs"), outputs=scan.outputs, attrs=scan.attrs,
                  captures=scan.captures)
    quant = LayerQuant(weights=QuantIntent(), activations=QuantIntent())
    with pytest.raises(InputError, match="node 'scan' \\(Scan\\): its body cannot be timed"):
        loop_layers(broken, g, {"xs": np.zeros((5, 1, 8), np.float32)}, {}, quant)
