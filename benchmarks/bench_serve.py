"""Serving simulation speed.

1. A 10-minute simulated run of Llama-2-7B on h100-sxm at 10 requests/s (Poisson, prompts uniform 128-1024, outputs
   uniform 64-512), fp16 and int4 weights / int8 KV, continuous batching. Target: each run in <= 30 s wall.
2. Max-throughput batches: 2,000 requests of 128 / 128 and 800 of 128 / 2,048 tokens queued at t = 0, chunked
   prefill, drained. Target: >= 1,000 simulated iterations per second of wall time.

    python benchmarks/bench_serve.py

Printed beside each: the simulation's size (requests, iterations, timings the model evaluated) and, for the first,
its Little's-law check. Iterations are costed by parts (accelsim.serve.cost: within 1.5 % of the step timed whole,
tests/serve).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from accelsim.hardware import load_profile
    from accelsim.serve import ServeConfig, deploy, parse_length, poisson_requests, simulate
    from accelsim.workload.llm import MODELS

    h100 = load_profile("h100-sxm")
    reqs = poisson_requests(10.0, 600.0, parse_length("uniform:128,1024", "p", "prompt_tokens"),
                            parse_length("uniform:64,512", "o", "output_tokens"), seed=0)
    base = MODELS["llama2-7b"]
    for label, cfg in (("fp16 / fp16 KV", dataclasses.replace(base, weight_bits=16, activation_bits=16,
                                                              kv_cache_bits=16, math_format="fp16")),
                       ("int4 / int8 KV", dataclasses.replace(base, weight_bits=4, kv_cache_bits=8))):
        for prefill in ("separate", "chunked"):
            t0 = time.perf_counter()
            r = simulate(deploy(h100, cfg), reqs, ServeConfig(prefill=prefill), duration_s=600.0)
            wall = time.perf_counter() - t0
            s = r.summary()
            law = s["littles_law"]
            print(f"{label:15s} {prefill:8s}: {wall:5.1f} s wall for 600 s simulated ({'ok' if wall <= 30 else 'SLOW'});"
                  f" {s['requests_arrived']:,} requests, {s['iterations']:,} iterations, {s['timing_evaluations']} "
                  f"iteration shapes timed; {s['throughput_tokens_per_s']:,.0f} tok/s, TTFT p99 "
                  f"{s['ttft_p99_s'] * 1e3:.1f} ms, TPOT p99 {s['tpot_p99_s'] * 1e3:.2f} ms; Little: "
                  f"{law['mean_concurrency']:.2f} vs {law['throughput_x_latency']:.2f}")
    from accelsim.serve.traffic import Request

    fp16 = dataclasses.replace(base, weight_bits=16, activation_bits=16, kv_cache_bits=16, math_format="fp16")
    for count, isl, osl in ((2000, 128, 128), (800, 128, 2048)):
        reqs = [Request(i, 0.0, isl, osl) for i in range(count)]
        t0 = time.perf_counter()
        r = simulate(deploy(h100, fp16), reqs, ServeConfig(prefill="chunked"), duration_s=0.0, drain=True)
        wall = time.perf_counter() - t0
        s = r.summary()
        rate = s["iterations"] / wall
        print(f"max throughput {count:,} x {isl}/{osl}: {s['iterations']:,} iterations in {wall:.1f} s = {rate:,.0f} "
              f"iterations/s ({'ok' if rate >= 1000 else 'SLOW'}); {s['timing_evaluations']} timings; "
              f"{s['throughput_tokens_per_s']:,.0f} tok/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
