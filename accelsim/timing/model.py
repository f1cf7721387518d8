"""Per-layer timing: mapping -> SimPy tile pipeline -> cycles, stalls, traffic, regime.

MAC layers are mapped (accelsim.mapping); the pipeline granularity is the finest tiling in the
hierarchy (the smallest double-buffered level bounds how much is in flight). Elementwise and float
ops run on a vector unit of ``cols x count`` lanes (one element per lane per cycle), streaming their
inputs and outputs through DRAM. Every layer also gets its closed-form roofline bounds, which the
simulated latency can never beat: ``cycles >= max(compute_bound, memory_bound)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.hardware import HardwareProfile
from accelsim.mapping import Mapping, map_layer
from accelsim.mapping.mapper import OnChip
from accelsim.mapping.schedule import layer_cycles
from accelsim.timing.fusion import UNFUSED, Fusion
from accelsim.workload.layers import Layer


@dataclass(frozen=True)
class LayerTiming:
    """Timing and traffic of one layer (cycles of the profile's clock, bytes)."""

    macs: int
    weight_bytes: int
    act_bytes: int
    compute_cycles: int     # array (or vector unit) busy cycles
    memory_cycles: int      # DRAM bytes / DRAM bandwidth, in cycles (the roofline memory bound)
    cycles: int             # simulated latency
    dram_bytes: int
    sram_bytes: int         # bytes moved in and out of all on-chip levels
    outputs: int            # elements produced (MAC layers) or element operations (vector ops), for energy
    level_bytes: tuple[tuple[str, int], ...] = ()
    psum_adds: int = 0      # partial-sum accumulations between folds (additions at spill width)
    events: int = 0
    mapping: Mapping | None = None
    bottleneck: str = "compute"   # the binding resource in the simulation (see :func:`binding_resource`)
    bottleneck_busy: float = 1.0  # its busy time / the simulated cycles, 0..1
    startup_cycles: float = 0.0   # access latency and kernel launch before the first tile
    core_cycles: float = 0.0      # what bounds the layer besides DRAM: compute or its slowest on-chip engine
    working_bytes: int = 0        # bytes its outermost on-chip tile holds (double-buffered operands + outputs)
    cores_busy: int = 0           # cores it occupies (Mapping.cores_busy); 0: all of them (vector ops, DRAM moves)

    @property
    def stall_cycles(self) -> int:
        return max(0, self.cycles - self.compute_cycles)

    @property
    def compute_bound_cycles(self) -> int:
        return self.compute_cycles

    @property
    def memory_bound(self) -> bool:
        """The simulation's verdict: something other than the compute unit set the pace."""
        return self.bottleneck != "compute"

    @property
    def regime(self) -> str:
        return "compute-bound" if self.bottleneck == "compute" else "memory-bound"

    def roofline_regime(self, ridge_point: float) -> str:
        """The roofline's label, kept beside the simulation's: memory-bound when the layer's MACs per DRAM byte fall
        below the profile's ridge point (peak MACs per cycle / DRAM bytes per cycle)."""
        return "memory-bound" if self.dram_bytes and self.macs / self.dram_bytes < ridge_point else "compute-bound"


#: a layer is compute-bound only if its compute unit was busy at least this share of its simulated cycles
COMPUTE_BOUND_MIN_BUSY = 0.8


def binding_resource(cycles: float, compute: float, engines: list[tuple[str, float]],
                     latency: float) -> tuple[str, float]:
    """(resource, busy fraction) that set the pace of a simulated layer.

    The resources are the compute unit, each DMA engine (named by the level it reads: the DRAM level, an
    on-chip level feeding the next, the innermost level feeding the compute unit) and ``fill`` — the cycles
    in which nothing was streaming: the access latency and the first tile's transfer before the pipeline
    overlapped. Each one's busy time is what the simulation spent on it; the binding one is the busiest. The
    compute unit is binding only if it was busy at least COMPUTE_BOUND_MIN_BUSY of the cycles (a layer
    labelled compute-bound is never mostly stalled); otherwise the busiest other resource is."""
    cycles = max(cycles, 1e-9)
    fill = max(0.0, cycles - max([compute, *(busy for _, busy in engines)]))
    others = [*engines, ("fill", max(fill, min(latency, cycles)))]
    name, busy = max(others, key=lambda nb: nb[1]) if others else ("fill", fill)
    if compute / cycles >= COMPUTE_BOUND_MIN_BUSY and compute >= busy:
        return "compute", min(1.0, compute / cycles)
    return name, min(1.0, busy / cycles)


def _pipeline(tiles: int, compute: float, transfers: list[float], startup: float) -> int:
    """Cycles of a layer's double-buffered tile pipeline (exact for identical tiles: accelsim.mapping.schedule);
    every level's engine moves its share of a tile concurrently, so the slowest level paces the transfers."""
    return math.ceil(float(layer_cycles(tiles, compute, max(transfers, default=0.0), startup)) - 1e-9)


def _working_bytes(m: Mapping, bits: int) -> int:
    """On-chip bytes of the outermost level's tile: two A and B tiles (double buffering) and a 32-bit C tile."""
    if not m.tilings:
        return 0
    t = m.tilings[0]
    return 2 * _bytes(t.tile_m * t.tile_k + t.tile_k * t.tile_n, bits) + 4 * t.tile_m * t.tile_n


def _bytes(elements: int, bits: int) -> int:
    return math.ceil(elements * bits / 8)


def _cycles(nbytes: float, bandwidth: float, clock: float) -> float:
    return nbytes / bandwidth * clock


def mac_layer_timing(layer: Layer, profile: HardwareProfile, a_bits: int, w_bits: int, b_bits: int | None = None,
                     out_bits: int | None = None, fusion: Fusion = UNFUSED) -> LayerTiming:
    on_chip = OnChip(a_operand=layer.inputs[0] in fusion.on_chip_inputs, writes_output=fusion.writes_output)
    m = map_layer(layer, profile, a_bits, w_bits, out_bits=out_bits, b_bits=b_bits, on_chip=on_chip)
    clock = profile.clock_hz
    parents = [profile.dram, *profile.on_chip]  # traffic[i] moves from parents[i] into level i+1
    # partial sums between folds live in a dedicated accumulator buffer next to the array (TPU v1's
    # "accumulators", Gemmini's accumulator SRAM): they cost energy but not the feed level's bandwidth
    transfer = [_cycles(t.total - (t.psum_bytes if t.level == "array" else 0), parents[i].bandwidth_Bps, clock)
                for i, t in enumerate(m.traffic)]
    tiles = max([t.tiles for t in m.tilings] or [1])
    startup = profile.startup_cycles  # a MAC layer is its own kernel
    cycles = _pipeline(tiles, m.compute_cycles, transfer, startup)
    bottleneck, busy = binding_resource(cycles, m.compute_cycles, [(lv.name, t) for lv, t in zip(parents, transfer)],
                                        startup)
    dram = m.traffic[0].total
    on_chip = sum(t.total for t in m.traffic[:-1]) + sum(t.total for t in m.traffic[1:]) if profile.on_chip else 0
    weight_bytes = m.traffic[0].b_bytes if m.view.b_is_weight else 0
    psum_adds = (m.row_folds - 1) * m.view.c_elements if m.dataflow != "output_stationary" else 0
    return LayerTiming(macs=m.macs, weight_bytes=weight_bytes, act_bytes=dram - weight_bytes,
                       compute_cycles=m.compute_cycles, memory_cycles=math.ceil(transfer[0]),
                       cycles=max(cycles, 1), dram_bytes=dram, sram_bytes=on_chip, outputs=m.view.c_elements,
                       level_bytes=tuple((t.level, t.total) for t in m.traffic), psum_adds=psum_adds,
                       mapping=m, bottleneck=bottleneck, bottleneck_busy=busy, startup_cycles=startup,
                       core_cycles=max([m.compute_cycles, *transfer[1:]]), working_bytes=_working_bytes(m, a_bits),
                       cores_busy=m.cores_busy)


def vector_layer_timing(layer: Layer, profile: HardwareProfile, a_bits: int, fusion: Fusion = UNFUSED) -> LayerTiming:
    """Elementwise / float ops: a vector unit of cols x count lanes; inputs and outputs via DRAM, except the
    operands a fused producer hands over on chip and an output that stays on chip; a fused layer runs in its
    producer's epilogue (no access latency of its own)."""
    clock = profile.clock_hz
    if layer.op == "flatten":  # a view: no element moves or is computed
        return LayerTiming(macs=0, weight_bytes=0, act_bytes=0, compute_cycles=0, memory_cycles=0, cycles=1,
                           dram_bytes=0, sram_bytes=0, outputs=0, level_bytes=((profile.dram.name, 0),))
    in_bytes = sum(_bytes(math.prod(shape), a_bits) for name, shape in zip(layer.inputs, layer.in_shapes)
                   if name not in fusion.on_chip_inputs)
    out_bytes = _bytes(layer.out_elements, a_bits) if fusion.writes_output else 0
    dram = in_bytes + out_bytes
    lanes = profile.array.cols * profile.array.count
    compute = math.ceil(layer.vector_ops / lanes)
    # a streaming kernel: each pass of the lanes loads, computes and stores its own elements, passes overlapping
    # (double-buffered), so the pipeline has one tile per pass of the lanes; the on-chip capacity only has to hold
    # two of them. (Tiles sized to half the on-chip buffer made a larger buffer slower: fewer, longer tiles fill
    # the pipeline longer; issue 23's monotonicity probes.)
    tiles = max(1, math.ceil(max(layer.in_elements, layer.out_elements) / lanes))
    transfer = [_cycles(dram, profile.dram.bandwidth_Bps, clock)]
    latency = 0 if fusion.fused else profile.startup_cycles
    cycles = _pipeline(tiles, compute, transfer, latency)
    bottleneck, busy = binding_resource(cycles, compute, [(profile.dram.name, transfer[0])], latency)
    sram = 2 * _bytes(layer.in_elements + layer.out_elements, a_bits) if profile.on_chip else 0
    return LayerTiming(macs=0, weight_bytes=0, act_bytes=dram, compute_cycles=compute,
                       memory_cycles=math.ceil(transfer[0]), cycles=max(cycles, 1), dram_bytes=dram,
                       sram_bytes=sram, outputs=layer.vector_ops, level_bytes=((profile.dram.name, dram),),
                       bottleneck=bottleneck, bottleneck_busy=busy, startup_cycles=latency, core_cycles=compute)


def layer_timing(layer: Layer, profile: HardwareProfile, a_bits: int = 8, w_bits: int = 8,
                 b_bits: int | None = None, fusion: Fusion = UNFUSED, out_bits: float | None = None) -> LayerTiming:
    """Timing of one layer with activation / weight widths in bits (``b_bits``: a matmul's B operand; ``out_bits``:
    a MAC layer's output, default ``a_bits``) and its fusion with its neighbours
    (:func:`accelsim.timing.fusion.plan_fusion`)."""
    if layer.is_mac:
        return mac_layer_timing(layer, profile, a_bits, w_bits, b_bits=b_bits, out_bits=out_bits, fusion=fusion)
    return vector_layer_timing(layer, profile, a_bits, fusion)
