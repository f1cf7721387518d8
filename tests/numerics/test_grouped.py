"""Per-group (weight-only int4 style, W4A8) linear: integer partial sums per group, float32 combine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.hardware import load_profile
from accelsim.numerics import qlinear_grouped


def _profile(bits=32, overflow="wrap"):
    base = load_profile("tensorcore-int8")
    acc = dataclasses.replace(base.accumulator, bits=bits, overflow=overflow, spill_bits=max(bits, 32),
                              spill_overflow="wrap")
    return dataclasses.replace(base, accumulator=acc, activation_zero_point="asymmetric",
                               weight_zero_point="asymmetric")


def grouped_reference(x, w, x_scale, x_zp, w_scale, w_zp, group, y_scale, y_zp, bias=None, lo=-128, hi=127):
    """Element-by-element twin of the contract in plain Python integers and float32."""
    m, k = x.shape
    n = w.shape[1]
    y = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            total = np.float32(0)
            for g in range(k // group):
                acc = sum((int(x[i, t]) - x_zp) * (int(w[t, j]) - int(w_zp[g, j]))
                          for t in range(g * group, (g + 1) * group))
                total = np.float32(total + np.float32(acc) * np.float32(np.float32(x_scale) * np.float32(w_scale[g, j])))
            if bias is not None:
                total = np.float32(total + np.float32(bias[j]))
            y[i, j] = min(hi, max(lo, int(np.rint(np.float32(total / np.float32(y_scale)))) + y_zp))
    return y


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([4, 8, 16]), st.integers(1, 4))
def test_matches_elementwise_twin(seed, group, groups):
    rng = np.random.default_rng(seed)
    m, n, k = int(rng.integers(1, 4)), int(rng.integers(1, 5)), group * groups
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w = rng.integers(-8, 8, (k, n)).astype(np.int8)
    w_scale = rng.uniform(1e-3, 1e-1, (groups, n))
    w_zp = rng.integers(-2, 3, (groups, n))
    bias = rng.normal(0, 1, n).astype(np.float32)
    x_zp = int(rng.integers(-5, 5))
    y, stats = qlinear_grouped(x, w, bias, x_scale=0.05, x_zero_point=np.int8(x_zp), w_scale=w_scale,
                               w_zero_point=w_zp, group_size=group, y_scale=0.1, y_zero_point=np.int8(3),
                               hw=_profile(), w_type="int4")
    expected = grouped_reference(x, w, 0.05, x_zp, w_scale, w_zp, group, 0.1, 3, bias)
    np.testing.assert_array_equal(y.astype(np.int64), expected)
    assert stats.events.by_channel_chunk.shape == (n, groups)


def test_exact_when_everything_is_a_power_of_two():
    x = np.array([[1, 2, 3, 4]], np.int8)
    w = np.array([[1], [1], [2], [2]], np.int8)
    y, _ = qlinear_grouped(x, w, None, x_scale=1.0, x_zero_point=np.int8(0), w_scale=np.array([[0.5], [0.25]]),
                           w_zero_point=0, group_size=2, y_scale=0.25, y_zero_point=np.int8(0), hw=_profile(),
                           w_type="int4")
    # (1+2)*0.5 + (3*2+4*2)*0.25 = 1.5 + 3.5 = 5.0 -> 5.0 / 0.25 = 20
    assert y.tolist() == [[20]]


def test_saturation_is_located_per_group():
    x = np.full((1, 8), 127, np.int8)
    w = np.array([[7]] * 4 + [[1]] * 4, np.int8)
    _, stats = qlinear_grouped(x, w, None, x_scale=1.0, x_zero_point=np.int8(0), w_scale=np.ones((2, 1)),
                               w_zero_point=0, group_size=4, y_scale=1.0, y_zero_point=np.int8(0),
                               hw=_profile(bits=10, overflow="saturate"), w_type="int4")
    # group 0: 127*7 = 889, 1778 > 511 saturates; group 1: 127*4 = 508 fits
    events = stats.events.by_channel_chunk
    assert events[0, 0] > 0 and events[0, 1] == 0


@pytest.mark.parametrize("kwargs,needle", [
    (dict(group_size=3), "group_size"),
    (dict(w_scale=np.ones((3, 2))), "w_scale"),
    (dict(w_scale=-np.ones((2, 2))), "w_scale"),
    (dict(w_zero_point=np.full((2, 2), 9)), "w_zero_point"),
    (dict(hw="edge-npu-pot16"), "per-group"),
])
def test_bad_arguments(kwargs, needle):
    args = dict(x_scale=0.1, x_zero_point=np.int8(0), w_scale=np.ones((2, 2)), w_zero_point=0, group_size=4,
                y_scale=0.1, y_zero_point=np.int8(0), hw="tensorcore-int8", w_type="int4")
    args.update(kwargs)
    with pytest.raises(ValueError, match=needle):
        qlinear_grouped(np.zeros((1, 8), np.int8), np.zeros((8, 2), np.int8), None, **args)
