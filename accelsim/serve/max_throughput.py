"""The max-throughput benchmark of LLM servers: N requests of one prompt and output length queued at t = 0, served
by in-flight batching until every one is done; output tokens over the makespan (TensorRT-LLM's ``trtllm-bench
throughput``, vLLM's ``benchmark_throughput``).

The server's limits are those the benchmark tool sizes for the workload: ``trtllm-bench`` (TensorRT-LLM 0.12+,
tensorrt_llm/bench/build/tuning.py) estimates how many requests of ISL + OSL tokens the KV cache holds and sets the
maximum batch slightly above it (multiples of 32 below 256, of 128 below 1,024, of 256 above, at least 64, at most
4,096) and the maximum tokens per iteration to that batch times (1 + ISL / OSL) (multiples of 256 below 4,096, of 512
below 8,192, of 1,024 above; at least 2,048, at most 32,768); :func:`benchmark_limits` applies that rule to the
deployment's own KV capacity.

A run of thousands of requests at thousands of iterations each is long; since all requests are alike, the run's
makespan grows linearly with the number of waves of requests once it is in its steady state, so a run of N requests
is simulated as two runs of 2 and 4 waves (plus the remainder of N) and extrapolated linearly in N
(:func:`max_throughput`; tests/serve bound the difference from a full run).
"""

from __future__ import annotations

import math

from accelsim.serve.cost import Deployment, IterationCosts
from accelsim.serve.simulate import ServeConfig, simulate
from accelsim.serve.traffic import Request


def _round_up(x: float, step: int) -> int:
    return step * math.ceil(x / step)


def benchmark_limits(dep: Deployment, isl: int, osl: int) -> tuple[int, int]:
    """(max batch, max tokens per iteration) as trtllm-bench sizes them for requests of ``isl`` + ``osl`` tokens on
    ``dep``'s KV cache (module docstring)."""
    fits = dep.kv_capacity_tokens / (isl + osl)
    raw = min(fits, 4096)
    if raw < 256:
        batch = max(64, _round_up(raw, 32))
    elif raw < 1024:
        batch = _round_up(raw, 128)
    else:
        batch = _round_up(raw, 256)
    tokens = min(raw * (1 + isl / osl), 32768)
    step = 256 if tokens < 4096 else 512 if tokens < 8192 else 1024
    return batch, max(2048, _round_up(tokens, step))


def max_throughput(dep: Deployment, isl: int, osl: int, requests: int, config: ServeConfig | None = None,
                   costs: IterationCosts | None = None, waves: tuple[int, int] = (2, 4), progress=None) -> dict:
    """Output tokens/s of ``requests`` requests of ``isl`` / ``osl`` tokens queued at t = 0 on ``dep`` (every device
    of the tensor-parallel group together), with in-flight batching and chunked prefill at the benchmark's limits
    (:func:`benchmark_limits`) unless ``config`` is given. Returns {"throughput_tokens_per_s", "makespan_s",
    "concurrency" (requests the KV cache holds), "max_batch", "max_num_tokens", "simulated_requests", "iterations"}.
    ``progress(text)``: the simulation's progress."""
    from accelsim.runtime import IDEAL

    batch, tokens = benchmark_limits(dep, isl, osl)
    config = config or ServeConfig(batch_policy="continuous", prefill="chunked", max_batch=batch,
                                   chunk_tokens=tokens, max_batch_tokens=tokens,
                                   admission=(dep.runtime or IDEAL).scheduler.admission)
    costs = costs or IterationCosts(dep)
    wave = max(1, min(config.max_batch, dep.kv_capacity_tokens // (isl + osl)))

    def makespan(n: int) -> tuple[float, int]:
        sim_progress = None if progress is None else (lambda text: progress(f"{n:,} requests: {text}"))
        r = simulate(dep, [Request(i, 0.0, isl, osl) for i in range(n)], config, duration_s=0.0, drain=True,
                     costs=costs, progress=sim_progress)
        return r.end_s, r.iterations

    small, large = (requests % wave + k * wave for k in waves)
    if requests <= large:
        span, iterations = makespan(requests)
        simulated = requests
    else:
        (t1, i1), (t2, i2) = makespan(small), makespan(large)
        span = t1 + (t2 - t1) * (requests - small) / (large - small)
        iterations, simulated = i1 + i2, small + large
    return {"throughput_tokens_per_s": requests * osl / span, "makespan_s": span, "concurrency": wave,
            "max_batch": config.max_batch, "max_num_tokens": config.chunk_tokens, "simulated_requests": simulated,
            "iterations": iterations}
