"""Numerics throughput: exact int8 GEMM 256x4096x4096 on two contracts, and an FP8 GEMM with fp32
accumulation in a stated order, vs numpy float32 BLAS.

Run: python benchmarks/bench_numerics.py
Prints GMAC/s of the public ``accelsim.numerics.qlinear`` (argument checks, accumulation and requantization
included) on the int32 path (tensorcore-int8: bound-proven fast path) and the 16-bit saturating path
(edge-npu-pot16: sequential Numba kernel with K-chunks of 16), each beside numpy float32 matmul of the
same shape measured in the same run, and the ratio. Numba compile time is reported
separately (kernels are cached on disk, so a second process does not recompile).
"""

from __future__ import annotations

import time

import numpy as np

M, K, N = 256, 4096, 4096


def _best(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    t0 = time.perf_counter()
    from accelsim.hardware import load_profile
    from accelsim.numerics import qlinear

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (M, K)).astype(np.int8)
    w = rng.integers(-127, 128, (K, N)).astype(np.int8)
    # the public API, as a user calls it: int8 codes, scales, zero points, a contract
    tc = load_profile("tensorcore-int8")
    npu = load_profile("edge-npu-pot16")
    int32_args = dict(x_scale=0.02, x_zero_point=np.int8(0), w_scale=np.full(N, 0.01, np.float32),
                      w_zero_point=np.zeros(N, np.int8), y_scale=0.5, y_zero_point=np.int8(0), hw=tc)
    # power-of-two per-tensor scales: what edge-npu-pot16's shift-only requantizer takes
    sat16_args = dict(x_scale=2.0**-6, x_zero_point=np.int8(0), w_scale=2.0**-7, w_zero_point=np.int8(0),
                      y_scale=2.0**-1, y_zero_point=np.int8(0), hw=npu)
    t_c = time.perf_counter()
    qlinear(x[:4, :64], w[:64, :64], None, **{**int32_args, "w_scale": 0.01, "w_zero_point": np.int8(0)})
    qlinear(x[:4, :64], w[:64, :64], None, **sat16_args)  # compile (or load from cache) on a tiny problem
    compile_s = time.perf_counter() - t_c
    import_s = t_c - t0

    xf, wf = x.astype(np.float32), w.astype(np.float32)
    t_f32 = _best(lambda: xf @ wf)
    t_i32 = _best(lambda: qlinear(x, w, None, **int32_args))
    t_s16 = _best(lambda: qlinear(x, w, None, **sat16_args), repeat=2)
    fast = qlinear(x[:8], w, None, **int32_args)[1].fast_path
    t_f32 = min(t_f32, _best(lambda: xf @ wf))  # the baseline again after the int paths: the better of the two
    gmac = M * K * N / 1e9
    print(f"shape {M}x{K}x{N} ({gmac:.2f} GMAC); import {import_s:.2f} s, numba compile/cache load {compile_s:.2f} s")
    print("public accelsim.numerics.qlinear (int8 codes in, int8 codes out: checks, accumulation, requantization)")
    print(f"{'path':<46} {'GMAC/s':>8} {'vs numpy f32':>13} {'target':>7}")
    print(f"{'numpy float32 matmul (baseline)':<46} {gmac / t_f32:8.2f} {1.0:13.3f}")
    print(f"{'tensorcore-int8: int32 acc (fast path: ' + str(fast) + ')':<46} {gmac / t_i32:8.2f} "
          f"{t_f32 / t_i32:13.3f} {'>=0.7':>7}")
    print(f"{'edge-npu-pot16: 16-bit saturating, K-chunk 16':<46} {gmac / t_s16:8.2f} {t_f32 / t_s16:13.3f} "
          f"{'>=0.1':>7}")
    # FP8 E4M3 operands, fp32 accumulators promoted every 128 elements, k ascending (DeepSeek-V3's scheme)
    from accelsim.numerics import cast
    from accelsim.numerics.float_accumulate import FloatAccumulator, float_matmul

    a8 = cast(rng.normal(0, 1, (M, K)).astype(np.float32), "fp8_e4m3")
    b8 = cast(rng.normal(0, 1, (K, N)).astype(np.float32), "fp8_e4m3")
    acc = FloatAccumulator.named("fp32", chunk=128)
    float_matmul(a8[:4, :256], b8[:256, :64], acc)  # compile / cache load
    t_fp8 = _best(lambda: float_matmul(a8, b8, acc))
    print(f"{'FP8 E4M3, fp32 accumulation, promote/128':<46} {gmac / t_fp8:8.2f} {t_f32 / t_fp8:13.3f} {'>=0.1':>7}")


if __name__ == "__main__":
    main()
