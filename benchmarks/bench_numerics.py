"""Numerics throughput: exact int8 GEMM 256x4096x4096 on two contracts, and an FP8 GEMM with fp32
accumulation in a stated order, vs numpy float32 BLAS.

Run: python benchmarks/bench_numerics.py
Prints GMAC/s for the int32 path (tensorcore-int8: bound-proven fast path) and the 16-bit saturating
path (edge-npu-pot16: sequential Numba kernel with K-chunks of 16), each beside numpy float32 matmul
of the same shape measured in the same run, and the ratio. Numba compile time is reported
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
    from accelsim.numerics.accumulate import accumulate
    from accelsim.numerics.api import accumulator_model

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (M, K), dtype=np.int64)
    w = rng.integers(-127, 128, (K, N), dtype=np.int64)
    # compile (or load from cache) on a tiny problem
    model16 = accumulator_model(load_profile("edge-npu-pot16"), K)
    t_c = time.perf_counter()
    accumulate(x[:4, :64], w[:64, :64], None, model16, force_sequential=True)
    compile_s = time.perf_counter() - t_c
    import_s = t_c - t0

    xf, wf = x.astype(np.float32), w.astype(np.float32)
    t_f32 = _best(lambda: xf @ wf)
    model32 = accumulator_model(load_profile("tensorcore-int8"), K)
    t_i32 = _best(lambda: accumulate(x, w, None, model32))
    t_s16 = _best(lambda: accumulate(x, w, None, model16), repeat=1)
    _, _, fast = accumulate(x[:8], w, None, model32)
    gmac = M * K * N / 1e9
    print(f"shape {M}x{K}x{N} ({gmac:.2f} GMAC); import {import_s:.2f} s, numba compile/cache load {compile_s:.2f} s")
    print(f"{'path':<42} {'GMAC/s':>8} {'vs numpy f32':>13} {'target':>7}")
    print(f"{'numpy float32 matmul (baseline)':<42} {gmac / t_f32:8.2f} {1.0:13.3f}")
    print(f"{'int32 accumulators (fast path: ' + str(fast) + ')':<42} {gmac / t_i32:8.2f} {t_f32 / t_i32:13.3f} {'>=0.5':>7}")
    print(f"{'16-bit saturating, K-chunk 16 (sequential)':<42} {gmac / t_s16:8.2f} {t_f32 / t_s16:13.3f} {'>=0.1':>7}")
    # FP8 E4M3 operands, fp32 accumulators promoted every 128 elements, k ascending (DeepSeek-V3's scheme)
    from accelsim.numerics import cast
    from accelsim.numerics.float_accumulate import FloatAccumulator, float_matmul

    a8 = cast(rng.normal(0, 1, (M, K)).astype(np.float32), "fp8_e4m3")
    b8 = cast(rng.normal(0, 1, (K, N)).astype(np.float32), "fp8_e4m3")
    acc = FloatAccumulator.named("fp32", chunk=128)
    float_matmul(a8[:4, :256], b8[:256, :64], acc)  # compile / cache load
    t_fp8 = _best(lambda: float_matmul(a8, b8, acc))
    print(f"{'FP8 E4M3, fp32 accumulation, promote/128':<42} {gmac / t_fp8:8.2f} {t_f32 / t_fp8:13.3f} {'>=0.1':>7}")


if __name__ == "__main__":
    main()
