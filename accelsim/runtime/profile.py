"""The runtime profile: what a software stack achieves on a hardware contract, as plain frozen dataclasses.

The hardware contract says what the silicon *can* do (datasheet rates, bandwidths, capacities); a runtime profile
says what one software release *does* on it: the share of the MAC rate its GEMM mainloops sustain per format, the
share of the DRAM bandwidth its kernels stream at, the attention kernel it runs, kernel launch and host time per
step, CUDA graphs, concurrent streams, the all-reduce, and the scheduler's limits. Measured deployments are
reproduced by the pair (docs/validation.md), never by bending the hardware numbers: :meth:`RuntimeProfile.apply`
derives the *as-run* view of a contract that the timing model consumes, and the contract itself stays as loaded.

``ideal`` (every share 1, no launch or host time, GQA-aware attention, concurrent layers) is the datasheet bound:
every prediction is reported beside it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from accelsim.errors import InputError


@dataclass(frozen=True)
class AllReduceSpec:
    """Tensor parallelism's all-reduce as the runtime runs it.

    ``algorithm``: ``auto`` (the faster of one-shot and two-shot: TensorRT-LLM's and vLLM's custom all-reduces),
    ``one_shot``, ``two_shot`` or ``ring`` (NCCL's ring: 2 (tp - 1) steps); ``latency_s``: one synchronization round
    (s; None: the hardware interconnect's); ``bus_efficiency``: the share of the link bandwidth it achieves (NCCL-tests'
    "busbw" against the link rate)."""

    algorithm: str = "auto"
    latency_s: float | None = None
    bus_efficiency: float = 1.0


@dataclass(frozen=True)
class SchedulerSpec:
    """The serving engine's limits and policies (accelsim serve, and the max-throughput validation).

    ``batching``: ``inflight`` (continuous batching) or ``static``; ``prefill``: ``chunked`` (prompt chunks share an
    iteration with decodes, up to ``max_num_tokens``) or ``separate``; ``max_batch``: sequences running at once;
    ``max_num_tokens``: tokens one iteration takes; ``memory_fraction``: the share of device memory left after the
    weights that the KV cache may take; ``kv_block_tokens``: tokens per paged-KV block; ``memory_of``: what
    ``memory_fraction`` is a share of: ``device`` (vLLM's gpu_memory_utilization: the whole device, weights and
    activations inside it) or ``free`` (TensorRT-LLM's kv_cache_free_gpu_mem_fraction: the memory left after the
    weights and activations); ``admission``: ``max_utilization`` (admit on the prompt's blocks, preempt when the
    cache fills: vLLM) or ``guaranteed`` (admit only when the whole request's blocks are free: TensorRT-LLM's
    GUARANTEED_NO_EVICT)."""

    batching: str = "inflight"
    prefill: str = "chunked"
    max_batch: int = 256
    max_num_tokens: int = 8192
    memory_fraction: float = 0.9
    kv_block_tokens: int = 16
    memory_of: str = "device"
    admission: str = "max_utilization"


@dataclass(frozen=True)
class RuntimeProfile:
    """One software stack's settings, resolved for one hardware contract (``hardware``; None: its defaults).

    Shares are in (0, 1]; times in seconds. ``gemm_efficiency`` maps a rate class (int8, fp16, bf16, fp8, fp4) to the
    share of the datasheet MAC rate the GEMM mainloop sustains (missing: 1); tile and wave quantization are modelled
    by the mapper, so this is the mainloop's own share. ``dram_efficiency``: the share of the outermost memory's
    bandwidth its streaming kernels reach; ``attention_efficiency``: the share the decode attention kernel reaches
    reading the KV cache (None: ``dram_efficiency``). ``step_overhead_s``: host time per engine iteration (scheduling, sampling, the launch of
    the step), serial with the GPU's work; ``request_overhead_s``: time before a request's first forward step
    (tokenization, enqueue), added to its first token. ``calibration`` names the published rows the fitted numbers
    of this hardware's section came from (docs/validation.md keeps them apart from predicted rows)."""

    name: str
    description: str = ""
    hardware: str | None = None
    sourced_for: tuple[str, ...] = ()
    gemm_efficiency: tuple[tuple[str, float], ...] = ()
    dram_efficiency: float = 1.0
    attention_efficiency: float | None = None   # None: as dram_efficiency
    kv_reads: str = "per_kv_head"
    kernel_launch_s: float = 0.0
    cuda_graphs: str = "all"
    concurrent_layers: bool = True
    step_overhead_s: float = 0.0
    request_overhead_s: float = 0.0
    all_reduce: AllReduceSpec = AllReduceSpec()
    scheduler: SchedulerSpec = SchedulerSpec()
    mapping_objective: str = "latency"   # what the compiler's tile choice ranks by: latency, energy, edp
    calibration: tuple[str, ...] = ()
    source: str = ""

    @property
    def sourced(self) -> bool:
        """True when this runtime has a section for its hardware (its numbers are sourced or calibrated there)."""
        return self.hardware is not None and self.hardware in self.sourced_for

    @property
    def attention_share(self) -> float:
        """The decode attention kernel's share of the DRAM bandwidth (``dram_efficiency`` unless stated)."""
        return self.dram_efficiency if self.attention_efficiency is None else self.attention_efficiency

    def gemm_share(self, rate_class: str) -> float:
        """The GEMM mainloop's sustained share of the MAC rate for ``rate_class`` (1 where not stated)."""
        return dict(self.gemm_efficiency).get(rate_class, 1.0)

    def apply(self, hw):
        """The contract ``hw`` as this runtime runs it: the DRAM bandwidth at ``dram_efficiency``, the per-format GEMM
        shares (HardwareProfile.format_efficiency, applied where the layer's format is chosen), kernel launch cost,
        CUDA graphs in decode, concurrent layers, and the interconnect at the all-reduce's bus efficiency and
        latency. InputError for a systolic array given a GEMM share below 1 (its cycles are exact)."""
        if hw.array.kind == "systolic" and any(e != 1 for _, e in self.gemm_efficiency):
            raise InputError(f"runtime '{self.name}' sets GEMM efficiencies, but '{hw.name}' is a systolic array whose "
                             f"cycles are exact: use a runtime without gemm_efficiency (e.g. ideal)", field="--runtime")
        dram = dataclasses.replace(hw.memory[0], bandwidth_Bps=hw.memory[0].bandwidth_Bps * self.dram_efficiency)
        interconnect = hw.interconnect
        if interconnect is not None:
            bandwidth, latency = interconnect
            interconnect = (bandwidth * self.all_reduce.bus_efficiency,
                            latency if self.all_reduce.latency_s is None else self.all_reduce.latency_s)
        return dataclasses.replace(
            hw, memory=(dram, *hw.memory[1:]), format_efficiency=self.gemm_efficiency,
            kernel_launch_s=0.0 if self.cuda_graphs == "all" else self.kernel_launch_s, decode_graphs=self.cuda_graphs in ("decode", "all"),
            concurrent_layers=self.concurrent_layers, interconnect=interconnect,
            all_reduce_algorithm=self.all_reduce.algorithm, mapping_objective=self.mapping_objective)

    def as_dict(self) -> dict:
        """The settings in force, for results (JSON) and reports."""
        d = dataclasses.asdict(self)
        d["gemm_efficiency"] = dict(self.gemm_efficiency)
        d["sourced"] = self.sourced
        return d


#: the datasheet bound: every share 1, no launch, host or request time, GQA-aware attention, concurrent layers
IDEAL = RuntimeProfile(name="ideal", description="the datasheet bound: every rate and bandwidth as the contract "
                                                "states it, no launch, host or request time",
                       source="no software: the hardware contract's own rates")
