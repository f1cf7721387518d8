"""SCALE-Sim-style configuration: build a profile and layers from SCALE-Sim's terms.

A SCALE-Sim run is (ArrayHeight, ArrayWidth, Dataflow os|ws|is, ifmap/filter/ofmap SRAM sizes in
KB) plus a topology row (GEMM M, N, K or a conv layer without padding). :func:`scalesim_profile_yaml`
writes the equivalent hardware-profile YAML — the comparison in tests/timing/test_scalesim.py is one
to one — and :func:`scalesim_layer` the equivalent layer.
"""

from __future__ import annotations

from accelsim.workload.layers import Layer, LayerQuant, QuantIntent

DATAFLOWS = {"os": "output_stationary", "ws": "weight_stationary", "is": "input_stationary"}


def scalesim_profile_yaml(rows: int, cols: int, dataflow: str, sram_kb: int = 65536,
                          bandwidth_words_per_cycle: float = 1000.0, clock_hz: float = 1e9) -> str:
    """Profile YAML of a SCALE-Sim configuration (int8 words; SRAMs summed into one on-chip level)."""
    return f"""\
name: scalesim-{rows}x{cols}-{dataflow}
clock_hz: {clock_hz}
array: {{rows: {rows}, cols: {cols}, dataflow: {DATAFLOWS[dataflow]}}}
operands: {{weights: [int8], activations: [int8]}}
accumulator: {{bits: 32, overflow: wrap}}
requant: {{scale: float32, rounding: half_even, granularity: [per_tensor, per_channel]}}
zero_point: {{weights: symmetric, activations: asymmetric}}
memory:
  - {{name: dram, bandwidth_Bps: {bandwidth_words_per_cycle * clock_hz}, energy_pj_per_byte: 100}}
  - {{name: sram, bytes: {3 * sram_kb * 1024}, bandwidth_Bps: {bandwidth_words_per_cycle * 4 * clock_hz}, energy_pj_per_byte: 1}}
"""


def scalesim_layer(kind: str, dims: tuple) -> Layer:
    """A GEMM (M, N, K) — SCALE-Sim's order — or a conv (ifmap h, w, filter h, w, channels, filters, stride)."""
    quant = LayerQuant(weights=QuantIntent(bits=8, symmetric=True, granularity="per_tensor"),
                       activations=QuantIntent(bits=8, symmetric=False, granularity="per_tensor"))
    if kind == "gemm":
        m, n, k = dims
        return Layer(name="l0", op="linear", inputs=("x",), in_shapes=((m, k),), out_shape=(m, n), quant=quant)
    h, w, fh, fw, c, f, s = dims
    # SCALE-Sim's output size is ceil((H - R + s) / s) (it rounds up where ONNX rounds down): the same
    # layer in ONNX terms pads the bottom / right by what makes the last window fit
    pad_h, pad_w = (-(h - fh)) % s, (-(w - fw)) % s
    ho, wo = -(-(h - fh + s) // s), -(-(w - fw + s) // s)
    assert (h + pad_h - fh) // s + 1 == ho and (w + pad_w - fw) // s + 1 == wo
    return Layer(name="l0", op="conv2d", inputs=("x",), in_shapes=((1, c, h, w),), out_shape=(1, f, ho, wo),
                 quant=quant, kernel=(fh, fw), stride=(s, s), padding=(0, 0, pad_h, pad_w))
