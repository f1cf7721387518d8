"""Real third-party models (tests/onnx/real_models.py: OCR detector, classifier, recognizer; a voice-activity
detector), as a user runs them: the float model equals ONNX Runtime's float output; ONNX Runtime's own QDQ and
QOperator quantizations run with every integer node bit-exact on this host's ONNX Runtime contract, and the
end-to-end cosine on that contract within 0.005 of ONNX Runtime's own QDQ-vs-float cosine on the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from accelsim.cli import main  # noqa: E402
from accelsim.graph.execute import run_graph  # noqa: E402
from accelsim.graph.run import _pooled  # noqa: E402
from accelsim.onnx.conformance import node_level_check  # noqa: E402
from accelsim.onnx.graph import OnnxGraph  # noqa: E402
from tests.onnx.real_models import MODELS, feeds, quantize  # noqa: E402

IDS = [m.name for m in MODELS]


def _installed(m):
    if m.path is None:
        pytest.skip(f"{m.package} is not installed (README: set-up installs it)")
    return m


def _run(capsys, *args) -> dict:
    """``accelsim run ... --format json --no-write`` in this process, as the CLI runs it."""
    capsys.readouterr()
    assert main(["run", *args, "--format", "json", "--no-write"]) == 0, capsys.readouterr().err[-800:]
    return json.loads(capsys.readouterr().out)


def _cos(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    cache = {}

    def get(m, fmt):
        if (m.name, fmt) not in cache:
            cache[(m.name, fmt)] = quantize(m, out, fmt)
        return cache[(m.name, fmt)]
    return get


@pytest.mark.parametrize("m", MODELS, ids=IDS)
def test_float_output_equals_onnxruntime(m):
    m = _installed(m)
    g = OnnxGraph(m.path)
    sess = ort.InferenceSession(str(m.path), providers=["CPUExecutionProvider"])
    for seed in range(2):
        feed = feeds(m, seed)
        env = run_graph(g, feed)
        for name, theirs in zip([o.name for o in sess.get_outputs()], sess.run(None, feed)):
            assert env[name].shape == theirs.shape
            assert _cos(env[name], theirs) >= 0.99999, (name, _cos(env[name], theirs))


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("m", MODELS, ids=IDS)
def test_integer_nodes_bit_exact(m, fmt, quantized):
    m = _installed(m)
    path = quantized(m, fmt)
    checks = node_level_check(path, [feeds(m, 7)])
    convs = sum(1 for n in OnnxGraph(m.path).nodes if n.op_type in ("Conv", "MatMul", "Gemm"))
    assert len(checks) >= convs * 0.8  # nearly every MAC node is an integer layer (the rest run in float)
    assert sum(c.elements for c in checks) > 0
    bad = [(c.layer, c.kernel, c.mismatches, c.max_abs_diff) for c in checks if c.mismatches]
    assert not bad, bad


#: end to end: every model's QDQ, and QOperator where its lowering differs (the detector's ConvTranspose, the VAD's
#: 1-D convs); every model's QOperator integer layers are checked node by node above
E2E = [(m, "QDQ") for m in MODELS] + [(m, "QOperator") for m in MODELS if m.name in ("ocr-det", "silero-vad")]


@pytest.mark.parametrize("m,fmt", E2E, ids=[f"{m.name}-{f}" for m, f in E2E])
def test_end_to_end_cosine_beside_onnxruntime(m, fmt, quantized, tmp_path, capsys):
    m = _installed(m)
    path = quantized(m, fmt)
    data = [feeds(m, 20 + i) for i in range(2)]
    np.savez(tmp_path / "data.npz", **{f"{k}.{i}": v for i, d in enumerate(data) for k, v in d.items()})
    sf = ort.InferenceSession(str(m.path), providers=["CPUExecutionProvider"])
    sq = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = np.mean([_cos(_pooled(sf.run(None, d)[0]), _pooled(sq.run(None, d)[0])) for d in data])
    doc = _run(capsys, str(path), "--hw", "onnxruntime-host", "--data", str(tmp_path / "data.npz"), "--reference",
               str(m.path))
    e2e = doc["summary"]["profiles"][0]["end_to_end"]
    assert abs(e2e["mean"] - theirs) <= 0.005, (e2e["mean"], theirs)
    assert any(r["op"] == "conv2d" for r in doc["layers"])


def test_batchnorm_is_folded_and_reported(capsys):
    """A float model's Conv -> BatchNormalization runs as one folded conv on the contract (as ONNX Runtime's
    optimizer folds it); the float reference keeps the BN; the report names the fold."""
    m = _installed(MODELS[1])
    g = OnnxGraph(m.path)
    assert g.folded_batchnorm and all(n.op_type != "BatchNormalization" or id(n) in
                                      {id(L.bias_node) for L in g.layers} for n in g.nodes)
    doc = _run(capsys, str(m.path), "--hw", "onnxruntime-host", *[a for d in m.dims for a in ("--dim", d)])
    assert "BatchNormalization folded" in doc["summary"]["profiles"][0]["end_to_end"]["ran_in_float"]
    assert not any(r["layer"].startswith("BatchNormalization") for r in doc["layers"])


def test_memory_estimate_of_a_qoperator_model(quantized):
    """ONNX's shape inference does not know com.microsoft's QLinear ops: a QOperator model is estimated in its
    lowered standard-domain form, like its QDQ twin (regression: 51 GB estimated for an 800 x 608 layout model)."""
    from accelsim.onnx.workload import _graph_tensor_bytes

    m = _installed(MODELS[1])
    est = {fmt: _graph_tensor_bytes(OnnxGraph(quantized(m, fmt)), m.shapes) for fmt in ("QDQ", "QOperator")}
    assert est["QOperator"] <= 2 * est["QDQ"], est
