"""accelsim tune from the command line: progress, the Pareto table, the recipe written atomically as YAML, and a
replay of that recipe through run --recipe giving the tuned accuracy exactly."""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("optuna")

from accelsim.cli import main  # noqa: E402
from tests.conftest import TINY_WORKLOAD  # noqa: E402


def test_tune_writes_a_recipe_that_replays_exactly(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.yaml").write_text(TINY_WORKLOAD)
    assert main(["tune", "w.yaml", "--hw", "h100-sxm", "--trials", "4", "--out", "tuned.yaml"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "written: " in out and "tuned.yaml" in out
    recipe = yaml.safe_load((tmp_path / "tuned.yaml").read_text())
    assert "recipe" in recipe
    search = json.loads((tmp_path / "tuned.tune.json").read_text())
    assert search["space"]["widen_type"] == "fp16" and search["best"]["pareto"]
    assert main(["run", "w.yaml", "--hw", "h100-sxm", "--recipe", "tuned.yaml", "--out", "r"]) == 0
    summary = json.loads((tmp_path / "r" / "results.json").read_text())["summary"]["profiles"][0]
    assert summary["final_sqnr_db"] == search["evaluation"]["tuned"]   # exact replay
    assert summary["recipe"]["text"] == search["best"]["recipe"]


def test_recipe_auto_in_run_searches_per_contract(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.yaml").write_text(TINY_WORKLOAD + "quant: {recipe: auto}\n")
    assert main(["run", "w.yaml", "--hw", "tensorcore-int8", "--format", "json", "--trials", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]["profiles"][0]
    assert 1 <= summary["recipe"]["searched"]["trials"] <= 3   # distinct recipes among the 3 trials


def test_compare_ranks_each_contract_with_its_best_recipe(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.yaml").write_text(TINY_WORKLOAD)
    assert main(["compare", "w.yaml", "--hw", "h100-sxm", "--hw", "ethos-u55", "--recipe", "auto", "--trials", "3",
                 "--out", "c"]) == 0
    out = capsys.readouterr().out
    assert "best legal recipe" in out and "naive recipe" in out
    profiles = json.loads((tmp_path / "c" / "results.json").read_text())["summary"]["profiles"]
    assert all(p["recipe"] is None or 1 <= p["recipe"]["searched"]["trials"] <= 3 for p in profiles)
