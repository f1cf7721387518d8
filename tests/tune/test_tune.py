"""accelsim tune: the search, its Pareto flags against a brute-force check, and exact replay of the recipe."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("optuna")

from accelsim.engine import run  # noqa: E402
from accelsim.hardware import load_profile  # noqa: E402
from accelsim.tune import pareto_flags, tune  # noqa: E402
from tests.graph.test_recipes import outlier_mlp  # noqa: E402


def test_pareto_flags_match_brute_force():
    rng = np.random.default_rng(0)
    pts = [tuple(rng.integers(0, 4, 3).astype(float)) for _ in range(40)]
    flags = pareto_flags(pts, (True, False, False))
    for p, f in zip(pts, flags):
        dominated = any(q[0] >= p[0] and q[1] <= p[1] and q[2] <= p[2] and q != p for q in pts)
        assert f == (not dominated)


@pytest.fixture(scope="module")
def tuned():
    return tune(outlier_mlp(), load_profile("tensorcore-int8"), trials=8)


def test_search_is_legal_and_beats_naive(tuned):
    assert tuned.best.accuracy >= tuned.naive.accuracy
    assert tuned.evaluation["tuned"] > tuned.evaluation["naive"]
    assert tuned.space["scaling"] == ["static", "per_tensor", "per_token"]
    assert any(t.pareto for t in tuned.trials) and tuned.best.pareto
    assert len(tuned.ablation) == len(tuned.best.recipe.steps)


def test_written_recipe_replays_exactly(tuned, tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(tuned.best.recipe.dump())
    from accelsim.quant.recipe import load_recipe

    result = run(outlier_mlp(), load_profile("tensorcore-int8"), recipe=load_recipe(str(path)))
    assert result.end_to_end["min"] == tuned.evaluation["tuned"]   # tolerance 0
    assert result.summary()["recipe"]["text"] == tuned.best.recipe.text


def test_search_space_follows_the_contract():
    from accelsim.quant import legalize
    from accelsim.tune import search_space

    wl = outlier_mlp()
    ort = load_profile("onnxruntime-cpu")
    space = search_space(wl, ort, legalize(wl, ort))
    assert space["scaling"] == ["static", "per_tensor"] and space["output"] == ["integer", "float"]
    npu = load_profile("edge-npu-pot16")
    space = search_space(wl, npu, legalize(wl, npu))
    assert space["scaling"] == ["static"] and space["output"] == ["integer"]
