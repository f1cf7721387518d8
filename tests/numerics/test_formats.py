"""Float element formats (cast) and block-scaled formats (block_quantize) against ml-dtypes and the OCP MX
v1.0 conversion rule; NVFP4's two-level scaling."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from accelsim.numerics import block_quantize, cast
from accelsim.numerics.formats import ELEMENT_FORMATS, bits_per_element, max_finite

DT = {"fp16": np.float16, "bf16": ml_dtypes.bfloat16, "fp8_e4m3": ml_dtypes.float8_e4m3fn,
      "fp8_e5m2": ml_dtypes.float8_e5m2, "fp6_e2m3": ml_dtypes.float6_e2m3fn, "fp6_e3m2": ml_dtypes.float6_e3m2fn,
      "fp4_e2m1": ml_dtypes.float4_e2m1fn}
SMALL = ["fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1"]  # every code can be enumerated
NONFINITE = ["fp16", "bf16", "fp8_e4m3", "fp8_e5m2"]


def _codes(fmt):
    """Every finite value of a small format with its code (ml-dtypes stores them in one byte)."""
    raw = np.arange(256, dtype=np.uint8).view(DT[fmt]).astype(np.float32)
    bits = {"fp6_e2m3": 6, "fp6_e3m2": 6, "fp4_e2m1": 4}.get(fmt, 8)
    codes = np.arange(256)[: 1 << bits]
    vals = raw[: 1 << bits]
    keep = np.isfinite(vals)
    return vals[keep], codes[keep]


@pytest.mark.parametrize("fmt", list(DT))
def test_cast_equals_ml_dtypes_inside_the_range(fmt):
    top = max_finite(fmt)
    rng = np.random.default_rng(hash(fmt) % 2**32)
    x = np.concatenate([rng.uniform(-top, top, 20000), rng.normal(0, 1, 20000),
                        rng.normal(0, 1e-3, 5000) * top / 1e3]).astype(np.float32)
    expect = x.astype(DT[fmt]).astype(np.float32)
    assert np.array_equal(cast(x, fmt), expect)
    if fmt in NONFINITE:
        assert np.array_equal(cast(x, fmt, overflow="nonfinite"), expect)


@pytest.mark.parametrize("fmt", SMALL)
def test_ties_round_to_even_and_subnormals(fmt):
    vals, codes = _codes(fmt)
    order = np.argsort(vals, kind="stable")
    vals, codes = vals[order], codes[order]
    distinct = np.concatenate([[True], np.diff(vals) > 0])  # +0 and -0 are one value
    vals, codes = vals[distinct], codes[distinct]
    mid = ((vals[:-1].astype(np.float64) + vals[1:]) / 2).astype(np.float32)
    exact = mid.astype(np.float64) == (vals[:-1].astype(np.float64) + vals[1:]) / 2
    got = cast(mid[exact], fmt)
    lo, hi = vals[:-1][exact], vals[1:][exact]
    lo_code = codes[:-1][exact]
    want = np.where(lo_code % 2 == 0, lo, hi)  # the neighbour with the even significand
    want = np.where((lo == 0) | (hi == 0), np.where(lo == 0, lo, hi), want)  # ties at zero go to zero
    assert np.array_equal(got, want)
    sub = float(ml_dtypes.finfo(DT[fmt]).smallest_subnormal)
    assert cast(np.float32(sub), fmt) == sub
    assert cast(np.float32(sub / 2), fmt) == 0.0           # a tie between 0 and the smallest subnormal: even is 0
    assert cast(np.float32(sub * 0.75), fmt) == sub


@pytest.mark.parametrize("fmt", list(DT))
def test_overflow_contracts(fmt):
    top = max_finite(fmt)
    with np.errstate(over="ignore"):  # bf16's range is float32's: 1.5 x its max is inf already
        big = np.array([top, -top, top * 1.5, -top * 4, np.finfo(np.float32).max], dtype=np.float64).astype(np.float32)
    sat = cast(big, fmt, overflow="saturate")
    assert np.array_equal(sat, np.array([top, -top, top, -top, top], np.float32))
    if fmt in NONFINITE:
        non = cast(big, fmt, overflow="nonfinite")
        assert non[0] == top and non[1] == -top
        if fmt == "fp8_e4m3":  # OCP E4M3FN: no infinities, overflow is NaN
            assert np.isnan(non[2:]).all()
        else:
            assert np.isposinf(non[2]) and np.isneginf(non[3])
        assert np.isnan(cast(np.float32(np.nan), fmt))
    else:
        with pytest.raises(ValueError, match="no infinities"):
            cast(big, fmt, overflow="nonfinite")
        with pytest.raises(ValueError, match="no NaN"):
            cast(np.float32(np.nan), fmt)


def test_fp32_and_bad_arguments():
    x = np.float32([1.1, -3e38, 1e-45])
    assert np.array_equal(cast(x, "fp32"), x)
    with pytest.raises(ValueError, match="unknown format"):
        cast(x, "fp7")
    with pytest.raises(ValueError, match="overflow"):
        cast(x, "fp16", overflow="wrap")
    assert set(ELEMENT_FORMATS) == {"fp32", *DT}


MX = {"mxfp8_e4m3": ("fp8_e4m3", 8), "mxfp8_e5m2": ("fp8_e5m2", 15), "mxfp6_e2m3": ("fp6_e2m3", 2),
      "mxfp6_e3m2": ("fp6_e3m2", 4), "mxfp4": ("fp4_e2m1", 2)}


def _blocks(rng):
    """Random blocks, an all-zero block, one huge outlier, blocks spanning float32 subnormals and a mix."""
    b = [rng.normal(0, 1, 32), np.zeros(32), np.r_[rng.normal(0, 0.01, 31), 5e4], rng.normal(0, 1e-39, 32),
         rng.normal(0, 1, 32) * np.exp2(rng.integers(-20, 20, 32)), np.full(32, -3.0)]
    return np.stack(b).astype(np.float32)


@pytest.mark.parametrize("fmt", list(MX))
def test_mx_follows_the_ocp_conversion_rule(fmt):
    elem, emax = MX[fmt]
    x = _blocks(np.random.default_rng(1))
    elements, scales = block_quantize(x, fmt)
    assert elements.shape == x.shape and scales.shape == (x.shape[0], 1)
    for row, scale, v in zip(elements, scales[:, 0], x):
        amax = float(np.abs(v).max())
        shared = -127 if amax == 0 else int(np.clip(np.floor(np.log2(amax)) - emax, -127, 127))
        assert scale == np.float32(2.0 ** shared)  # E8M0: a power of two
        assert np.array_equal(row, cast((v.astype(np.float64) / 2.0 ** shared).astype(np.float32), elem))
    assert np.all(elements[1] == 0) and scales[1, 0] == np.float32(2.0 ** -127)
    # the outlier keeps its exponent; the small values of its block lose their bits
    assert abs(elements[2, -1] * scales[2, 0] - 5e4) <= 0.25 * 5e4


def test_mxint8_elements_are_int8_times_two_to_the_minus_six():
    x = _blocks(np.random.default_rng(2))
    elements, scales = block_quantize(x, "mxint8")
    codes = elements * 64
    assert np.array_equal(codes, np.rint(codes)) and codes.min() >= -128 and codes.max() <= 127
    amax = np.abs(x[0]).max()
    assert scales[0, 0] == np.float32(2.0 ** np.floor(np.log2(amax)))


def test_block_axis_and_size():
    x = np.random.default_rng(3).normal(0, 1, (64, 6)).astype(np.float32)
    e0, s0 = block_quantize(x, "mxfp8_e4m3", axis=0)
    e1, s1 = block_quantize(x.T, "mxfp8_e4m3", axis=-1)
    assert np.array_equal(e0, e1.T) and np.array_equal(s0, s1.T) and s0.shape == (2, 6)
    _, s = block_quantize(x.T, "mxfp4", block=16)
    assert s.shape == (6, 4)
    with pytest.raises(ValueError, match="multiple of the block"):
        block_quantize(np.zeros((3, 30)), "mxfp4")
    with pytest.raises(ValueError, match="NaN or infinite"):
        block_quantize(np.full((1, 32), np.inf), "mxfp4")


def test_nvfp4_two_level_scaling():
    rng = np.random.default_rng(4)
    x = (rng.normal(0, 1, (8, 64)) * np.exp2(rng.integers(-6, 6, (8, 1)))).astype(np.float32)
    elements, scales = block_quantize(x, "nvfp4")
    assert scales.shape == (8, 4)
    amax = float(np.abs(x).max())
    tensor_scale = np.float32(amax / (448.0 * 6.0))
    block_scale = scales / tensor_scale
    # the E4M3 block scale is E4M3 exactly, and at most 448 (the block with the tensor's amax reaches it)
    e4m3 = cast(block_scale, "fp8_e4m3")
    assert np.allclose(block_scale, e4m3, rtol=1e-6) and block_scale.max() <= 448 * (1 + 1e-6)
    assert np.isclose(block_scale.max(), 448.0, rtol=1e-6)
    assert np.array_equal(elements, cast(elements, "fp4_e2m1"))  # E2M1 values
    recon = (elements.reshape(8, 4, 16) * scales[..., None]).reshape(8, 64)
    blocks = x.reshape(8, 4, 16)
    step = scales[..., None] * 2.0  # the widest E2M1 step (4 -> 6) times the block scale
    assert np.all(np.abs(recon.reshape(8, 4, 16) - blocks) <= step / 2 + 1e-12 + np.abs(blocks) * 0.07)


def test_bits_per_element():
    assert bits_per_element("mxfp4") == 4.25 and bits_per_element("nvfp4") == 4.5
    assert bits_per_element("mxfp8_e4m3") == 8.25 and bits_per_element("fp16") == 16


@pytest.mark.parametrize("fmt, v, once", [
    ("fp16", 1 + 2**-11 + 2**-40, 1 + 2**-10), ("bf16", 1 + 2**-8 + 2**-40, 1 + 2**-7),
    ("fp8_e4m3", 1 + 2**-4 + 2**-40, 1.125), ("fp8_e5m2", 1 + 2**-3 + 2**-40, 1.25),
    ("fp4_e2m1", 1 + 2**-2 + 2**-40, 1.5), ("fp32", 1 + 2**-24 + 2**-40, 1 + 2**-23),
])
def test_float64_input_rounds_once(fmt, v, once):
    """issue 24: cast of float64 went through float32 first; just above a tie of ``fmt`` that float32 rounds onto
    the tie, and round-to-even then went down."""
    from accelsim.numerics.formats import cast

    assert float(cast(np.array([v]), fmt)[0]) == once
    assert float(cast(np.array([-v]), fmt)[0]) == -once
