"""The measured cost of each legalization change on its layer.

For a layer with changes c1..cn, the operands are quantized (quantize -> dequantize, "fake quant")
first as the workload intended, then with c1 applied, then c1 and c2, ...; each state's layer output
(the layer's float op on the fake-quantized input and weight) is compared with the float output.
Change ci is recorded with the SQNR before it and after it, so the costs of a layer's changes add up
along the sequence. The inputs are the layer's float inputs on the numerics sample.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from accelsim.numerics.floatops import float_op
from accelsim.numerics.formats import FORMATS, format_values
from accelsim.numerics.metrics import error_metrics
from accelsim.quant.legalize import LegalizationChange, OperandPlan, QuantPlan
from accelsim.quant.quantizers import calibrate_range, dequantize_per_group, params_from_range, quantize_per_group
from accelsim.workload.layers import Layer


def fake_quant_activation(x: np.ndarray, plan: OperandPlan) -> np.ndarray:
    if plan.type_name in FORMATS:  # a float / block format: its values (blocks along the last axis, K)
        return format_values(x, plan.type_name, axis=-1).astype(np.float64)
    lo, hi = calibrate_range(x, plan.calibration, percentile=plan.percentile, type_name=plan.type_name,
                             symmetric=plan.symmetric)
    p = params_from_range(lo, hi, plan.type_name, plan.symmetric, power_of_two=plan.power_of_two, tensor=x,
                          narrow=plan.narrow)
    return p.dequantize(p.quantize(x))


def fake_quant_weight(w: np.ndarray, plan: OperandPlan, axis: int) -> np.ndarray:
    if plan.type_name in FORMATS:  # blocks along K (axis 0 of a linear's (K, N)), scales per tensor or channel
        return format_weight(w, plan, axis).astype(np.float64)
    calibration = "minmax" if plan.calibration == "entropy" else plan.calibration
    if plan.granularity == "per_group" and plan.group_size and w.ndim == 2 and w.shape[0] % plan.group_size == 0:
        q, s, z = quantize_per_group(w, plan.type_name, plan.symmetric, plan.group_size, calibration=calibration,
                                     percentile=plan.percentile, power_of_two=plan.power_of_two, narrow=plan.narrow)
        return dequantize_per_group(q, s, z)
    ch = axis if plan.granularity in ("per_channel", "per_group") else None
    lo, hi = calibrate_range(w, calibration, axis=ch, percentile=plan.percentile, type_name=plan.type_name,
                             symmetric=plan.symmetric)
    p = params_from_range(lo, hi, plan.type_name, plan.symmetric, axis=ch, power_of_two=plan.power_of_two,
                          tensor=w, narrow=plan.narrow)
    return p.dequantize(p.quantize(w))


def format_weight(w: np.ndarray, plan: OperandPlan, axis: int) -> np.ndarray:
    """A weight's values in a format: a linear's (K, N) blocks along K; an OIHW conv's along its flattened input
    channels and kernel; element-format scales per output channel (``axis``) or per tensor."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 4:
        flat = w.reshape(w.shape[0], -1)
        return format_values(flat, plan.type_name, axis=1,
                             channel_axis=0 if plan.granularity == "per_channel" else None).reshape(w.shape)
    return format_values(w, plan.type_name, axis=0, channel_axis=axis if plan.granularity == "per_channel" else None)


def layer_sqnr(layer: Layer, inputs: list[np.ndarray], weight, bias, plan: QuantPlan,
               reference: np.ndarray, cache: dict | None = None) -> float:
    """SQNR (dB) of the layer output with its operands quantized per ``plan``.

    ``cache`` memoizes fake-quantized operands by plan, so a sequence of changes quantizes each
    distinct operand state once (weights of LLM layers are large)."""
    cache = {} if cache is None else cache
    akey = ("a", plan.activations)
    if akey not in cache:
        cache[akey] = [fake_quant_activation(x, plan.activations) for x in inputs]
    w = None
    if weight is not None:
        wkey = ("w", plan.weights)
        if wkey not in cache:
            cache[wkey] = fake_quant_weight(np.asarray(weight, dtype=np.float64), plan.weights,
                                            1 if layer.op == "linear" else 0)
        w = cache[wkey]
    return float(error_metrics(float_op(layer, cache[akey], w, bias), reference)["sqnr_db"])


def measure_changes(layer: Layer, inputs: list[np.ndarray], weight, bias, plan: QuantPlan) -> list[LegalizationChange]:
    """``plan.changes`` with sqnr_before_db / sqnr_after_db filled in, measured one after another."""
    if not plan.changes or plan.intent is None:
        return list(plan.changes)
    reference = float_op(layer, inputs, weight, bias)
    cache: dict = {}
    state = plan.intent
    before = layer_sqnr(layer, inputs, weight, bias, state, reference, cache)
    measured = []
    for change in plan.changes:
        state = change.apply(state)
        after = layer_sqnr(layer, inputs, weight, bias, state, reference, cache)
        measured.append(replace(change, sqnr_before_db=round(before, 3), sqnr_after_db=round(after, 3)))
        before = after
    return measured
