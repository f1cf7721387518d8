"""accelsim serve from the command line: stable JSON keys, deployments side by side, the HTML report."""

from __future__ import annotations

import json

from accelsim.cli import main

KEYS = ("requests_arrived", "requests_completed", "requests_in_flight", "throughput_tokens_per_s",
        "throughput_requests_per_s", "mean_concurrency", "mean_latency_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
        "tpot_p99_s", "kv_cache_peak_fraction")


def test_json_has_the_stable_keys(capsys):
    assert main(["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "5", "--duration", "5", "--weights", "int4",
                 "--kv", "int8", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    for key in KEYS:
        assert key in s, key
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_in_flight"]


def test_deployments_side_by_side_with_html(tmp_path, capsys):
    out = tmp_path / "serve.html"
    assert main(["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "4", "--duration", "5", "--weights", "fp16",
                 "--kv", "fp16", "--weights", "int4", "--kv", "int8", "--html", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fp16 / fp16" in text and "int4 / int8" in text and "written:" in text
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "serve-plots" in page and "https://" not in page.split("<script>")[0]


def test_trace_arrivals(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,300,20\n0.25,50,5\n")
    assert main(["serve", "llama2-7b", "--hw", "a100-80gb", "--trace", str(trace), "--drain", "--format",
                 "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["requests_arrived"] == 3 and s["requests_completed"] == 3 and s["output_tokens"] == 35
