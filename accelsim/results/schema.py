"""The results schema: one row per (profile, layer). Stable: external tools read these columns."""

from __future__ import annotations

#: DESIGN.md's results schema, in order, with units
COLUMNS: dict[str, str] = {
    "profile": "hardware profile name",
    "layer": "layer name",
    "op": "layer op (linear, conv2d, matmul, add, relu, softmax, ...)",
    "macs": "multiply-accumulates (full shapes)",
    "weight_bytes": "weight bytes at the legalized weight width",
    "act_bytes": "activation bytes in + out at the legalized activation width",
    "cycles": "latency in clock cycles",
    "compute_cycles": "cycles the array needs for the MACs (array-shape aware)",
    "stall_cycles": "cycles - compute_cycles: waiting for memory",
    "latency_s": "latency in seconds",
    "utilization": "macs / (peak MACs per cycle x cycles), 0..1",
    "dram_bytes": "bytes moved to/from the outermost memory level",
    "sram_bytes": "bytes read/written in on-chip buffers",
    "energy_pj": "total energy, pJ",
    "energy_mac_pj": "MAC array energy, pJ",
    "energy_requant_pj": "requantization (and elementwise) energy, pJ",
    "energy_sram_pj": "on-chip buffer energy, pJ",
    "energy_dram_pj": "off-chip memory energy, pJ",
    "arithmetic_intensity": "MACs per DRAM byte (the TPU-paper convention; x2 for ops/byte)",
    "regime": "compute-bound if the simulation's binding resource is the compute unit, else memory-bound",
    "overflow_events": "accumulator wrap events in the numerics sample",
    "saturation_events": "accumulator saturation events in the numerics sample",
    "sqnr_db": "SQNR of the layer output vs the float reference, dB (error propagated from the input)",
    "max_abs_error": "max |quantized - float| of the layer output",
}

#: extra columns accelsim adds after the schema's
EXTRA_COLUMNS: dict[str, str] = {
    "sqnr_local_db": "SQNR of the layer's own step (float op on its dequantized integer inputs), dB",
    "mean_error": "mean (quantized - float) of the layer output: bias",
    "cosine": "cosine similarity of the layer output to the float reference",
    "weight_type": "legalized weight type",
    "activation_type": "legalized activation type",
    "ran_in_float": "true if the op ran in float between integer layers",
    "fast_path": "true if the accumulator bound proved no overflow (exact BLAS path)",
    "k_chunk": "K elements accumulated before a partial-sum spill",
    "roofline_regime": "memory-bound if arithmetic_intensity < the profile's ridge point (closed form)",
    "bytes_by_level": "bytes moved into each level from its parent, 'level=bytes;...' ('array' = operand reads)",
    "dataflow_tiles": "array folds (rows x cols) and the tile per on-chip level 'level:MxKxN/order'",
    "bottleneck": "the binding resource in the simulation: compute, a memory level's engine, or fill (latency)",
    "bottleneck_busy": "the binding resource's busy time / the layer's cycles, 0..1",
    "fused_into": "the layer whose epilogue runs this one (the profile's fusion capabilities), or ''",
    "energy_static_pj": "static power x latency, pJ (included in energy_pj: stalls cost energy)",
    "network_start_s": "when the layer starts in the whole-network simulation (prefetch, DRAM contention), s",
    "network_end_s": "when it ends there, s",
}

ALL_COLUMNS = list(COLUMNS) + list(EXTRA_COLUMNS)
