"""Float accumulation with limited in-unit precision and promotion to fp32: the Numba kernel against its numpy
twin, overflow events by location, and what promotion every 128 elements buys on a long FP8 dot product."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.numerics import cast
from accelsim.numerics.float_accumulate import FloatAccumulator, float_matmul, float_matmul_reference

ACCUMULATORS = ["fp32", "fp16", "bf16", "fp32_m13", "fp32_m7"]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 70), st.integers(1, 5), st.sampled_from(ACCUMULATORS),
       st.sampled_from([None, 1, 7, 32]), st.booleans(), st.sampled_from(["fp8_e4m3", "fp8_e5m2", "fp16", "bf16"]),
       st.floats(1e-3, 1e4), st.integers(0, 2**31))
def test_kernel_equals_twin(m, k, n, name, chunk, saturate, operands, scale, seed):
    rng = np.random.default_rng(seed)
    a = cast((rng.normal(0, scale, (m, k))).astype(np.float32), operands)
    b = cast((rng.normal(0, 1, (k, n))).astype(np.float32), operands)
    acc = FloatAccumulator.named(name, saturate=saturate, chunk=chunk)
    got, ev = float_matmul(a, b, acc)
    want, ev_ref = float_matmul_reference(a, b, acc)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(ev, ev_ref)


def test_fp32_accumulation_equals_float32_arithmetic_in_order():
    """An fp32 accumulator without promotion is sequential float32 adds of exact products."""
    rng = np.random.default_rng(0)
    a = cast(rng.normal(0, 1, (3, 200)).astype(np.float32), "fp8_e4m3")
    b = cast(rng.normal(0, 1, (200, 4)).astype(np.float32), "fp8_e4m3")
    got, _ = float_matmul(a, b, FloatAccumulator.named("fp32"))
    for i in range(3):
        for j in range(4):
            s = np.float32(0)
            for k in range(200):
                s = np.float32(s + np.float32(a[i, k] * b[k, j]))  # fp8 x fp8 products are exact in fp32
            assert got[i, j] == s


def test_fp16_accumulator_overflow_is_counted_at_its_channel_and_chunk():
    k, chunk = 256, 64
    a = np.ones((2, k), np.float32)
    b = np.full((k, 3), 0.5, np.float32)
    b[128:192, 1] = 2048.0  # channel 1, chunk 2: 64 x 2048 = 131072 > 65504
    out, events = float_matmul(a, b, FloatAccumulator.named("fp16", chunk=chunk))
    assert events[1, 2] == 2 and events.sum() == 2  # one per row of A, in (channel 1, chunk 2) only
    assert np.isinf(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
    sat, sat_events = float_matmul(a, b, FloatAccumulator.named("fp16", chunk=chunk, saturate=True))
    assert sat_events[1, 2] > 0 and np.isfinite(sat).all()
    assert sat[0, 1] == pytest.approx(3 * 32 + 65504, rel=1e-6)  # the other chunks' sums + the clamped one


def _long_dot_errors(k=16384, trials=64, seed=0):
    """Relative error of FP8 E4M3 dot products of length k against fp64: accumulator fp32_m13 (FP8 tensor
    cores keep ~14 bits) without and with promotion every 128 elements, and a full fp32 accumulator."""
    rng = np.random.default_rng(seed)
    a = cast(rng.normal(0, 1, (trials, k)).astype(np.float32), "fp8_e4m3")
    b = cast(np.abs(rng.normal(0, 1, (k, 1))).astype(np.float32), "fp8_e4m3")
    exact = a.astype(np.float64) @ b.astype(np.float64)
    out = {}
    for label, acc in (("m13", FloatAccumulator.named("fp32_m13")),
                       ("m13+promote128", FloatAccumulator.named("fp32_m13", chunk=128)),
                       ("fp32", FloatAccumulator.named("fp32"))):
        got, _ = float_matmul(a, b, acc)
        out[label] = float(np.sqrt(np.mean((got - exact) ** 2) / np.mean(exact ** 2)))
    return out


def test_promotion_every_128_reduces_the_error_of_a_long_fp8_dot_product():
    err = _long_dot_errors()
    # figures (seed 0): ~1e-3 without promotion, ~5e-5 with it (docs/numerics.md)
    assert err["m13+promote128"] < err["m13"] / 5
    assert err["fp32"] <= err["m13+promote128"]


def test_named_accumulators():
    assert FloatAccumulator.named("fp16").max_finite == 65504.0
    assert FloatAccumulator.named("fp32_m13").mantissa_bits == 13
    with pytest.raises(ValueError, match="unknown accumulator"):
        FloatAccumulator.named("fp12")


@pytest.mark.parametrize("shape,chunk", [((45, 300, 70), 128), ((33, 129, 5), None), ((64, 256, 513), 32)])
@pytest.mark.parametrize("operands", ["fp8_e4m3", "fp8_e5m2", "bf16", "fp4_e2m1"])
def test_fast_fp32_path_equals_the_scalar_kernel(shape, chunk, operands):
    """The vectorized fp32 path (exact products) against the scalar kernel, element by element."""
    from accelsim.numerics.float_accumulate import _float_kernel

    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    a = cast(rng.normal(0, 3, (m, k)).astype(np.float32), operands)
    b = cast(rng.normal(0, 1, (k, n)).astype(np.float32), operands)
    acc = FloatAccumulator.named("fp32", chunk=chunk)
    fast, events = float_matmul(a, b, acc)
    slow = np.empty_like(fast)
    ev = np.zeros_like(events)
    _float_kernel(a, b, 23, -126, acc.max_finite, False, chunk or 0, slow, ev)
    assert np.array_equal(fast, slow) and not events.any()
