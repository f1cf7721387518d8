"""Serving simulation speed: a 10-minute simulated run of Llama-2-7B on h100-sxm at 10 requests/s (Poisson,
prompts uniform 128-1024, outputs uniform 64-512), fp16 and int4 weights / int8 KV, continuous batching.

    python benchmarks/bench_serve.py

Target: each run in <= 30 s wall on 2 cores. Printed beside it: the simulation's size (requests, iterations,
distinct iteration shapes the timing model evaluated) and its Little's-law check.
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
