"""Requantization arithmetic against closed-form values (gemmlowp / TFLite / MLAS semantics)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.numerics.requant import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requant_float32,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    shift_round,
)


def test_quantize_multiplier_closed_form():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(0.25) == (1 << 30, -1)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(2.0**-40) == (0, 0)  # flushed: shift < -31
    q, s = quantize_multiplier(1 - 2**-40)  # rounds up to 2^31: renormalized
    assert (q, s) == (1 << 30, 1)
    assert quantize_multiplier(2.0**40, single_rounding=True) == ((1 << 31) - 1, 30)


def test_srdhm_closed_form():
    i32min = -(2**31)
    assert saturating_rounding_doubling_high_mul(i32min, i32min) == 2**31 - 1  # the one overflow case
    assert saturating_rounding_doubling_high_mul(1 << 30, 1 << 30) == 1 << 29
    # (3 * 2^30) * 2 / 2^32 = 1.5: the nudge (2^30, or 1 - 2^30 for negative products) and the
    # truncating division make ties round toward +infinity: 1.5 -> 2, -1.5 -> -1, 0.5 -> 1, -0.5 -> 0
    assert saturating_rounding_doubling_high_mul(3, 1 << 30) == 2
    assert saturating_rounding_doubling_high_mul(-3, 1 << 30) == -1
    assert saturating_rounding_doubling_high_mul(1, 1 << 30) == 1
    assert saturating_rounding_doubling_high_mul(-1, 1 << 30) == 0
    assert saturating_rounding_doubling_high_mul(-5, 1 << 30) == -2  # -2.5 -> -2


def test_rounding_divide_by_pot_ties_away_from_zero():
    x = np.array([5, -5, 6, -6, 7, -7, 4, -4])
    assert rounding_divide_by_pot(x, 1).tolist() == [3, -3, 3, -3, 4, -4, 2, -2]
    assert rounding_divide_by_pot(np.array([12, -12, 10, -10]), 3).tolist() == [2, -2, 1, -1]


@pytest.mark.parametrize("rounding,expected", [
    ("half_up", [3, -2, 2, -1, 1, 0]),
    ("half_even", [2, -2, 2, -2, 0, 0]),
    ("half_away_from_zero", [3, -3, 2, -2, 1, -1]),
    ("floor", [2, -3, 1, -2, 0, -1]),
])
def test_shift_round_modes(rounding, expected):
    # 5/2=2.5, -5/2=-2.5, 3/2=1.5, -3/2=-1.5, 1/2=0.5, -1/2=-0.5
    assert shift_round(np.array([5, -5, 3, -3, 1, -1]), 1, rounding).tolist() == expected


def test_shift_round_left_shift():
    assert shift_round(np.array([3, -3]), -2, "half_up").tolist() == [12, -12]


def test_float32_requant_ties_to_even_and_clamp():
    acc = np.array([1, 3, 5, -1, -3, 1000, -1000])
    y = requant_float32(acc, np.float32(0.5), 0, -128, 127)
    assert y.tolist() == [0, 2, 2, 0, -2, 127, -128]
    # float32 conversion of a large int32 rounds (as MLAS does) before the multiply
    big = np.array([2**24 + 1])
    assert requant_float32(big, np.float32(2.0**-20), 0, -128, 127)[0] == 16


@settings(max_examples=200, deadline=None)
@given(x=st.integers(-(2**31), 2**31 - 1), real=st.floats(1e-6, 0.99))
def test_double_rounding_close_to_real_product(x, real):
    q, s = quantize_multiplier(real)
    y = int(multiply_by_quantized_multiplier(np.array([x]), q, s)[0])
    assert abs(y - x * real) <= 1 + abs(x) * real * 2**-30


@settings(max_examples=200, deadline=None)
@given(x=st.integers(-(2**24), 2**24), real=st.floats(1e-6, 0.99))
def test_single_rounding_is_one_rounding(x, real):
    q, s = quantize_multiplier(real, single_rounding=True)
    y = int(multiply_by_quantized_multiplier(np.array([x]), q, s, single_rounding=True)[0])
    exact = x * q / 2.0 ** (31 - s)
    assert y == int(np.floor(exact + 0.5))


@pytest.mark.parametrize("rounding", ["half_even", "half_up", "half_away_from_zero", "floor"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("per_channel", [False, True])
def test_float32_requant_kernel_equals_numpy_twin(rounding, dtype, per_channel):
    """The fused Numba requantizer and its numpy twin agree bit for bit, ties and int32 wrap included."""
    from accelsim.numerics.requant import requant_float32_reference

    rng = np.random.default_rng(7)
    acc = rng.integers(-3000, 3000, (67, 40)).astype(np.int64)
    acc[0, :8] = [2**31, -(2**31) - 1, 2**31 - 1, -(2**31), 5, -5, 7, -7]  # wraps; ties at scale 0.5
    if dtype == np.int32:
        acc = np.clip(acc, -(2**31), 2**31 - 1)
    acc = acc.astype(dtype)
    scale = (rng.uniform(0.01, 0.6, 40) if per_channel else np.array([0.5])).astype(np.float32)
    got = requant_float32(acc, scale, 3, -128, 127, rounding)
    want = requant_float32_reference(acc, scale, 3, -128, 127, rounding)
    np.testing.assert_array_equal(got, want)
