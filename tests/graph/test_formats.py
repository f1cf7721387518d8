"""Float and block operand formats on the graph path: legalization to what the contract runs, the float MAC
datapath (exact where the values allow, measurably lossy where the format is narrow), timing at the format's
rate and bytes, and a clear error where formats are not modelled (YAML layer chains)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from accelsim.engine import run
from accelsim.graph.ir import Graph, Node, TensorInfo
from accelsim.graph.workload import graph_workload
from accelsim.hardware import load_profile
from accelsim.quant import legalize
from accelsim.workload.layers import LayerQuant, QuantIntent


def _linear_graph(w, b) -> Graph:
    return Graph(name="lin", nodes=(Node("fc", "MatMul", ("x", "w"), ("h",)), Node("fc/bias", "Add", ("h", "b"), ("y",))),
                 constants={"w": w, "b": b}, inputs=(TensorInfo("x", np.float32, ("m", w.shape[0])),), outputs=("y",))


def _quant(w_fmt, a_fmt, granularity="per_tensor"):
    return LayerQuant(weights=QuantIntent(format=w_fmt, granularity=granularity), activations=QuantIntent(format=a_fmt))


def test_fp16_operands_with_fp32_accumulation_are_exact_on_small_integers():
    """Integers up to 2^11 are exact in fp16, their products and sums in fp32: the float path equals float64."""
    rng = np.random.default_rng(0)
    x = rng.integers(-8, 9, (16, 64)).astype(np.float32)
    w = rng.integers(-8, 9, (64, 24)).astype(np.float32)
    b = rng.integers(-50, 51, 24).astype(np.float32)
    wl = graph_workload(_linear_graph(w, b), calibration=[{"x": x}], quant=_quant("fp16", "fp16"), metric=None)
    f = run(wl, load_profile("h100-sxm")).frame.set_index("layer")
    assert f.loc["fc", "weight_type"] == "fp16" and f.loc["fc", "activation_type"] == "fp16"
    assert f.loc["fc", "sqnr_db"] == math.inf and f.loc["fc", "overflow_events"] == 0


def test_narrower_formats_lose_more():
    """On random normal data: fp16 > fp8 E4M3 (per-tensor scale) > MXFP4 in output SQNR; each format's SQNR is near
    what its mantissa allows (fp16 ~ 10 bits, E4M3 ~ 3 bits, E2M1 ~ 1 bit)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 256)).astype(np.float32)
    w = rng.normal(size=(256, 64)).astype(np.float32) / 16
    b = np.zeros(64, np.float32)
    sqnr = {}
    for fmt, hw in (("fp16", "h100-sxm"), ("fp8_e4m3", "h100-sxm"), ("mxfp4", "b200")):
        wl = graph_workload(_linear_graph(w, b), calibration=[{"x": x}], quant=_quant(fmt, fmt), metric=None)
        sqnr[fmt] = run(wl, load_profile(hw)).frame.set_index("layer").loc["fc", "sqnr_db"]
    assert sqnr["fp16"] > 60 > sqnr["fp8_e4m3"] > 25 > sqnr["mxfp4"] > 8


def test_a_format_the_contract_lacks_is_legalized_with_its_cost():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 64)).astype(np.float32)
    w = rng.normal(size=(64, 16)).astype(np.float32)
    wl = graph_workload(_linear_graph(w, np.zeros(16, np.float32)), calibration=[{"x": x}],
                        quant=_quant("mxfp4", "fp8_e4m3"), metric=None)
    h100 = legalize(wl, load_profile("h100-sxm")).plans["fc"]
    assert (h100.weights.type_name, h100.activations.type_name) == ("fp8_e4m3", "fp8_e4m3")  # narrowest >= 4.25 bits
    assert [(c.rule, c.before, c.after) for c in h100.changes] == [("format", "mxfp4", "fp8_e4m3")]
    ethos = legalize(wl, load_profile("ethos-u55")).plans["fc"]   # integers only: the format's width in integers
    assert ethos.activations.type_name == "int8" and any(c.rule == "format" for c in ethos.changes)
    result = run(wl, load_profile("h100-sxm"))
    (change,) = result.changes
    assert change.sqnr_before_db is not None and change.sqnr_after_db > change.sqnr_before_db  # fp8 beats mxfp4


def test_formats_set_the_bytes_and_the_rate():
    """MXFP4 weights move 4.25 bits each; fp16 math runs at half the int8 rate on H100."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2048, 1024)).astype(np.float32)
    w = rng.normal(size=(1024, 1024)).astype(np.float32)
    g = _linear_graph(w, np.zeros(1024, np.float32))
    rows = {}
    for name, quant, hw in (("int8", None, "b200"), ("fp16", _quant("fp16", "fp16"), "h100-sxm"),
                            ("fp8", _quant("fp8_e4m3", "fp8_e4m3"), "h100-sxm"), ("mxfp4", _quant("mxfp4", "fp8_e4m3"), "b200")):
        wl = graph_workload(g, calibration=[{"x": x[:4]}], timing_feed={"x": x}, quant=quant, metric=None)
        rows[name] = run(wl, load_profile(hw), timing_only=True).frame.set_index("layer").loc["fc"]
    assert rows["mxfp4"]["weight_bytes"] == math.ceil(1024 * 1024 * 4.25 / 8)
    assert rows["fp16"]["compute_cycles"] == pytest.approx(2 * rows["fp8"]["compute_cycles"], rel=0.01)


def test_formats_in_a_yaml_layer_workload(tmp_path):
    """The integer chain stores tensors in the format too: fp16 everywhere is near float; MXINT8 on the MX-only NPU
    beats per-tensor int8 on the same layers (block scales follow the data)."""
    from accelsim.loading import load_workload

    def workload(quant):
        (tmp_path / "w.yaml").write_text(yaml.safe_dump({
            "name": "f", "inputs": {"x": {"shape": [32, 256]}}, "quant": quant,
            "data": {"activations": {"outlier_fraction": 0.02, "outlier_magnitude": 20}},
            "layers": [{"name": "fc1", "op": "linear", "out_features": 128, "activation": "relu"},
                       {"name": "fc2", "op": "linear", "out_features": 64}, {"name": "probs", "op": "softmax"}]}))
        return load_workload(tmp_path / "w.yaml")

    fp16 = run(workload({"weights": {"format": "fp16"}, "activations": {"format": "fp16"}}), load_profile("h100-sxm"))
    f = fp16.frame.set_index("layer")
    assert (f["weight_type"][["fc1", "fc2"]] == "fp16").all() and f.loc["fc2", "sqnr_db"] > 60
    mx = run(workload({}), load_profile("mx-npu")).frame.set_index("layer")
    int8 = run(workload({}), load_profile("h100-sxm")).frame.set_index("layer")
    assert mx.loc["fc2", "weight_type"] == "mxint8" and mx.loc["fc2", "sqnr_db"] > int8.loc["fc2", "sqnr_db"]


def test_a_format_needs_its_rate_in_the_contract(tmp_path):
    from accelsim.errors import InputError

    text = (load_profile("h100-sxm").source and open(load_profile("h100-sxm").source).read())
    text = text.replace("activations: [int8, fp16, bf16, fp8_e4m3, fp8_e5m2]", "activations: [int8, fp16, mxfp4]")
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(InputError, match="float_rates.fp4"):
        load_profile(str(tmp_path / "p.yaml"))


def test_compare_shows_what_quantization_buys(tmp_path, capsys):
    """compare runs each contract's float baseline (fp16 on h100-sxm: int8 is faster and costs accuracy; on a
    contract without float math it says so) in the table, the JSON and the HTML report."""
    import json

    from accelsim.cli import main

    html = tmp_path / "r.html"
    assert main(["compare", "bert-base-layer", "--hw", "h100-sxm", "--hw", "edge-npu-pot16", "--format", "json",
                 "--no-write", "--html", str(html)]) == 0
    h100, npu = json.loads(capsys.readouterr().out)["summary"]["profiles"]
    b = h100["vs_float_baseline"]
    assert b["format"] == "fp16" and b["speedup"] > 1 and b["energy_ratio"] < 1  # a 128-token layer: launch-bound
    assert b["accuracy"]["metric"] == "final SQNR (dB)" and b["accuracy"]["baseline"] > b["accuracy"]["quantized"] + 20
    assert npu["vs_float_baseline"]["format"] is None and "no fp16/bf16 math" in npu["vs_float_baseline"]["reason"]
    assert "What quantization buys" in html.read_text()


def test_dynamic_fp8_scaling_follows_each_input():
    """fp8 activations scaled from the calibration range clip an evaluation input 8x larger; scaled dynamically
    (from each input as it runs) they do not. Dynamic scaling is a format's: integers refuse it."""
    from accelsim.workload import schema as ws

    rng = np.random.default_rng(4)
    calib = rng.normal(size=(16, 128)).astype(np.float32)
    evaluation = 8 * rng.normal(size=(16, 128)).astype(np.float32)
    w = rng.normal(size=(128, 32)).astype(np.float32)
    sqnr = {}
    for scaling in ("per_tensor", "dynamic"):
        quant = LayerQuant(weights=QuantIntent(format="fp8_e4m3"),
                           activations=QuantIntent(format="fp8_e4m3", scaling=scaling))
        wl = graph_workload(_linear_graph(w, np.zeros(32, np.float32)), calibration=[{"x": calib}],
                            evaluation=[{"x": evaluation}], quant=quant, metric=None)
        sqnr[scaling] = run(wl, load_profile("h100-sxm")).frame.set_index("layer").loc["fc", "sqnr_db"]
    assert sqnr["dynamic"] > sqnr["per_tensor"] + 10
    with pytest.raises(Exception, match="dynamic applies to a float format"):
        ws.QuantIntentModel(bits=8, scaling="dynamic")


def test_conversion_overflow_is_the_contracts(tmp_path):
    """An fp8 E4M3 input 8x beyond its calibrated range: a satfinite contract clamps it (finite, lossy), an IEEE one
    turns it into NaN (E4M3 has no infinity), which the results show."""
    rng = np.random.default_rng(5)
    calib = rng.normal(size=(16, 64)).astype(np.float32)
    w = rng.normal(size=(64, 8)).astype(np.float32)
    quant = LayerQuant(weights=QuantIntent(format="fp8_e4m3"), activations=QuantIntent(format="fp8_e4m3"))
    wl = graph_workload(_linear_graph(w, np.zeros(8, np.float32)), calibration=[{"x": calib}],
                        evaluation=[{"x": 8 * calib}], quant=quant, metric=None)
    text = open(load_profile("h100-sxm").source).read() + "\nfloat_conversion: nonfinite\n"
    (tmp_path / "ieee.yaml").write_text(text.replace("name: h100-sxm", "name: h100-ieee"))
    satfinite = run(wl, load_profile("h100-sxm")).frame.set_index("layer").loc["fc", "sqnr_db"]
    ieee = run(wl, load_profile(str(tmp_path / "ieee.yaml"))).frame.set_index("layer").loc["fc", "sqnr_db"]
    assert math.isfinite(satfinite) and math.isnan(ieee)


def test_a_qdq_model_on_a_formats_only_contract(tmp_path, capsys):
    """An int8 QDQ model on the MX-only NPU: its integer layers legalize to MXINT8 and run in it, the downstream
    DequantizeLinear passes their values through (regression: a KeyError traceback)."""
    import json

    from accelsim.cli import main
    from tests.onnx.qdq_models import qdq_mlp_conv

    qdq_mlp_conv(seed=1, path=tmp_path / "m.onnx")
    assert main(["run", str(tmp_path / "m.onnx"), "--hw", "mx-npu", "--no-write", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    macs = [r for r in doc["layers"] if r["op"] in ("linear", "conv2d")]
    assert macs and all(r["weight_type"] == "mxint8" and not r["ran_in_float"] for r in macs)
    assert all(r["sqnr_db"] > 10 for r in macs)


def test_diagnose_with_formats(capsys):
    """--diagnose on a graph whose layers run in a format: the recalibration variants run, the integer error split
    is skipped for those layers (regression: an AttributeError)."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 64)).astype(np.float32)
    w = rng.normal(size=(64, 8)).astype(np.float32)
    wl = graph_workload(_linear_graph(w, np.zeros(8, np.float32)), calibration=[{"x": x}],
                        quant=_quant("fp8_e4m3", "fp8_e4m3"))
    result = run(wl, load_profile("h100-sxm"), diagnose=True)
    assert result.diagnosis == [] and set(result.recalibration) == {"minmax", "percentile", "mse", "entropy"}


def test_a_conv_in_a_format_on_both_roads(tmp_path):
    """fp16 convolutions (grouped and strided too) stay near float as YAML layers (the chain), and MXINT8 on the MX
    NPU is int8-class (> 30 dB); the float convolution path (float_conv2d) is shared by both roads (the ONNX road's
    conv: test_a_qdq_model_on_a_formats_only_contract)."""
    from accelsim.loading import load_workload

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "name": "c", "inputs": {"x": {"shape": [1, 8, 12, 12]}},
        "layers": [{"name": "c1", "op": "conv2d", "out_channels": 16, "kernel": 3, "padding": 1, "activation": "relu"},
                   {"name": "c2", "op": "conv2d", "out_channels": 16, "kernel": 3, "stride": 2, "groups": 4}]}))
    wl = load_workload(tmp_path / "c.yaml")
    fp16 = dataclasses_replace_quant(wl, "fp16")
    f = run(fp16, load_profile("h100-sxm")).frame.set_index("layer")
    assert (f["weight_type"] == "fp16").all() and (f["sqnr_db"] > 60).all()
    mx = run(wl, load_profile("mx-npu")).frame.set_index("layer")
    assert (mx["weight_type"] == "mxint8").all() and (mx["sqnr_db"] > 30).all()


def dataclasses_replace_quant(wl, fmt):
    import dataclasses

    quant = _quant(fmt, fmt)
    return dataclasses.replace(wl, layers=tuple(dataclasses.replace(layer, quant=quant) for layer in wl.layers))
