"""Every legalization rule: the change is made, recorded, and its cost measured on its layer."""

from __future__ import annotations

import pytest

from accelsim.engine import run
from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.quant import legalize

WORKLOAD = """\
name: legal
inputs:
  x: {{shape: [64, 256]}}
quant:
  weights: {{bits: {wbits}, symmetric: {wsym}, granularity: {gran}{group}}}
  activations: {{bits: {abits}, symmetric: {asym}, calibration: minmax}}
data:
  seed: 4
  weights: {{distribution: laplace, channel_spread: 8.0}}
  activations: {{distribution: normal, relu_skew: true}}
layers:
  - {{name: fc, op: linear, out_features: 128}}
"""


def _run(write, profile, *, wbits=8, wsym="true", gran="per_channel", group="", abits=8, asym="true"):
    wl = load_workload(write("w.yaml", WORKLOAD.format(wbits=wbits, wsym=wsym, gran=gran, group=group,
                                                      abits=abits, asym=asym)))
    return run(wl, load_profile(profile))


def _change(result, rule, operand):
    found = [c for c in result.changes if c.rule == rule and c.operand == operand]
    assert len(found) == 1, [c.text for c in result.changes]
    c = found[0]
    assert c.sqnr_before_db is not None and c.sqnr_after_db is not None
    assert c.text in result.notes
    assert any(d["rule"] == rule for d in result.summary()["legalization"])
    return c


def test_per_channel_to_per_tensor_costs_accuracy(write):
    c = _change(_run(write, "tpu-v1"), "granularity", "weights")
    assert (c.before, c.after) == ("per_channel", "per_tensor")
    assert c.cost_db > 3.0  # channel spread 8x: one scale for all channels loses several dB


def test_per_group_to_per_channel(write):
    c = _change(_run(write, "ethos-u55", wbits=4, gran="per_group", group=", group_size: 32"),
                "granularity", "weights")
    assert (c.before, c.after) == ("per_group", "per_channel")
    assert c.cost_db > 0.0


def test_int4_weights_to_int8_gain_accuracy(write):
    c = _change(_run(write, "ethos-u55", wbits=4), "bits", "weights")
    assert (c.before, c.after) == ("4-bit", "int8")
    assert c.cost_db < -10.0  # 4 more bits: the layer gets far more accurate (and pays in bytes)


def test_16_bit_activations_to_8_bit(write):
    c = _change(_run(write, "tensorcore-int8", abits=16), "bits", "activations")
    assert (c.before, c.after) == ("16-bit", "int8")
    assert c.cost_db > 2.0  # bounded by the int8 weights' own error (the layer SQNR with 16-bit inputs ~39 dB)


def test_asymmetric_to_symmetric(write):
    # ReLU-skewed activations: a symmetric grid wastes part of its codes on the rare negative side
    c = _change(_run(write, "tensorcore-int8", asym="false"), "symmetry", "activations")
    assert (c.before, c.after) == ("asymmetric", "symmetric")
    assert c.cost_db > 1.0


def test_power_of_two_scales(write):
    result = _run(write, "edge-npu-pot16", gran="per_tensor")
    c = _change(result, "power_of_two", "weights")
    assert c.after == "power-of-two scale"
    assert abs(c.cost_db) < 6.1  # rounding a scale to a power of two costs at most one bit


def test_no_change_no_note(write):
    result = _run(write, "tensorcore-int8")
    assert result.changes == [] and result.summary()["legalization"] == []


def test_power_of_two_exponent_is_chosen_by_error_not_the_ceiling():
    """The exponent is floor or ceil of log2(scale), whichever quantizes with the smaller error."""
    import numpy as np

    from accelsim.quant.quantizers import params_from_range

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 100_000)
    x[0] = 12.0  # range 12 -> scale 12/127 = 0.0945: ceiling 2^-3 = 0.125, floor 2^-4 = 0.0625
    p = params_from_range(x.min(), x.max(), "int8", True, power_of_two=True, tensor=x)
    assert float(p.scale) == 0.0625  # clipping one value at 7.9 beats coarser steps for all

    def mse(s):
        q = np.clip(np.rint(x / s), -128, 127)
        return float(np.mean((q * s - x) ** 2))
    assert mse(0.0625) < mse(0.125)


@pytest.mark.parametrize("profile", ["edge-npu-pot16", "tpu-v1", "tensorcore-int8", "onnxruntime-cpu"])
def test_legalized_plans_only_use_what_the_profile_supports(profile):
    p = load_profile(profile)
    legal = legalize(load_workload("bert-base-layer"), p)
    for plan in legal.plans.values():
        assert plan.activations.type_name in p.activation_types
        assert plan.weights.type_name in p.weight_types
        assert plan.weights.granularity in p.requant.granularity
        if p.weight_zero_point == "symmetric":
            assert plan.weights.symmetric
