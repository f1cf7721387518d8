"""End-to-end CLI behaviour: the main job, JSON output, and bad input (one line, exit 2, no files)."""

import json
import math
import subprocess
import sys

import pytest

from accelsim.cli import main
from accelsim.results.schema import COLUMNS
from tests.conftest import REPO, TINY_PROFILE, TINY_WORKLOAD


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "accelsim.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_run_mlp_json_has_every_schema_column_filled(tmp_path):
    proc = run_cli("run", str(REPO / "workloads" / "mlp.yaml"), "--hw", "tensorcore-int8", "--format", "json",
                   "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["layer"] for r in doc["layers"]] == ["fc1", "fc2", "fc3"]
    for row in doc["layers"]:
        for col in COLUMNS:
            assert col in row and row[col] is not None and row[col] != "", col
        assert row["macs"] > 0 and row["cycles"] >= row["compute_cycles"] > 0
        assert row["energy_pj"] == pytest.approx(row["energy_mac_pj"] + row["energy_requant_pj"]
                                                 + row["energy_sram_pj"] + row["energy_dram_pj"]
                                                 + row["energy_static_pj"])
        assert row["energy_static_pj"] == pytest.approx(55.0 * row["latency_s"] * 1e12)  # the profile's 55 W
        assert row["regime"] in ("memory-bound", "compute-bound")
        assert 10 < float(row["sqnr_db"]) < 60  # int8 quantization error: measured, in a plausible range
    assert (tmp_path / "out" / "results.json").is_file() and (tmp_path / "out" / "results.csv").is_file()


def test_run_table_and_builtin_name(tmp_path):
    proc = run_cli("run", "mlp", "--hw", "arm-neon-sdot", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "fc1" in proc.stdout and "total" in proc.stdout


def test_hw_list_and_show(capsys):
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("tensorcore-int8", "tpu-v1", "arm-neon-sdot", "ethos-u55", "edge-npu-pot16", "onnxruntime-cpu",
                 "tflite-int8"):
        assert name in out
    assert main(["hw", "show", "tpu-v1"]) == 0
    out = capsys.readouterr().out
    assert "91.8 TOPS" in out and "1349.3 MAC/byte" in out
    # the per-operation energy table in use (28 nm: 45 nm x (28/45)^1.1)
    assert "energy per operation at 28 nm" in out and "MAC int8 x int8" in out and "requantize" in out


def test_llm_section_reports_the_whole_model(tmp_path):
    proc = run_cli("run", "llama2-7b-decode", "--hw", "tensorcore-int8", "--format", "json", "--no-write")
    assert proc.returncode == 0, proc.stderr
    llm = json.loads(proc.stdout)["summary"]["profiles"][0]["llm"]
    assert llm["decode_projection_regime"] == "memory-bound"
    assert llm["prefill_projection_regime"] == "compute-bound"
    assert llm["decode_steps"] == 128 and llm["prompt_tokens"] == 2048
    assert 100 < llm["decode_tokens_per_s"] < 260  # ~6.7 GB of int8 weights per token at 1.555 TB/s


def test_llm_section_bad_values(write, capsys, tmp_path):
    text = (REPO / "workloads" / "llama2-7b-decode.yaml").read_text().replace("kv_cache_bits: 8", "kv_cache_bits: 4")
    w = write("w.yaml", text)
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "w.yaml", "llm.kv_cache_bits")


def _bad(args, capsys, tmp_path, *expect):
    out_dir = tmp_path / "never"
    code = main([*args, "--out", str(out_dir)] if args[0] == "run" else args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("accelsim: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expect:
        assert text in err, err
    assert not out_dir.exists()
    return err


def test_missing_file(capsys, tmp_path):
    _bad(["run", str(tmp_path / "nope.yaml"), "--hw", "tensorcore-int8"], capsys, tmp_path, "nope.yaml", "not found")


def test_yaml_syntax_error_reports_line(write, capsys, tmp_path):
    w = write("w.yaml", "name: x\ninputs:\n  x: {shape: [1, 2]\nlayers: []\n")
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "w.yaml:", "YAML syntax error")


def test_unknown_key(write, capsys, tmp_path):
    w = write("w.yaml", TINY_WORKLOAD.replace("out_features: 16", "out_feature: 16"))
    err = _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "w.yaml:5", "layers[0]", "unknown key")
    assert "out_features" in err


def test_wrong_type(write, capsys, tmp_path):
    w = write("w.yaml", TINY_WORKLOAD.replace("out_features: 16", "out_features: sixteen"))
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "layers[0].out_features", "integer")


def test_non_positive_size(write, capsys, tmp_path):
    w = write("w.yaml", TINY_WORKLOAD.replace("[8, 32]", "[8, 0]"))
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "inputs.x.shape[1]", "greater than 0")


def test_unknown_profile_suggests(capsys, tmp_path):
    _bad(["run", "mlp", "--hw", "tensorcore-int9"], capsys, tmp_path, "unknown hardware profile", "tensorcore-int8")


def test_shapes_do_not_chain(write, capsys, tmp_path):
    w = write("w.yaml", TINY_WORKLOAD.replace("{name: fc2, op: linear,", "{name: fc2, op: linear, in_features: 17,"))
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "layers[1].in_features", "do not chain")


def test_sample_larger_than_layer(write, capsys, tmp_path):
    w = write("w.yaml", TINY_WORKLOAD + "numerics: {sample: 9}\n")
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "numerics.sample", "1..8")


def test_bad_profile_file(write, capsys, tmp_path):
    p = write("p.yaml", TINY_PROFILE.replace("bits: 16", "bits: 7"))
    w = write("w.yaml", TINY_WORKLOAD)
    _bad(["run", str(w), "--hw", str(p)], capsys, tmp_path, "p.yaml:", "accumulator.bits", "greater than or equal to 8")


def test_unsupported_operand_type_combination(write, capsys, tmp_path):
    p = write("p.yaml", TINY_PROFILE.replace("rounding: half_up", "rounding: double"))
    _bad(["validate", str(p)], capsys, tmp_path, "requant", "not available with scale 'power_of_two'")


def test_validate_ok(capsys):
    assert main(["validate", str(REPO / "workloads" / "resnet18.yaml"), str(REPO / "hw_profiles" / "tpu-v1.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok (workload 'resnet18'" in out and "ok (hardware profile 'tpu-v1'" in out


def test_out_is_a_file(write, capsys, tmp_path):
    f = write("file", "x")
    code = main(["run", "mlp", "--hw", "tensorcore-int8", "--out", str(f)])
    assert code == 2 and "--out" in capsys.readouterr().err


def test_no_traceback_on_bad_argument():
    proc = run_cli("run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_results_roundtrip(tmp_path):
    import accelsim

    assert main(["run", "mlp", "--hw", "tensorcore-int8", "--out", str(tmp_path), "--format", "csv"]) == 0
    for name in ("results.json", "results.csv"):
        frame = accelsim.load_results(tmp_path / name)
        assert list(frame["layer"]) == ["fc1", "fc2", "fc3"]
        assert all(math.isfinite(v) for v in frame["sqnr_db"])


def test_layer_without_op(write, capsys, tmp_path):
    w = write("w.yaml", TINY_WORKLOAD.replace("{name: fc2, op: linear,", "{name: fc2,"))
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "layers[1]", "'op' is missing", "conv2d")


def test_top_level_not_a_mapping(write, capsys, tmp_path):
    w = write("w.yaml", "- 1\n- 2\n")
    _bad(["run", str(w), "--hw", "tensorcore-int8"], capsys, tmp_path, "expected a mapping")


def test_diagnose_prints_where_the_accuracy_goes(tmp_path, monkeypatch, capsys):
    """issue 27: --diagnose on a float ONNX model computed its diagnosis and printed nothing of it."""
    from tests.cli.test_bad_input import _onnx_model

    monkeypatch.chdir(tmp_path)
    _onnx_model(tmp_path, dynamic=False)
    assert main(["run", "m.onnx", "--hw", "tensorcore-int8", "--diagnose", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "where the accuracy goes (--diagnose)" in out and "end to end when re-run: minmax" in out
    assert "float: nothing" in out  # no float op in the model: said, not an empty list


def test_timing_only_legalization_has_no_empty_cost_columns(capsys):
    """issue 27: --timing-only printed the legalization table with its SQNR and cost columns empty."""
    assert main(["run", "mlp", "--hw", "tpu-v1", "--timing-only", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "cost not measured: numerics skipped" in out
    table = out[out.index("cost not measured"):]
    assert "SQNR dB" not in table and "cost dB" not in table
