"""Recipe steps inside the one executor: each layer still runs the contract's integer kernel (no float shortcut),
the outputs equal a hand-written derivation of the step, and tuned recipes replay exactly."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.graph.contract import ContractLayer
from accelsim.graph.ir import Graph, Node, TensorInfo
from accelsim.graph.run import _calibrate, run_graph_numerics
from accelsim.graph.workload import graph_workload
from accelsim.hardware import load_profile
from accelsim.numerics.api import qlinear_float_output
from accelsim.quant import legalize
from accelsim.quant.recipe import apply_recipe, parse_recipe
from accelsim.quant.smoothing import smoothquant_scales


def outlier_mlp(seed: int = 0, m: int = 12, k: int = 32, h: int = 24, n: int = 8):
    """Two linear layers with a Gelu-free Relu between them; channel 3 of x is an outlier (x 40), as BERT's
    LayerNorm outputs have: what SmoothQuant and per-token scales are for."""
    r = np.random.default_rng(seed)
    consts = {"w1": r.normal(0, 0.2, (k, h)), "b1": r.normal(0, 0.1, h), "w2": r.normal(0, 0.2, (h, n)),
              "b2": r.normal(0, 0.1, n)}
    nodes = (Node("fc1", "MatMul", ("x", "w1"), ("fc1",)), Node("fc1/bias", "Add", ("fc1", "b1"), ("h",)),
             Node("act", "Relu", ("h",), ("a",)), Node("fc2", "MatMul", ("a", "w2"), ("fc2",)),
             Node("fc2/bias", "Add", ("fc2", "b2"), ("y",)))
    g = Graph(name="outlier-mlp", nodes=nodes, constants=consts, inputs=(TensorInfo("x", np.float64, ("m", k)),),
              outputs=("y",))

    def record(s):
        rr = np.random.default_rng(s)
        x = rr.normal(size=(m, k))
        x[:, 3] *= 40
        return {"x": x}
    return graph_workload(g, calibration=[record(100 + i) for i in range(4)],
                          evaluation=[record(200 + i) for i in range(3)], name="outlier-mlp")


def _contract_layer(wl, hw, steps):
    profile = load_profile(hw)
    legal = apply_recipe(legalize(wl, profile), parse_recipe(steps))
    view = wl.graph.view
    calib = _calibrate(view, view, wl.graph.calibration)
    L = view.layers[0]
    return ContractLayer(L, legal.plans[L.name], profile, calib, False, recipe=legal.recipes.get(L.name)), calib, L


def test_smoothquant_per_token_layer_is_the_integer_kernel():
    """SmoothQuant (alpha 0.5) + dynamic per-token int8 on tensorcore-int8, derived by hand: x / s quantized per
    row (symmetric, amax / 127 in float32), s W per output channel, the int32 sum in the float epilogue."""
    wl = outlier_mlp()
    layer, calib, L = _contract_layer(wl, "tensorcore-int8", [{"smoothquant": {"alpha": 0.5}},
                                                               {"dynamic": {"granularity": "per_token"}}])
    x = wl.graph.evaluation[0]["x"]
    env = {"x": x}
    layer(env)
    s = smoothquant_scales(calib["x"], L.weight, 0.5)
    xs = (x / s).astype(np.float32)
    scale = (np.maximum(np.abs(xs).max(axis=1), np.float32(1e-30)) / np.float32(127)).astype(np.float32)
    codes = np.clip(np.rint(xs / scale[:, None]), -128, 127).astype(np.int8)
    w = L.weight * s[:, None]
    ws = np.abs(w).max(axis=0) / 127
    wq = np.clip(np.rint(w / ws), -127, 127).astype(np.int8)
    expect, _ = qlinear_float_output(codes, wq, L.bias.astype(np.float32), x_scale=scale, x_zero_point=0, w_scale=ws,
                                     w_zero_point=0, hw="tensorcore-int8")
    assert np.array_equal(env[L.y_float], expect)
    assert layer.run.events is not None  # the accumulator ran and counted (zero) events


def test_recipes_raise_accuracy_on_outliers():
    wl = outlier_mlp()
    results = {}
    for hw, steps in (("tensorcore-int8", []), ("tensorcore-int8", [{"dynamic": {"granularity": "per_token"}}]),
                      ("tensorcore-int8", [{"smoothquant": {"alpha": 0.5}}, "float_output"])):
        legal = apply_recipe(legalize(wl, load_profile(hw)), parse_recipe(steps))
        results[len(results)] = run_graph_numerics(legal, diagnose=False)[1]["min"]
    assert results[1] > results[0] and results[2] > results[0]


def test_illegal_recipe_is_refused_before_running():
    from accelsim.errors import InputError

    wl = outlier_mlp()
    with pytest.raises(InputError, match="per_token"):
        apply_recipe(legalize(wl, load_profile("onnxruntime-cpu")),
                     parse_recipe([{"dynamic": {"granularity": "per_token"}}]))


def test_bias_correction_and_gptq_keep_the_contracts_weight_grid():
    """GPTQ and bias correction change codes and the integer bias, never the scales: the layer still runs the
    contract's kernel with the same weight scales as round-to-nearest."""
    wl = outlier_mlp(seed=2)
    rtn, _, _ = _contract_layer(wl, "onnxruntime-cpu", [])
    tuned, _, _ = _contract_layer(wl, "onnxruntime-cpu", ["gptq", "bias_correction"])
    assert np.array_equal(np.asarray(rtn.w_scale), np.asarray(tuned.w_scale))
    assert not np.array_equal(rtn.w_int, tuned.w_int)
    assert tuned.bias_q.dtype.kind == "i" and not np.array_equal(rtn.bias_q, tuned.bias_q)
