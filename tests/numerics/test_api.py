"""Public numerics API: argument checking, contract checks, fused activations, dtypes."""

import numpy as np
import pytest

from accelsim.numerics import qconv2d, qlinear

ARGS = dict(x_scale=0.02, x_zero_point=np.int8(0), w_scale=0.01, w_zero_point=np.int8(0), y_scale=0.1,
            y_zero_point=np.int8(0))


def _xw(m=3, k=8, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (m, k)).astype(np.int8), rng.integers(-128, 128, (k, n)).astype(np.int8)


@pytest.mark.parametrize("change,needle", [
    (dict(x_scale=0.0), "x_scale"),
    (dict(x_scale=float("nan")), "x_scale"),
    (dict(y_scale=float("inf")), "y_scale"),
    (dict(w_scale=np.ones(3)), "w_scale"),
    (dict(x_zero_point=300), "x_zero_point"),
    (dict(y_zero_point=np.uint8(7)), "y_zero_point"),  # symmetric contract wants uint8 zp 128? type ok
])
def test_bad_arguments_name_the_argument(change, needle):
    x, w = _xw()
    args = {**ARGS, **change}
    if needle == "y_zero_point":
        y, _ = qlinear(x, w, None, hw="tensorcore-int8", **args)  # output zp of another type is allowed
        assert y.dtype == np.uint8
        return
    with pytest.raises(ValueError, match=needle):
        qlinear(x, w, None, hw="tensorcore-int8", **args)


def test_shape_mismatch():
    x, _ = _xw(k=8)
    _, w = _xw(k=9)
    with pytest.raises(ValueError, match="shape mismatch"):
        qlinear(x, w, None, hw="tensorcore-int8", **ARGS)


def test_values_outside_declared_type():
    x, w = _xw()
    with pytest.raises(ValueError, match="outside int4"):
        qlinear(x, w, None, hw="tensorcore-int8", w_type="int4", **ARGS)


def test_unsupported_operand_type():
    x, w = _xw()
    with pytest.raises(ValueError, match="not supported by profile 'tensorcore-int8'"):
        qlinear(x.astype(np.int16), w, None, hw="tensorcore-int8", **ARGS)


def test_symmetric_contract_rejects_zero_point():
    x, w = _xw()
    with pytest.raises(ValueError, match="w_zero_point.*symmetric"):
        qlinear(x, w, None, hw="tensorcore-int8", **{**ARGS, "w_zero_point": np.int8(3)})


def test_pot_contract_rejects_non_pot_scales():
    x, w = _xw()
    with pytest.raises(ValueError, match="power-of-two"):
        qlinear(x, w, None, hw="edge-npu-pot16", **ARGS)
    y, st = qlinear(x, w, None, hw="edge-npu-pot16", **{**ARGS, "x_scale": 2**-6, "w_scale": 2**-7, "y_scale": 2**-4})
    acc = x.astype(np.int64) @ w.astype(np.int64)
    assert np.array_equal(y, np.clip(np.floor(acc / 2**9 + 0.5), -128, 127))  # half_up shift by 9


def test_relu_and_relu6_clamp():
    x, w = _xw(seed=3)
    y, _ = qlinear(x, w, None, hw="onnxruntime-cpu", activation="relu", **ARGS)
    assert y.min() >= 0
    y6, _ = qlinear(x, w, None, hw="onnxruntime-cpu", activation="relu6", **{**ARGS, "y_scale": 0.1})
    assert y6.max() <= 60


def test_int16_activations_on_ethos():
    rng = np.random.default_rng(5)
    x = rng.integers(-32768, 32768, (2, 40)).astype(np.int16)
    w = rng.integers(-127, 128, (40, 3)).astype(np.int8)
    y, st = qlinear(x, w, None, hw="ethos-u55", x_scale=1e-4, x_zero_point=np.int16(0), w_scale=0.01,
                    w_zero_point=0, y_scale=0.05, y_zero_point=np.int16(0))
    assert y.dtype == np.int16
    ref = np.clip(np.round(x.astype(np.float64) @ w * (1e-4 * 0.01 / 0.05)), -32768, 32767)
    assert np.abs(y - ref).max() <= 1


def _away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_depthwise_conv_closed_form_and_double_rounding(rounding):
    import dataclasses

    from accelsim.hardware import load_profile

    base = load_profile("tflite-int8")
    hw = dataclasses.replace(base, requant=dataclasses.replace(base.requant, rounding=rounding))
    rng = np.random.default_rng(2)
    x = rng.integers(-20, 20, (1, 4, 6, 6)).astype(np.int8)
    w = rng.integers(-20, 20, (4, 1, 3, 3)).astype(np.int8)
    y, st = qconv2d(x, w, None, pads=(1, 1, 1, 1), group=4, x_scale=1.0, x_zero_point=np.int8(0), w_scale=1.0,
                    w_zero_point=np.int8(0), y_scale=64.0, y_zero_point=np.int8(0), hw=hw)
    xp = np.pad(x[0].astype(np.int64), ((0, 0), (1, 1), (1, 1)))
    double_differs = 0
    for c in range(4):
        for i in range(6):
            for j in range(6):
                acc = int((xp[c, i:i + 3, j:j + 3] * w[c, 0]).sum())
                if rounding == "single":  # one rounding: floor(acc / 64 + 1/2)
                    expect = np.floor(acc / 64 + 0.5)
                else:  # gemmlowp: multiplier 2^30 with shift -5 rounds twice: SRDHM (x/2, ties to +inf),
                    # then RoundingDivideByPOT (/32, ties away from zero)
                    expect = _away(np.floor(acc / 2 + 0.5) / 32)
                    double_differs += expect != np.floor(acc / 64 + 0.5)
                assert y[0, c, i, j] == np.clip(expect, -128, 127)
    if rounding == "double":
        assert double_differs > 0  # the data hits double-rounding cases (e.g. acc 95: 1.48 -> 2)
    assert st.macs == 4 * 36 * 9
