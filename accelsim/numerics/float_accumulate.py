"""Float accumulation as a matrix unit does it: an in-unit accumulator of limited precision, promoted into a
full fp32 register every ``chunk`` elements.

Hopper-class FP8 tensor cores are reported to keep about 14 bits of the running sum inside the unit (DeepSeek-V3
technical report, 2024, section 3.3.2), which is why production FP8 GEMMs copy the partial sum out to full
fp32 registers every 128 elements of K ("promotion"). That is the same chunk-and-spill structure as the
integer accumulators (accelsim.numerics.accumulate), with rounding where the integers wrap or saturate.

Semantics (:class:`FloatAccumulator`), for C[m, n] = sum_k A[m, k] B[k, n] with A, B already in their operand
format (float32 values, e.g. from :func:`accelsim.numerics.cast`):

- products are exact (an fp8, fp16 or bf16 product fits in float64; fp32 x fp32 does too);
- within a chunk, in the stated order k = 0, 1, ..., the running sum is ``round(acc + product)``: the exact sum
  (formed in float64) rounded once to nearest even at the accumulator's mantissa width, with its exponent range
  (``min_exponent`` for gradual underflow, ``max_finite`` for overflow);
- overflow: to +-inf (an *overflow event*) or, with ``saturate`` (satfinite), clamped to +-max_finite (a
  *saturation event*); events are counted per [output channel n, K-chunk] where a finite sum first leaves the
  range (an inf stays inf);
- after each chunk the accumulator is added into the promotion register (float32, round to nearest even) and
  reset; ``chunk=None`` keeps the whole K inside the unit (no promotion).

Two implementations, equal bit for bit (tests/numerics/test_float_accumulate.py): the Numba kernel
:func:`float_matmul` and its numpy twin :func:`float_matmul_reference`, which rounds through ml-dtypes for fp16
and numpy's frexp/ldexp for other widths, in plain Python loops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np


@dataclass(frozen=True)
class FloatAccumulator:
    """The in-unit accumulator: explicit mantissa bits, smallest normal exponent, largest finite value."""

    mantissa_bits: int
    min_exponent: int
    max_finite: float
    saturate: bool = False
    chunk: int | None = None   # K elements before promotion into the fp32 register (None: never)

    @classmethod
    def named(cls, name: str, *, saturate: bool = False, chunk: int | None = None) -> "FloatAccumulator":
        """``fp32``, ``fp16``, ``bf16``, or ``fp32_m<N>``: fp32's range with N explicit mantissa bits (the
        reduced-precision accumulators of FP8 tensor cores, e.g. fp32_m13)."""
        if name == "fp32":
            return cls(23, -126, float(np.finfo(np.float32).max), saturate, chunk)
        if name == "fp16":
            return cls(10, -14, 65504.0, saturate, chunk)
        if name == "bf16":
            return cls(7, -126, float.fromhex("0x1.fep127"), saturate, chunk)
        if name.startswith("fp32_m") and name[6:].isdigit() and 1 <= int(name[6:]) <= 23:
            m = int(name[6:])
            return cls(m, -126, float((2 - 2.0 ** -m) * 2.0 ** 127), saturate, chunk)
        raise ValueError(f"unknown accumulator '{name}'; allowed: fp32, fp16, bf16, fp32_m<1..23>")


@nb.njit(cache=True, inline="always")
def _round(v, mbits, emin, maxf):
    """``v`` (float64) rounded to nearest even with ``mbits`` mantissa bits, gradual underflow below 2^emin;
    returns +-inf beyond ``maxf`` (the caller decides what overflow means)."""
    if v == 0.0 or not math.isfinite(v):
        return v
    m, e = math.frexp(v)          # v = m * 2^e, 0.5 <= |m| < 1
    exp = e - 1                   # v = 1.f * 2^exp
    if exp < emin:
        exp = emin                # subnormal: the quantum is fixed at 2^(emin - mbits)
    quantum = math.ldexp(1.0, exp - mbits)
    r = np.rint(v / quantum) * quantum
    if abs(r) > maxf:
        return math.inf if r > 0 else -math.inf
    return r


@nb.njit(cache=True)
def _float_kernel(a, b, mbits, emin, maxf, saturate, chunk, out, events):
    m_dim, k_dim = a.shape
    n_dim = b.shape[1]
    for i in range(m_dim):
        for j in range(n_dim):
            promoted = np.float32(0.0)
            acc = 0.0
            c = 0
            for k in range(k_dim):
                s = _round(acc + float(a[i, k]) * float(b[k, j]), mbits, emin, maxf)
                if math.isinf(s) and math.isfinite(acc):
                    if saturate:
                        s = maxf if s > 0 else -maxf
                    events[j, c] += 1
                acc = s
                if chunk > 0 and (k + 1) % chunk == 0:
                    promoted = np.float32(float(promoted) + acc)
                    acc = 0.0
                    c += 1
            if chunk <= 0 or k_dim % chunk:
                promoted = np.float32(float(promoted) + acc)
            out[i, j] = promoted


#: rows of A one block of the fast path updates per row of B read (each row of B is reused this many times)
_ROWS = 32


@nb.njit(cache=True, inline="always")
def _axpy(acc, x, row, n):
    for j in range(n):
        acc[j] += x * row[j]


@nb.njit(cache=True, parallel=True)
def _fp32_rows(a, b, chunk, out):
    """Full fp32 accumulators, vectorized across N: for products exact in float32 (operands of <= 12 significant
    bits: fp8, fp6, fp4, bf16, fp16), ``acc + product`` in float32 *is* the exact sum rounded once to nearest
    even (a fused multiply-add gives the same), so this equals the scalar kernel bit for bit; non-finite results
    are recounted by the caller. Blocks of rows reuse each row of B from cache; every element still accumulates
    in k order, and promotes into its fp32 register after every chunk."""
    m_dim, k_dim = a.shape
    n_dim = b.shape[1]
    n_blocks = (m_dim + _ROWS - 1) // _ROWS
    one = np.float32(1.0)
    for blk in nb.prange(n_blocks):
        i0 = blk * _ROWS
        rows = min(_ROWS, m_dim - i0)
        acc = np.zeros((_ROWS, n_dim), dtype=np.float32)
        promoted = np.zeros((_ROWS, n_dim), dtype=np.float32)
        for k in range(k_dim):
            row = b[k]
            for r in range(rows):
                _axpy(acc[r], a[i0 + r, k], row, n_dim)
            if chunk > 0 and (k + 1) % chunk == 0:
                for r in range(rows):
                    _axpy(promoted[r], one, acc[r], n_dim)
                    acc[r, :] = 0.0
        for r in range(rows):
            if chunk <= 0 or k_dim % chunk:
                _axpy(promoted[r], one, acc[r], n_dim)
            out[i0 + r, :] = promoted[r]


@nb.njit(cache=True)
def _low_bits_clear(bits, mask):
    for v in bits:
        if v & mask:
            return False
    return True


def _exact_products(x: np.ndarray) -> bool:
    """Operands whose pairwise products are exact in float32: every value's significand fits 12 bits (the low 12
    of float32's 23 stored mantissa bits are zero; fp8, fp6, fp4, bf16 and fp16 values all qualify)."""
    return bool(_low_bits_clear(np.ascontiguousarray(x).view(np.uint32).reshape(-1), np.uint32(0xFFF)))


def _chunks(k: int, chunk: int | None) -> int:
    return 1 if not chunk else -(-k // chunk)


def float_matmul(a, b, acc: FloatAccumulator) -> tuple[np.ndarray, np.ndarray]:
    """(C float32 (M, N), events int64 [N, K-chunks]) of A (M, K) @ B (K, N) with the accumulator ``acc``."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"shapes do not chain: {a.shape} @ {b.shape}")
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    events = np.zeros((b.shape[1], _chunks(a.shape[1], acc.chunk)), dtype=np.int64)
    full_fp32 = (acc.mantissa_bits, acc.min_exponent) == (23, -126) and not acc.saturate
    if full_fp32 and _exact_products(a) and _exact_products(b):
        _fp32_rows(a, b, acc.chunk or 0, out)
        if np.isfinite(out).all():  # no overflow anywhere: no event to count
            return out, events
    _float_kernel(a, b, acc.mantissa_bits, acc.min_exponent, acc.max_finite, acc.saturate, acc.chunk or 0, out,
                  events)
    return out, events


def _round_reference(v: float, acc: FloatAccumulator) -> float:
    if acc.mantissa_bits == 10 and acc.min_exponent == -14:  # fp16: ml-dtypes' (numpy's) own rounding
        with np.errstate(over="ignore"):
            return float(np.float64(v).astype(np.float16))
    if v == 0 or not math.isfinite(v):
        return v
    mant, e = np.frexp(v)
    exp = max(int(e) - 1, acc.min_exponent)
    r = float(np.rint(np.ldexp(v, acc.mantissa_bits - exp)))
    r = float(np.ldexp(r, exp - acc.mantissa_bits))
    return r if abs(r) <= acc.max_finite else math.copysign(math.inf, r)


def float_matmul_reference(a, b, acc: FloatAccumulator) -> tuple[np.ndarray, np.ndarray]:
    """The numpy twin of :func:`float_matmul`: the same order, rounding through ml-dtypes (fp16) or numpy's
    frexp/ldexp, in plain Python loops (small shapes only)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    m_dim, k_dim = a.shape
    n_dim = b.shape[1]
    out = np.empty((m_dim, n_dim), dtype=np.float32)
    events = np.zeros((n_dim, _chunks(k_dim, acc.chunk)), dtype=np.int64)
    for i in range(m_dim):
        for j in range(n_dim):
            promoted, run, c = np.float32(0.0), 0.0, 0
            for k in range(k_dim):
                s = _round_reference(run + float(a[i, k]) * float(b[k, j]), acc)
                if math.isinf(s) and math.isfinite(run):
                    if acc.saturate:
                        s = math.copysign(acc.max_finite, s)
                    events[j, c] += 1
                run = s
                if acc.chunk and (k + 1) % acc.chunk == 0:
                    promoted = np.float32(np.float64(promoted) + run)
                    run, c = 0.0, c + 1
            if not acc.chunk or k_dim % acc.chunk:
                promoted = np.float32(np.float64(promoted) + run)
            out[i, j] = promoted
    return out, events
