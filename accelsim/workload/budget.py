"""Memory a bit-accurate run of a layer workload will need (the graph path, accelsim.graph.layer_chain), from
shapes alone.

The run keeps, for every tensor of the workload (inputs and layer outputs, on the numerics sample), its
float64 reference, its dequantized float64 value and its integer codes, and every layer's float weight (the
graph's constants, float32); a layer additionally holds, while it runs, its quantized weight, float64 copies
of its operands for the local-error pass, and (conv2d) one image's im2col patch matrix in float64 and as
codes. The factors below count those arrays; they over-estimate rather than under-estimate.
"""

from __future__ import annotations

import math

from accelsim.workload.layers import Layer
from accelsim.workload.workload import Workload

#: bytes per element kept for every tensor: float64 reference, dequantized float64, integer codes (up to int64)
_KEPT_PER_ELEMENT = 8 + 8 + 8
#: bytes per weight element kept for the whole run (the graph's float32 constants)
_WEIGHT_KEPT_PER_ELEMENT = 4
#: bytes per weight element while a layer runs: float64 reference copy, int64 codes, float64 dequantized copy,
#: scales' and rounding temporaries (measured with tracemalloc: 36 bytes per weight element with the kept 4)
_WEIGHT_PER_ELEMENT = 8 + 8 + 8 + 8
#: bytes per result element while a layer runs: dequantized, reference and local-reference copies, accumulators
_TRANSIENT_PER_ELEMENT = 4 * 8
#: bytes per operand element while a layer runs beyond its kept copies: its float64 quantized-then-dequantized
#: view and the rounding temporaries (measured: 36 bytes per input element with the kept 24)
_TRANSIENT_PER_INPUT_ELEMENT = 12


def _sampled(shape: tuple[int, ...], lead: int | None, sample: int) -> int:
    """Elements of a tensor on the numerics sample: its token / batch axis (the first one as long as the sampled
    inputs' leading dimension; attention scores carry it after the heads) cut to ``sample``."""
    n = math.prod(shape)
    if lead and lead in shape:
        return n // lead * sample
    return n


def execute_memory_bytes(workload: Workload) -> tuple[int, str]:
    """(bytes at the peak, the layer at the peak) of a numerics run of ``workload``."""
    sampled = [t for t in workload.inputs if t.sampled]
    lead = sampled[0].shape[0] if sampled else None
    sample = workload.sample
    kept = sum(_sampled(t.shape, lead if t.sampled else None, sample) for t in workload.inputs) * _KEPT_PER_ELEMENT
    kept += sum(layer.weight_elements for layer in workload.layers) * _WEIGHT_KEPT_PER_ELEMENT
    peak, where = kept, workload.inputs[0].name if workload.inputs else ""
    for layer in workload.layers:
        out = _sampled(layer.out_shape, lead, sample)
        ins = sum(_sampled(s, lead, sample) for s in layer.in_shapes)
        kept += out * _KEPT_PER_ELEMENT
        transient = (ins * _TRANSIENT_PER_INPUT_ELEMENT + out * _TRANSIENT_PER_ELEMENT
                     + layer.weight_elements * _WEIGHT_PER_ELEMENT)
        transient += _im2col_bytes(layer)
        if kept + transient > peak:
            peak, where = kept + transient, layer.name
    return peak, where


def _im2col_bytes(layer: Layer) -> int:
    if layer.op != "conv2d":
        return 0
    _, _, ho, wo = layer.out_shape
    c = layer.in_shapes[0][1]
    patch = ho * wo * (c // layer.groups) * layer.kernel[0] * layer.kernel[1]
    # the codes' patches, their float32 copy for the exact BLAS path, and the float64 patches of the reference
    # and local-error convolutions
    return patch * (8 + 4 + 8 + 8)
