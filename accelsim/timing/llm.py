"""Whole-model LLM timing: prefill of a prompt, then decode steps over a growing KV cache.

Every block of a model is identical, so a block is timed once per distinct shape (memoized on the
layer's shapes and widths) and multiplied by the number of blocks; decode steps differ only in the
attention matmuls' context length, so a run of P prompt tokens and S decode steps costs about
(16 block layers + 2 S attention shapes) pipeline simulations, whatever the number of blocks.
KV-cache writes (each new token's K and V, per block) are DRAM traffic of their own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from accelsim.energy import layer_energy, op_energy
from accelsim.hardware import HardwareProfile
from accelsim.runtime.profile import IDEAL, RuntimeProfile
from accelsim.timing.fusion import UNFUSED, Fusion, plan_fusion
from accelsim.timing.model import LayerTiming, layer_timing
from accelsim.workload.layers import Layer
from accelsim.workload.llm import LlmConfig, decoder_block, kv_cache_operand, model_head


@dataclass
class PhaseTotals:
    """Sums over one phase (cycles of the profile clock, bytes, pJ)."""

    cycles: float = 0
    compute_cycles: int = 0
    macs: int = 0
    dram_bytes: int = 0
    energy_pj: float = 0.0
    projection_regimes: set = field(default_factory=set)
    bound_cycles: dict = field(default_factory=dict)  # binding resource -> cycles of the layers it bound
    overlap_cycles: float = 0.0  # saved by the network simulation (prefetch across layers and blocks)

    def add(self, t: LayerTiming, energy_pj: float, times: int = 1, regime: str | None = None) -> None:
        self.cycles += t.cycles * times
        self.compute_cycles += t.compute_cycles * times
        self.macs += t.macs * times
        self.dram_bytes += t.dram_bytes * times
        self.energy_pj += energy_pj * times
        self.bound_cycles[t.bottleneck] = self.bound_cycles.get(t.bottleneck, 0) + t.cycles * times
        if regime:
            self.projection_regimes.add(regime)

    def overlap(self, cycles: float, static_pj_per_cycle: float) -> None:
        """The whole-network simulation finished ``cycles`` earlier than the layers one after another (weights
        prefetched during the previous layer): the phase is that much shorter, and stalls that much less static
        energy."""
        self.overlap_cycles += cycles
        self.cycles -= cycles
        self.energy_pj -= cycles * static_pj_per_cycle

    def binding(self) -> tuple[str, float]:
        """(resource, share of the layers' own cycles spent in layers it bound)."""
        total = sum(self.bound_cycles.values())
        if not self.bound_cycles or not total:
            return "none", 0.0
        name = max(self.bound_cycles, key=self.bound_cycles.get)
        return name, self.bound_cycles[name] / total


@dataclass(frozen=True)
class LlmRun:
    """Whole-model result: prefill, decode (all steps) and the figures a deployment engineer reads."""

    profile: str
    model: str
    prompt: int
    decode_steps: int
    clock_hz: float
    prefill: PhaseTotals
    decode: PhaseTotals
    simulations: int
    batch: int = 1
    weight_bits: float = 8
    kv_cache_bits: int = 8
    math_format: str = "int8"
    tp: int = 1
    runtime: str = "none"   # the runtime profile's name ("none": the profile as given, no runtime applied)

    @property
    def prefill_s(self) -> float:
        return self.prefill.cycles / self.clock_hz

    @property
    def decode_s(self) -> float:
        return self.decode.cycles / self.clock_hz

    @property
    def decode_tokens_per_s(self) -> float:
        return self.decode_steps / self.decode_s if self.decode_s else 0.0

    @property
    def output_tokens(self) -> int:
        """Tokens generated per sequence: the first by the prefill, then one per decode step."""
        return self.decode_steps + 1

    @property
    def tpot_s(self) -> float:
        """Time per output token after the first (mean decode step)."""
        return self.decode_s / self.decode_steps if self.decode_steps else 0.0

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second over the whole request (batch x output tokens / (prefill + decode))."""
        total = self.prefill_s + self.decode_s
        return self.batch * self.output_tokens / total if total else 0.0

    @property
    def energy_per_token_j(self) -> float:
        """Joules per output token on all ``tp`` devices (each does the same work in step)."""
        return (self.prefill.energy_pj + self.decode.energy_pj) * 1e-12 * self.tp / (self.batch * self.output_tokens)

    def summary(self) -> dict:
        prefill_bound, prefill_share = self.prefill.binding()
        decode_bound, decode_share = self.decode.binding()
        return {"profile": self.profile, "runtime": self.runtime, "model": self.model, "tp": self.tp, "batch": self.batch,
                "prompt_tokens": self.prompt,
                "output_tokens": self.output_tokens, "weight_bits": self.weight_bits, "math_format": self.math_format,
                "kv_cache_bits": self.kv_cache_bits,
                "ttft_s": self.prefill_s, "tpot_s": self.tpot_s, "tokens_per_s": self.tokens_per_s,
                "energy_per_token_j": self.energy_per_token_j,
                "prefill_binding_resource": prefill_bound, "prefill_binding_share": prefill_share,
                "decode_binding_resource": decode_bound, "decode_binding_share": decode_share,
                "decode_steps": self.decode_steps, "prefill_s": self.prefill_s, "decode_s": self.decode_s,
                "time_to_first_token_s": self.prefill_s, "decode_tokens_per_s": self.decode_tokens_per_s,
                "prefill_energy_j": self.prefill.energy_pj * 1e-12 * self.tp,
                "decode_energy_j": self.decode.energy_pj * 1e-12 * self.tp,
                "prefill_projection_regime": "/".join(sorted(self.prefill.projection_regimes)),
                "decode_projection_regime": "/".join(sorted(self.decode.projection_regimes)),
                "pipeline_simulations": self.simulations}


#: network simulations of the decode phase (the saving is interpolated between them)
DECODE_SIMULATIONS = 16


class _Timer:
    """Memoized layer timing + energy for one as-run profile and config. ``attention``: the view of the profile the
    KV-cache reads of decode attention run at (the runtime's attention kernel: its own share of the DRAM bandwidth),
    None: ``profile``'s. ``step_overhead_s``: the runtime's host time per forward step."""

    def __init__(self, profile: HardwareProfile, cfg: LlmConfig, attention: HardwareProfile | None = None,
                 step_overhead_s: float = 0.0):
        self.profile, self.cfg, self.attention = profile, cfg, attention
        self.step_overhead_s = step_overhead_s
        self.cache: dict[tuple, tuple[LayerTiming, float]] = {}
        self.ops = op_energy(profile, cfg.activation_bits, cfg.weight_bits, math_format=_rate_class(cfg.math_format))

    def __call__(self, layer: Layer, fusion: Fusion = UNFUSED) -> tuple[LayerTiming, float]:
        kv = kv_cache_operand(layer)
        b_bits = self.cfg.kv_cache_bits if kv else None
        key = (layer.op, layer.inputs, layer.in_shapes, layer.out_shape, layer.transpose_b, b_bits, fusion)
        hit = self.cache.get(key)
        if hit is None:
            unit = self.attention if kv and self.attention is not None else self.profile
            t = layer_timing(layer, unit, self.cfg.activation_bits, self.cfg.weight_bits, b_bits=b_bits,
                             fusion=fusion)
            e = layer_energy(self.profile, self.ops, macs=t.macs, outputs=t.outputs, is_mac=layer.is_mac,
                             psum_adds=t.psum_adds, level_bytes=t.level_bytes, op=layer.op,
                             latency_s=t.cycles / self.profile.clock_hz)
            hit = self.cache[key] = (t, e.total_pj)
        return hit


class LlmTimers:
    """A contract as a runtime runs an LLM on it: the as-run profile (RuntimeProfile.apply at the model's GEMM
    format), the config with the runtime's attention kernel (its K/V reads), and the memoized timers of prefill and
    decode steps (decode steps replay CUDA graphs where the runtime captures them: no kernel launches)."""

    def __init__(self, profile: HardwareProfile, cfg: LlmConfig, runtime: RuntimeProfile | None = None):
        # no runtime: the profile exactly as given (a stage function's input), with no host time and the config's
        # own attention kernel; a runtime: the contract as that runtime runs it
        rt = runtime or IDEAL
        self.runtime = rt
        self.runtime_name = "none" if runtime is None else rt.name
        self.contract = profile
        self.cfg = cfg if runtime is None else dataclasses.replace(cfg, kv_reads=rt.kv_reads)
        self.profile = (profile if runtime is None else rt.apply(profile)).at_format(cfg.math_format)
        attention = None
        if runtime is not None and rt.attention_share != rt.dram_efficiency:
            attention = dataclasses.replace(rt, dram_efficiency=rt.attention_share).apply(profile)
            attention = attention.at_format(cfg.math_format)
        self.prefill = _Timer(self.profile, self.cfg, attention, rt.step_overhead_s)
        self.decode_profile = (dataclasses.replace(self.profile, kernel_launch_s=0.0) if self.profile.decode_graphs
                               else self.profile)
        if self.decode_profile is self.profile:
            self.decode = self.prefill
        else:
            self.decode = _Timer(self.decode_profile, self.cfg,
                                 None if attention is None else dataclasses.replace(attention, kernel_launch_s=0.0),
                                 rt.step_overhead_s)

    @property
    def simulations(self) -> int:
        return len(self.prefill.cache) + (len(self.decode.cache) if self.decode is not self.prefill else 0)


def host_time(profile: HardwareProfile, seconds: float) -> LayerTiming | None:
    """Host time the device waits through (the runtime's per-step scheduling and sampling, a request's set-up), as
    a timing entry whose binding resource is ``host``; None for none."""
    if seconds <= 0:
        return None
    cycles = max(1, math.ceil(seconds * profile.clock_hz))
    return LayerTiming(macs=0, weight_bytes=0, act_bytes=0, compute_cycles=0, memory_cycles=0, cycles=cycles,
                       dram_bytes=0, sram_bytes=0, outputs=0, bottleneck="host")


def _kv_write(profile: HardwareProfile, cfg: LlmConfig, tokens: int) -> LayerTiming:
    nbytes = tokens * cfg.kv_bytes_per_token()
    cycles = math.ceil(nbytes / profile.dram.bandwidth_Bps * profile.clock_hz)
    return LayerTiming(macs=0, weight_bytes=0, act_bytes=nbytes, compute_cycles=0, memory_cycles=cycles,
                       cycles=max(cycles, 1), dram_bytes=nbytes, sram_bytes=0, outputs=0, bottleneck=profile.dram.name)


def all_reduce_s(nbytes: float, tp: int, bandwidth_Bps: float, latency_s: float, algorithm: str = "auto") -> float:
    """Seconds of one all-reduce of ``nbytes`` per device over ``tp`` devices that reach each other directly (NVSwitch).

    - ``one_shot``: every device reads the other tp - 1 devices' buffers and reduces locally: (tp - 1) x nbytes over
      its link, one synchronization round;
    - ``two_shot``: a reduce-scatter and an all-gather: 2 (tp - 1) / tp x nbytes over its link, two rounds;
    - ``ring``: NCCL's ring: the same 2 (tp - 1) / tp x nbytes, in 2 (tp - 1) steps of one round each;
    - ``auto``: the faster of one-shot and two-shot, as the custom all-reduces of TensorRT-LLM and vLLM choose by
      message size (they replace NCCL's ring for these small messages).

    ``latency_s`` is one synchronization round (a peer write and a flag)."""
    if tp <= 1:
        return 0.0
    one_shot = (tp - 1) * nbytes / bandwidth_Bps + latency_s
    two_shot = 2 * (tp - 1) / tp * nbytes / bandwidth_Bps + 2 * latency_s
    if algorithm == "one_shot":
        return one_shot
    if algorithm == "two_shot":
        return two_shot
    if algorithm == "ring":
        return 2 * (tp - 1) / tp * nbytes / bandwidth_Bps + 2 * (tp - 1) * latency_s
    return min(one_shot, two_shot)


def _all_reduce(profile: HardwareProfile, cfg: LlmConfig, tokens: int) -> LayerTiming | None:
    """Tensor parallelism's communication in one block (Megatron-LM: an all-reduce of the new tokens' fp16 hidden
    states after the attention's O projection and after the MLP's down projection, :func:`all_reduce_s`), not
    overlapped with the GEMMs (TensorRT-LLM's and vLLM's default). None at tp 1."""
    if cfg.tp <= 1:
        return None
    if profile.interconnect is None:
        raise ValueError(f"profile '{profile.name}' has no interconnect for tensor parallelism ({cfg.tp} devices)")
    seconds = 2 * all_reduce_s(tokens * cfg.hidden * 2, cfg.tp, *profile.interconnect, profile.all_reduce_algorithm)
    cycles = max(1, math.ceil(seconds * profile.clock_hz))
    return LayerTiming(macs=0, weight_bytes=0, act_bytes=0, compute_cycles=0, memory_cycles=0, cycles=cycles,
                       dram_bytes=0, sram_bytes=0, outputs=0, bottleneck="interconnect")


#: at most this many prefetch requests per layer in an LLM step's network simulation (bounds its events)
LLM_PREFETCH_PIECES = 32


def block_overlap(profile: HardwareProfile, timings: list[tuple[str, LayerTiming]], blocks: int,
                  inputs: dict[str, tuple[str, ...]] | None = None) -> float:
    """Cycles the whole-network simulation saves over ``blocks`` identical blocks run layer after layer: one block
    simulated alone and one followed by the next block's first layer (whose weights it prefetches) give the
    first block's and every further block's cycles. ``inputs``: the block's layer graph (each layer's producers;
    None: a chain), so that independent layers (the K and V projections beside Q) run side by side where the
    runtime overlaps them (``concurrent_layers``). Prefetching is the runtime's choice: where its requests
    would slow the running layers' own (a DMA request in service is not preempted), the blocks run without it
    (the simulation without prefetch is the layers one after another: tests/timing), so the saving is >= 0."""
    from accelsim.timing.network import simulate_profile_network

    isolated = sum(t.cycles for _, t in timings)
    one = simulate_profile_network(timings, profile, inputs=inputs, max_prefetch_pieces=LLM_PREFETCH_PIECES)
    if blocks <= 1:
        return max(0.0, round(isolated - one.cycles, 3))
    # a block followed by the next block's first layer: the next block starts with what was prefetched for it
    head, last = timings[0], timings[-1]
    nxt = head[0] + "#next"
    graph = None if inputs is None else {**inputs, nxt: (last[0],)}
    two = simulate_profile_network(timings + [(nxt, head[1])], profile, inputs=graph,
                                   max_prefetch_pieces=LLM_PREFETCH_PIECES)
    spans = dict((name, (start, end)) for name, start, end in two.spans)
    steady = spans[nxt][0]  # a block's cycles in the steady state: until the next one starts
    # rounded to a thousandth of a cycle: the simulation's float sums leave noise where nothing overlaps
    return max(0.0, round(blocks * isolated - (one.cycles + (blocks - 1) * steady), 3))


def block_graph(layers: list[Layer]) -> dict[str, tuple[str, ...]]:
    """The producers of each layer of one block (and of its KV write): attention reads the K and V the projections
    of the new tokens wrote into the cache, so the cache operands stand for those projections; the KV write
    follows them. Names outside the block (the block's input) are ready when it starts."""
    cache = {"k_cache": "k_proj", "v_cache": "v_proj"}
    graph = {}
    for layer in layers:
        graph[layer.name] = tuple(cache.get(x, x) for x in layer.inputs)
    graph["kv_write"] = ("k_proj", "v_proj")
    return graph


def _step(timer: _Timer, phase: PhaseTotals, cfg: LlmConfig, profile: HardwareProfile, tokens: int,
          context: int, batch: int, simulate: bool = True) -> list[tuple[str, LayerTiming]]:
    """One forward step of the whole model for ``batch`` sequences of ``tokens`` new tokens each: embedding,
    every block, the KV writes, the final norm and lm_head on each sequence's last position
    (:func:`_forward` with one group). Returns the block's layer timings."""
    return _forward(timer, phase, cfg, profile, ((tokens, context, batch),), batch, simulate)


def _step_tail(timer: _Timer, phase: PhaseTotals, cfg: LlmConfig, profile: HardwareProfile, tokens: int,
               timings: list) -> None:
    """What a step adds after its blocks' layers: every block's KV write of ``tokens`` new tokens (appended to
    ``timings`` for the network simulation), tensor parallelism's all-reduces and the runtime's host time."""
    kv = _kv_write(profile, cfg, tokens)
    kv_static = profile.energy.static_power_w * kv.cycles / profile.clock_hz * 1e12
    phase.add(kv, kv.dram_bytes * profile.dram.energy_pj_per_byte + kv_static, times=cfg.layers)
    timings.append(("kv_write", kv))
    reduce = _all_reduce(profile, cfg, tokens)
    if reduce is not None:  # the devices wait for each other: static energy, no overlap with the layers
        phase.add(reduce, _static_pj_per_cycle(profile) * reduce.cycles, times=cfg.layers)
    host = host_time(profile, timer.step_overhead_s)
    if host is not None:  # the runtime's host work between steps: the device idles through it
        phase.add(host, _static_pj_per_cycle(profile) * host.cycles)


def _forward(timer: _Timer, phase: PhaseTotals, cfg: LlmConfig, profile: HardwareProfile,
             groups: tuple[tuple[int, int, int], ...], logits_rows: int,
             simulate: bool = True) -> list[tuple[str, LayerTiming]]:
    """The whole model over ``groups`` of (new tokens, context, sequences) (:func:`iteration_layers`): the embedding
    of every new token, every block (timed once, times the block count), the KV writes, and the final norm and
    lm_head on ``logits_rows`` positions, added to ``phase``. With ``simulate``, the blocks run in the
    whole-network simulation (accelsim.timing.network): the phase is shortened by what prefetching the next
    layer's weights saves. Returns the block's layer timings."""
    total = sum(t * b for t, _, b in groups)
    before, after = model_head(cfg, total, 1, logits_tokens=logits_rows)
    for layer in before + after:
        t, e = timer(layer)
        phase.add(t, e)  # projection regimes are the blocks'; lm_head reads one row per emitting sequence
    layers = iteration_layers(cfg, groups)
    fusion = plan_fusion(layers, profile.fusion)
    timings = []
    for layer in layers:
        t, e = timer(layer, fusion[layer.name])
        phase.add(t, e, times=cfg.layers, regime=t.regime if layer.op == "linear" else None)
        timings.append((layer.name, t))
    _step_tail(timer, phase, cfg, profile, total, timings)
    if simulate:
        phase.overlap(block_overlap(profile, timings, cfg.layers, block_graph(layers)),
                      _static_pj_per_cycle(profile))
    return timings


#: the attention layers of a block, timed per group of sequences (the rest of the block sees every new token at once)
ATTENTION_LAYERS = ("scores", "probs", "context")


def dense_step(timer: _Timer, cfg: LlmConfig, profile: HardwareProfile, tokens: int, logits_rows: int,
               simulate: bool = True) -> PhaseTotals:
    """One forward step's work outside attention for ``tokens`` new tokens: the embedding, every block's
    projections, MLP, norms and residuals, the KV writes, the all-reduces, the final norm and lm_head on
    ``logits_rows`` positions and the runtime's host time, the blocks shortened by the whole-network simulation
    (attention stands between the QKV and O projections as a dependency). With :func:`attention_step` of each
    group it adds up to a serving iteration (accelsim.serve.cost), whose attention varies per group while this
    part depends on the token count alone."""
    phase = PhaseTotals()
    before, after = model_head(cfg, tokens, 1, logits_tokens=logits_rows)
    for layer in before + after:
        phase.add(*timer(layer))
    block = decoder_block(cfg, tokens, 1, 1)
    fusion = plan_fusion(block, profile.fusion)
    timings = []
    for layer in block:
        if layer.name in ATTENTION_LAYERS:
            continue
        t, e = timer(layer, fusion[layer.name])
        phase.add(t, e, times=cfg.layers, regime=t.regime if layer.op == "linear" else None)
        timings.append((layer.name, t))
    _step_tail(timer, phase, cfg, profile, tokens, timings)
    if simulate:
        graph = block_graph(block)
        graph["o_proj"] = ("q_proj", "k_proj", "v_proj")  # through attention, timed apart
        phase.overlap(block_overlap(profile, timings, cfg.layers, graph), _static_pj_per_cycle(profile))
    return phase


def attention_step(timer: _Timer, cfg: LlmConfig, profile: HardwareProfile, tokens: int, context: int,
                   batch: int) -> PhaseTotals:
    """Every block's attention (scores, softmax, context) for ``batch`` sequences of ``tokens`` new tokens each at
    ``context`` positions (:func:`dense_step` holds the rest of the step)."""
    phase = PhaseTotals()
    block = decoder_block(cfg, tokens, context, batch)
    fusion = plan_fusion(block, profile.fusion)
    for layer in block:
        if layer.name in ATTENTION_LAYERS:
            phase.add(*timer(layer, fusion[layer.name]), times=cfg.layers)
    return phase


def iteration_layers(cfg: LlmConfig, groups: tuple[tuple[int, int, int], ...]) -> list[Layer]:
    """One decoder block for an iteration of a serving engine that batches sequences in different phases:
    ``groups`` of (new tokens, context, sequences) — a decode batch (1, context, b), a prefill chunk (n, c, 1).
    The projections and elementwise ops see every new token as one GEMM (the weights are read once per
    iteration); attention runs per group. One group is exactly :func:`decoder_block`."""
    if len(groups) == 1:
        t, c, b = groups[0]
        return decoder_block(cfg, t, c, b)
    total = sum(t * b for t, _, b in groups)
    base = decoder_block(cfg, total, 1, 1)
    attention = []
    for i, (t, c, b) in enumerate(groups):
        for layer in decoder_block(cfg, t, c, b):
            if layer.name in ("scores", "probs", "context"):
                inputs = tuple(f"{x}#{i}" if x in ("scores", "probs") else x for x in layer.inputs)
                attention.append(dataclasses.replace(layer, name=f"{layer.name}#{i}", inputs=inputs))
    cut = next(i for i, layer in enumerate(base) if layer.name == "scores")
    rest = [layer for layer in base[cut:] if layer.name not in ("scores", "probs", "context")]
    return base[:cut] + attention + rest


def iteration_cost(timer: "_Timer", cfg: LlmConfig, profile: HardwareProfile, groups: tuple[tuple[int, int, int], ...],
                   logits_rows: int, simulate: bool = True) -> PhaseTotals:
    """The whole model for one serving iteration (:func:`_forward`): every new token of ``groups``, the lm_head on
    ``logits_rows`` positions (one per sequence that emits a token). One group with one row per sequence is
    :func:`_step`."""
    phase = PhaseTotals()
    _forward(timer, phase, cfg, profile, groups, logits_rows, simulate)
    return phase


def _static_pj_per_cycle(profile: HardwareProfile) -> float:
    return profile.energy.static_power_w / profile.clock_hz * 1e12


def _rate_class(fmt: str) -> str:
    from accelsim.operands import FORMATS, rate_class

    return rate_class(fmt) if fmt in FORMATS else fmt


def model_llm(profile: HardwareProfile, cfg: LlmConfig, prompt: int = 2048, decode_steps: int = 128,
              batch: int = 1, runtime: RuntimeProfile | None = None) -> LlmRun:
    """Time a whole model on contract ``profile`` under ``runtime`` (None: the profile exactly as given, no runtime
    settings; :data:`~accelsim.runtime.IDEAL` is the datasheet bound): prefill of ``prompt`` tokens for each of ``batch`` sequences (after the runtime's per-request
    set-up time), then ``decode_steps`` single-token steps of the batch (each sequence with its own KV cache,
    growing by one token a step); every forward step pays the runtime's host time per step."""
    if prompt < 1 or decode_steps < 0 or batch < 1:
        raise ValueError(f"prompt and batch must be >= 1 and decode_steps >= 0, got {prompt}, {decode_steps}, {batch}")
    timers = LlmTimers(profile, cfg, runtime)
    cfg, profile = timers.cfg, timers.profile
    prefill, decode = PhaseTotals(), PhaseTotals()
    request = host_time(profile, timers.runtime.request_overhead_s)
    if request is not None:
        prefill.add(request, _static_pj_per_cycle(profile) * request.cycles)
    _step(timers.prefill, prefill, cfg, profile, prompt, prompt, batch)
    decode_profile = timers.decode_profile
    # decode steps differ only in the attention's context length, so the network simulation's saving is a smooth
    # function of the step: it is simulated at every ``stride``-th step (and the last) and interpolated linearly
    # in between, which keeps a 2,048-step decode to ~16 simulations
    stride = max(1, math.ceil(decode_steps / DECODE_SIMULATIONS))
    anchors = sorted({*range(0, decode_steps, stride), decode_steps - 1}) if decode_steps else []
    graph = block_graph(decoder_block(cfg, 1, prompt + 1, batch))
    saved = {}
    for step in range(decode_steps):
        timings = _step(timers.decode, decode, cfg, decode_profile, 1, prompt + step + 1, batch, simulate=False)
        if step in anchors:
            saved[step] = block_overlap(decode_profile, timings, cfg.layers, graph)
    for a, b in zip(anchors, anchors[1:] + [None]):
        if b is None:
            decode.overlap(saved[a], _static_pj_per_cycle(decode_profile))
            continue
        for step in range(a, b):
            decode.overlap(saved[a] + (saved[b] - saved[a]) * (step - a) / (b - a),
                           _static_pj_per_cycle(decode_profile))
    return LlmRun(profile=profile.name, model=cfg.name, prompt=prompt, decode_steps=decode_steps,
                  clock_hz=profile.clock_hz, prefill=prefill, decode=decode, simulations=timers.simulations,
                  batch=batch, weight_bits=cfg.weight_bits, kv_cache_bits=cfg.kv_cache_bits,
                  math_format=cfg.math_format, tp=cfg.tp, runtime=timers.runtime_name)
