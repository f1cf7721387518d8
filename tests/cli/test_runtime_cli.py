"""--runtime on the commands: every output names its runtime and carries the ideal bound beside the prediction."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main
from tests.conftest import REPO

LLM_70B_TP4 = ["llm", "llama2-70b", "--hw", "h100-sxm", "--tp", "4", "--batch", "64", "--prompt", "2048", "--decode",
               "2048", "--weights", "fp8", "--kv", "fp8", "--format", "json"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_llm_names_its_runtime_and_prints_the_ideal_bound(capsys):
    """The issue's command: the default runtime on H100 is TensorRT-LLM 1.0's; --runtime ideal is the datasheet
    bound the default's JSON carries beside it."""
    s = _json(capsys, LLM_70B_TP4)
    assert s["runtime"] == "trtllm-1.0" and s["runtime_settings"]["sourced"]
    ideal = _json(capsys, LLM_70B_TP4 + ["--runtime", "ideal"])
    assert ideal["runtime"] == "ideal"
    for key in ("ttft_s", "tpot_s", "tokens_per_s"):
        assert s["ideal"][key] == pytest.approx(ideal[key], rel=1e-12)
    assert s["tokens_per_s"] < ideal["tokens_per_s"] and s["ttft_s"] > ideal["ttft_s"]
    assert main(LLM_70B_TP4[:-2]) == 0
    table = capsys.readouterr().out
    assert "trtllm-1.0" in table and "ideal (bound)" in table and "GiB" in table


def test_llm_memory_is_printed_in_gib(capsys):
    assert main(["llm", "llama2-7b", "--hw", "h100-sxm", "--prompt", "128", "--decode", "2"]) == 0
    assert "of 80.0 GiB" in capsys.readouterr().out


def test_a_runtime_file_on_the_command_line(tmp_path, capsys):
    f = tmp_path / "slow.yaml"
    f.write_text("name: slow\nsource: a test\ndefaults: {dram_efficiency: 0.5, step_overhead_s: 0.001}\n")
    base = ["llm", "llama2-7b", "--hw", "h100-sxm", "--prompt", "128", "--decode", "8", "--format", "json"]
    slow = _json(capsys, base + ["--runtime", str(f)])
    ideal = _json(capsys, base + ["--runtime", "ideal"])
    assert slow["runtime"] == "slow" and not slow["runtime_settings"]["sourced"]
    assert slow["tpot_s"] > 1.9 * ideal["tpot_s"] + 0.9e-3   # half the bandwidth, plus the host's millisecond


def test_run_and_compare_name_the_runtime(capsys, tmp_path):
    assert main(["run", str(REPO / "workloads" / "mlp.yaml"), "--hw", "h100-sxm", "--timing-only", "--format",
                 "json"]) == 0
    s = json.loads(capsys.readouterr().out)["summary"]["profiles"][0]
    assert s["runtime"] == "trtllm-1.0" and s["ideal"]["runtime"] == "ideal"
    assert s["ideal"]["latency_s"] <= s["latency_s"]
    # compare without numerics ranks what it has (regression: a traceback on the missing accuracy)
    assert main(["compare", str(REPO / "workloads" / "mlp.yaml"), "--hw", "h100-sxm", "--hw", "tpu-v1",
                 "--timing-only", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "runtime trtllm-1.0" in out and "runtime ideal" in out


def test_serve_names_the_runtime_and_its_bound(capsys):
    s = _json(capsys, ["serve", "llama2-7b", "--hw", "a100-80gb", "--rate", "2", "--duration", "5", "--format",
                       "json"])
    assert s["runtime"] == "trtllm-0.13" and s["ideal"]["throughput_tokens_per_s"] > 0
    assert s["tpot_p50_s"] > s["ideal"]["tpot_p50_s"]


@pytest.mark.parametrize("argv, words", [
    (["llm", "llama2-7b", "--hw", "h100-sxm", "--runtime", "trtllm-9"], ["--runtime", "unknown runtime"]),
    (["run", "mlp", "--hw", "tpu-v1", "--runtime", "{gemm}", "--timing-only"], ["--runtime", "systolic"]),
    (["llm", "llama2-7b", "--hw", "h100-sxm", "--runtime", "{bad}"], ["r-bad.yaml", "dram_efficiency"]),
])
def test_bad_runtimes_are_one_line_errors(capsys, tmp_path, argv, words):
    (tmp_path / "r-gemm.yaml").write_text("name: g\nsource: s\ndefaults: {gemm_efficiency: {int8: 0.5}}\n")
    (tmp_path / "r-bad.yaml").write_text("name: b\nsource: s\ndefaults: {dram_efficiency: 2}\n")
    argv = [a.format(gemm=tmp_path / "r-gemm.yaml", bad=tmp_path / "r-bad.yaml") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words)


def test_serve_max_throughput_is_the_benchmark_with_its_bound(capsys):
    """--max-throughput N: N requests of one length at t = 0 (accelsim.serve.max_throughput), beside the same run
    with ideal kernels and the same scheduler."""
    s = _json(capsys, ["serve", "llama3.1-8b", "--hw", "h100-sxm", "--weights", "fp8", "--kv", "fp8",
                       "--max-throughput", "600", "--prompt-dist", "fixed:128", "--output-dist", "fixed:128",
                       "--format", "json"])
    assert s["runtime"] == "trtllm-1.0" and s["requests"] == 600
    assert s["concurrency"] <= s["max_batch"] and s["throughput_tokens_per_s"] < s["ideal"]["throughput_tokens_per_s"]
    assert s["throughput_tokens_per_s"] == pytest.approx(600 * 128 / s["makespan_s"])


@pytest.mark.parametrize("extra, words", [
    (["--prompt-dist", "uniform:10,20", "--output-dist", "fixed:8"], ["--prompt-dist", "fixed:N"]),
    (["--prompt-dist", "fixed:8", "--output-dist", "fixed:8", "--rate", "3"], ["--max-throughput", "--rate"]),
])
def test_serve_max_throughput_bad_input(capsys, extra, words):
    assert main(["serve", "llama2-7b", "--hw", "h100-sxm", "--max-throughput", "10", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words)


@pytest.mark.parametrize("argv", [
    ["serve", "llama2-7b", "--hw", "tpu-v1", "--rate", "1", "--weights", "int4", "--kv", "int8"],
    ["serve", "llama2-7b", "--hw", "arm-neon-sdot", "--max-throughput", "10", "--weights", "int4", "--kv", "int8",
     "--prompt-dist", "fixed:8", "--output-dist", "fixed:8"],
])
def test_serve_refuses_weights_the_contract_does_not_list(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--weights" in err and "no int4 weights" in err
