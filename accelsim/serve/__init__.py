"""LLM serving on a contract: a discrete-event simulation of an inference server (accelsim.serve.simulate) whose
iterations the timing model costs (accelsim.serve.cost), driven by request traffic (accelsim.serve.traffic).

``max_rate`` answers the capacity question: the largest Poisson arrival rate whose p99 time to first token stays
under a target, by a bounded bisection over rates (the same seed at every rate: common random numbers).
"""

from __future__ import annotations

from accelsim.serve.cost import Deployment, IterationCosts, deploy
from accelsim.serve.simulate import ServeConfig, ServeResult, simulate
from accelsim.serve.traffic import LengthDist, Request, parse_length, poisson_requests, trace_requests

__all__ = ["Deployment", "IterationCosts", "LengthDist", "Request", "ServeConfig", "ServeResult", "deploy",
           "max_rate", "parse_length", "poisson_requests", "simulate", "trace_requests"]

#: bisection steps of the max-rate search
RATE_STEPS = 8


def max_rate(dep: Deployment, prompt: LengthDist, output: LengthDist, slo_ttft_s: float, duration_s: float,
             config: ServeConfig = ServeConfig(), seed: int = 0, start: float = 1.0,
             costs: IterationCosts | None = None, progress=None) -> dict:
    """The largest arrival rate (requests/s) with p99 TTFT <= ``slo_ttft_s`` over ``duration_s`` of arrivals (the
    run drained, so every request's TTFT counts). Doubles from ``start`` until the target is missed, then
    bisects ``RATE_STEPS`` times. Returns {"rate", "ttft_p99_s", "throughput_tokens_per_s", "probes": [...]}.
    ``progress(text)``: the probe being run and its simulation's progress."""
    costs = costs or IterationCosts(dep)
    probes = []

    def probe(rate: float) -> dict:
        reqs = poisson_requests(rate, duration_s, prompt, output, seed=seed)
        head = f"max-rate probe {len(probes) + 1}: {rate:,.3g} req/s"
        if progress is not None:
            progress(head)
        sim_progress = None if progress is None else (lambda text: progress(f"{head}, {text}"))
        s = simulate(dep, reqs, config, duration_s=duration_s, drain=True, costs=costs,
                     progress=sim_progress).summary()
        p99 = s["ttft_p99_s"]
        ok = p99 is not None and p99 <= slo_ttft_s
        probes.append({"rate": rate, "ttft_p99_s": p99, "ok": ok,
                       "throughput_tokens_per_s": s["throughput_tokens_per_s"]})
        return probes[-1]

    lo, hi = 0.0, start
    best = None
    for _ in range(20):  # doubling: at most 2^20 x start
        p = probe(hi)
        if not p["ok"]:
            break
        lo, best, hi = hi, p, hi * 2
    else:
        return {"rate": lo, "bounded": False, **({} if best is None else best), "probes": probes}
    for _ in range(RATE_STEPS):
        mid = (lo + hi) / 2
        p = probe(mid)
        if p["ok"]:
            lo, best = mid, p
        else:
            hi = mid
    return {"rate": lo, "bounded": True, "ttft_p99_s": best["ttft_p99_s"] if best else None,
            "throughput_tokens_per_s": best["throughput_tokens_per_s"] if best else None, "probes": probes}
