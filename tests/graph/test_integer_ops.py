"""MatMulInteger outside Q/DQ patterns runs on the contract's accumulator (ONNX Runtime's dynamic quantization)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.cli import main  # noqa: E402
from accelsim.graph.execute import run_graph  # noqa: E402
from accelsim.graph.integer_ops import MatMulIntegerNode  # noqa: E402
from accelsim.graph.ir import Graph, Node, TensorInfo  # noqa: E402
from accelsim.graph.view import GraphView  # noqa: E402
from accelsim.hardware import load_profile  # noqa: E402
from accelsim.numerics.api import qmatmul_integer  # noqa: E402


def test_matmul_integer_takes_the_contracts_accumulator():
    """x86 AVX2's U8S8 kernel saturates adjacent byte-pair sums to int16: 255 x 127 + 255 x 127 = 64,770 > 32,767.
    The node under onnxruntime-avx2 gives that contract's integers, not the exact sum."""
    rng = np.random.default_rng(0)
    a = np.full((4, 16), 255, dtype=np.uint8)
    a[1:] = rng.integers(0, 256, (3, 16))
    b = np.full((16, 3), 127, dtype=np.int8)
    b[:, 1:] = rng.integers(-128, 128, (16, 2))
    node = Node(name="mmi", op_type="MatMulInteger", inputs=("a", "b", "za"), outputs=("y",))
    g = GraphView(Graph(name="g", nodes=(node,), constants={"b": b, "za": np.uint8(0)},
                        inputs=(TensorInfo("a", np.uint8, (4, 16)),), outputs=("y",)))
    exact = run_graph(g, {"a": a})["y"]
    for hw in ("onnxruntime-avx2", "onnxruntime-cpu"):
        ex = MatMulIntegerNode(node, load_profile(hw), 17)
        ours = run_graph(g, {"a": a}, executors={"mmi": ex})["y"]
        theirs, _ = qmatmul_integer(a, b, 0, 0, hw=hw)
        assert ours.dtype == np.int32 and np.array_equal(ours, theirs.astype(np.int32))
        assert np.array_equal(ours, exact) == (hw == "onnxruntime-cpu")


def test_a_dynamically_quantized_model_runs(tmp_path, capsys):
    """onnxruntime.quantization.quantize_dynamic's model (DynamicQuantizeLinear -> MatMulInteger -> Mul/Add): it
    runs, its MatMulIntegers are timed on the array, and its output matches ONNX Runtime's on this host."""
    from onnxruntime.quantization import quantize_dynamic

    rng = np.random.default_rng(1)
    w1 = numpy_helper.from_array(rng.normal(0, 0.2, (32, 64)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.2, (64, 8)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], initializer=[w1, w2])
    import onnx

    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "f.onnx"))
    quantize_dynamic(str(tmp_path / "f.onnx"), str(tmp_path / "d.onnx"))
    assert "MatMulInteger" in {n.op_type for n in onnx.load(str(tmp_path / "d.onnx")).graph.node}
    x = rng.normal(0, 1, (4, 32)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["run", str(tmp_path / "d.onnx"), "--hw", "onnxruntime-host", "--data", str(tmp_path / "x.npz"),
                 "--format", "json", "--no-write"]) == 0
    doc = json.loads(capsys.readouterr().out)
    macs = [r for r in doc["layers"] if r["macs"] > 0]
    assert len(macs) == 2 and all(r["op"] == "linear" for r in macs)
    assert sum(r["macs"] for r in macs) == 4 * 32 * 64 + 4 * 64 * 8
    from accelsim.hardware.host import host_contract
    from accelsim.onnx.graph import OnnxGraph

    gq = OnnxGraph(tmp_path / "d.onnx")
    ex = {n.key: MatMulIntegerNode(n, load_profile(host_contract()[0]), 17) for n in gq.nodes
          if n.op_type == "MatMulInteger"}
    ours = run_graph(gq, {"x": x}, executors=ex)["y"]
    theirs = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("w_dtype,group,pads,strides", [
    (np.uint8, 1, (1, 1, 1, 1), (1, 1)), (np.int8, 2, (0, 1, 2, 0), (2, 1)), (np.uint8, 4, (1, 1, 1, 1), (2, 2))])
def test_conv_integer_on_the_hosts_contract_equals_onnxruntime(tmp_path, w_dtype, group, pads, strides):
    """ConvInteger under onnxruntime-host (zero points as padding, im2col K order) equals ONNX Runtime's ConvInteger
    on this machine, element for element."""
    from accelsim.graph.integer_ops import ConvIntegerNode
    from accelsim.hardware.host import host_contract
    from accelsim.onnx.graph import OnnxGraph

    rng = np.random.default_rng(4)
    lo, hi = (0, 256) if w_dtype == np.uint8 else (-128, 128)
    w = rng.integers(lo, hi, (8, 4 // group, 3, 3)).astype(w_dtype)
    zw = np.asarray(7 if w_dtype == np.uint8 else -3, dtype=w_dtype)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.asarray(131, np.uint8), "zx"),
             numpy_helper.from_array(zw, "zw")]
    node = helper.make_node("ConvInteger", ["x", "w", "zx", "zw"], ["y"],
                            name="ci", pads=list(pads), strides=list(strides), group=group)
    g = helper.make_graph([node], "ci", [helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 4, 9, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [2, 8, "h", "w"])], initializer=inits)
    import onnx

    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "ci.onnx"))
    x = rng.integers(0, 256, (2, 4, 9, 7)).astype(np.uint8)
    theirs = ort.InferenceSession(str(tmp_path / "ci.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    gv = OnnxGraph(tmp_path / "ci.onnx")
    n = gv.nodes[0]
    ours = run_graph(gv, {"x": x}, executors={n.key: ConvIntegerNode(n, load_profile(host_contract()[0]), 17)})["y"]
    assert ours.dtype == np.int32 and np.array_equal(ours, theirs)
