"""One layer's bit-accurate numerics, as the graph executor's integer nodes call it (accelsim.graph).

- :func:`mac_layer`: linear / conv2d on quantized input codes with float weights quantized by the plan
  (per tensor, per channel, per group), the contract's accumulator, K-chunking and requantization;
- :func:`matmul_layer`: a matmul of two activations (attention), the B operand requantized to meet the weight
  contract if it does not;
- :func:`activation_params` / :func:`weight_params`: calibration of an operand under its plan;
- :class:`LayerNumerics`: what one layer's numerics report (events, errors, legalization costs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.errors import InputError
from accelsim.numerics.accumulate import AccumulationEvents
from accelsim.numerics.api import bias_bits, qconv2d, qlinear, qlinear_grouped
from accelsim.numerics.floatops import merge_heads, split_heads
from accelsim.quant.legalize import LegalizationChange, OperandPlan
from accelsim.quant.quantizers import QuantParams, calibrate_range, params_from_range, quantize_per_group
from accelsim.workload.layers import Layer


@dataclass
class LayerNumerics:
    """Bit-accurate outcome of one layer on the numerics sample."""

    layer: str
    overflow_events: int = 0
    saturation_events: int = 0
    events: np.ndarray | None = None  # [output channel, K-chunk]
    fast_path: bool = True
    sqnr_db: float = float("inf")
    sqnr_local_db: float = float("inf")
    max_abs_error: float = 0.0
    mean_error: float = 0.0
    cosine: float = 1.0
    ran_in_float: bool = False
    notes: list[str] = field(default_factory=list)
    changes: list[LegalizationChange] = field(default_factory=list)  # legalization, with measured cost


@dataclass
class QTensor:
    q: np.ndarray
    params: QuantParams

    def real(self) -> np.ndarray:
        return self.params.dequantize(self.q)


def activation_params(t: np.ndarray, plan: OperandPlan) -> QuantParams:
    lo, hi = calibrate_range(t, plan.calibration, percentile=plan.percentile, type_name=plan.type_name,
                             symmetric=plan.symmetric)
    return params_from_range(lo, hi, plan.type_name, plan.symmetric, power_of_two=plan.power_of_two, tensor=t,
                             narrow=plan.narrow)


def weight_params(w: np.ndarray, plan: OperandPlan, axis: int) -> QuantParams:
    ch_axis = axis if plan.granularity == "per_channel" else None
    lo, hi = calibrate_range(w, plan.calibration, axis=ch_axis, percentile=plan.percentile,
                             type_name=plan.type_name, symmetric=plan.symmetric)
    return params_from_range(lo, hi, plan.type_name, plan.symmetric, axis=ch_axis,
                             power_of_two=plan.power_of_two, tensor=w, narrow=plan.narrow)


def _scalar(p: QuantParams) -> tuple[float, int]:
    return float(p.scale.reshape(-1)[0]), int(p.zero_point.reshape(-1)[0])


def quantize_bias(bias, scale, bits: int, layer: str) -> tuple[np.ndarray | None, list[str]]:
    """(integer bias at ``bits`` wide, notes): round(bias / scale) with scale = x_scale * w_scale (per channel),
    clamped to the contract's bias width; a clamped value is a silent error on hardware, so it is reported."""
    if bias is None:
        return None, []
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    q = np.rint(np.asarray(bias, dtype=np.float64) / np.asarray(scale, dtype=np.float64))
    clipped = int(np.count_nonzero((q < lo) | (q > hi)))
    notes = [f"{layer}: {clipped} bias value(s) exceed the contract's int{bits} bias at scale x_scale * w_scale "
             f"and were clamped"] if clipped else []
    return np.clip(q, lo, hi).astype(np.int64), notes


def _events_sum(acc: AccumulationEvents | None, new: AccumulationEvents) -> AccumulationEvents:
    if acc is None:
        return new
    acc += new
    return acc


def grouped_weight_params(w: np.ndarray, plan: OperandPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group quantization of a linear weight (K, N): (w_q, scale (K/G, N), zero_point (K/G, N))."""
    return quantize_per_group(w, plan.type_name, plan.symmetric, plan.group_size, calibration=plan.calibration,
                              percentile=plan.percentile, power_of_two=plan.power_of_two, narrow=plan.narrow)


def mac_layer(layer: Layer, x: QTensor, weight, bias, plan, out_params: QuantParams, profile):
    x_scale, x_zp = _scalar(x.params)
    y_scale, y_zp = _scalar(out_params)
    if plan.weights.granularity == "per_group":
        if layer.op != "linear":
            raise InputError(f"layer '{layer.name}': per_group weights are modelled for linear layers only",
                             field="quant.weights.granularity")
        w_q, w_scale, w_zp = grouped_weight_params(weight, plan.weights)
        lead = x.q.shape[:-1]
        y, stats = qlinear_grouped(x.q.reshape(-1, x.q.shape[-1]), w_q, bias, x_scale=x_scale, x_zero_point=x_zp,
                                   w_scale=w_scale, w_zero_point=w_zp, group_size=plan.weights.group_size,
                                   y_scale=y_scale, y_zero_point=y_zp, hw=profile, x_type=x.params.type_name,
                                   w_type=plan.weights.type_name, y_type=out_params.type_name,
                                   activation=layer.activation)
        return y.reshape(*lead, -1), stats
    axis = 1 if layer.op == "linear" else 0
    wp = weight_params(weight, plan.weights, axis)
    w_q = wp.quantize(weight)
    w_scale = wp.scale.reshape(-1) if wp.per_channel else float(wp.scale)
    w_zp = wp.zero_point.reshape(-1) if wp.per_channel else int(wp.zero_point)
    common = dict(x_scale=x_scale, x_zero_point=x_zp, w_scale=w_scale, w_zero_point=w_zp, y_scale=y_scale,
                  y_zero_point=y_zp, hw=profile, activation=layer.activation, x_type=x.params.type_name,
                  w_type=wp.type_name, y_type=out_params.type_name)
    bias_q, notes = quantize_bias(bias, x_scale * wp.scale.reshape(-1), bias_bits(profile), layer.name)
    if layer.op == "linear":
        lead = x.q.shape[:-1]
        y, stats = qlinear(x.q.reshape(-1, x.q.shape[-1]), w_q, bias_q, **common)
        stats.notes.extend(notes)
        return y.reshape(*lead, -1), stats
    y, stats = qconv2d(x.q, w_q, bias_q, strides=layer.stride, pads=layer.padding, dilations=layer.dilation,
                       group=layer.groups, **common)
    stats.notes.extend(notes)
    return y, stats


def matmul_layer(layer: Layer, a: QTensor, b: QTensor, profile, b_plan: OperandPlan, out_params: QuantParams):
    """(output codes, events, fast path, notes) of a matmul of two activation codes under ``profile``."""
    notes: list[str] = []
    # the B operand sits where weights sit in the array: it must meet the weight contract
    b_ok = (b.params.type_name in profile.weight_types and
            (profile.weight_zero_point == "asymmetric" or int(b.params.zero_point.reshape(-1)[0]) == 0))
    if not b_ok:
        real = b.real()
        p = activation_params(real, OperandPlan(type_name=b_plan.type_name, symmetric=True,
                                                granularity="per_tensor", calibration="minmax", percentile=100.0,
                                                power_of_two=b_plan.power_of_two))
        notes.append(f"{layer.name}: B operand requantized to symmetric {p.type_name} to meet the weight contract")
        b = QTensor(p.quantize(real), p)
    a_ok = a.params.type_name in profile.activation_types
    if not a_ok:
        raise InputError(f"layer '{layer.name}': operand type {a.params.type_name} is not supported by "
                         f"profile '{profile.name}'")
    a3, b3 = split_heads(layer, a.q, b.q)
    a3 = a3.reshape(-1, *a3.shape[-2:])
    b3 = b3.reshape(-1, *b3.shape[-2:])
    x_scale, x_zp = _scalar(a.params)
    w_scale, w_zp = _scalar(b.params)
    y_scale, y_zp = _scalar(out_params)
    outs = []
    events = None
    fast = True
    for h in range(a3.shape[0]):
        y, stats = qlinear(np.ascontiguousarray(a3[h]), np.ascontiguousarray(b3[h]), None, x_scale=x_scale,
                           x_zero_point=x_zp, w_scale=w_scale, w_zero_point=w_zp, y_scale=y_scale,
                           y_zero_point=y_zp, hw=profile, x_type=a.params.type_name, w_type=b.params.type_name,
                           y_type=out_params.type_name, op="matmul")
        outs.append(y)
        events = _events_sum(events, stats.events)
        fast &= stats.fast_path
    shape = split_heads(layer, a.q, b.q)
    y = np.stack(outs).reshape(*shape[0].shape[:-1], shape[1].shape[-1])
    return merge_heads(layer, y), events, fast, notes
