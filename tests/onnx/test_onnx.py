"""ONNX models as workloads: QDQ and float import, node-level bit-exactness with ONNX Runtime, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accelsim.cli import main  # noqa: E402
from accelsim.onnx.conformance import node_level_check  # noqa: E402
from tests.onnx.qdq_models import qdq_mlp_conv, quantize_records  # noqa: E402


@pytest.mark.parametrize("act", [np.uint8, np.int8], ids=["uint8", "int8"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
def test_node_level_bit_exact_with_onnxruntime(tmp_path, act, per_channel):
    path = tmp_path / "small.onnx"
    qdq_mlp_conv(seed=3, path=path, per_channel=per_channel, act=act)
    feeds = [{"x": np.random.default_rng(i).normal(0, 1.5, (1, 3, 8, 8)).astype(np.float32)} for i in range(40)]
    checks = node_level_check(path, feeds)
    assert {c.kind for c in checks} == {"conv2d", "linear", "matmul"} and len(checks) == 4
    assert sum(c.elements for c in checks) > 20_000
    assert sum(c.mismatches for c in checks) == 0, checks
    # ONNX Runtime fuses every pattern into its integer kernels (int8 activations via its s8-to-u8 form)
    assert {c.kernel for c in checks} == {"QLinearConv", "QGemm", "QLinearMatMul"}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "accelsim.cli", *args], capture_output=True, text=True)


def test_qdq_model_runs_and_compares(tmp_path):
    path = tmp_path / "small.onnx"
    qdq_mlp_conv(seed=1, path=path)
    proc = _cli("compare", str(path), "--hw", "onnxruntime-cpu", "--hw", "edge-npu-pot16", "--format", "json",
                "--no-write", "--html", str(tmp_path / "r.html"), "--diagnose")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    prof = {p["profile"]: p for p in doc["summary"]["profiles"]}
    ort, npu = prof["onnxruntime-cpu"], prof["edge-npu-pot16"]
    assert ort["legalization"] == [] and npu["legalization"]  # the QDQ intent runs as is on ORT only
    assert ort["end_to_end"]["mean"] > 0.99 and ort["end_to_end"]["mean"] >= npu["end_to_end"]["mean"]
    layers = {r["layer"] for r in doc["layers"]}
    assert {"conv", "gemm", "matmul_w", "matmul_aa"} <= layers
    diag = ort["diagnosis"]
    assert [d["sqnr_db"] for d in diag] == sorted(d["sqnr_db"] for d in diag)
    assert all(0.0 <= d["clipping_share"] <= 1.0 for d in diag)
    assert "diagnosis" in (tmp_path / "r.html").read_text().lower()
    assert {"minmax", "percentile", "mse", "entropy", "glue Q/DQ removed"} <= set(ort["recalibration"])


def _float_model(path, dynamic=False):
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.2, (16, 32)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, 32).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.2, (8, 32)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
             helper.make_node("Relu", ["hb"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2"], ["y"], transB=1, name="fc2")]
    shape = ["batch", 16] if dynamic else [4, 16]
    g = helper.make_graph(nodes, "f", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], 8])], initializer=[w1, b1, w2])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    import onnx
    onnx.save(m, str(path))


def test_float_model_is_quantized_by_accelsim(tmp_path, capsys):
    path = tmp_path / "float.onnx"
    _float_model(path)
    assert main(["run", str(path), "--hw", "tensorcore-int8", "--format", "json", "--no-write"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["layer"]: r for r in doc["layers"]}
    assert rows["fc1"]["op"] == "linear" and rows["fc2"]["op"] == "linear"
    assert 15 < rows["fc2"]["sqnr_db"] < 80
    assert doc["summary"]["profiles"][0]["end_to_end"]["mean"] > 0.99


def test_dynamic_dims_must_be_bound(tmp_path, capsys):
    path = tmp_path / "dyn.onnx"
    _float_model(path, dynamic=True)
    assert main(["run", str(path), "--hw", "tensorcore-int8", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--dim batch=N" in err
    assert main(["run", str(path), "--hw", "tensorcore-int8", "--no-write", "--dim", "batch=3", "--format", "csv"]) == 0
    assert main(["run", str(path), "--hw", "tensorcore-int8", "--no-write", "--dim", "batch=x"]) == 2


def test_unsupported_ops_are_listed(tmp_path, capsys):
    """Every standard-domain op runs (Einsum, Mish through onnx.reference); an op of another domain is listed."""
    nodes = [helper.make_node("Einsum", ["x", "x"], ["e"], equation="ij,ij->ij"), helper.make_node("Mish", ["e"], ["m"]),
             helper.make_node("FancyOp", ["m"], ["y"], domain="com.example")]
    g = helper.make_graph(nodes, "u", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)])
    import onnx
    onnx.save(m, str(tmp_path / "u.onnx"))
    assert main(["run", str(tmp_path / "u.onnx"), "--hw", "tensorcore-int8", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "com.example:FancyOp" in err and "Einsum" not in err and "Traceback" not in err


def test_malformed_onnx(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf model" * 3)
    assert main(["run", str(bad), "--hw", "tensorcore-int8", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.onnx" in err
    assert main(["run", str(tmp_path / "missing.onnx"), "--hw", "tensorcore-int8", "--no-write"]) == 2


def test_quantize_static_output_with_float_reference(tmp_path, capsys):
    """The common path: a float model quantized by onnxruntime.quantization.quantize_static (QDQ)."""
    from onnxruntime.quantization import QuantType

    fp = tmp_path / "float.onnx"
    _float_model(fp)
    rng = np.random.default_rng(5)
    feeds = [{"x": rng.normal(0, 1, (4, 16)).astype(np.float32)} for _ in range(8)]

    qp = tmp_path / "qdq.onnx"
    quantize_records(fp, qp, feeds, "QDQ", per_channel=True, activation_type=QuantType.QUInt8,
                     weight_type=QuantType.QInt8)
    checks = node_level_check(qp, feeds)
    assert len(checks) >= 1 and sum(c.mismatches for c in checks) == 0
    np.savez(tmp_path / "data.npz", **{f"x.{i}": f["x"] for i, f in enumerate(feeds)})
    assert main(["run", str(qp), "--hw", "onnxruntime-cpu", "--reference", str(fp), "--data",
                 str(tmp_path / "data.npz"), "--format", "json", "--no-write"]) == 0
    doc = json.loads(capsys.readouterr().out)
    e2e = doc["summary"]["profiles"][0]["end_to_end"]
    assert e2e["sentences"] == 8 and 0.95 < e2e["mean"] <= 1.0
    assert main(["run", "mlp", "--hw", "onnxruntime-cpu", "--reference", str(fp)]) == 2


def test_workload_yaml_points_to_an_onnx_model(tmp_path, capsys):
    from accelsim.loading import load_workload

    qdq_mlp_conv(seed=2, path=tmp_path / "m.onnx")
    (tmp_path / "w.yaml").write_text("name: small-qdq\nonnx: {path: m.onnx}\n")
    wl = load_workload(tmp_path / "w.yaml")
    assert wl.name == "small-qdq" and wl.graph is not None and any(layer.is_mac for layer in wl.layers)
    assert main(["validate", str(tmp_path / "m.onnx")]) == 0
    (tmp_path / "bad.yaml").write_text("name: x\nonnx: {path: m.onnx}\ninputs: {x: {shape: [1]}}\n")
    assert main(["run", str(tmp_path / "bad.yaml"), "--hw", "tensorcore-int8", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert "remove 'inputs' and 'layers'" in err and err.count("\n") == 1


def test_bad_data_and_report_paths(tmp_path, capsys):
    path = tmp_path / "small.onnx"
    qdq_mlp_conv(seed=1, path=path)
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    np.savez(tmp_path / "wrong.npz", y=np.zeros((1, 3, 8, 8), np.float32))
    for data, needle in ((tmp_path / "bad.npz", "not an .npz archive"), (tmp_path / "wrong.npz", "no array is a model input")):
        out = tmp_path / "o"
        assert main(["run", str(path), "--hw", "onnxruntime-cpu", "--data", str(data), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err and not out.exists()
    (tmp_path / "adir").mkdir()
    assert main(["run", str(path), "--hw", "onnxruntime-cpu", "--html", str(tmp_path / "adir"), "--no-write"]) == 2
    assert "--html" in capsys.readouterr().err


def _cnn_float_model(path, seed=0):
    """Conv + Relu + MaxPool + Flatten + Gemm (the classifier shape quantize_static folds Relu into)."""
    rng = np.random.default_rng(seed)
    c = lambda n, v: numpy_helper.from_array(np.asarray(v, np.float32), n)  # noqa: E731
    inits = [c("w1", rng.normal(0, .3, (8, 3, 3, 3))), c("b1", rng.normal(0, .1, 8)),
             c("w2", rng.normal(0, .2, (10, 8 * 4 * 4))), c("b2", rng.normal(0, .1, 10))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
             helper.make_node("Flatten", ["p1"], ["f"], axis=1, name="flat"),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1, name="fc")]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    import onnx
    onnx.save(m, str(path))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantize_static_cnn_reference_keeps_the_folded_relu(tmp_path, seed):
    """quantize_static folds the Relu into the Conv's output Q range; the default float reference (the QDQ graph
    without Q/DQ) must put it back: accelsim's cosine on ONNX Runtime's contract matches ORT's own within 0.001."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType

    _cnn_float_model(tmp_path / "float.onnx", seed)
    rng = np.random.default_rng(100 + seed)
    data = [rng.normal(0, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(8)]

    quantize_records(tmp_path / "float.onnx", tmp_path / "qdq.onnx", [{"x": d} for d in data], "QDQ",
                     activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    import onnx
    assert "Relu" not in {n.op_type for n in onnx.load(str(tmp_path / "qdq.onnx")).graph.node}  # folded away
    np.savez(tmp_path / "data.npz", **{f"x.{i}": d for i, d in enumerate(data)})
    sf, sq = ort.InferenceSession(str(tmp_path / "float.onnx")), ort.InferenceSession(str(tmp_path / "qdq.onnx"))
    cos = []
    for d in data:
        a = sf.run(None, {"x": d})[0].reshape(-1).astype(np.float64)
        b = sq.run(None, {"x": d})[0].reshape(-1).astype(np.float64)
        cos.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    proc = _cli("run", str(tmp_path / "qdq.onnx"), "--hw", "onnxruntime-host", "--data", str(tmp_path / "data.npz"),
                "--format", "json", "--no-write")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    e2e = doc["summary"]["profiles"][0]["end_to_end"]
    assert abs(e2e["mean"] - float(np.mean(cos))) < 1e-3, (e2e["mean"], np.mean(cos))
    assert "Relu restored" in e2e["reference"]
    conv = next(r for r in doc["layers"] if r["op"] == "conv2d")
    assert conv["sqnr_db"] > 25 and conv["sqnr_local_db"] > 25  # not the 3.7 dB of a Relu-less reference
    diag = {d["layer"]: d for d in doc["summary"]["profiles"][0]["diagnosis"]}
    assert all(d["clipping_share"] < 0.5 for d in diag.values())  # the diagnosis does not blame clipping


@pytest.mark.parametrize("qdq", [False, True], ids=["float", "qdq"])
def test_gemm_with_alpha_beta_is_accounted(tmp_path, qdq):
    """A Gemm with alpha/beta != 1 is never dropped: a float model folds them into its weight and bias (an
    integer layer); in a QDQ model it runs in float but is still timed, charged and listed as ran in float."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.2, (8, 16)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b")
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1, alpha=0.5, beta=2.0, name="scaled"),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    inits = [w, b]
    if qdq:  # a QDQ model whose Gemm is outside any Q/DQ pattern of accelsim's (alpha != 1)
        s = numpy_helper.from_array(np.array(0.05, np.float32), "s")
        z = numpy_helper.from_array(np.array(128, np.uint8), "z")
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                 helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
                 helper.make_node("Gemm", ["xd", "w", "b"], ["h"], transB=1, alpha=0.5, beta=2.0, name="scaled"),
                 helper.make_node("Relu", ["h"], ["y"], name="relu")]
        inits += [s, z]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    import onnx
    onnx.save(m, str(tmp_path / "g.onnx"))
    proc = _cli("run", str(tmp_path / "g.onnx"), "--hw", "onnxruntime-cpu", "--format", "json", "--no-write")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    row = next(r for r in doc["layers"] if r["layer"] == "scaled")
    assert row["macs"] == 4 * 16 * 8 and row["cycles"] > 0 and row["energy_mac_pj"] > 0
    e2e = doc["summary"]["profiles"][0]["end_to_end"]
    assert row["ran_in_float"] is qdq
    if qdq:
        assert "scaled" in e2e["ran_in_float"]
    else:
        assert e2e["mean"] > 0.99  # alpha and beta folded correctly into the integer layer


def test_a_default_run_executes_the_graph_once_and_diagnose_reruns_it(tmp_path, monkeypatch):
    """The diagnosis re-runs (recalibration, glue Q/DQ removed, per-channel weights) only with --diagnose."""
    import accelsim.graph.run as graph_run

    path = tmp_path / "small.onnx"
    qdq_mlp_conv(seed=1, path=path, per_channel=False)
    calls = []
    real = graph_run.run_graph_numerics

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(graph_run, "run_graph_numerics", counting)
    assert main(["run", str(path), "--hw", "onnxruntime-cpu", "--no-write", "--format", "json"]) == 0
    assert len(calls) == 1
    calls.clear()
    assert main(["run", str(path), "--hw", "onnxruntime-cpu", "--no-write", "--format", "json", "--diagnose"]) == 0
    assert len(calls) == 1 + 4 + 1 + 1  # the run, 4 calibration methods, glue Q/DQ removed, per-channel weights


def test_timing_only_skips_the_numerics(tmp_path, monkeypatch, capsys):
    import accelsim.graph.run as graph_run

    def boom(*args, **kwargs):
        raise AssertionError("numerics ran")

    full = main(["run", "mlp", "--hw", "h100-sxm", "--no-write", "--format", "json"])
    doc_full = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(graph_run, "run_graph_numerics", boom)
    assert main(["run", "mlp", "--hw", "h100-sxm", "--no-write", "--format", "json", "--timing-only"]) == 0 == full
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["profiles"][0]["timing_only"] is True
    assert [r["cycles"] for r in doc["layers"]] == [r["cycles"] for r in doc_full["layers"]]
    assert all(r["sqnr_db"] is None and r["overflow_events"] is None for r in doc["layers"])
    assert main(["run", "mlp", "--hw", "h100-sxm", "--timing-only", "--diagnose"]) == 2


def test_folded_relu_survives_legalization_to_symmetric_activations(tmp_path, capsys):
    """quantize_static folds a Relu into the output Q's range (uint8, zero point 0). A contract with symmetric int8
    activations moves that range to [-a, a]: the layer must still clamp at zero (the folded Relu), else every
    negative conv output leaks through (regression: end-to-end cosine 0.77 instead of ONNX Runtime's 0.9998)."""
    rng = np.random.default_rng(0)
    wc = numpy_helper.from_array(rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32), "wc")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (3, 4, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Conv", ["r", "w2"], ["y"], name="c2")]
    g = helper.make_graph(nodes, "cc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 7])], initializer=[wc, w2])
    import onnx

    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "f.onnx"))
    data = [rng.normal(0, 1, (1, 2, 5, 7)).astype(np.float32) for _ in range(4)]

    quantize_records(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), [{"x": d} for d in data], "QDQ")
    np.savez(tmp_path / "d.npz", **{f"x.{i}": d for i, d in enumerate(data)})
    assert main(["run", str(tmp_path / "q.onnx"), "--hw", "tensorcore-int8", "--data", str(tmp_path / "d.npz"),
                 "--format", "json", "--no-write"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["profiles"][0]["end_to_end"]["min"] > 0.999
    assert all(r["sqnr_db"] > 30 for r in doc["layers"] if r["op"] == "conv2d")
