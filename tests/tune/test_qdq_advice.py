"""accelsim tune on a QDQ model: which Q/DQ to remove under the same contract, measured and costed, as a recipe
that replays exactly."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")
pytest.importorskip("onnx")

from accelsim.engine import run  # noqa: E402
from accelsim.hardware import load_profile  # noqa: E402
from accelsim.onnx.workload import onnx_workload  # noqa: E402
from accelsim.tune import tune  # noqa: E402
from tests.onnx.qdq_models import qdq_mlp_conv  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("qdq") / "q.onnx"
    qdq_mlp_conv(seed=3, path=path)
    return onnx_workload(str(path))


def test_advice_on_onnxruntime_removes_the_costly_output_q(model):
    r = tune(model, load_profile("onnxruntime-cpu"))
    kinds = {(c.kind, c.target) for c in r.qdq}
    assert ("layer output Q", "matmul_w") in kinds and ("layer output Q", "gemm") in kinds
    assert ("glue Q/DQ", "in_q") not in kinds          # feeds the conv only: removing it changes nothing
    assert all(c.legal for c in r.qdq)
    assert r.evaluation["tuned"] > r.evaluation["naive"]
    assert [s.kind for s in r.best.recipe.steps] == ["float_output"]
    replay = run(model, load_profile("onnxruntime-cpu"), recipe=r.best.recipe).end_to_end
    assert replay["min"] == r.evaluation["tuned"]      # tolerance 0


def test_integer_only_contract_gets_no_float_output(model):
    r = tune(model, load_profile("tpu-v1"))   # asymmetric uint8 like the model, integer outputs only
    outputs = [c for c in r.qdq if c.kind == "layer output Q"]
    assert outputs and not any(c.legal for c in outputs)
    assert "integer outputs only" in outputs[0].why
    assert all(s.kind == "remove_qdq" for s in r.best.recipe.steps)
