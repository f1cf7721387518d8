"""Recipe steps on format layers (issue 24): each runs as named — it changes what the layer computes, and in the
direction its name promises — or the recipe check refuses it with one line saying why. Before, GPTQ and bias
correction on FP8 / MXFP4 layers gave results identical to the naive run, and per-token dynamic scales were
per-tensor ones."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.engine import run
from accelsim.errors import InputError
from accelsim.graph.ir import Graph, Node, TensorInfo
from accelsim.graph.workload import graph_workload
from accelsim.hardware import load_profile
from accelsim.numerics.formats import fixed_scales, format_values
from accelsim.quant.recipe import parse_recipe
from accelsim.workload.layers import LayerQuant, QuantIntent


def _workload(w_fmt, a_fmt, *, k=256, n=64, rows=96, seed=0, outliers=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, k)).astype(np.float32)
    if outliers:  # rows of very different magnitudes: what per-token scales are for
        x *= np.exp2(rng.integers(-6, 6, (rows, 1))).astype(np.float32)
    x[:, : k // 8] += 0.7  # a mean E[x] != 0: what bias correction corrects
    w = (rng.normal(size=(k, n)) / np.sqrt(k)).astype(np.float32)
    b = rng.normal(size=n).astype(np.float32) * 0.1
    g = Graph(name="lin", nodes=(Node("fc", "MatMul", ("x", "w"), ("h",)), Node("fc/bias", "Add", ("h", "b"), ("y",))),
              constants={"w": w, "b": b}, inputs=(TensorInfo("x", np.float32, ("m", k)),), outputs=("y",))
    quant = LayerQuant(weights=QuantIntent(format=w_fmt), activations=QuantIntent(format=a_fmt))
    return graph_workload(g, calibration=[{"x": x}], quant=quant, metric=None)


def _sqnr(wl, hw, steps=None):
    recipe = parse_recipe({"steps": steps}) if steps else None
    return float(run(wl, load_profile(hw), recipe=recipe).frame.set_index("layer").loc["fc", "sqnr_db"])


@pytest.mark.parametrize("fmt, hw", [("fp8_e4m3", "h100-sxm"), ("mxfp4", "b200"), ("nvfp4", "b200"),
                                     ("mxfp8_e4m3", "b200")])
def test_gptq_on_format_weights_lowers_the_output_error(fmt, hw):
    wl = _workload(fmt, "fp8_e4m3" if hw == "h100-sxm" else "mxfp8_e4m3")
    naive, gptq = _sqnr(wl, hw), _sqnr(wl, hw, [{"gptq": {}}])
    assert gptq > naive + 0.2, (naive, gptq)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "mxfp4", "nvfp4", "mxint8", "fp6_e2m3"])
def test_fixed_scales_are_the_formats_own_grid(fmt):
    """Rounding w / scales to the elements and scaling back is exactly the format's value of w (the grid GPTQ
    rounds to: scales fixed from the weights, K along axis 0 as the layer runs)."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=(70, 9)).astype(np.float32)
    scales, round_elements = fixed_scales(w, fmt)
    ours = round_elements((w / np.where(scales > 0, scales, 1)).astype(np.float32)) * scales
    np.testing.assert_array_equal(ours.astype(np.float32), format_values(w, fmt, axis=0))


@pytest.mark.parametrize("fmt, hw", [("fp8_e4m3", "h100-sxm"), ("mxfp4", "b200")])
def test_bias_correction_on_a_float_epilogue_changes_the_output(fmt, hw):
    wl = _workload(fmt, "fp8_e4m3" if hw == "h100-sxm" else "mxfp8_e4m3", rows=64, seed=4)
    naive, corrected = _sqnr(wl, hw), _sqnr(wl, hw, [{"bias_correction": {}}])
    assert corrected != naive and corrected > naive - 0.05, (naive, corrected)


def test_per_token_scales_for_fp8_activations_follow_each_row():
    """Rows 2^-12 .. 2^6 in magnitude: under one per-tensor FP8 scale the small rows fall below E4M3's smallest
    subnormal (mostly zeros); with a scale per row (token) each keeps E4M3's 3-bit precision. The layer is
    run directly (a layer SQNR is dominated by the large rows either way)."""
    from accelsim.graph.contract import FloatContractLayer
    from accelsim.quant import legalize
    from accelsim.quant.recipe import apply_recipe

    rng = np.random.default_rng(5)
    x = (rng.normal(size=(16, 128)) * np.exp2(np.linspace(-12, 6, 16))[:, None]).astype(np.float32)
    w = (rng.normal(size=(128, 8)) / 11).astype(np.float32)
    g = Graph(name="lin", nodes=(Node("fc", "MatMul", ("x", "w"), ("y",)),), constants={"w": w},
              inputs=(TensorInfo("x", np.float32, ("m", 128)),), outputs=("y",))
    quant = LayerQuant(weights=QuantIntent(format="fp8_e4m3"), activations=QuantIntent(format="fp8_e4m3"))
    wl = graph_workload(g, calibration=[{"x": x}], quant=quant, metric=None)
    profile = load_profile("h100-sxm")
    errors = {}
    for granularity in ("per_tensor", "per_token"):
        recipe = parse_recipe({"steps": [{"dynamic": {"granularity": granularity}}]})
        legal = apply_recipe(legalize(wl, profile), recipe)
        L = wl.graph.view.layers[0]
        layer = FloatContractLayer(L, legal.plans["fc"], profile, {L.x_float: x}, legal.recipes["fc"])
        env = {L.x_float: x}
        layer(env)
        y, ref = env[L.y_float].astype(np.float64), x.astype(np.float64) @ w
        errors[granularity] = np.linalg.norm(y - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert errors["per_tensor"][0] > 0.3    # the smallest row: mostly below E4M3's smallest subnormal
    assert errors["per_token"].max() < 0.1  # every row at FP8's precision


def _fp8_layer(x, w, steps):
    """The FloatContractLayer of one FP8 MatMul on h100-sxm under ``steps`` and its output on ``x``."""
    from accelsim.graph.contract import FloatContractLayer
    from accelsim.quant import legalize
    from accelsim.quant.recipe import apply_recipe

    g = Graph(name="lin", nodes=(Node("fc", "MatMul", ("x", "w"), ("y",)),), constants={"w": w},
              inputs=(TensorInfo("x", np.float32, ("m", x.shape[1])),), outputs=("y",))
    quant = LayerQuant(weights=QuantIntent(format="fp8_e4m3"), activations=QuantIntent(format="fp8_e4m3"))
    wl = graph_workload(g, calibration=[{"x": x}], quant=quant, metric=None)
    profile = load_profile("h100-sxm")
    legal = apply_recipe(legalize(wl, profile), parse_recipe({"steps": steps}) if steps else None)
    L = wl.graph.view.layers[0]
    layer = FloatContractLayer(L, legal.plans["fc"], profile, {L.x_float: x}, legal.recipes.get("fc"))
    env = {L.x_float: x}
    layer(env)
    return layer, env[L.y_float].astype(np.float64)


def test_promotion_every_128_recovers_what_a_14_bit_accumulator_loses():
    """h100-sxm's FP8 MMA keeps ~14 bits of the running sum and does not promote; DeepGEMM's software promotion
    every 128 K elements. On K = 8192 the accumulation's own error (the output against the exact sum of the same
    FP8 operands) drops by more than 15 dB; the step leaves a note that its time is not modelled."""
    rng = np.random.default_rng(6)
    x = np.abs(rng.normal(size=(8, 8192))).astype(np.float32)  # same-sign sums: the running sum grows
    w = np.abs(rng.normal(size=(8192, 16))).astype(np.float32) / 90
    own = {}
    for name, steps in (("naive", None), ("promoted", [{"promote": {"every": 128}}])):
        layer, y = _fp8_layer(x, w, steps)
        from accelsim.numerics.formats import format_operand

        xe, sx = format_operand(x, "fp8_e4m3")
        exact = (xe.astype(np.float64) @ layer.w.astype(np.float64)) * float(sx) * np.asarray(layer.w_scale, float)
        own[name] = 10 * np.log10(np.sum(exact ** 2) / np.sum((y - exact) ** 2))
        if name == "promoted":
            assert any("promoted to fp32 every 128" in n for n in layer.run.notes)
    assert own["promoted"] > own["naive"] + 15, own


@pytest.mark.parametrize("hw, fmt, steps, reason", [
    ("h100-sxm", "fp8_e4m3", [{"float_output": {}}], "float_output would change nothing"),
    ("b200", "mxfp4", [{"dynamic": {"granularity": "per_token"}}], "a run-time scale would change nothing"),
    ("b200", "mxfp4", [{"calibration": {"method": "mse"}}], "a calibrated activation range would change nothing"),
    ("h100-sxm", "fp16", [{"promote": {"every": 128}}], "no selected layer runs FP8-or-narrower math"),
    ("b200", "mxfp4", [{"promote": {"every": 128}}], "accumulates float math in full fp32"),
    ("h100-sxm", "fp16", [{"dynamic": {"granularity": "per_tensor"}}], "no activation scale to set"),
])
def test_a_step_that_would_change_nothing_is_refused(hw, fmt, steps, reason):
    a_fmt = "mxfp8_e4m3" if fmt == "mxfp4" else fmt
    with pytest.raises(InputError, match=reason):
        _sqnr(_workload(fmt, a_fmt, rows=8), hw, steps)


def test_w4a16_weights_are_dequantized_to_fp16():
    """issue 24: integer weights under fp16 math were dequantized to float32; the kernels (TensorRT-LLM's
    weight-only GEMM, Marlin) dequantize to fp16 before the MMA: every weight value the layer multiplies is an
    fp16 value, (code - zp) x fp16(scale) rounded once."""
    from accelsim.graph.contract import _dequantized_weight
    from accelsim.numerics.formats import cast

    rng = np.random.default_rng(8)
    codes = rng.integers(-8, 8, (64, 16))
    scale = rng.uniform(1e-3, 2e-2, (1, 16)).astype(np.float32)
    w = _dequantized_weight(codes, 0, scale, "fp16")
    np.testing.assert_array_equal(w, cast(w, "fp16"))          # fp16 values
    exact = codes * cast(scale, "fp16").astype(np.float64)
    np.testing.assert_array_equal(w, cast(exact, "fp16"))      # one rounding of the exact product
    assert not np.array_equal(w, (codes * scale).astype(np.float32))  # not the float32 dequantization
    assert _dequantized_weight(codes, 0, scale, "fp32").dtype == np.float32


def _attention_inputs(residual: bool):
    """LayerNormalization -> q, k, v projections (pre-LN, as Llama), plus a residual Add reading the same
    normalized tensor when ``residual`` (post-LN, as BERT)."""
    rng = np.random.default_rng(9)
    k = 64
    consts = {"g": rng.uniform(0.5, 2, k).astype(np.float32), "b": rng.normal(size=k).astype(np.float32) * 0.1}
    nodes = [Node("ln", "LayerNormalization", ("x", "g", "b"), ("h",), {"axis": -1, "epsilon": 1e-5})]
    for p in ("q", "k", "v"):
        consts[f"w{p}"] = (rng.normal(size=(k, k)) / 8).astype(np.float32)
        nodes.append(Node(p, "MatMul", ("h", f"w{p}"), (f"y{p}",)))
    outputs = ["yq", "yk", "yv"]
    if residual:
        nodes.append(Node("res", "Add", ("h", "yv"), ("r",)))
        outputs.append("r")
    g = Graph(name="attn", nodes=tuple(nodes), constants=consts, inputs=(TensorInfo("x", np.float32, ("m", k)),),
              outputs=tuple(outputs))
    x = rng.normal(size=(32, k)).astype(np.float32)
    x[:, 3] *= 30  # an outlier channel: what SmoothQuant migrates
    return graph_workload(g, calibration=[{"x": x}], metric=None)


@pytest.mark.parametrize("residual", [False, True], ids=["pre-LN: folds", "post-LN: a timed Mul"])
def test_smoothquant_rescale_folds_or_is_timed(residual):
    """issue 24: SmoothQuant's x / s was assumed free everywhere, with a different s for q, k and v of one
    LayerNorm output. Now q, k, v share one s; it folds into the LayerNorm when nothing else reads its output,
    otherwise it is an elementwise Mul, timed as its own row and said in the notes."""
    wl = _attention_inputs(residual)
    recipe = parse_recipe({"steps": [{"smoothquant": {"alpha": 0.5}}]})
    result = run(wl, load_profile("tensorcore-int8"), recipe=recipe)
    f = result.frame.set_index("layer")
    note = next(n for n in result.notes if n.startswith("smoothing of q, k, v"))
    if residual:
        assert "q/smooth" in f.index and f.loc["q/smooth", "op"] == "mul" and f.loc["q/smooth", "latency_s"] > 0
        assert "does not fold" in note and "Add" in note
        plain = run(wl, load_profile("tensorcore-int8"))
        assert result.frame["latency_s"].sum() > plain.frame["latency_s"].sum()
    else:
        assert "q/smooth" not in f.index and "free" in note and "LayerNormalization" in note
    from accelsim.graph.smoothing import shared_scales
    from accelsim.quant import legalize
    from accelsim.quant.recipe import apply_recipe

    legal = apply_recipe(legalize(wl, load_profile("tensorcore-int8")), recipe)
    x = wl.graph.calibration[0]["x"]
    from accelsim.graph.execute import run_graph

    h = run_graph(wl.graph.view, {"x": x})["h"]
    s = shared_scales(legal, wl.graph.view, {"h": h})
    assert np.array_equal(s["q"], s["k"]) and np.array_equal(s["k"], s["v"])


def _held_out(w_fmt, a_fmt, seed=11):
    """A format layer calibrated on one record and evaluated on others (a step's effect shows on held-out data)."""
    rng = np.random.default_rng(seed)
    k, n = 128, 32
    w = (rng.normal(size=(k, n)) / np.sqrt(k)).astype(np.float32)
    w[5] *= 20  # a weight outlier row: what AWQ / SmoothQuant move
    g = Graph(name="lin", nodes=(Node("fc", "MatMul", ("x", "w"), ("y",)),), constants={"w": w},
              inputs=(TensorInfo("x", np.float32, ("m", k)),), outputs=("y",))

    def record(scale):
        x = rng.normal(size=(48, k)).astype(np.float32) * scale
        x[:, 7] *= 25  # an activation outlier channel
        return {"x": x}

    quant = LayerQuant(weights=QuantIntent(format=w_fmt), activations=QuantIntent(format=a_fmt))
    return graph_workload(g, calibration=[record(1.0)], evaluation=[record(1.0), record(3.0)], quant=quant,
                          metric=None)


STEPS = {
    "calibration": [{"calibration": {"method": "percentile", "percentile": 99.0}}],
    "dynamic": [{"dynamic": {"granularity": "per_tensor"}}],
    "smoothquant": [{"smoothquant": {"alpha": 0.5}}],
    "awq": [{"awq": {}}],
    "gptq": [{"gptq": {}}],
    "bias_correction": [{"bias_correction": {}}],
    "mixed_precision": [{"mixed_precision": {"type": "fp16"}}],
}


@pytest.mark.parametrize("step", sorted(STEPS))
@pytest.mark.parametrize("w_fmt, a_fmt, hw", [("fp8_e4m3", "fp8_e4m3", "h100-sxm"), ("mxfp4", "mxfp8_e4m3", "b200")])
def test_every_step_on_a_format_layer_changes_its_result(step, w_fmt, a_fmt, hw):
    """issue 24's must-show: each recipe step on a format layer changes what the layer computes (held-out records),
    or is refused with one line (the refusals are tested above)."""
    wl = _held_out(w_fmt, a_fmt)
    naive = run(wl, load_profile(hw)).frame.set_index("layer").loc["fc"]
    try:
        result = run(wl, load_profile(hw), recipe=parse_recipe({"steps": STEPS[step]}))
        stepped = result.frame.set_index("layer")
    except InputError as exc:  # refused: one line, naming the step
        assert "\n" not in str(exc) and step in str(exc)
        return
    if stepped.loc["fc", "sqnr_db"] == naive["sqnr_db"]:  # only a search may choose to change nothing, and says so
        assert step == "awq" and any("kept s = 1" in n for n in result.notes), step
        return
    assert stepped.loc["fc", "sqnr_db"] != naive["sqnr_db"], step
