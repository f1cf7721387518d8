"""Bit-for-bit conformance with the TFLite interpreter (LiteRT, ``ai-edge-litert``).

- ``tflite-int8`` against LiteRT's reference kernels (BUILTIN_REF): FULLY_CONNECTED, CONV_2D,
  DEPTHWISE_CONV_2D;
- ``arm-neon-sdot`` (TFLite through ruy) against LiteRT's optimized builtin kernels with no default
  delegate: FULLY_CONNECTED and CONV_2D (both ruy GEMMs). The optimized DEPTHWISE_CONV_2D is not a
  ruy GEMM: its 8-channel SIMD blocks round ties toward +inf and its scalar remainder rounds like
  gemmlowp — a kernel detail no profile models, so it is not checked (docs/numerics.md).

Default: a fast subset. Full run (>= 10,000 cases per op):
    ACCELSIM_FULL=1 python -m pytest -m "full or not full" tests/numerics/test_conformance_tflite.py
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from accelsim.hardware import load_profile
from accelsim.numerics import qconv2d, qlinear

tfl_oracle = pytest.importorskip("tests.numerics.tflite_oracle")

FULL = os.environ.get("ACCELSIM_FULL") == "1"
CASES = 10_000 if FULL else 200
ACTIVATIONS = [None, None, "relu", "relu6"]


def _int8(rng, shape, adversarial, lo=-128):
    if adversarial and rng.random() < 0.5:
        return rng.choice([lo, 127, lo + 1, 126], size=shape).astype(np.int8)
    return rng.integers(lo, 128, shape).astype(np.int8)


def _scale(rng, adversarial):
    if adversarial and rng.random() < 0.4:
        e = float(2.0 ** rng.integers(-10, 0))
        return np.float32(e * rng.choice([1.0, 1.0 + 2**-20, 1.0 - 2**-20]))
    return np.float32(10 ** rng.uniform(-3.5, -0.5))


def _scales(rng, adversarial, x_scale, n):
    per_channel = rng.random() < 0.5
    w_scale = (np.array([_scale(rng, adversarial) for _ in range(n)], dtype=np.float32) if per_channel
               else _scale(rng, adversarial))
    if adversarial and rng.random() < 0.3:
        # effective scale an exact power of two: requantization lands on exact .5 ties
        y_scale = np.float32(float(x_scale) * float(np.atleast_1d(w_scale)[0]) * 2.0 ** rng.integers(1, 8))
    else:
        y_scale = _scale(rng, adversarial)
    return w_scale, y_scale


def _zp(rng, adversarial):
    return np.int8(rng.choice([-128, 127, 0]) if adversarial else rng.integers(-128, 128))


def fc_case(seed: int):
    rng = np.random.default_rng(seed)
    adv = seed % 2 == 1
    m, k, n = int(rng.integers(1, 9)), int(rng.integers(1, 200)), int(rng.integers(1, 24))
    if adv and rng.random() < 0.05:
        k, m, n = int(rng.integers(60_000, 70_000)), 1, 2  # int32 accumulator at its extremes (wraps)
    x = _int8(rng, (m, k), adv)
    w = _int8(rng, (k, n), adv, lo=-127)  # TFLite weights: symmetric, -127..127
    x_scale = _scale(rng, adv)
    w_scale, y_scale = _scales(rng, adv, x_scale, n)
    bias = rng.integers(-2**20, 2**20, n).astype(np.int32) if rng.random() < 0.7 else None
    act = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
    return dict(x=x, w=w, bias=bias, x_scale=x_scale, x_zp=_zp(rng, adv), w_scale=w_scale, y_scale=y_scale,
                y_zp=_zp(rng, adv), activation=act)


def conv_case(seed: int):
    rng = np.random.default_rng(seed)
    adv = seed % 2 == 1
    depthwise = rng.random() < 0.35
    c = int(rng.integers(1, 9))
    o = c if depthwise else int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h = int(rng.integers((kh - 1) * dilation[0] + 1, 12))
    wd = int(rng.integers((kw - 1) * dilation[1] + 1, 12))
    x = _int8(rng, (1, c, h, wd), adv)
    w = _int8(rng, (o, 1 if depthwise else c, kh, kw), adv, lo=-127)
    x_scale = _scale(rng, adv)
    w_scale, y_scale = _scales(rng, adv, x_scale, o)
    bias = rng.integers(-2**16, 2**16, o).astype(np.int32) if rng.random() < 0.7 else None
    return dict(x=x, w=w, bias=bias, x_scale=x_scale, x_zp=_zp(rng, adv), w_scale=w_scale, y_scale=y_scale,
                y_zp=_zp(rng, adv), stride=stride, dilation=dilation, padding=str(rng.choice(["SAME", "VALID"])),
                group=c if depthwise else 1, activation=ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))])


def _ours_fc(c, hw="tflite-int8"):
    y, _ = qlinear(c["x"], c["w"], c["bias"], x_scale=c["x_scale"], x_zero_point=c["x_zp"], w_scale=c["w_scale"],
                   w_zero_point=np.int8(0), y_scale=c["y_scale"], y_zero_point=c["y_zp"], hw=hw,
                   activation=c["activation"])
    return y


def _ours_conv(c, hw="tflite-int8"):
    kh, kw = c["w"].shape[2:]
    _, _, h, wd = c["x"].shape
    if c["padding"] == "SAME":
        ph = tfl_oracle.same_pads(h, kh, c["stride"][0], c["dilation"][0])
        pw = tfl_oracle.same_pads(wd, kw, c["stride"][1], c["dilation"][1])
        pads = (ph[0], pw[0], ph[1], pw[1])
    else:
        pads = (0, 0, 0, 0)
    y, _ = qconv2d(c["x"], c["w"], c["bias"], strides=c["stride"], pads=pads, dilations=c["dilation"],
                   group=c["group"], x_scale=c["x_scale"], x_zero_point=c["x_zp"], w_scale=c["w_scale"],
                   w_zero_point=np.int8(0), y_scale=c["y_scale"], y_zero_point=c["y_zp"], hw=hw,
                   activation=c["activation"])
    return y


def _check(cases, ours, theirs, ref: bool, hw: str):
    checked = 0
    for seed, case in cases:
        expected = theirs(case, ref)
        got = ours(case, hw)
        assert got.dtype == expected.dtype and got.shape == expected.shape, seed
        bad = got != expected
        if bad.any():
            pytest.fail(f"seed {seed}, {hw} vs LiteRT {'reference' if ref else 'optimized'} kernels: "
                        f"{int(bad.sum())} mismatching elements, e.g. ours {got[bad][:5]} vs TFLite {expected[bad][:5]}")
        checked += 1
    assert checked > 0


def _fc_oracle(c, ref):
    return tfl_oracle.fully_connected(c["x"], c["w"], c["bias"], c["x_scale"], c["x_zp"], c["w_scale"],
                                      c["y_scale"], c["y_zp"], activation=c["activation"], ref=ref)


def _conv_oracle(c, ref):
    return tfl_oracle.conv2d(c["x"], c["w"], c["bias"], c["x_scale"], c["x_zp"], c["w_scale"], c["y_scale"],
                             c["y_zp"], stride=c["stride"], dilation=c["dilation"], padding=c["padding"],
                             group=c["group"], activation=c["activation"], ref=ref)


@pytest.mark.full
def test_fully_connected_matches_tflite_reference():
    _check(((s, fc_case(s)) for s in range(CASES)), _ours_fc, _fc_oracle, True, "tflite-int8")


@pytest.mark.full
def test_conv2d_and_depthwise_match_tflite_reference():
    _check(((s, conv_case(s)) for s in range(CASES)), _ours_conv, _conv_oracle, True, "tflite-int8")


@pytest.mark.full
def test_fully_connected_matches_tflite_optimized_ruy():
    _check(((s, fc_case(s)) for s in range(CASES)), _ours_fc, _fc_oracle, False, "arm-neon-sdot")


@pytest.mark.full
def test_conv2d_matches_tflite_optimized_ruy():
    cases = ((s, c) for s in range(2 * CASES) if (c := conv_case(s))["group"] == 1)
    _check(cases, _ours_conv, _conv_oracle, False, "arm-neon-sdot")


@pytest.mark.parametrize("value", [-67, -65, -1, 1, 65, 67])
def test_exact_ties_follow_each_kernel(value):
    """acc = 8 * value, effective scale exactly 1/16: every output is an exact .5 tie.

    Reference FULLY_CONNECTED rounds ties away from zero; the optimized (ruy) one toward +inf.
    """
    case = dict(x=np.full((1, 8), value, np.int8), w=np.ones((8, 2), np.int8), bias=None,
                x_scale=np.float32(0.5), x_zp=np.int8(0), w_scale=np.float32(0.015625), y_scale=np.float32(0.125),
                y_zp=np.int8(0), activation=None)
    away = int(np.sign(value) * np.floor(abs(value) / 2 + 0.5))
    assert _fc_oracle(case, True)[0, 0] == away
    assert _fc_oracle(case, False)[0, 0] == int(np.floor(value / 2 + 0.5))
    assert np.array_equal(_ours_fc(case, "tflite-int8"), _fc_oracle(case, True))
    assert np.array_equal(_ours_fc(case, "arm-neon-sdot"), _fc_oracle(case, False))


def test_double_rounding_would_not_match_the_reference_fully_connected():
    """Seed 93: acc 1772 x 0.0990117 = 175.449; gemmlowp's SRDHM gives 1403.58 -> 1404, then 1404 / 8 =
    175.5 -> 176 (double rounding); the reference kernel gives 175."""
    case = fc_case(93)
    base = load_profile("tflite-int8")
    double = dataclasses.replace(base, requant=dataclasses.replace(base.requant, rounding="double",
                                                                    rounding_by_op=()))
    reference = _fc_oracle(case, True)
    assert np.array_equal(_ours_fc(case), reference)
    assert not np.array_equal(_ours_fc(case, double), reference)
