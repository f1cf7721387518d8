"""Quantizers and calibration against closed-form cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.inttypes import type_range
from accelsim.quant.quantizers import calibrate_range, dequantize_per_group, params_from_range, quantize_per_group


def _sqnr(x, y):
    return 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))


def test_symmetric_int8_closed_form():
    p = params_from_range(-2.0, 1.0, "int8", True)
    assert float(p.scale) == pytest.approx(2.0 / 127) and int(p.zero_point) == 0
    assert p.quantize(np.array([-2.0, 0.0, 1.0])).tolist() == [-127, 0, 64]


def test_narrow_range_drops_the_most_negative_code():
    x = np.array([-10.0, 0.0, 10.0])
    wide = params_from_range(-10.0, 10.0, "int8", True)
    narrow = params_from_range(-10.0, 10.0, "int8", True, narrow=True)
    assert wide.quantize(np.array([-10.1]))[0] == -128  # clip at -128 without narrow
    assert narrow.quantize(np.array([-10.1]))[0] == -127
    assert (narrow.qmin, narrow.qmax) == (-127, 127)
    assert narrow.quantize(x).tolist() == [-127, 0, 127]


def test_asymmetric_uint8_closed_form():
    p = params_from_range(0.0, 2.55, "uint8", False)
    assert float(p.scale) == pytest.approx(0.01) and int(p.zero_point) == 0
    p = params_from_range(-1.0, 1.55, "uint8", False)
    assert int(p.zero_point) == 100  # 0 - (-1.0 / 0.01)


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(2, 16), signed=st.booleans(), symmetric=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_any_width_roundtrip_error_is_half_a_step(bits, signed, symmetric, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, 200)
    if not signed:
        x = np.abs(x) if symmetric else x + 1.0
    name = f"{'' if signed else 'u'}int{bits}"
    lo, hi = x.min(), x.max()
    p = params_from_range(lo, hi, name, symmetric)
    q = p.quantize(x)
    qmin, qmax = type_range(name)
    assert q.min() >= qmin and q.max() <= qmax
    err = np.abs(p.dequantize(q) - x)
    assert err.max() <= float(p.scale) / 2 + 1e-12


def test_per_group_scales_follow_each_group():
    w = np.ones((8, 2))
    w[:4, 0] = 0.5      # group 0 of channel 0 is smaller
    w[4:, 1] = 4.0
    q, s, z = quantize_per_group(w, "int4", True, 4)
    assert s.shape == (2, 2) and z.shape == (2, 2)
    assert s[0, 0] == pytest.approx(0.5 / 7) and s[1, 1] == pytest.approx(4.0 / 7)
    assert np.all(q == 7)  # every group's max maps to qmax
    np.testing.assert_allclose(dequantize_per_group(q, s, z), w)
    with pytest.raises(ValueError, match="group_size"):
        quantize_per_group(w, "int4", True, 3)


def test_minmax_and_percentile_closed_form():
    x = np.arange(-100, 101, dtype=np.float64)
    assert tuple(float(v) for v in calibrate_range(x, "minmax")) == (-100.0, 100.0)
    lo, hi = calibrate_range(x, "percentile", percentile=99.0)
    assert float(lo) == pytest.approx(-98.0) and float(hi) == pytest.approx(98.0)
    lo, hi = calibrate_range(np.stack([x, 2 * x]), "minmax", axis=0)
    assert lo.tolist() == [-100.0, -200.0] and hi.tolist() == [100.0, 200.0]


def test_mse_weighs_a_lone_outlier_by_its_share():
    rng = np.random.default_rng(0)
    # 1 in 10^4: clipping it would cost (100 - 1)^2 / 10^4 ~ 0.98 per element > the rounding noise
    # of the full range (100 / 127)^2 / 12 ~ 0.05: MSE keeps it
    x = rng.uniform(-1, 1, 10_000)
    x[0] = 100.0
    assert float(calibrate_range(x, "mse", type_name="int8", symmetric=True)[1]) > 95.0
    # 1 in 10^6: clipping is cheap (at T the loss is (100 - T)^2 / 10^6, the noise (T / 127)^2 / 12):
    # the optimum is near T = 17
    x = rng.uniform(-1, 1, 1_000_000)
    x[0] = 100.0
    assert 10.0 < float(calibrate_range(x, "mse", type_name="int8", symmetric=True)[1]) < 30.0


def test_entropy_keeps_a_uniform_range_and_clips_gaussian_tails():
    rng = np.random.default_rng(1)
    u = rng.uniform(-1, 1, 200_000)
    lo, hi = calibrate_range(u, "entropy", type_name="int8")
    assert float(hi) > 0.95  # nothing to gain by clipping a uniform distribution
    g = rng.normal(0, 1, 200_000)
    lo, hi = calibrate_range(g, "entropy", type_name="int8")
    assert 2.0 < float(hi) < 0.95 * np.abs(g).max()


@pytest.mark.parametrize("method", ["percentile", "mse", "entropy"])
def test_calibration_beats_minmax_on_outlier_channels(method):
    """LLM-style activations (256 tokens x 4096 channels): 0.5% of the channels 10x larger in every token
    (persistent outlier features, Dettmers et al. 2022) and two massive activations (Sun et al. 2024).
    minmax spends the range on the two; the other methods clip them and resolve the rest."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (256, 4096))
    x[:, rng.choice(4096, 20, replace=False)] *= 10.0
    x[3, 17], x[200, 4000] = 100.0, -100.0

    def sqnr_of(m):
        lo, hi = calibrate_range(x, m, type_name="int8", symmetric=True, percentile=99.99)
        p = params_from_range(lo, hi, "int8", True)
        return _sqnr(x, p.dequantize(p.quantize(x)))
    assert sqnr_of(method) > sqnr_of("minmax") + 2.0
