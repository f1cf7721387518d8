"""Roofline timing: a layer takes at least its compute time and at least its DRAM time.

This is the lower-bound model (perfect overlap of transfers and compute, compulsory DRAM traffic:
every operand read once, every output written once). Compute cycles account for the array shape:
the GEMM view (batch, M, K, N) is cut into ceil(K/rows) x ceil(N/cols) weight tiles, each streaming
M rows, spread over ``count`` arrays — so a 10-column layer on a 32-column array wastes 2/3 of it.
Elementwise and float ops are charged one element per column per cycle (the array's vector width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.hardware import HardwareProfile
from accelsim.inttypes import type_bits
from accelsim.quant.legalize import QuantPlan
from accelsim.workload.layers import Layer


@dataclass(frozen=True)
class LayerTiming:
    """Timing and traffic of one layer (cycles of the profile's clock, bytes)."""

    macs: int
    weight_bytes: int
    act_bytes: int
    compute_cycles: int
    memory_cycles: int
    cycles: int
    dram_bytes: int
    sram_bytes: int
    outputs: int

    @property
    def stall_cycles(self) -> int:
        return self.cycles - self.compute_cycles


def _bytes(elements: int, bits: int) -> int:
    return math.ceil(elements * bits / 8)


def layer_timing(layer: Layer, plan: QuantPlan, profile: HardwareProfile) -> LayerTiming:
    a_bits = type_bits(plan.activations.type_name)
    w_bits = type_bits(plan.weights.type_name)
    arr = profile.array
    out_bytes = _bytes(layer.out_elements, a_bits)
    if layer.is_mac:
        batch, m, k, n = layer.gemm
        tiles = batch * math.ceil(k / arr.rows) * math.ceil(n / arr.cols)
        compute = math.ceil(tiles / arr.count) * m
        if layer.op == "matmul":  # both operands are activations (e.g. Q.K^T, P.V, KV cache)
            weight_bytes = 0
            in_bytes = _bytes(layer.in_elements, a_bits)
        else:
            weight_bytes = _bytes(layer.weight_elements, w_bits)
            in_bytes = _bytes(layer.in_elements, a_bits)
        # on-chip reads: activations re-read once per column fold, weights once per row block, outputs once
        sram = batch * (_bytes(m * k, a_bits) * math.ceil(n / arr.cols)) + weight_bytes + out_bytes
        if layer.op == "matmul":
            sram += _bytes(batch * k * n, a_bits)
    else:
        weight_bytes = 0
        in_bytes = _bytes(layer.in_elements, a_bits)
        compute = math.ceil(layer.out_elements / (arr.cols * arr.count))
        sram = in_bytes + out_bytes
    act_bytes = in_bytes + out_bytes
    dram = weight_bytes + act_bytes
    memory = math.ceil(dram / profile.dram.bandwidth_Bps * profile.clock_hz)
    cycles = max(compute, memory, 1)
    return LayerTiming(macs=layer.macs, weight_bytes=weight_bytes, act_bytes=act_bytes, compute_cycles=compute,
                       memory_cycles=memory, cycles=cycles, dram_bytes=dram, sram_bytes=sram,
                       outputs=layer.out_elements)
