"""A discrete-event simulation of an LLM inference server on one device (or ``tp`` devices as one).

SimPy processes: the arrivals (each request enters the waiting queue at its time) and the engine loop. The
engine runs iterations back to back while it has work and sleeps until the next arrival when it has none.
Each iteration's duration and energy come from the timing model (accelsim.serve.cost). Policies:

- ``continuous`` batching with ``separate`` prefill (vLLM's original scheduler): when requests wait and the
  KV cache has blocks for their prompts, an iteration prefills them (up to ``max_batch`` running sequences and
  ``max_batch_tokens`` prompt tokens); otherwise an iteration decodes one token for every running sequence;
- ``continuous`` batching with ``chunked`` prefill (Sarathi-Serve, vLLM's chunked prefill): every iteration
  decodes the running sequences and fills the rest of a ``chunk_tokens`` budget with prompt chunks;
- ``static`` batching (TensorRT-LLM's fixed-batch benchmark): up to ``max_batch`` waiting requests form a batch,
  prefill together (padded to the longest prompt), decode until the longest output is done (finished sequences
  keep their slot), and only then does the next batch start.

KV cache: paged in blocks of ``block_tokens``; a sequence holds ceil(tokens / block) blocks. A prompt is
admitted only when its blocks (plus one for its first decode token) are free. When a decode step needs a block
and none is free, the most recently admitted sequence is preempted (its blocks freed, its prompt and generated
tokens prefilled again when readmitted: vLLM's recompute preemption). Occupancy never exceeds the capacity
(checked at every allocation).

Every request's arrival, admission, first token and completion are recorded; latencies, percentiles,
throughput, queueing delay, concurrency (time-average of requests in the system, from the arrival/completion
trace) and energy (the iterations' energy plus static power while idle) follow.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import simpy

from accelsim.serve.cost import Deployment, IterationCosts


@dataclass(eq=False)  # identity: the scheduler's membership tests are per sequence object
class _Seq:
    req: object
    prompt: int                  # tokens to prefill (the prompt, plus generated tokens after a preemption)
    generated: int = 0
    recomputed: int = 0          # generated tokens folded back into ``prompt`` by a preemption
    prefilled: int = 0           # prompt tokens prefilled so far (chunked prefill)
    blocks: int = 0
    admitted_s: float | None = None
    first_token_s: float | None = None
    done_s: float | None = None

    @property
    def tokens(self) -> int:
        """Tokens whose K and V the sequence holds (or will, once prefilled)."""
        return self.prompt + self.generated - self.recomputed

    @property
    def remaining(self) -> int:
        return self.req.output - self.generated


@dataclass(frozen=True)
class ServeConfig:
    batch_policy: str = "continuous"      # continuous | static
    prefill: str = "separate"             # separate | chunked
    max_batch: int = 256                  # sequences running at once (vLLM max_num_seqs)
    max_batch_tokens: int = 8192          # prompt tokens one prefill iteration takes (vLLM max_num_batched_tokens)
    chunk_tokens: int = 512               # chunked prefill: tokens per iteration (decodes included)
    #: admission: "max_utilization" (a prompt is admitted when its blocks are free; decodes preempt when the cache
    #: fills: vLLM) or "guaranteed" (a request is admitted only when the blocks of its whole prompt + output are
    #: free, so nothing is ever preempted: TensorRT-LLM's GUARANTEED_NO_EVICT capacity scheduler, its default)
    admission: str = "max_utilization"


@dataclass
class ServeResult:
    """What the simulation measured (seconds, tokens, joules)."""

    duration_s: float                     # the arrival window
    end_s: float                          # simulated time at the end
    requests: list                        # _Seq of every arrived request
    occupancy: list                       # (time s, KV blocks in use)
    concurrency: list                     # (time s, requests in the system) at every change
    busy_s: float
    energy_j: float
    iterations: int
    preemptions: int
    capacity_blocks: int
    cost_evaluations: int
    config: ServeConfig
    deployment: Deployment
    notes: list = field(default_factory=list)

    def _done(self):
        return [s for s in self.requests if s.done_s is not None]

    def summary(self) -> dict:
        done = self._done()
        arrived = len(self.requests)
        first = [s for s in self.requests if s.first_token_s is not None]
        ttft = np.array([s.first_token_s - s.req.arrival_s for s in first])
        tpot = np.array([(s.done_s - s.first_token_s) / (s.req.output - 1) for s in done if s.req.output > 1])
        latency = np.array([s.done_s - s.req.arrival_s for s in done])
        queue = np.array([s.admitted_s - s.req.arrival_s for s in self.requests if s.admitted_s is not None])
        out_tokens = sum(s.req.output for s in done)
        horizon = self.end_s
        mean_conc = _time_average(self.concurrency, horizon)
        peak_blocks = max((b for _, b in self.occupancy), default=0)

        def pct(a, q):
            return float(np.percentile(a, q)) if a.size else None
        return {
            "requests_arrived": arrived, "requests_completed": len(done), "requests_in_flight": arrived - len(done),
            "simulated_s": horizon, "arrival_window_s": self.duration_s,
            "throughput_tokens_per_s": out_tokens / horizon if horizon else 0.0,
            "throughput_requests_per_s": len(done) / horizon if horizon else 0.0,
            "mean_concurrency": mean_conc,
            "mean_latency_s": float(latency.mean()) if latency.size else None,
            "ttft_p50_s": pct(ttft, 50), "ttft_p90_s": pct(ttft, 90), "ttft_p99_s": pct(ttft, 99),
            "tpot_p50_s": pct(tpot, 50), "tpot_p90_s": pct(tpot, 90), "tpot_p99_s": pct(tpot, 99),
            "queueing_delay_mean_s": float(queue.mean()) if queue.size else None,
            "queueing_delay_p99_s": pct(queue, 99),
            "kv_cache_peak_fraction": peak_blocks / self.capacity_blocks,
            "kv_cache_mean_fraction": _time_average(self.occupancy, horizon) / self.capacity_blocks,
            "kv_cache_capacity_tokens": self.deployment.kv_capacity_tokens,
            "energy_j": self.energy_j, "energy_per_token_j": self.energy_j / out_tokens if out_tokens else None,
            "utilization": self.busy_s / horizon if horizon else 0.0,
            "iterations": self.iterations, "preemptions": self.preemptions,
            "output_tokens": out_tokens, "timing_evaluations": self.cost_evaluations,
            "batch_policy": self.config.batch_policy, "prefill": self.config.prefill,
            "max_batch": self.config.max_batch, **self.deployment.as_dict(),
            "littles_law": {"mean_concurrency": mean_conc,
                            "throughput_x_latency": (len(done) / horizon) * float(latency.mean())
                            if latency.size and horizon else None},
            "notes": list(self.notes),
        }


def _time_average(trace: list, horizon: float) -> float:
    """Time average of a step function given as (time, value) points, over [0, horizon]."""
    if not trace or horizon <= 0:
        return 0.0
    total, (t0, v0) = 0.0, trace[0]
    for t, v in trace[1:]:
        total += v0 * (min(t, horizon) - t0)
        t0, v0 = min(t, horizon), v
    total += v0 * max(0.0, horizon - t0)
    return total / horizon


def simulate(dep: Deployment, requests: list, config: ServeConfig = ServeConfig(), duration_s: float | None = None,
             drain: bool = False, costs: IterationCosts | None = None, progress=None) -> ServeResult:
    """Serve ``requests`` (accelsim.serve.traffic.Request, by arrival) on ``dep``. The simulation ends at
    ``duration_s`` (default: the last arrival) with requests still in flight, or, with ``drain``, when every
    request has finished. ``progress(text)``: every 200 iterations, the simulated time and requests finished (for a
    progress bar; a long serving run is minutes of wall time)."""
    costs = costs or IterationCosts(dep)
    env = simpy.Environment()
    block = dep.block_tokens
    capacity = dep.kv_blocks
    static_w = dep.profile.energy.static_power_w * dep.tp
    window = duration_s if duration_s is not None else (requests[-1].arrival_s if requests else 0.0)
    state = {"used": 0, "busy": 0.0, "energy": 0.0, "iterations": 0, "preempt": 0, "in_system": 0,
             "arrivals_done": False, "finished": 0}
    seqs: list[_Seq] = []
    waiting: deque[_Seq] = deque()
    running: dict[_Seq, None] = {}   # insertion-ordered; O(1) membership and removal (thousands of sequences)
    occupancy = [(0.0, 0)]
    concurrency = [(0.0, 0)]
    wake = {"event": env.event()}
    notes: list[str] = []
    too_long = [r for r in requests if _blocks(r.prompt + r.output, block) > capacity]
    if too_long:
        notes.append(f"{len(too_long)} request(s) need more KV cache than the device holds "
                     f"({capacity * block:,} tokens) and are refused at arrival")

    def blocks_for(tokens: int) -> int:
        return _blocks(tokens, block)

    def admit_tokens(seq: _Seq) -> int:
        """KV positions reserved when ``seq`` is admitted: its prompt and first decode token, or (guaranteed
        admission) everything it will hold."""
        if config.admission == "guaranteed":
            return seq.prompt + seq.req.output - seq.generated
        return seq.prompt + 1

    def allocate(seq: _Seq, tokens: int) -> bool:
        need = blocks_for(tokens) - seq.blocks
        if need <= 0:
            return True
        if state["used"] + need > capacity:
            return False
        seq.blocks += need
        state["used"] += need
        assert state["used"] <= capacity
        return True

    def free(seq: _Seq) -> None:
        state["used"] -= seq.blocks
        seq.blocks = 0

    def mark(trace, value):
        if trace[-1][0] == env.now:
            trace[-1] = (env.now, value)
        else:
            trace.append((env.now, value))

    def arrivals():
        refused = {r.rid for r in too_long}
        for r in requests:
            if r.arrival_s > window:
                break
            yield env.timeout(max(0.0, r.arrival_s - env.now))
            seq = _Seq(req=r, prompt=r.prompt)
            seqs.append(seq)
            if r.rid in refused:
                continue
            waiting.append(seq)
            state["in_system"] += 1
            mark(concurrency, state["in_system"])
            if not wake["event"].triggered:
                wake["event"].succeed()
        state["arrivals_done"] = True
        if not wake["event"].triggered:
            wake["event"].succeed()

    def finish(seq: _Seq) -> None:
        seq.done_s = env.now
        state["finished"] += 1
        free(seq)
        state["in_system"] -= 1
        mark(concurrency, state["in_system"])

    def run_iteration(prefill_chunks, decode_seqs, logits):
        ctx = float(np.mean([s.tokens for s in decode_seqs])) if decode_seqs else 0.0
        seconds, joules = costs.iteration(prefill_chunks, len(decode_seqs), ctx, logits)
        state["busy"] += seconds
        state["energy"] += joules * dep.tp  # every device of the group works
        state["iterations"] += 1
        if progress is not None and state["iterations"] % 200 == 0:
            progress(f"t = {env.now:,.1f} s simulated, {state['finished']:,}/{len(requests):,} requests done")
        return env.timeout(seconds)

    def preempt_for(seq_needing: _Seq) -> bool:
        """Free blocks by preempting the latest admitted running sequence other than ``seq_needing``."""
        victims = [s for s in running if s is not seq_needing]
        if not victims:
            return False
        victim = max(victims, key=lambda s: s.admitted_s)
        del running[victim]
        free(victim)
        # recompute: the prompt and the tokens generated so far are prefilled again when it is readmitted
        victim.prompt, victim.recomputed, victim.prefilled = victim.tokens, victim.generated, 0
        waiting.appendleft(victim)
        state["preempt"] += 1
        return True

    def decode_step(batch: list[_Seq]):
        for s in list(batch):
            while s in running and not allocate(s, s.tokens + 1):
                if not preempt_for(s):
                    break
        alive = set(map(id, running))
        batch = [s for s in batch if id(s) in alive]
        if not batch:
            return
        yield run_iteration([], batch, len(batch))
        for s in batch:
            s.generated += 1
            if s.remaining <= 0:
                del running[s]
                finish(s)
        mark(occupancy, state["used"])

    def admit_separate():
        """Waiting requests whose prompts fit (blocks, batch, token budget), FCFS."""
        chosen, tokens = [], 0
        while waiting and len(running) + len(chosen) < config.max_batch:
            s = waiting[0]
            if chosen and tokens + s.prompt > config.max_batch_tokens:
                break
            if not allocate(s, admit_tokens(s)):
                break
            waiting.popleft()
            chosen.append(s)
            tokens += s.prompt
        return chosen

    def engine_continuous():
        while True:
            if not drain and env.now >= window:
                return
            if not waiting and not running:
                if state["arrivals_done"]:
                    return
                wake["event"] = env.event()
                yield wake["event"]    # the next arrival (the run ends at the window, or when nothing is left)
                continue
            if config.prefill == "separate":
                new = admit_separate()
                if new:
                    for s in new:
                        s.admitted_s = s.admitted_s if s.admitted_s is not None else env.now
                    yield run_iteration([(s.prompt, s.prompt) for s in new], [], len(new))
                    for s in new:
                        s.prefilled = s.prompt
                        if s.first_token_s is None:
                            s.first_token_s = env.now
                        s.generated += 1  # a prefill emits the next token (the first, or one after a preemption)
                        running[s] = None
                        if s.remaining <= 0:
                            del running[s]
                            finish(s)
                    mark(occupancy, state["used"])
                    continue
                if running:
                    yield from decode_step(list(running))
                    continue
                # waiting requests that cannot be admitted with nothing running: they never will fit
                s = waiting.popleft()
                notes.append(f"request {s.req.rid} could not be admitted (prompt {s.prompt} tokens)")
                state["in_system"] -= 1
                mark(concurrency, state["in_system"])
                continue
            yield from chunked_iteration()

    def chunked_iteration():
        decodes = [s for s in running if s.prefilled >= s.prompt]
        budget = config.chunk_tokens - len(decodes)
        for s in list(decodes):
            while s in running and not allocate(s, s.tokens + 1):
                if not preempt_for(s):
                    break
        decodes = [s for s in decodes if s in running]
        chunks, chunk_seqs = [], []
        partial = [s for s in running if s.prefilled < s.prompt]
        for s in partial:
            if budget <= 0:
                break
            n = min(budget, s.prompt - s.prefilled)
            chunks.append((n, s.prefilled + n))
            chunk_seqs.append((s, n))
            budget -= n
        while budget > 0 and waiting and len(running) < config.max_batch:
            s = waiting[0]
            if not allocate(s, admit_tokens(s)):
                break
            waiting.popleft()
            if s.admitted_s is None:
                s.admitted_s = env.now
            running[s] = None
            n = min(budget, s.prompt - s.prefilled)
            chunks.append((n, s.prefilled + n))
            chunk_seqs.append((s, n))
            budget -= n
        if not chunks and not decodes:
            if waiting and not running:
                s = waiting.popleft()
                notes.append(f"request {s.req.rid} could not be admitted (prompt {s.prompt} tokens)")
                state["in_system"] -= 1
                mark(concurrency, state["in_system"])
                return
            wake["event"] = env.event()
            yield wake["event"]
            return
        emitting = len(decodes) + sum(1 for s, n in chunk_seqs if s.prefilled + n >= s.prompt)
        yield run_iteration(chunks, decodes, emitting)
        for s in decodes:
            s.generated += 1
        for s, n in chunk_seqs:
            s.prefilled += n
            if s.prefilled >= s.prompt and s.prefilled - n < s.prompt:  # its prompt completes: a token
                if s.first_token_s is None:
                    s.first_token_s = env.now
                s.generated += 1
        for s in list(running):
            if s.prefilled >= s.prompt and s.remaining <= 0:
                del running[s]
                finish(s)
        mark(occupancy, state["used"])

    def engine_static():
        while True:
            if not waiting:
                if state["arrivals_done"]:
                    return
                wake["event"] = env.event()
                yield wake["event"]
                continue
            # a batch forms when max_batch requests wait, or when no more will arrive
            if len(waiting) < config.max_batch and not state["arrivals_done"]:
                wake["event"] = env.event()
                yield wake["event"]
                continue
            batch = []
            longest = 0
            while waiting and len(batch) < config.max_batch:
                s = waiting[0]
                need = max(longest, s.req.prompt + s.req.output)
                if not all(allocate(x, need) for x in batch + [s]):  # padded: every slot holds the longest
                    break
                waiting.popleft()
                longest = need
                batch.append(s)
            if not batch:
                s = waiting.popleft()
                notes.append(f"request {s.req.rid} could not be admitted (prompt {s.prompt} tokens)")
                state["in_system"] -= 1
                mark(concurrency, state["in_system"])
                continue
            for s in batch:
                s.admitted_s = env.now
            mark(occupancy, state["used"])
            prompt = max(s.prompt for s in batch)
            yield run_iteration([(prompt, prompt)] * len(batch), [], len(batch))
            for s in batch:
                s.first_token_s, s.generated = env.now, 1
                if s.remaining <= 0:
                    finish(s)
            steps = max(s.req.output for s in batch) - 1
            for step in range(steps):
                slots = list(batch)  # padded: finished sequences keep their slot
                ctx = prompt + step + 1
                seconds, joules = costs.iteration([], len(slots), ctx, len(slots))
                state["busy"] += seconds
                state["energy"] += joules * dep.tp
                state["iterations"] += 1
                yield env.timeout(seconds)
                for s in batch:
                    if s.done_s is None:
                        s.generated += 1
                        if s.remaining <= 0:
                            finish(s)
            for s in batch:
                if s.done_s is None:
                    finish(s)
            mark(occupancy, state["used"])

    env.process(arrivals())
    env.process(engine_static() if config.batch_policy == "static" else engine_continuous())
    if drain:
        env.run()
    else:
        env.run(until=window if window > 0 else None)
    end = env.now if drain else max(window, 0.0)
    idle = max(0.0, end - state["busy"])
    energy = state["energy"] + static_w * idle
    return ServeResult(duration_s=window, end_s=end, requests=seqs, occupancy=occupancy, concurrency=concurrency,
                       busy_s=state["busy"], energy_j=energy, iterations=state["iterations"],
                       preemptions=state["preempt"], capacity_blocks=capacity,
                       cost_evaluations=costs.evaluations, config=config, deployment=dep, notes=notes)


def _blocks(tokens: int, block: int) -> int:
    return math.ceil(tokens / block)
