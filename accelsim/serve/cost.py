"""What one serving iteration costs, and how much KV cache a device holds.

An iteration runs every sequence the scheduler batched: decode sequences (one new token each) and prefill
chunks (their prompt tokens), as one forward pass (the weights are read once, attention runs per group). Its time
and energy come from the timing model under the deployment's runtime profile (the same layers, mapping and
whole-network simulation as ``accelsim llm``), as the sum of parts that a long simulation reuses
(:class:`IterationCosts`):

- the step outside attention (accelsim.timing.llm.dense_step: projections, MLP, norms, KV writes, all-reduces,
  lm_head, the runtime's host time), which depends on the iteration's token count alone, timed at the count
  rounded up by :func:`pad_tokens`;
- a decode group's attention at its batch and the mean context of its sequences, timed at the neighbouring points
  of a batch grid (1, 2, 3, 4, 6, 8, 12, ...) and a context grid of ``CONTEXT_GRID`` tokens and interpolated
  (attention's cost is linear in both);
- each prefill chunk's attention at its length and context, rounded up to ``CHUNK_GRID`` tokens (padding, as
  engines do);
- a decode-only iteration at the batch engines capture CUDA graphs for (``graph_batch``).

The sum is within 1.5 % of the step timed whole (accelsim.timing.llm.iteration_cost; tests/serve).

Tensor parallelism (``tp`` devices, Megatron-LM sharding: accelsim.workload.llm.LlmConfig.tp) adds two all-reduces
per block of the iteration's activations (fp16) over the profile's ``interconnect``, in the timing model itself
(accelsim.timing.llm.all_reduce_s: the faster of one-shot and two-shot), not overlapped with compute; link energy is
not counted (the devices' static power while they wait is).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from accelsim.errors import InputError

#: decode contexts are timed on this grid (tokens) and interpolated between grid points
CONTEXT_GRID = 256
#: prefill chunks are padded to a multiple of this many tokens
CHUNK_GRID = 16


def graph_batch(n: int) -> int:
    """The decode batch an engine runs ``n`` sequences as: padded to the next size it captured a CUDA graph for
    (vLLM: 1, 2, 4, then multiples of 8), as replayed decode steps have fixed shapes."""
    if n <= 4:
        return 1 if n <= 1 else (2 if n == 2 else 4)
    return -(-n // 8) * 8
#: the fraction of device memory the engine may use (vLLM's gpu_memory_utilization default)
MEMORY_FRACTION = 0.90
#: tokens per KV-cache block (vLLM's default block size)
BLOCK_TOKENS = 16


@dataclass(frozen=True)
class Deployment:
    """A model on ``tp`` devices of a profile: per-device bytes and the KV-cache capacity in blocks."""

    profile: object
    cfg: object                 # LlmConfig with tp set: one device's shapes
    tp: int
    weight_bytes: int           # one device's weights (blocks, embedding, lm_head)
    workspace_bytes: int        # activations of the largest iteration
    kv_bytes_per_token: int     # every layer's K and V of one token on one device
    kv_blocks: int              # KV-cache capacity (blocks of BLOCK_TOKENS tokens)
    block_tokens: int = BLOCK_TOKENS
    memory_fraction: float = MEMORY_FRACTION
    runtime: object = None      # accelsim.runtime.RuntimeProfile the engine runs (None: ideal)

    @property
    def kv_capacity_tokens(self) -> int:
        return self.kv_blocks * self.block_tokens

    def as_dict(self) -> dict:
        return {"tp": self.tp, "weight_bytes_per_device": self.weight_bytes, "workspace_bytes": self.workspace_bytes,
                "kv_bytes_per_token_per_device": self.kv_bytes_per_token, "kv_cache_blocks": self.kv_blocks,
                "kv_block_tokens": self.block_tokens, "kv_capacity_tokens": self.kv_capacity_tokens,
                "memory_fraction": self.memory_fraction,
                "runtime": "ideal" if self.runtime is None else self.runtime.name}


def tensor_parallel(profile, cfg, tp: int):
    """``cfg`` sharded over ``tp`` devices of ``profile`` (Megatron-LM: heads, ffn and vocab split; InputError naming
    --tp when they do not split or the profile has no interconnect)."""
    for what, n in (("heads", cfg.heads), ("ffn", cfg.ffn), ("vocab", cfg.vocab or tp)):
        if n % tp:
            raise InputError(f"{cfg.name}'s {what} ({n}) does not split over {tp} devices", field="--tp")
    if tp > 1 and profile.interconnect is None:
        raise InputError(f"profile '{profile.name}' has no interconnect (bandwidth_Bps, latency_s) for --tp {tp}",
                         field="--tp")
    return dataclasses.replace(cfg, tp=tp)


def deploy(profile, cfg, tp: int = 1, max_batch_tokens: int | None = None, memory_fraction: float | None = None,
           runtime=None, block_tokens: int | None = None) -> Deployment:
    """The deployment of ``cfg`` on ``tp`` devices of contract ``profile`` under ``runtime`` (None: ideal), InputError
    if it does not fit or shard. ``memory_fraction``: the share of device memory the engine may hold (default: the
    runtime's scheduler's; vLLM reserves 0.9, TensorRT-LLM's static GptSession allocates exactly the batch's KV
    cache, which may use all of it); ``max_batch_tokens`` (activation workspace) and ``block_tokens`` (KV block)
    likewise default to the runtime's scheduler."""
    from accelsim.runtime import IDEAL

    sched = (runtime or IDEAL).scheduler
    memory_of = sched.memory_of
    memory_fraction = sched.memory_fraction if memory_fraction is None else memory_fraction
    max_batch_tokens = sched.max_num_tokens if max_batch_tokens is None else max_batch_tokens
    block = sched.kv_block_tokens if block_tokens is None else block_tokens
    if not 0 < memory_fraction <= 1:
        raise InputError(f"memory fraction {memory_fraction} is not in (0, 1]", field="memory_fraction")
    cap = profile.dram.bytes
    if cap is None:
        raise InputError(f"profile '{profile.name}' states no device memory size (memory[0].bytes): serving needs it "
                         f"for the KV-cache capacity", field="--hw")
    dev = tensor_parallel(profile, cfg, tp)
    weights = dev.weight_bytes()
    workspace = max_batch_tokens * (4 * dev.hidden + 2 * dev.ffn_device) * 2
    kv_token = dev.kv_bytes_per_token() * dev.layers
    free = (cap * memory_fraction - weights - workspace if memory_of == "device"
            else (cap - weights - workspace) * memory_fraction)
    blocks = int(free // (kv_token * block)) if free > 0 else 0
    if blocks < 1:
        raise InputError(f"{cfg.name} with {cfg.weight_bits:g}-bit weights needs {weights / 1e9:.1f} GB per device: "
                         f"no room for a KV cache in {memory_fraction:.0%} of {cap / 1e9:.1f} GB on "
                         f"'{profile.name}' (try --tp or narrower --weights)", field="--weights")
    return Deployment(profile=profile, cfg=dev, tp=tp, weight_bytes=weights, workspace_bytes=workspace,
                      kv_bytes_per_token=kv_token, kv_blocks=blocks, block_tokens=block,
                      memory_fraction=memory_fraction, runtime=runtime)


def pad_tokens(n: int) -> int:
    """The token count a serving iteration's GEMMs are timed at: ``n`` rounded up to 8 up to 128 tokens, to 32 up to
    1,024, to 128 up to 8,192, then to 1,024 (the M tile of the GEMM kernels is 64-256 rows: a few padded rows change
    a GEMM's time by at most the padding's share)."""
    for limit, step in ((128, 8), (1024, 32), (8192, 128)):
        if n <= limit:
            return max(step, -(-n // step) * step)
    return -(-n // 1024) * 1024


def _grid_around(x: float, grid) -> tuple[int, int, float]:
    """(lower point, upper point, weight of the upper) of ``x`` on an increasing grid (clamped at its first point)."""
    lo = grid(x, up=False)
    hi = grid(x, up=True)
    return lo, hi, 0.0 if hi == lo else (x - lo) / (hi - lo)


def _batch_grid(x: float, up: bool) -> int:
    """Points 1, 2, 3, 4, 6, 8, 12, 16, 24, ...: a decode group's attention is timed there and interpolated between
    (its KV reads grow linearly with the sequences)."""
    points = [1]
    while points[-1] < x:
        p = points[-1]
        points.append(p + 1 if p < 2 else (p // 2) * 3 if p & (p - 1) == 0 else (p // 3) * 4)
    if up:
        return points[-1]
    return max(q for q in points if q <= x)


def _context_grid(x: float, up: bool) -> int:
    if x <= 1:
        return 1
    lo = int(x // CONTEXT_GRID) * CONTEXT_GRID or 1
    if not up or lo == x:
        return lo
    return CONTEXT_GRID if lo == 1 else lo + CONTEXT_GRID


class IterationCosts:
    """Memoized (seconds, joules) of serving iterations for one deployment, as the sum of their parts
    (accelsim.timing.llm): the step outside attention, which depends on the iteration's token count alone (timed at
    :func:`pad_tokens`), and each group's attention (a decode group at its batch and mean context, interpolated on
    grids; each prefill chunk at its length and context). Parts, not whole iterations, are cached: a long run with
    thousands of sequences needs a few hundred timings, not one per distinct mix (the difference from timing each
    iteration whole: tests/serve)."""

    def __init__(self, dep: Deployment):
        from accelsim.timing.llm import LlmTimers

        self.dep = dep
        self.timers = LlmTimers(dep.profile, dep.cfg, dep.runtime)
        self.cfg = self.timers.cfg
        self.cache: dict[tuple, tuple[float, float]] = {}
        self.evaluations = 0

    def _part(self, key: tuple) -> tuple[float, float]:
        """(seconds, joules) of ("dense", tokens, logits rows, decode-only) or ("attention", tokens, context, batch,
        decode-only); decode-only steps replay CUDA graphs where the runtime does (no kernel launches)."""
        from accelsim.timing.llm import attention_step, dense_step

        hit = self.cache.get(key)
        if hit is None:
            self.evaluations += 1
            t = self.timers
            profile, timer = (t.decode_profile, t.decode) if key[-1] else (t.profile, t.prefill)
            if key[0] == "dense":
                phase = dense_step(timer, self.cfg, profile, key[1], key[2])
            else:
                phase = attention_step(timer, self.cfg, profile, key[1], key[2], key[3])
            hit = self.cache[key] = (phase.cycles / profile.clock_hz, phase.energy_pj * 1e-12)
        return hit

    def _decode_attention(self, batch: int, context: float, graphs: bool) -> tuple[float, float]:
        """A decode group's attention, bilinear on the batch and context grids (exact at grid points)."""
        b0, b1, wb = _grid_around(batch, _batch_grid)
        c0, c1, wc = _grid_around(max(1.0, context), _context_grid)
        total_s = total_j = 0.0
        for b, fb in ((b0, 1 - wb), (b1, wb)):
            for c, fc in ((c0, 1 - wc), (c1, wc)):
                if fb * fc:
                    s, j = self._part(("attention", 1, c, b, graphs))
                    total_s += fb * fc * s
                    total_j += fb * fc * j
        return total_s, total_j

    def iteration(self, prefill: list[tuple[int, int]], decode_batch: int, decode_context: float,
                  logits: int) -> tuple[float, float]:
        """(seconds, joules) of one iteration: ``prefill`` chunks (new tokens, context at the chunk's end), a decode
        group of ``decode_batch`` sequences at mean context ``decode_context``, ``logits`` sequences emitting a
        token. A decode-only iteration runs at its CUDA-graph batch (graph_batch)."""
        graphs = not prefill
        if graphs and decode_batch:
            decode_batch = graph_batch(decode_batch)
        tokens = sum(n for n, _ in prefill) + decode_batch
        seconds, joules = self._part(("dense", pad_tokens(tokens), pad_tokens(max(1, logits)), graphs))
        for n, ctx in prefill:
            pad = -(-n // CHUNK_GRID) * CHUNK_GRID
            s, j = self._part(("attention", pad, max(pad, -(-ctx // CHUNK_GRID) * CHUNK_GRID), 1, graphs))
            seconds, joules = seconds + s, joules + j
        if decode_batch:
            s, j = self._decode_attention(decode_batch, decode_context, graphs)
            seconds, joules = seconds + s, joules + j
        return seconds, joules
