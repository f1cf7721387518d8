"""accelsim compare: ranking, exports, the HTML report, atomic writes."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

import accelsim
from accelsim.cli import main


def test_compare_json_and_load_results(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "accelsim.cli", "compare", "mlp", "--hw", "tensorcore-int8",
                           "--hw", "edge-npu-pot16", "--format", "json", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {r["profile"] for r in doc["layers"]} == {"tensorcore-int8", "edge-npu-pot16"}
    assert doc["summary"]["command"].startswith("accelsim compare mlp")
    frame = accelsim.load_results(out / "results.json")
    assert isinstance(frame, pd.DataFrame) and len(frame) == 6
    assert len(accelsim.load_results(out / "results.csv")) == 6


def test_compare_table_ranks_and_writes_the_report(tmp_path, capsys):
    html = tmp_path / "r" / "cmp.html"
    assert main(["compare", "mlp", "--hw", "tensorcore-int8", "--hw", "edge-npu-pot16", "--html", str(html),
                 "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "contracts ranked" in out and "(#1)" in out and "(#2)" in out
    assert "legalization changes" in out  # edge-npu's costliest changes
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "plotly" in text and "accelsim compare mlp" in text
    assert "<script src=" not in text and "<link" not in text  # self-contained: nothing to fetch
    assert [p.name for p in html.parent.iterdir()] == ["cmp.html"]  # no temporary file left


def test_compare_csv(capsys):
    assert main(["compare", "mlp", "--hw", "tensorcore-int8", "--hw", "tpu-v1", "--format", "csv",
                 "--no-write"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("profile,layer,op") and len(lines) == 7


def test_run_html_single_profile(tmp_path):
    html = tmp_path / "one.html"
    assert main(["run", "mlp", "--hw", "arm-neon-sdot", "--html", str(html), "--no-write"]) == 0
    assert "arm-neon-sdot" in html.read_text()


def test_bad_input_writes_nothing(tmp_path, capsys):
    html = tmp_path / "x.html"
    assert main(["compare", "mlp", "--hw", "tensorcore-int8", "--hw", "no-such-profile", "--html", str(html),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-profile" in err
    assert not html.exists() and not (tmp_path / "o").exists()


def test_interrupted_run_leaves_no_report(tmp_path, monkeypatch):
    import accelsim.report.html as report

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(report, "render_report", boom)
    html = tmp_path / "y.html"
    assert main(["compare", "mlp", "--hw", "tensorcore-int8", "--html", str(html),
                 "--out", str(tmp_path / "o")]) == 130
    assert not html.exists() and not (tmp_path / "o").exists()
