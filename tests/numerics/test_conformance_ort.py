"""Bit-for-bit conformance of the ONNX Runtime contract of this host (``onnxruntime-host``: onnxruntime-cpu on
VNNI/AMX machines, onnxruntime-avx2 on AVX2-only ones; accelsim.hardware.host) with ONNX Runtime itself. The
other kind of x86 host is checked under qemu by benchmarks/ort_host_check.py.

Default: a fast subset. Full run (>= 10,000 cases per op): ACCELSIM_FULL=1 pytest -m full tests/numerics
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from accelsim.numerics import qconv2d, qlinear
from accelsim.numerics.api import qmatmul_integer

ort_oracle = pytest.importorskip("tests.numerics.ort_oracle")

FULL = os.environ.get("ACCELSIM_FULL") == "1"
CASES = 10_000 if FULL else 300


def _range(dtype):
    return (0, 255) if dtype == np.uint8 else (-128, 127)


def _ints(rng, dtype, shape, adversarial):
    lo, hi = _range(dtype)
    if adversarial and rng.random() < 0.5:  # operands at the ends of their range
        return rng.choice([lo, hi, lo + 1, hi - 1], size=shape).astype(dtype)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def _scale(rng, adversarial):
    if adversarial and rng.random() < 0.4:  # just above / below / at a power of two
        e = float(2.0 ** rng.integers(-10, 0))
        return np.float32(e * rng.choice([1.0, 1.0 + 2**-20, 1.0 - 2**-20]))
    return np.float32(10 ** rng.uniform(-3.5, -0.5))


def matmul_case(seed: int):
    rng = np.random.default_rng(seed)
    adversarial = seed % 2 == 1
    m, k, n = int(rng.integers(1, 9)), int(rng.integers(1, 200)), int(rng.integers(1, 24))
    if adversarial and rng.random() < 0.05:
        k = int(rng.integers(60_000, 70_000))  # int32 accumulator at its extremes (wraps)
        m, n = 1, 2
    xd = np.uint8 if rng.random() < 0.5 else np.int8
    wd = np.int8 if (xd == np.int8 or rng.random() < 0.7) else np.uint8
    x = _ints(rng, xd, (m, k), adversarial)
    w = _ints(rng, wd, (k, n), adversarial)
    lo, hi = _range(xd)
    wlo, whi = _range(wd)
    pick = (lambda a, b: rng.choice([a, b, (a + b) // 2])) if adversarial else (lambda a, b: rng.integers(a, b + 1))
    x_zp = xd(pick(lo, hi))
    w_zp = wd(pick(wlo, whi))
    y_zp = xd(pick(lo, hi))
    x_scale = _scale(rng, adversarial)
    per_channel = rng.random() < 0.5
    w_scale = (np.array([_scale(rng, adversarial) for _ in range(n)], dtype=np.float32) if per_channel
               else _scale(rng, adversarial))
    if adversarial and rng.random() < 0.3:
        # exact .5 ties after scaling: x_scale * w_scale / y_scale == 0.5 exactly
        w_scale = np.float32(2.0**-3) if not per_channel else np.full(n, 2.0**-3, dtype=np.float32)
        x_scale = np.float32(2.0**-4)
        y_scale = np.float32(2.0**-6)
    else:
        y_scale = np.float32(float(x_scale) * float(np.max(w_scale)) * np.sqrt(k) * 10 ** rng.uniform(0, 1.5))
    return x, w, x_scale, x_zp, w_scale, w_zp, y_scale, y_zp, bool(rng.random() < 0.5)


def _assert_equal(ours, theirs, what):
    assert ours.dtype == theirs.dtype, what
    bad = np.flatnonzero(ours.astype(np.int64) != theirs.astype(np.int64))
    assert bad.size == 0, f"{what}: {bad.size} mismatching elements, first at {bad[:5]}"


@pytest.mark.parametrize("block", range(10))
def test_qlinearmatmul_bit_exact(block):
    for seed in range(block, CASES, 10):
        x, w, xs, xz, ws, wz, ys, yz, const = matmul_case(seed)
        ref = ort_oracle.qlinearmatmul(x, w, xs, xz, ws, wz, ys, yz, weights_const=const)
        y, _ = qlinear(x, w, None, x_scale=xs, x_zero_point=xz, w_scale=ws, w_zero_point=wz, y_scale=ys,
                       y_zero_point=yz, hw="onnxruntime-host")
        _assert_equal(y, ref, f"QLinearMatMul seed {seed} shapes {x.shape}x{w.shape}")


@pytest.mark.parametrize("block", range(5))
def test_matmulinteger_bit_exact(block):
    for seed in range(block, CASES, 5):
        x, w, _, xz, _, wz, _, _, _ = matmul_case(seed)
        ref = ort_oracle.matmulinteger(x, w, xz, wz)
        acc, _ = qmatmul_integer(x, w, xz, wz, hw="onnxruntime-host")
        _assert_equal(acc.astype(np.int32), ref, f"MatMulInteger seed {seed}")
        assert np.array_equal(acc, ref.astype(np.int64)), "accumulator must already be int32-wrapped"


def conv_case(seed: int):
    rng = np.random.default_rng(10_000_000 + seed)
    adversarial = seed % 2 == 1
    group = int(rng.choice([1, 1, 2, 3]))
    depthwise = rng.random() < 0.2
    cg = 1 if depthwise else int(rng.integers(1, 5))
    c = group * cg if not depthwise else int(rng.integers(1, 9))
    if depthwise:
        group = c
    o = group * int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    dil = tuple(int(v) for v in rng.integers(1, 3, 2))
    strides = tuple(int(v) for v in rng.integers(1, 3, 2))
    pads = tuple(int(v) for v in rng.integers(0, 3, 4))
    h = int(rng.integers(dil[0] * (kh - 1) + 1, 12))
    wd = int(rng.integers(dil[1] * (kw - 1) + 1, 12))
    n_img = int(rng.integers(1, 3))
    xd = np.uint8 if rng.random() < 0.5 else np.int8
    x = _ints(rng, xd, (n_img, c, h, wd), adversarial)
    w = _ints(rng, np.int8, (o, c // group, kh, kw), adversarial)
    lo, hi = _range(xd)
    x_zp = xd(rng.integers(lo, hi + 1))
    y_zp = xd(rng.integers(lo, hi + 1))
    x_scale = _scale(rng, adversarial)
    per_channel = rng.random() < 0.5
    w_scale = (np.array([_scale(rng, adversarial) for _ in range(o)], dtype=np.float32) if per_channel
               else _scale(rng, adversarial))
    k = (c // group) * kh * kw
    y_scale = np.float32(float(x_scale) * float(np.max(w_scale)) * np.sqrt(k) * 10 ** rng.uniform(0, 1.5))
    bias = rng.integers(-20000, 20000, o).astype(np.int32) if rng.random() < 0.5 else None
    return x, w, bias, x_scale, x_zp, w_scale, np.int8(0), y_scale, y_zp, strides, pads, dil, group


@pytest.mark.parametrize("block", range(10))
def test_qlinearconv_bit_exact(block):
    for seed in range(block, CASES, 10):
        x, w, b, xs, xz, ws, wz, ys, yz, strides, pads, dil, group = conv_case(seed)
        ref = ort_oracle.qlinearconv(x, w, b, xs, xz, ws, wz, ys, yz, strides=strides, pads=pads, dilations=dil,
                                     group=group)
        y, _ = qconv2d(x, w, b, strides=strides, pads=pads, dilations=dil, group=group, x_scale=xs,
                       x_zero_point=xz, w_scale=ws, w_zero_point=wz, y_scale=ys, y_zero_point=yz,
                       hw="onnxruntime-host")
        _assert_equal(y, ref, f"QLinearConv seed {seed} x {x.shape} w {w.shape} group {group}")


@pytest.mark.full
@pytest.mark.skipif(not FULL, reason="set ACCELSIM_FULL=1 for the 10,000-case run")
def test_full_run_case_count():
    assert CASES >= 10_000
