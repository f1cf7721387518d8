"""Integer accumulation exactly as a MAC array does it.

The reduction dimension K is split into chunks of ``chunk`` elements (the array's reduction depth,
see :meth:`HardwareProfile.k_chunk`). Within a chunk the running sum lives in an accumulator of
``acc_bits`` (wrap or saturate after every MAC); each chunk's result is added into a partial-sum
register of ``spill_bits`` (wrap or saturate); the int32 bias is added last, at spill width.
Products are formed from zero-point-corrected operands, (x - x_zp) * (w - w_zp), as in gemmlowp's
reference semantics.

Two exact implementations:
- :func:`accumulate_fast`: when a bound proves no partial sum can leave the accumulator, the order
  cannot matter, so float BLAS on K-slices small enough to be exact (|partial| < 2^24 in float32)
  gives the exact integer result at BLAS speed.
- :func:`_accumulate_seq` (Numba): the sequential chunked accumulation with overflow/saturation
  counting per (output channel, K-chunk). Its numpy twin :func:`accumulate_reference` is used in tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numba as nb
import numpy as np
from llvmlite import ir as llvm_ir
from numba.extending import intrinsic


@dataclass(frozen=True)
class AccumulatorModel:
    """Accumulator semantics of one contract for one reduction (widths in bits, chunk in elements)."""

    acc_bits: int
    acc_saturate: bool
    chunk: int
    spill_bits: int
    spill_saturate: bool
    byte_pairs_saturate: bool = False  # u8 x s8 pair sums clamp to int16 first (x86 VPMADDUBSW): accumulate_codes
    s8_activations_as_u8: bool = False  # int8 activations moved to uint8 first (ONNX Runtime's QDQ s8-to-u8 rewrite)


@dataclass
class AccumulationEvents:
    """Overflow (wrap) and saturation events, indexed [output channel, K-chunk].

    ``acc_*`` count events inside the array accumulator; ``spill_*`` in the partial-sum register
    (the bias add counts in the last chunk's spill column).
    """

    acc_overflow: np.ndarray
    acc_saturation: np.ndarray
    spill_overflow: np.ndarray
    spill_saturation: np.ndarray

    @property
    def overflow_events(self) -> int:
        return int(self.acc_overflow.sum() + self.spill_overflow.sum())

    @property
    def saturation_events(self) -> int:
        return int(self.acc_saturation.sum() + self.spill_saturation.sum())

    @property
    def by_channel_chunk(self) -> np.ndarray:
        """All events per [output channel, K-chunk]."""
        return self.acc_overflow + self.acc_saturation + self.spill_overflow + self.spill_saturation

    @staticmethod
    def zeros(n: int, chunks: int) -> "AccumulationEvents":
        z = lambda: np.zeros((n, chunks), dtype=np.int64)  # noqa: E731
        return AccumulationEvents(z(), z(), z(), z())

    @staticmethod
    def concat_chunks(parts: "list[AccumulationEvents]") -> "AccumulationEvents":
        """Events of consecutive K ranges side by side along the chunk axis."""
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=1)  # noqa: E731
        return AccumulationEvents(cat("acc_overflow"), cat("acc_saturation"), cat("spill_overflow"),
                                  cat("spill_saturation"))

    def __iadd__(self, other: "AccumulationEvents") -> "AccumulationEvents":
        if other.acc_overflow.shape != self.acc_overflow.shape:
            raise ValueError(f"event grids differ: {self.acc_overflow.shape} vs {other.acc_overflow.shape}")
        self.acc_overflow += other.acc_overflow
        self.acc_saturation += other.acc_saturation
        self.spill_overflow += other.spill_overflow
        self.spill_saturation += other.spill_saturation
        return self


def _limits(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def bound_fits(k: int, max_x: int, max_w: int, max_bias: int, model: AccumulatorModel) -> bool:
    """True if no partial sum can leave either register: then any exact summation order is correct."""
    prod = max_x * max_w
    chunk_bound = min(model.chunk, k) * prod
    total_bound = k * prod + max_bias
    return chunk_bound <= _limits(model.acc_bits)[1] and total_bound <= _limits(model.spill_bits)[1]


def accumulate_fast(xc: np.ndarray, wc: np.ndarray, bias: np.ndarray | None, max_x: int | None = None,
                    max_w: int | None = None) -> np.ndarray:
    """Exact sum_k xc[m,k] * wc[k,n] (+ bias[n]) as int64 via float BLAS on exact K-slices.

    A K-slice is exact in float32 when every partial sum is an integer below 2^24 in magnitude,
    whatever order BLAS adds in; slice results are summed in float64 (exact below 2^53, which the
    caller's bound guarantees for 64-bit accumulators too). float64 BLAS is used when float32
    slices would be too thin (e.g. int16 x int16).
    """
    m, k = xc.shape
    n = wc.shape[1]
    max_x = abs_max(xc) if max_x is None else max_x
    max_w = abs_max(wc) if max_w is None else max_w
    prod = max(1, max_x * max_w)
    bias_max = 0 if bias is None else int(np.abs(bias).max(initial=0))
    if m * n * k <= (1 << 21) and k * prod + bias_max < (1 << 24):
        # a small GEMM whose every partial sum is an integer below 2^24: one float32 product is exact in any order
        # (the scratch-buffer path's set-up costs more than such a product)
        out = xc.astype(np.float32) @ wc.astype(np.float32)
        if bias is not None:  # still an integer below 2^24: exact in float32
            out += np.asarray(bias, dtype=np.float32)
        # one conversion, through int32 (float32 -> int64 is several times slower; the values fit int32)
        return out.astype(np.int32).astype(np.int64)
    # float32 slices: the codes path with zero points 0 (one conversion pass, int slice sums, scratch buffers)
    out32 = accumulate_codes_fast(xc, wc, 0, np.zeros(1, dtype=np.int64), bias, max_x, max_w)
    if out32 is not None:
        return out32.astype(np.int64, copy=False)
    step = max(1, (1 << 53) // prod)   # float64 slices (e.g. int16 x int16)
    xf = xc.astype(np.float64)
    wf = wc.astype(np.float64)
    if step >= k:
        total = xf @ wf
    else:
        total = np.zeros((m, n), dtype=np.float64)
        for k0 in range(0, k, step):
            total += xf[:, k0:k0 + step] @ wf[k0:k0 + step]
    if k * prod >= (1 << 53):  # beyond float64's exact range: finish in integers slice by slice
        out = np.zeros((m, n), dtype=np.int64)
        for k0 in range(0, k, max(1, (1 << 53) // prod)):
            k1 = min(k, k0 + max(1, (1 << 53) // prod))
            out += (xc[:, k0:k1].astype(np.float64) @ wc[k0:k1].astype(np.float64)).astype(np.int64)
    else:
        out = total.astype(np.int64)
    if bias is not None:
        out += bias.astype(np.int64)[None, :]
    return out


@nb.njit(cache=True, nogil=True)
def _codes_to_float32(codes, zero_point, out, r0, r1):
    # out = float32(codes - zero_point), zero_point of length 1 (per tensor) or one per column (per channel):
    # exact, as |codes - zero_point| < 2^17 for every operand type
    per_column = zero_point.shape[0] > 1
    for i in range(r0, r1):
        for j in range(codes.shape[1]):
            out[i, j] = np.float32(np.int64(codes[i, j]) - zero_point[j if per_column else 0])


@nb.njit(cache=True, nogil=True)
def _add_exact_slice(total, part, bias, first, r0, r1):
    # total (int32 or int64, wide enough by the caller's bound) += part (float32 holding exact integers below
    # 2^24), plus the bias with the first slice
    for i in range(r0, r1):
        if first:
            for j in range(total.shape[1]):
                total[i, j] = np.int64(part[i, j]) + bias[j]
        else:
            for j in range(total.shape[1]):
                total[i, j] += np.int32(part[i, j])


_pool = None
_pool_lock = threading.Lock()


def _thread_pool():
    """One pool for the process: starting threads per call costs ~1 ms each, as much as the work they do."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max(1, nb.get_num_threads()), thread_name_prefix="accelsim-numerics")
        return _pool


def row_parallel(fn, rows: int, *args) -> None:
    """``fn(*args, r0, r1)`` over disjoint row ranges, one per Numba thread (the kernels release the GIL; serial
    Numba code between BLAS calls leaves no spinning threads behind)."""
    # a thread per 128 k elements at least: handing a pass of a small matrix to the pool costs more than the pass
    # (tens of microseconds; a CNN's thousand small GEMMs spent a tenth of their time in the hand-off)
    elements = max((a.size for a in args if isinstance(a, np.ndarray)), default=0)
    threads = max(1, min(nb.get_num_threads(), rows // 64, elements >> 17))
    if threads == 1 or threading.current_thread().name.startswith("accelsim-numerics"):
        fn(*args, 0, rows)
        return
    edges = [rows * t // threads for t in range(threads + 1)]
    pool = _thread_pool()
    for f in [pool.submit(fn, *args, edges[t], edges[t + 1]) for t in range(threads)]:
        f.result()


#: largest scratch buffer (bytes) kept between calls, per thread; larger ones are allocated per call
SCRATCH_LIMIT = 256 << 20
_scratch_local = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A reusable uninitialized buffer: a fresh large allocation is mapped page by page on first touch (16 k page
    faults for 64 MiB, a third of a 256 x 4096 x 4096 GEMM's time), so operand conversions reuse one buffer per
    thread, grown when needed, up to SCRATCH_LIMIT bytes."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes > SCRATCH_LIMIT:
        return np.empty(shape, dtype=dtype)
    pool = _scratch_local.__dict__.setdefault("pool", {})
    buf = pool.get(name)
    if buf is None or buf.size < nbytes:
        buf = pool[name] = np.empty(max(nbytes, 1), dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def accumulate_codes_fast(x: np.ndarray, w: np.ndarray, x_zero_point: int, w_zero_point: np.ndarray,
                          bias: np.ndarray | None, max_x: int, max_w: int) -> np.ndarray | None:
    """Exact sum_k (x[m,k] - x_zp) (w[k,n] - w_zp[n]) + bias[n] straight from the stored codes: int32 when the
    bound proves every value fits it, else int64.

    The same exactness argument as :func:`accumulate_fast` (float32 BLAS on K-slices whose every partial sum
    is an integer below 2^24), without int64 operand copies: each K-slice of the codes is converted to float32
    with the zero point subtracted in one pass, and its product added into the int64 result in one pass.
    ``max_x`` / ``max_w`` bound |x - x_zp| and |w - w_zp|. Returns None when float32 slices would be thinner
    than 64 (wide operands): the caller takes the int64 path."""
    m, k = x.shape
    n = w.shape[1]
    prod = max(1, max_x * max_w)
    step = min(max(k, 1), (1 << 24) // prod)
    if step < min(k, 64):
        return None
    xf = _scratch("x", (m, k), np.float32)
    row_parallel(_codes_to_float32, m, x, np.array([x_zero_point], dtype=np.int64), xf)
    w_zp = np.asarray(w_zero_point, dtype=np.int64).reshape(-1)
    bias64 = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    # int32 results when the bound proves every value fits (half the memory traffic of the slice adds)
    wide = k * prod + int(np.abs(bias64).max(initial=0)) >= 2**31
    total = np.empty((m, n), dtype=np.int64 if wide else np.int32)
    part = _scratch("part", (m, n), np.float32)
    wf_all = _scratch("w", (step, n), np.float32)
    for k0 in range(0, max(k, 1), step):
        k1 = min(k, k0 + step)
        wf = wf_all[:k1 - k0]
        row_parallel(_codes_to_float32, k1 - k0, w[k0:k1], w_zp, wf)
        np.matmul(xf[:, k0:k1], wf, out=part)
        row_parallel(_add_exact_slice, m, total, part, bias64, k0 == 0)
    return total


@nb.njit(cache=True, nogil=True)
def _abs_max_rows(a):
    # serial on purpose: a parallel region here leaves spinning threads that slow the BLAS call after it
    out = np.zeros(a.shape[0], dtype=np.int64)
    for i in range(a.shape[0]):
        m = 0
        for j in range(a.shape[1]):
            v = abs(np.int64(a[i, j]))
            if v > m:
                m = v
        out[i] = m
    return out


def abs_max(a: np.ndarray) -> int:
    """max |a| of an integer matrix, in one parallel pass without temporaries (large weights)."""
    if a.size == 0:
        return 0
    if a.ndim != 2 or a.size < (1 << 16) or a.dtype.kind not in "iu":
        return int(np.abs(a).max(initial=0))
    return int(_abs_max_rows(np.ascontiguousarray(a)).max())


_NB = 256  # output channels per block (an L1-resident accumulator tile)
_MB = 4   # rows per block: each weight row loaded once feeds _MB accumulator rows


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _chunk_saturate(acc, wt, xc, m0, mw, k0, k1, lo, hi, cnt):
    # Every value is cast back to the storage type (int16 or int32, chosen by the caller so that
    # products and the register range fit): numba would otherwise widen to int64 and LLVM vectorize
    # 2-4x fewer lanes (the clamp of a widened sum becomes a native saturating add). A saturation
    # happened iff (s - a) != p in storage arithmetic: the clipped amount is never a multiple of 2^16.
    t = acc.dtype.type
    lo_t = t(lo)
    hi_t = t(hi)
    for k in range(k0, k1):
        for i in range(mw):
            xv = xc[m0 + i, k]
            for j in range(acc.shape[1]):
                a = acc[i, j]
                p = t(xv * wt[k, j])
                s = t(min(max(a + p, lo_t), hi_t))
                cnt[i, j] = t(cnt[i, j] + t(t(s - a) != p))
                acc[i, j] = s


@intrinsic
def _sadd_sat_i16(typingctx, a, b):
    """LLVM's ``llvm.sadd.sat.i16``: the int16 sum clamped to [-32768, 32767]. Written as an intrinsic so that the
    loop vectorizer widens it to the native saturating add (x86 ``vpaddsw``: 16 lanes per 256-bit register),
    which no arithmetic formulation in numba's int64-promoting typing produces."""
    sig = nb.types.int16(nb.types.int16, nb.types.int16)

    def codegen(context, builder, signature, args):
        i16 = llvm_ir.IntType(16)
        fn = builder.module.declare_intrinsic("llvm.sadd.sat", [i16], llvm_ir.FunctionType(i16, [i16, i16]))
        return builder.call(fn, args)
    return sig, codegen


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _chunk_saturate_i16(acc, wt, xc, m0, mw, k0, k1, cnt):
    # Exactly 16-bit saturating registers with int16 products (the caller's bound): s = sat16(a + p), and a
    # saturation happened iff the wrapping int16 sum differs from s.
    n = acc.shape[1]
    for k in range(k0, k1):
        w_row = wt[k]
        for i in range(mw):
            xv = xc[m0 + i, k]
            a_row = acc[i]
            c_row = cnt[i]
            for j in range(n):
                a = a_row[j]
                p = np.int16(xv * w_row[j])
                s = _sadd_sat_i16(a, p)
                c_row[j] = np.int16(c_row[j] + np.int16(np.int16(a + p) != s))
                a_row[j] = s


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _chunk_saturate16(acc, wt, xc, m0, mw, k0, k1, lo, hi, cnt):
    # _chunk_saturate for int16 storage with every intermediate pinned to int32 (an int16 product plus an
    # int16 register cannot leave int32): numba's default int64 arithmetic halves the SIMD lanes (16 int32
    # lanes of a 512-bit register instead of 8); 1.7x the generic kernel on AVX-512.
    lo32 = np.int32(lo)
    hi32 = np.int32(hi)
    n = acc.shape[1]
    for k in range(k0, k1):
        w_row = wt[k]
        for i in range(mw):
            xv = np.int32(xc[m0 + i, k])
            a_row = acc[i]
            c_row = cnt[i]
            for j in range(n):
                t = np.int32(np.int32(a_row[j]) + np.int32(xv * np.int32(w_row[j])))
                s = np.int32(min(np.int32(max(t, lo32)), hi32))
                c_row[j] = np.int16(c_row[j] + np.int16(s != t))
                a_row[j] = np.int16(s)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _chunk_wrap(acc, wt, xc, m0, mw, k0, k1, lo, mask, cnt):
    for k in range(k0, k1):
        for i in range(mw):
            xv = xc[m0 + i, k]
            for j in range(acc.shape[1]):
                a = acc[i, j] + xv * wt[k, j]
                w = ((a - lo) & mask) + lo
                cnt[i, j] += a != w
                acc[i, j] = w


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _spill(t, lo, hi, mask, saturate):
    if saturate:
        return min(max(t, lo), hi)
    return ((t - lo) & mask) + lo


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _spill_chunk(acc, cnt, spill, mw, nw, lo, hi, mask, saturate, ev_acc, ev_sp):
    """End of a K-chunk: add the chunk's accumulators into the spill registers (and reset them);
    per-channel event counts of the chunk into ev_acc / ev_sp. Branch-free inner loops (vectorized)."""
    ev_acc[:nw] = 0
    ev_sp[:nw] = 0
    st = spill.dtype.type
    for i in range(mw):
        if saturate:
            for j in range(nw):
                t = spill[i, j] + np.int64(acc[i, j])
                s = st(min(max(t, lo), hi))
                ev_sp[j] += np.int32(s != t)
                ev_acc[j] += np.int32(cnt[i, j])
                spill[i, j] = s
        else:
            for j in range(nw):
                t = spill[i, j] + np.int64(acc[i, j])
                s = ((t - lo) & mask) + lo
                ev_sp[j] += s != t
                ev_acc[j] += cnt[i, j]
                spill[i, j] = s
    acc[:mw, :nw] = 0
    cnt[:mw, :nw] = 0


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _accumulate_seq(xc, wc, bias, acc_lo, acc_hi, acc_mask, acc_sat, chunk, sp_lo, sp_hi, sp_mask, sp_sat,
                    spill_proto, n_start, n_stop, out, acc_ev, sp_ev):
    """Sequential chunked accumulation for output channels [n_start, n_stop).

    Events are written to acc_ev / sp_ev[K-chunk, channel]. Serial on purpose: callers run disjoint
    channel ranges on threads (nogil); Numba's prange lowering was 2x slower per core here.
    """
    m_total, k_total = xc.shape
    n_chunks = (k_total + chunk - 1) // chunk
    for n0 in range(n_start, n_stop, _NB):
        nw = min(_NB, n_stop - n0)
        wt = np.ascontiguousarray(wc[:, n0:n0 + nw])
        acc = np.zeros((_MB, nw), dtype=wc.dtype)
        cnt = np.zeros((_MB, nw), dtype=wc.dtype)
        # spill registers in the working width when they fit it (saturating 16-bit spills stay int16)
        spill = np.zeros((_MB, nw), dtype=spill_proto.dtype)
        ev_acc = np.zeros(nw, dtype=np.int32)
        ev_sp = np.zeros(nw, dtype=np.int32)
        for m0 in range(0, m_total, _MB):
            mw = min(_MB, m_total - m0)
            spill[:, :] = 0
            for c in range(n_chunks):
                k0 = c * chunk
                k1 = min(k_total, k0 + chunk)
                if acc_sat and acc.itemsize == 2 and acc_lo == -32768 and acc_hi == 32767:
                    _chunk_saturate_i16(acc, wt, xc, m0, mw, k0, k1, cnt)
                elif acc_sat and acc.itemsize == 2:  # int16 working registers, narrower saturation limits
                    _chunk_saturate16(acc, wt, xc, m0, mw, k0, k1, acc_lo, acc_hi, cnt)
                elif acc_sat:
                    _chunk_saturate(acc, wt, xc, m0, mw, k0, k1, acc_lo, acc_hi, cnt)
                else:
                    _chunk_wrap(acc, wt, xc, m0, mw, k0, k1, acc_lo, acc_mask, cnt)
                _spill_chunk(acc, cnt, spill, mw, nw, sp_lo, sp_hi, sp_mask, sp_sat, ev_acc, ev_sp)
                for j in range(nw):
                    acc_ev[c, n0 + j] += ev_acc[j]
                    sp_ev[c, n0 + j] += ev_sp[j]
            for i in range(mw):
                for j in range(nw):
                    t = spill[i, j] + bias[n0 + j]
                    s = _spill(t, sp_lo, sp_hi, sp_mask, sp_sat)
                    sp_ev[n_chunks - 1, n0 + j] += s != t
                    out[m0 + i, n0 + j] = s


def _run_threads(fn, n: int, *args) -> None:
    """Run ``fn(*args, n_start, n_stop, ...)`` over disjoint channel ranges on all Numba threads."""
    threads = max(1, min(nb.get_num_threads(), -(-n // _NB)))
    if threads == 1 or threading.current_thread().name.startswith("accelsim-numerics"):
        fn(*args[:-3], 0, n, *args[-3:])
        return
    blocks = -(-n // _NB)
    edges = [min(n, (blocks * t // threads) * _NB) for t in range(threads + 1)]
    pool = _thread_pool()
    futures = [pool.submit(fn, *args[:-3], edges[t], edges[t + 1], *args[-3:]) for t in range(threads)
               if edges[t] < edges[t + 1]]
    for f in futures:
        f.result()


def _mask(bits: int) -> int:
    # two's-complement wrap: ((v - lo) & (2^bits - 1)) + lo; for 64 bits the mask is all ones (-1)
    return -1 if bits >= 64 else (1 << bits) - 1


def accumulate(xc: np.ndarray, wc: np.ndarray, bias: np.ndarray | None, model: AccumulatorModel,
               *, force_sequential: bool = False,
               bounds: tuple[int, int] | None = None) -> tuple[np.ndarray, AccumulationEvents, bool]:
    """Accumulate zero-point-corrected operands ``xc`` (M, K) and ``wc`` (K, N) under ``model``.

    ``bounds``: upper bounds of (|xc|, |wc|) if the caller knows them (else measured here).
    Returns (int64 (M, N) spill-register values including bias, events, used_fast_path).
    """
    m, k = xc.shape
    n = wc.shape[1]
    chunk = max(1, min(model.chunk, k)) if k else 1
    n_chunks = max(1, -(-k // chunk))
    max_x, max_w = bounds if bounds is not None else (abs_max(xc), abs_max(wc))
    bias64 = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    max_bias = int(np.abs(bias64).max(initial=0))
    if not force_sequential and bound_fits(k, max_x, max_w, max_bias, model):
        return accumulate_fast(xc, wc, bias64, max_x, max_w), AccumulationEvents.zeros(n, n_chunks), True
    acc_lo, acc_hi = _limits(model.acc_bits)
    sp_lo, sp_hi = _limits(model.spill_bits)
    # the narrowest working registers that hold the accumulator, one product and a chunk's event
    # count (more SIMD lanes): int16 for 16-bit saturating accumulators of int8 operands
    if (model.acc_saturate and acc_hi < 2**15 and max_x * max_w < 2**15 and max_x < 2**15 and max_w < 2**15
            and chunk < 2**15):
        work = np.int16
    elif acc_hi + max_x * max_w < 2**31 - 1:
        work = np.int32
    else:
        work = np.int64
    out = np.empty((m, n), dtype=np.int64)
    acc_ev = np.zeros((n_chunks, n), dtype=np.int64)
    sp_ev = np.zeros((n_chunks, n), dtype=np.int64)
    # numba computes in int64 whatever the storage; the masks and limits are passed as int64
    _run_threads(_accumulate_seq, n, np.ascontiguousarray(xc, dtype=work), np.ascontiguousarray(wc, dtype=work),
                 bias64, np.int64(acc_lo), np.int64(acc_hi), np.int64(_mask(model.acc_bits)), model.acc_saturate,
                 chunk, np.int64(sp_lo), np.int64(sp_hi), np.int64(_mask(model.spill_bits)), model.spill_saturate,
                 np.zeros(0, dtype=work if model.spill_saturate and model.spill_bits <= 8 * np.dtype(work).itemsize
                          else np.int64),
                 out, acc_ev, sp_ev)
    acc_ev, sp_ev = acc_ev.T, sp_ev.T  # [channel, K-chunk] views: the kernel writes chunk rows contiguously
    events = AccumulationEvents(
        acc_overflow=np.zeros_like(acc_ev) if model.acc_saturate else acc_ev,
        acc_saturation=acc_ev if model.acc_saturate else np.zeros_like(acc_ev),
        spill_overflow=np.zeros_like(sp_ev) if model.spill_saturate else sp_ev,
        spill_saturation=sp_ev if model.spill_saturate else np.zeros_like(sp_ev))
    return out, events, False


def accumulate_codes(x: np.ndarray, w: np.ndarray, x_zero_point: int, w_zero_point: np.ndarray,
                     bias: np.ndarray | None, model: AccumulatorModel, *, x_range: tuple[int, int] | None = None,
                     w_range: tuple[int, int] | None = None,
                     force_sequential: bool = False) -> tuple[np.ndarray, AccumulationEvents, bool]:
    """:func:`accumulate` of stored codes: x (M, K) and w (K, N) with their zero points (w's scalar or one per
    column) subtracted here. ``x_range`` / ``w_range``: the codes' (min, max) if the caller knows them.

    When the bound proves no partial sum can leave the registers, the result comes straight from the codes
    (:func:`accumulate_codes_fast`), else from the sequential kernel on the corrected int64 operands."""
    n = w.shape[1]
    k = x.shape[1]
    wz = np.asarray(w_zero_point, dtype=np.int64).reshape(-1)
    if model.byte_pairs_saturate and model.s8_activations_as_u8 and x.dtype == np.int8 and w.dtype == np.int8:
        # ONNX Runtime's QDQ s8-to-u8 transform (a graph rewrite, QDQS8ToU8Transformer): int8 activations run as
        # uint8 with the zero point moved by 128, the same arithmetic until the pair sums saturate. A direct
        # s8 x s8 node is not rewritten: MLAS's S8S8 kernel on AVX2 is exact (checked under qemu's Haswell)
        x = (x.astype(np.int16) + 128).astype(np.uint8)
        x_zero_point += 128
        x_range = None if x_range is None else (x_range[0] + 128, x_range[1] + 128)
    if (model.byte_pairs_saturate and x.dtype == np.uint8 and w.dtype == np.int8 and x.size and w.size
            and 2 * int(x.max()) * int(np.abs(w.astype(np.int16)).max()) > 32767):
        # the pair sums can leave int16 (ONNX Runtime's "reduce_range" 7-bit weights cannot): the x86 U8S8 path
        out, events = _accumulate_byte_pairs(x, w, x_zero_point, wz, bias, model)
        return out, events, False
    if not (x.size and w.size):
        max_x = max_w = 0
    else:
        xlo, xhi = x_range if x_range is not None else (int(x.min()), int(x.max()))
        wlo, whi = w_range if w_range is not None else (int(w.min()), int(w.max()))
        max_x = max(xhi - x_zero_point, x_zero_point - xlo, 0)
        max_w = max(whi - int(wz.min()), int(wz.max()) - wlo, 0)
    if not force_sequential and x.size and w.size:
        max_bias = 0 if bias is None else int(np.abs(np.asarray(bias, dtype=np.int64)).max(initial=0))
        if bound_fits(k, max_x, max_w, max_bias, model):
            out = accumulate_codes_fast(x, w, x_zero_point, wz, bias, max_x, max_w)
            if out is not None:
                chunk = max(1, min(model.chunk, k)) if k else 1
                return out, AccumulationEvents.zeros(n, max(1, -(-k // chunk))), True
    # the corrected operands in the narrowest type that holds them (the kernel's working type is chosen from
    # their bounds; an int64 copy of a large weight costs more than the conversion it saves)
    corrected = np.int16 if max(max_x, max_w) < 2**15 else np.int32 if max(max_x, max_w) < 2**31 else np.int64
    xc = np.subtract(x, x_zero_point, dtype=corrected)
    wc = np.subtract(w, wz.reshape(1, -1) if wz.size > 1 else int(wz[0]), dtype=corrected)
    return accumulate(xc, wc, bias, model, force_sequential=force_sequential, bounds=(max_x, max_w))


@nb.njit(cache=True, nogil=True)
def _byte_pair_rows(x, w, acc, saturated, r0, r1):
    # x: uint8 codes (M, K) and w: int8 codes (K, N) as int16, K even. Per row: acc[m, n] = sum over pairs j of
    # sat16(x[m, 2j] w[2j, n] + x[m, 2j + 1] w[2j + 1, n]) (VPMADDUBSW, then VPMADDWD/VPADDD into int32 lanes,
    # summed exactly here: int32 wrap is applied by the caller), saturated[m, n] counts the clamped pairs
    n = w.shape[1]
    for m in range(r0, r1):
        a_row = acc[m]
        c_row = saturated[m]
        for j in range(0, x.shape[1], 2):
            xa = np.int32(x[m, j])
            xb = np.int32(x[m, j + 1])
            wa = w[j]
            wb = w[j + 1]
            for c in range(n):
                p = np.int32(xa * np.int32(wa[c]) + xb * np.int32(wb[c]))
                q = np.int32(min(max(p, np.int32(-32768)), np.int32(32767)))
                a_row[c] += q
                c_row[c] += np.int32(q != p)


def byte_pair_sums(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum over K pairs of the int16-saturated pair products, saturated pairs per (row, column)) of uint8 codes
    x (M, K) and int8 codes w (K, N): x86's VPMADDUBSW on adjacent K pairs (an odd K is padded with a zero, as
    MLAS packs K in fours). int64 sums, int32 counts."""
    m, k = x.shape
    n = w.shape[1]
    if k % 2:
        x = np.concatenate([x, np.zeros((m, 1), dtype=x.dtype)], axis=1)
        w = np.concatenate([w, np.zeros((1, n), dtype=w.dtype)], axis=0)
    acc = np.zeros((m, n), dtype=np.int64)
    saturated = np.zeros((m, n), dtype=np.int32)
    row_parallel(_byte_pair_rows, m, np.ascontiguousarray(x, dtype=np.int16), np.ascontiguousarray(w, dtype=np.int16),
                 acc, saturated)
    return acc, saturated


def byte_pair_sums_reference(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`byte_pair_sums`."""
    m, k = x.shape
    n = w.shape[1]
    xe = np.zeros((m, k + k % 2), dtype=np.int64)
    we = np.zeros((k + k % 2, n), dtype=np.int64)
    xe[:, :k], we[:k] = x, w
    pairs = xe[:, 0::2, None] * we[None, 0::2, :] + xe[:, 1::2, None] * we[None, 1::2, :]   # (M, K/2, N)
    clamped = np.clip(pairs, -32768, 32767)
    return clamped.sum(axis=1), (clamped != pairs).sum(axis=1).astype(np.int32)


def _accumulate_byte_pairs(x, w, x_zero_point: int, w_zero_point: np.ndarray, bias, model: AccumulatorModel):
    """The U8S8 kernel of ONNX Runtime on AVX2 / AVX-512 without VNNI (MLAS): int16-saturated pair sums of the
    stored codes into int32 lanes, the zero points corrected with exact row and column sums
    (sum (x - zx)(w - zw) = sum x w - zx sum w - zw sum x + K zx zw), all in wrapping int32, then the bias."""
    k = x.shape[1]
    n = w.shape[1]
    raw, saturated = byte_pair_sums(x, w)
    zw = np.broadcast_to(np.asarray(w_zero_point, dtype=np.int64).reshape(-1), (n,))
    col = w.astype(np.int64).sum(axis=0)
    row = x.astype(np.int64).sum(axis=1)
    total = raw - x_zero_point * col[None, :] - row[:, None] * zw[None, :] + k * x_zero_point * zw[None, :]
    if bias is not None:
        total = total + np.asarray(bias, dtype=np.int64)[None, :]
    lo, mask = _limits(model.acc_bits)[0], _mask(model.acc_bits)
    wrapped = ((total - lo) & mask) + lo
    chunk = max(1, min(model.chunk, k)) if k else 1
    n_chunks = max(1, -(-k // chunk))
    events = AccumulationEvents.zeros(n, n_chunks)
    # every pair's clamp is a saturation event; MLAS's int32 lanes wrap silently (counted as overflow events)
    events.acc_saturation[:, 0] = saturated.sum(axis=0)
    events.spill_overflow[:, -1] = (wrapped != total).sum(axis=0)
    return wrapped, events


def accumulate_reference(xc: np.ndarray, wc: np.ndarray, bias: np.ndarray | None,
                         model: AccumulatorModel) -> tuple[np.ndarray, AccumulationEvents]:
    """Pure-numpy twin of the sequential kernel (vectorized over M and N, sequential over K)."""
    m, k = xc.shape
    n = wc.shape[1]
    chunk = max(1, min(model.chunk, k)) if k else 1
    n_chunks = max(1, -(-k // chunk))
    acc_lo, acc_hi = _limits(model.acc_bits)
    sp_lo, sp_hi = _limits(model.spill_bits)
    # int64 holds every intermediate only up to 62-bit registers (a 63-bit sum of two 62-bit values);
    # wider registers run on Python ints
    x = xc.astype(object) if max(model.acc_bits, model.spill_bits) >= 63 else xc.astype(np.int64)
    w = wc.astype(x.dtype)
    events = AccumulationEvents.zeros(n, n_chunks)

    def clamp(v, lo, hi, saturate):
        if saturate:
            return np.minimum(np.maximum(v, lo), hi)
        return ((v - lo) % (hi - lo + 1)) + lo

    spill = np.zeros((m, n), dtype=x.dtype)
    for c in range(n_chunks):
        acc = np.zeros((m, n), dtype=x.dtype)
        for kk in range(c * chunk, min(k, (c + 1) * chunk)):
            raw = acc + x[:, kk:kk + 1] * w[kk:kk + 1, :]
            acc = clamp(raw, acc_lo, acc_hi, model.acc_saturate)
            hit = (raw != acc).sum(axis=0).astype(np.int64)
            (events.acc_saturation if model.acc_saturate else events.acc_overflow)[:, c] += hit
        raw = spill + acc
        spill = clamp(raw, sp_lo, sp_hi, model.spill_saturate)
        (events.spill_saturation if model.spill_saturate else events.spill_overflow)[:, c] += \
            (raw != spill).sum(axis=0).astype(np.int64)
    if bias is not None:
        raw = spill + np.asarray(bias, dtype=np.int64).astype(x.dtype)[None, :]
        spill = clamp(raw, sp_lo, sp_hi, model.spill_saturate)
        (events.spill_saturation if model.spill_saturate else events.spill_overflow)[:, n_chunks - 1] += \
            (raw != spill).sum(axis=0).astype(np.int64)
    return spill.astype(np.int64), events

