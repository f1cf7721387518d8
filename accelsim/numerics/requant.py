"""Requantization: int32/int64 accumulator values -> output integers, exactly as each contract does it.

All functions are vectorized numpy on int64 (exact); scales broadcast per output channel (last axis).

- :func:`requant_float32` — ONNX Runtime CPU (MLAS ``MlasRequantizeOutput``): the output scale is
  ``a_scale * b_scale / y_scale`` evaluated in float32 (quantize_linear_matmul.cc), the int32 value
  is converted to float32, multiplied in float32, clamped to [qmin - zp, qmax - zp], rounded half to
  even (the 1.5 * 2^23 magic-number trick) and the zero point is added.
- :func:`requant_fixed_point` — gemmlowp / TFLite: ``QuantizeMultiplier`` of the double-precision
  scale into an int32 multiplier and a shift, then ``MultiplyByQuantizedMultiplier``:
  SaturatingRoundingDoublingHighMul + RoundingDivideByPOT ('double'), or TFLite's
  TFLITE_SINGLE_ROUNDING variant ('single': one 64-bit multiply and a rounding right shift).
- :func:`requant_power_of_two` — an arithmetic shift with a stated rounding mode.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from accelsim.numerics.accumulate import row_parallel

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# --- float32 (ONNX Runtime) -----------------------------------------------------------------------

def ort_output_scale(x_scale, w_scale, y_scale) -> np.ndarray:
    """ONNX Runtime's per-channel output multiplier, float32((float32(a*b)) / y) as in C++ float math."""
    a = np.float32(x_scale)
    b = np.asarray(w_scale, dtype=np.float32)
    y = np.float32(y_scale)
    return (a * b).astype(np.float32) / y


def round_float(values: np.ndarray, rounding: str) -> np.ndarray:
    """Round float values (exactly representable in float64) to integers with a rounding mode."""
    v = np.asarray(values, dtype=np.float64)
    if rounding == "half_even":
        return np.rint(v)
    if rounding == "half_up":
        return np.floor(v + 0.5)
    if rounding == "half_away_from_zero":
        return np.sign(v) * np.floor(np.abs(v) + 0.5)
    if rounding == "floor":
        return np.floor(v)
    raise ValueError(f"unknown rounding '{rounding}'")


_ROUNDING_CODES = {"half_even": 0, "half_up": 1, "half_away_from_zero": 2, "floor": 3}


@nb.njit(cache=True, nogil=True)
def _requant_float32_rows(acc, scale, zero_point, qmin, qmax, mode, out, r0, r1):
    # the numpy twin below, fused: int32 wrap, float32 multiply (rounded once), float32 clamp, rounding, + zp
    per_column = scale.shape[0] > 1
    lo = np.float32(qmin - zero_point)
    hi = np.float32(qmax - zero_point)
    for i in range(r0, r1):
        for j in range(acc.shape[1]):
            a = ((np.int64(acc[i, j]) + 2147483648) & 0xFFFFFFFF) - 2147483648
            f = np.float32(a) * scale[j if per_column else 0]
            f = min(max(f, lo), hi)
            v = np.float64(f)
            if mode == 0:
                r = np.rint(v)
            elif mode == 1:
                r = np.floor(v + 0.5)
            elif mode == 2:
                r = np.floor(abs(v) + 0.5)
                r = -r if v < 0 else r
            else:
                r = np.floor(v)
            out[i, j] = np.int64(r) + zero_point


def requant_float32(acc: np.ndarray, scale: np.ndarray, zero_point: int, qmin: int, qmax: int,
                    rounding: str = "half_even", *, out_dtype=np.int64) -> np.ndarray:
    """MLAS-style float32 requantization of int32 accumulator values (bias already added).

    2-D int32/int64 accumulators (M, N) with a scalar or per-column scale take the fused Numba kernel, which
    writes ``out_dtype`` directly (the codes are within [qmin, qmax]); anything else its numpy twin
    :func:`requant_float32_reference` (the two agree bit for bit: tests/numerics)."""
    a = np.asarray(acc)
    s = np.asarray(scale, dtype=np.float32).reshape(-1)
    if (a.ndim != 2 or a.dtype not in (np.int32, np.int64) or rounding not in _ROUNDING_CODES
            or s.size not in (1, a.shape[1])):
        return requant_float32_reference(acc, scale, zero_point, qmin, qmax, rounding).astype(out_dtype)
    out = np.empty(a.shape, dtype=out_dtype)
    row_parallel(_requant_float32_rows, a.shape[0], np.ascontiguousarray(a), s, np.int64(zero_point),
                 np.int64(qmin), np.int64(qmax), _ROUNDING_CODES[rounding], out)
    return out


def requant_float32_reference(acc: np.ndarray, scale: np.ndarray, zero_point: int, qmin: int, qmax: int,
                              rounding: str = "half_even") -> np.ndarray:
    """Numpy twin of :func:`requant_float32`."""
    acc32 = wrap_int32(np.asarray(acc, dtype=np.int64))
    f = acc32.astype(np.float32) * np.asarray(scale, dtype=np.float32)  # float32 multiply, rounded once
    f = np.minimum(np.maximum(f, np.float32(qmin - zero_point)), np.float32(qmax - zero_point))
    return round_float(f, rounding).astype(np.int64) + zero_point


def wrap_int32(v: np.ndarray) -> np.ndarray:
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


# --- fixed point (gemmlowp / TFLite) --------------------------------------------------------------

def quantize_multiplier(real: float, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = q * 2^(shift - 31) with q in [2^30, 2^31) (or 0).

    Returns (quantized_multiplier, shift); shift > 0 is a left shift.
    """
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"multiplier must be finite and >= 0, got {real}")
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # all bits shifted out: TFLite flushes to zero
        return 0, 0
    if single_rounding and shift > 30:
        return (1 << 31) - 1, 30
    return int(q_fixed), int(shift)


def _round_half_away(v: float) -> int:
    # std::round: half away from zero
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64 arrays."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b  # |ab| <= 2^62: exact in int64
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C++ integer division truncates toward zero
    high = np.where(total >= 0, total // (1 << 31), -((-total) // (1 << 31)))
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: round to nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                                     single_rounding: bool = False, *, rounding: str | None = None) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier for int32 ``x`` (int64 array); per-channel arrays broadcast.

    ``rounding``: 'double' (gemmlowp: SRDHM then RoundingDivideByPOT, ties away from zero),
    'single' (TFLITE_SINGLE_ROUNDING: one 64-bit multiply, one rounding, ties toward +inf) or
    'ruy' (ruy's kernels, TFLite's optimized int8 GEMM: doubling high multiply then a rounding right
    shift, both rounding ties toward +inf — ruy/apply_multiplier.cc, kernel_x86 "rounding right shift").
    """
    rounding = rounding or ("single" if single_rounding else "double")
    x = wrap_int32(np.asarray(x, dtype=np.int64))
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if rounding == "single":
        total_shift = 31 - shift
        rnd = np.int64(1) << (total_shift - 1)
        result = (x * multiplier + rnd) >> total_shift
        return np.clip(result, INT32_MIN, INT32_MAX)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x * (np.int64(1) << left))  # int32 multiply in C++: wraps
    if rounding == "double":
        return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)
    if rounding == "ruy":
        high = np.clip((shifted * multiplier + (np.int64(1) << 30)) >> 31, INT32_MIN, INT32_MAX)
        nudge = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
        return (high + nudge) >> right
    raise ValueError(f"unknown fixed-point rounding '{rounding}' (allowed: double, single, ruy)")


def tflite_effective_scale(x_scale, w_scale, y_scale, float_product: bool = False) -> np.ndarray:
    """TFLite's effective output scale, as a double.

    Per-channel (PopulateConvolutionQuantizationParams, and every int8 CONV_2D): double(float in) x
    double(float filter) / double(float out). Per-tensor FULLY_CONNECTED (GetQuantizedConvolutionMultipler,
    ``float_product=True``): the input x filter product is taken in float32 first, then divided in double.
    """
    xs = np.float32(x_scale)
    ws = np.asarray(w_scale, dtype=np.float32)
    ys = np.float64(np.float32(y_scale))
    if float_product:
        return (xs * ws).astype(np.float32).astype(np.float64) / ys
    return np.float64(xs) * ws.astype(np.float64) / ys


def requant_fixed_point(acc: np.ndarray, real_scale: np.ndarray, zero_point: int, qmin: int, qmax: int,
                        single_rounding: bool = False, *, rounding: str | None = None) -> np.ndarray:
    """gemmlowp/TFLite requantization with per-channel (or scalar) real multipliers.

    ``rounding``: 'double' | 'single' | 'ruy' (see multiply_by_quantized_multiplier), or
    'float64_away' (no integer multiplier: acc x double real scale, rounded half away from zero).
    """
    rounding = rounding or ("single" if single_rounding else "double")
    real = np.atleast_1d(np.asarray(real_scale, dtype=np.float64))
    if rounding == "float64_away":
        # LiteRT 2.x reference FULLY_CONNECTED, measured against the interpreter: the int32
        # accumulator times the double-precision real multiplier, std::round (ties away from zero)
        v = wrap_int32(np.asarray(acc, dtype=np.int64)).astype(np.float64) * (real if real.size > 1 else real[0])
        y = np.sign(v) * np.floor(np.abs(v) + 0.5)
        return np.clip(y, qmin - zero_point, qmax - zero_point).astype(np.int64) + zero_point
    pairs = [quantize_multiplier(float(r), rounding == "single") for r in real]
    mult = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    if real.size == 1:
        mult, shift = mult[0], shift[0]
    y = multiply_by_quantized_multiplier(acc, mult, shift, rounding=rounding) + zero_point
    return np.clip(y, qmin, qmax)


# --- power of two -------------------------------------------------------------------------------

def pot_exponent(scale: float) -> int | None:
    """n with scale == 2^-n exactly, or None if the scale is not a power of two."""
    m, e = math.frexp(float(scale))
    if m != 0.5:
        return None
    return 1 - e


def shift_round(acc: np.ndarray, shift: np.ndarray, rounding: str) -> np.ndarray:
    """acc * 2^-shift rounded with ``rounding`` (shift may be negative: a left shift)."""
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    v = acc << left
    q = v >> right  # floor
    if rounding == "floor":
        return q
    mask = (np.int64(1) << right) - 1
    rem = v & mask
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    has_frac = right > 0
    if rounding == "half_up":
        return q + (has_frac & (rem >= half))
    if rounding == "half_even":
        return q + (has_frac & ((rem > half) | ((rem == half) & ((q & 1) == 1))))
    if rounding == "half_away_from_zero":
        up = (rem > half) | ((rem == half) & (v >= 0))
        return q + (has_frac & up)
    raise ValueError(f"unknown rounding '{rounding}'")


def requant_power_of_two(acc: np.ndarray, shift: np.ndarray, zero_point: int, qmin: int, qmax: int,
                         rounding: str) -> np.ndarray:
    """Shift-only requantization: y = round(acc * 2^-shift) + zero_point, clamped."""
    return np.clip(shift_round(acc, shift, rounding) + zero_point, qmin, qmax)
