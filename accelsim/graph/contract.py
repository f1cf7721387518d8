"""Integer layers of a graph under a hardware contract: legalized parameters and executors.

For a QDQ layer the Q/DQ parameters are the intent; where the legalized plan changes an operand
(symmetry, granularity, power-of-two scales, type) the parameters are re-derived: activations from the
range the intent's codes span (power-of-two exponent chosen on calibration data), weights re-quantized
from their dequantized values. For a float model every parameter comes from calibration.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from accelsim.errors import InputError
from accelsim.graph.execute import _Pass
from accelsim.graph.view import IntLayer, QParams
from accelsim.inttypes import storage_dtype, type_range
from accelsim.numerics.api import bias_bits, qconv2d, qlinear, qlinear_grouped
from accelsim.numerics.execute import activation_params, grouped_weight_params, quantize_bias, weight_params
from accelsim.numerics.formats import format_operand
from accelsim.numerics.metrics import ErrorAccumulator
from accelsim.ops import dequantize_linear, quantize_linear
from accelsim.ops.nn import conv_pads
from accelsim.quant.legalize import QuantPlan
from accelsim.quant.quantizers import QuantParams, calibrate_range, params_from_range
from accelsim.quant.recipe import LayerRecipe


def type_of(zero_point: np.ndarray) -> str:
    return {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16",
            np.dtype(np.uint16): "uint16"}[np.asarray(zero_point).dtype]


def is_symmetric(p: QParams) -> bool:
    t = type_of(p.zero_point)
    mid = 0 if not t.startswith("u") else (type_range(t)[1] + 1) // 2
    return bool(np.all(np.asarray(p.zero_point).astype(np.int64) == mid))


def _qparams(p: QuantParams, keep_quantizer: bool = False) -> QParams:
    return QParams(scale=np.asarray(p.scale, dtype=np.float32),
                   zero_point=np.asarray(p.zero_point).astype(storage_dtype(p.type_name)), axis=p.axis,
                   quantizer=p if keep_quantizer else None)


def _quantize(x, p: QParams) -> np.ndarray:
    """Float values to codes: accelsim's quantizer where it calibrated the parameters, else QuantizeLinear."""
    if p.quantizer is not None:
        return p.quantizer.quantize(np.asarray(x, dtype=np.float64))
    return quantize_linear(x, p.scale, p.zero_point)


def _dequantize(q, p: QParams) -> np.ndarray:
    if p.quantizer is not None:
        return p.quantizer.dequantize(q)
    return dequantize_linear(q, p.scale, p.zero_point)


def _scale(p: QParams) -> float:
    return float(np.asarray(p.quantizer.scale if p.quantizer is not None else p.scale).reshape(-1)[0])


def _real_range(p: QParams) -> tuple[float, float]:
    lo, hi = type_range(type_of(p.zero_point))
    s, z = float(p.scale.reshape(-1)[0]), int(np.asarray(p.zero_point).reshape(-1)[0])
    return (lo - z) * s, (hi - z) * s


@dataclass
class LayerRun:
    """What one integer layer did over the evaluation records."""

    events: np.ndarray | None = None
    local: ErrorAccumulator = field(default_factory=ErrorAccumulator)  # y dequantized vs float op on the same input
    notes: list = field(default_factory=list)
    overflow_events: int = 0
    saturation_events: int = 0
    track: bool = True    # measure the layer's own error (off when only the end-to-end metric is wanted)


def dynamic_quantize(x2: np.ndarray, p: QParams, type_name: str) -> np.ndarray:
    """Codes of ``x2`` (rows, K) with run-time params ``p`` (one scale / zero point, or one per row), in float32:
    saturate(round_half_even(x / scale) + zero_point) (ONNX DynamicQuantizeLinear)."""
    lo, hi = type_range(type_name)
    scale = np.asarray(p.scale, dtype=np.float32).reshape(-1, 1)
    zp = np.asarray(p.zero_point).astype(np.float32).reshape(-1, 1)
    q = np.rint(np.asarray(x2, dtype=np.float32) / scale) + zp
    return np.clip(q, lo, hi).astype(storage_dtype(type_name))


def _grid_of(w_scale, w_zp, k: int, group_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A weight's scales and zero points broadcast to one row per input (K, N) or (1, N)."""
    scale = np.asarray(w_scale, dtype=np.float64)
    zp = np.asarray(w_zp, dtype=np.float64)
    if group_size:  # (K / G, N) -> (K, N)
        return np.repeat(scale, group_size, axis=0), np.repeat(zp, group_size, axis=0)
    return scale.reshape(1, -1), zp.reshape(1, -1)


def _weight_grid(w: np.ndarray, plan: QuantPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round-to-nearest codes of a linear weight (K, N) under ``plan`` with their scales and zero points broadcast
    to (K, N) or (1, N)."""
    if plan.weights.granularity == "per_group":
        codes, scale, zp = grouped_weight_params(w, plan.weights)
        scale, zp = _grid_of(scale, zp, w.shape[0], plan.weights.group_size)
        return codes.astype(np.float64), scale, zp
    wp = weight_params(w, plan.weights, 1)
    scale, zp = _grid_of(wp.scale.reshape(-1), wp.zero_point.reshape(-1), w.shape[0], None)
    return wp.quantize(w).astype(np.float64), scale, zp


class ContractLayer:
    """One integer layer's effective parameters under a plan, and its executor."""

    def __init__(self, L: IntLayer, plan: QuantPlan, profile, calib: dict, qdq: bool,
                 requantize_weights: bool = False, folded_relu=(), folded_top=None, recipe: LayerRecipe | None = None,
                 smooth: np.ndarray | None = None):
        self.L, self.plan, self.profile = L, plan, profile
        self.folded_relu = folded_relu  # tensors whose Relu quantize_static folded into the next Q (OnnxGraph)
        self.folded_top = folded_top or {}  # their Q ranges' tops (GraphView.folded_range_max)
        self.run = LayerRun()
        self.grouped = False  # per-group weights (e.g. int4, one scale per group of K): the grouped kernel
        self.recipe = recipe = recipe or LayerRecipe()
        if qdq and not dataclasses.replace(recipe, output="integer").naive:
            raise InputError(f"layer '{L.name}': a QDQ model's Q/DQ are its recipe: it takes float_output and "
                             f"remove_qdq steps only", field="quant.recipe")
        changed = {c.operand for c in plan.changes}
        act = plan.activations
        # a recipe's per-input-channel migration (SmoothQuant, AWQ): x / s into the quantizer, s into the weight rows
        # SmoothQuant / AWQ: the s shared by the layers reading the same tensor (accelsim.graph.smoothing), else
        # this layer's own
        self.smooth = smooth if smooth is not None else (self._smoothing(L, plan, calib) if L.kind == "linear"
                                                         else None)
        weight = L.weight if self.smooth is None else np.asarray(L.weight, dtype=np.float64) * self.smooth[:, None]
        self.weight = weight

        def activation(intent: QParams | None, tensor: str | None) -> QParams:
            sample = calib.get(tensor)
            if sample is not None and tensor == L.x_float and self.smooth is not None:
                sample = np.asarray(sample, dtype=np.float64) / self.smooth
            if qdq and intent is not None and "activations" not in changed:
                return intent
            if qdq and intent is not None:
                lo, hi = _real_range(intent)
                return _qparams(params_from_range(lo, hi, act.type_name, act.symmetric,
                                                  power_of_two=act.power_of_two, tensor=sample, narrow=act.narrow))
            return _qparams(activation_params(sample, act), keep_quantizer=True)

        self.x_p = activation(L.x_q, L.x_float)
        self.y_p = activation(L.y_q, L.y_float)
        self.b_p = activation(L.b_q, L.b_float) if L.kind == "matmul" else None
        if L.kind != "matmul":
            if qdq and "weights" not in changed and not requantize_weights:
                self.w_int = L.w_int
                self.w_scale = L.b_q.scale.reshape(-1) if L.b_q.per_channel else float(L.b_q.scale.reshape(-1)[0])
                self.w_zp = (np.asarray(L.b_q.zero_point).reshape(-1) if L.b_q.per_channel
                             else np.asarray(L.b_q.zero_point).reshape(-1)[0])
                self.w_type = type_of(L.b_q.zero_point)
            elif plan.weights.granularity == "per_group":
                if L.kind != "linear":
                    raise InputError(f"layer '{L.name}': per_group weights are modelled for linear layers only",
                                     field="quant.weights.granularity")
                # (K, N) codes with (K/G, N) scales and zero points: the grouped kernel (accelsim.numerics)
                self.w_int, self.w_scale, self.w_zp = grouped_weight_params(np.asarray(weight, dtype=np.float64),
                                                                            plan.weights)
                self.w_type = plan.weights.type_name
                self.grouped = True
            else:
                axis = 1 if L.kind == "linear" else 0
                wp = weight_params(np.asarray(weight, dtype=np.float64), plan.weights, axis)
                self.w_int = wp.quantize(weight)
                self.w_scale = wp.scale.reshape(-1) if wp.per_channel else float(wp.scale)
                zp = wp.zero_point.reshape(-1) if wp.per_channel else wp.zero_point.reshape(-1)[0]
                self.w_zp = np.asarray(zp).astype(storage_dtype(wp.type_name))
                self.w_type = wp.type_name
            x_sample = calib.get(L.x_float)
            if x_sample is not None and self.smooth is not None:
                x_sample = np.asarray(x_sample, dtype=np.float64) / self.smooth
            if recipe.rounding == "gptq" and L.kind == "linear" and x_sample is not None:
                self.w_int = self._gptq(weight, x_sample, recipe.gptq_damp)
            bias = L.bias
            if recipe.bias_correction and L.kind == "linear" and x_sample is not None:
                bias = self._corrected_bias(weight, x_sample)
            ws = np.asarray(self.w_scale, dtype=np.float64)
            if self.grouped or self.float_output:  # a float epilogue adds the float bias after the scaling
                self.bias_q = None if bias is None else np.asarray(bias, dtype=np.float64)
            elif L.bias_int is not None and qdq and not changed:
                self.bias_q = L.bias_int
            elif bias is not None:
                self.bias_q, self.run.notes = quantize_bias(bias, _scale(self.x_p) * ws, bias_bits(profile), L.name)
            else:
                self.bias_q = None
        self.qdq = qdq

    @property
    def float_output(self) -> bool:
        return self.plan.output == "float"

    @property
    def dynamic(self) -> str | None:
        """per_tensor | per_token when the activation scales are taken at run time, else None."""
        act = self.plan.activations
        return (act.granularity if act.granularity == "per_token" else "per_tensor") if act.dynamic else None

    def _smoothing(self, L: IntLayer, plan: QuantPlan, calib: dict) -> np.ndarray | None:
        from accelsim.graph.smoothing import scales_for

        x = calib.get(L.x_float)
        return None if x is None else scales_for(x, [L.weight], [plan], self.recipe)

    @staticmethod
    def _dequantized(w: np.ndarray, plan: QuantPlan) -> np.ndarray:
        """The layer's weight quantizer applied to ``w`` (K, N): the values its codes stand for."""
        codes, scale, zp = _weight_grid(w, plan)
        return (codes - zp) * scale

    def _gptq(self, weight: np.ndarray, x_sample: np.ndarray, damp: float) -> np.ndarray:
        """GPTQ codes on the same quantization grid (scales and zero points) as round-to-nearest's."""
        from accelsim.inttypes import type_range
        from accelsim.quant.gptq import auto_damp, gptq_codes, hessian

        k = weight.shape[0]
        scale, zp = _grid_of(self.w_scale, self.w_zp, k, self.plan.weights.group_size if self.grouped else None)
        lo, hi = type_range(self.w_type)
        if self.plan.weights.narrow and not self.w_type.startswith("u"):
            lo += 1
        rows = int(np.asarray(x_sample).size // k)
        codes = gptq_codes(weight, hessian(x_sample, k), scale, zp, lo, hi,
                           damp=auto_damp(k, rows) if damp is None else damp)
        return codes.astype(np.asarray(self.w_int).dtype)

    def _corrected_bias(self, weight: np.ndarray, x_sample: np.ndarray) -> np.ndarray:
        """The bias minus the weight rounding's expected output shift over the calibration inputs."""
        from accelsim.graph.smoothing import corrected_bias

        k = weight.shape[0]
        scale, zp = _grid_of(self.w_scale, self.w_zp, k, self.plan.weights.group_size if self.grouped else None)
        w_q = (np.asarray(self.w_int, dtype=np.float64) - zp) * scale
        return corrected_bias(self.L.bias, weight, w_q, x_sample)

    # -- execution --------------------------------------------------------------------------------
    def _input(self, env, int_name, float_name, intent: QParams | None, eff: QParams) -> np.ndarray:
        if self.qdq and int_name is not None:
            q = env[int_name]
            if isinstance(q, _Pass):  # the glue's Q/DQ are stripped: quantize the float value here
                return _quantize(q.value, eff)
            # integers an upstream integer layer wrote with its legalized parameters
            intent = env.get("::params", {}).get(int_name, intent)
            if intent is eff or (np.array_equal(intent.scale, eff.scale)
                                 and np.array_equal(np.asarray(intent.zero_point).astype(np.int64),
                                                    np.asarray(eff.zero_point).astype(np.int64))
                                 and np.asarray(intent.zero_point).dtype == np.asarray(eff.zero_point).dtype):
                return q
            return quantize_linear(dequantize_linear(q, intent.scale, intent.zero_point), eff.scale, eff.zero_point)
        return _quantize(env[float_name], eff)

    def _common(self, eff_x: QParams, w_scale, w_zp, w_type: str) -> dict:
        return dict(x_scale=_scale(eff_x), x_zero_point=np.asarray(eff_x.zero_point).reshape(-1)[0],
                    w_scale=w_scale, w_zero_point=w_zp, y_scale=_scale(self.y_p),
                    y_zero_point=np.asarray(self.y_p.zero_point).reshape(-1)[0], hw=self.profile,
                    x_type=type_of(eff_x.zero_point), w_type=w_type, y_type=type_of(self.y_p.zero_point),
                    # a Relu quantize_static folded into the output Q's range (zero point at the type's minimum):
                    # the codes stay >= the zero point when legalization moves the range (symmetric int8 covers
                    # negatives the folded Relu removed); a no-op on the model's own parameters
                    activation="relu" if self.L.y_float in self.folded_relu else None)

    def _add_events(self, stats) -> None:
        """The call's events: by (channel, K-chunk), and the overflow / saturation split as the kernel counted it
        (a 16-bit pair clamp on an int32-wrapping contract is a saturation, not an overflow)."""
        self.run.overflow_events += stats.overflow_events
        self.run.saturation_events += stats.saturation_events
        grid = stats.events.by_channel_chunk
        ev = self.run.events
        if ev is None or ev.shape != grid.shape:
            self.run.events = grid.copy() if ev is None else ev
        else:
            self.run.events = ev + grid

    def _dynamic_params(self, x2: np.ndarray) -> QParams:
        """Run-time activation parameters of ``x2`` (rows, K): its own range per tensor, or per row (per token), in
        the plan's type and symmetry (ONNX Runtime's DynamicQuantizeLinear: the range widened to include 0,
        scale = (max - min) / 255, zero point rounded half to even; symmetric: amax / qmax)."""
        act = self.plan.activations
        lo_t, hi_t = type_range(act.type_name)
        rows = (x2 if self.dynamic == "per_token" else x2.reshape(1, -1)).astype(np.float32)
        # in float32, as the run-time quantizer computes (ONNX DynamicQuantizeLinear)
        lo = np.minimum(rows.min(axis=1, initial=0.0), np.float32(0.0))
        hi = np.maximum(rows.max(axis=1, initial=0.0), np.float32(0.0))
        if act.symmetric:
            qmax = hi_t if not act.type_name.startswith("u") else (hi_t - lo_t) // 2
            scale = np.maximum(np.maximum(-lo, hi), np.float32(1e-30)) / np.float32(qmax)
            mid = 0 if not act.type_name.startswith("u") else (hi_t + 1) // 2
            zp = np.full(scale.shape, mid)
        else:
            scale = np.maximum(hi - lo, np.float32(1e-30)) / np.float32(hi_t - lo_t)
            zp = np.rint(np.clip(np.float32(lo_t) - lo / scale, lo_t, hi_t))
        return QParams(scale=scale.astype(np.float32), zero_point=zp.astype(storage_dtype(act.type_name)))

    def _linear_recipe(self, env: dict):
        """A float graph's linear layer under its recipe: x / s (smoothing) in the quantizer, static or run-time
        scales, integer or float epilogue. Returns (y, x codes, x params) with y integers or float32."""
        L = self.L
        xf = np.asarray(env[L.x_float], dtype=np.float64)
        if self.smooth is not None:
            xf = xf / self.smooth
        lead, k = xf.shape[:-1], xf.shape[-1]
        x2 = xf.reshape(-1, k)
        if self.dynamic:
            p = self._dynamic_params(x2)
            x = dynamic_quantize(x2, p, self.plan.activations.type_name)
        else:
            p = self.x_p
            x = _quantize(x2, p)
        common = self._common(self.x_p, self.w_scale, self.w_zp, self.w_type)
        if self.grouped:
            if self.dynamic == "per_token":
                raise InputError(f"layer '{L.name}': per-token activation scales with per-group weights are not "
                                 f"modelled", field="quant.recipe")
            kw = dict(common, x_scale=float(p.scale.reshape(-1)[0]),
                      x_zero_point=np.asarray(p.zero_point).reshape(-1)[0])
            if self.float_output:
                for key in ("y_scale", "y_zero_point", "y_type", "activation"):
                    kw.pop(key)
            y, stats = qlinear_grouped(x, self.w_int, self.bias_q, group_size=self.plan.weights.group_size,
                                       float_output=self.float_output, **kw)
        elif self.float_output:
            from accelsim.numerics.api import qlinear_float_output

            y, stats = qlinear_float_output(x, self.w_int, self.bias_q, x_scale=p.scale.reshape(-1)
                                            if p.scale.size > 1 else _scale(p),
                                            x_zero_point=np.asarray(p.zero_point).reshape(-1), w_scale=self.w_scale,
                                            w_zero_point=self.w_zp, hw=self.profile, x_type=common["x_type"],
                                            w_type=self.w_type)
        else:
            y, stats = qlinear(x, self.w_int, self.bias_q, **common)
        self._add_events(stats)
        if p.scale.size > 1:
            x_deq = (x.astype(np.float64) - np.asarray(p.zero_point, dtype=np.float64).reshape(-1, 1)) * \
                p.scale.astype(np.float64).reshape(-1, 1)
        else:
            x_deq = _dequantize(x, p).astype(np.float64)
        return y.reshape(*lead, -1), x_deq.reshape(*lead, k)

    def __call__(self, env: dict) -> None:
        L = self.L
        if L.kind == "linear" and not self.qdq and (self.smooth is not None or self.dynamic or self.float_output):
            y, x_deq = self._linear_recipe(env)
            y_deq = y.astype(np.float32) if self.float_output else _dequantize(y, self.y_p)
            if self.run.track:
                ref = x_deq @ np.asarray(self.weight, dtype=np.float64) + (0 if L.bias is None else L.bias)
                self.run.local.add(y_deq, ref)
            env[L.y_float] = y_deq
            env[f"{L.y_float}::accelsim"] = y_deq
            return
        x = self._input(env, L.x_int, L.x_float, L.x_q, self.x_p)
        if L.kind == "linear" and self.qdq and self.float_output and not self.grouped:
            self._qdq_float_output(env, x)
            return
        if L.kind == "linear" and self.grouped:
            lead = x.shape[:-1]
            common = self._common(self.x_p, self.w_scale, self.w_zp, self.w_type)
            y, stats = qlinear_grouped(x.reshape(-1, x.shape[-1]), self.w_int, self.bias_q,
                                       group_size=self.plan.weights.group_size, **common)
            y = y.reshape(*lead, -1)
            self._add_events(stats)
        elif L.kind == "linear":
            lead = x.shape[:-1]
            y, stats = qlinear(x.reshape(-1, x.shape[-1]), self.w_int, self.bias_q,
                               **self._common(self.x_p, self.w_scale, self.w_zp, self.w_type))
            y = y.reshape(*lead, -1)
            self._add_events(stats)
        elif L.kind == "conv2d":
            a = L.conv_attrs
            y, stats = qconv2d(x, self.w_int, self.bias_q, strides=tuple(a.get("strides", (1, 1))),
                               pads=conv_pads(a, x.shape[2:], np.shape(self.w_int)[2:]),
                               dilations=tuple(a.get("dilations", (1, 1))),
                               group=int(a.get("group", 1)),
                               **self._common(self.x_p, self.w_scale, self.w_zp, self.w_type))
            self._add_events(stats)
        else:  # matmul of two activations, batched with broadcasting
            b = self._input(env, L.b_int, L.b_float, L.b_q, self.b_p)
            batch = np.broadcast_shapes(x.shape[:-2], b.shape[:-2])
            xb = np.broadcast_to(x, (*batch, *x.shape[-2:])).reshape(-1, *x.shape[-2:])
            bb = np.broadcast_to(b, (*batch, *b.shape[-2:])).reshape(-1, *b.shape[-2:])
            outs = []
            common = self._common(self.x_p, _scale(self.b_p),
                                  np.asarray(self.b_p.zero_point).reshape(-1)[0], type_of(self.b_p.zero_point))
            for i in range(xb.shape[0]):
                yi, stats = qlinear(np.ascontiguousarray(xb[i]), np.ascontiguousarray(bb[i]), None, op="matmul",
                                    **common)
                outs.append(yi)
                self._add_events(stats)
            y = np.stack(outs).reshape(*batch, x.shape[-2], b.shape[-1])
        y_deq = _dequantize(y, self.y_p)
        if self.run.track:
            self._local(x, b if L.kind == "matmul" else None, y_deq)
        if L.y_int is not None:  # a QDQ graph: downstream DequantizeLinear reads the integers
            env[L.y_int] = y
            env.setdefault("::params", {})[L.y_int] = self.y_p
        env[L.y_float] = y_deq
        env[f"{L.y_float}::accelsim"] = y_deq

    def _qdq_float_output(self, env: dict, x: np.ndarray) -> None:
        """A QDQ layer whose output QuantizeLinear a recipe removed: the model's integer operands, the float
        epilogue (MatMulIntegerToFloat: ONNX Runtime's fusion of DQ -> MatMul with no Q after it), and the float
        output passed through the DequantizeLinear that read the removed Q's integers."""
        from accelsim.graph.execute import _Pass
        from accelsim.numerics.api import qlinear_float_output

        L = self.L
        lead = x.shape[:-1]
        common = self._common(self.x_p, self.w_scale, self.w_zp, self.w_type)
        y, stats = qlinear_float_output(x.reshape(-1, x.shape[-1]), self.w_int,
                                        None if L.bias is None else np.asarray(L.bias, dtype=np.float32),
                                        x_scale=common["x_scale"], x_zero_point=common["x_zero_point"],
                                        w_scale=self.w_scale, w_zero_point=self.w_zp, hw=self.profile,
                                        x_type=common["x_type"], w_type=self.w_type)
        self._add_events(stats)
        y = y.reshape(*lead, -1)
        if self.run.track:
            x_deq = _dequantize(x, self.x_p).astype(np.float64)
            self.run.local.add(y, x_deq @ np.asarray(L.weight, dtype=np.float64) + (0 if L.bias is None else L.bias))
        env[L.y_float] = y
        env[f"{L.y_float}::accelsim"] = y
        if L.y_int is not None:
            env[L.y_int] = _Pass(y)

    def _local(self, x, b, y_deq) -> None:
        """The layer's own error: its output against the float op on the same (quantized) inputs."""
        L = self.L
        x_deq = _dequantize(x, self.x_p).astype(np.float64)
        if L.kind == "linear":
            ref = x_deq @ np.asarray(L.weight, dtype=np.float64) + (0 if L.bias is None else L.bias)
        elif L.kind == "matmul":
            ref = x_deq @ _dequantize(b, self.b_p).astype(np.float64)
        else:
            from accelsim.ops.nn import _conv

            a = L.conv_attrs
            ref = _conv(x_deq, np.asarray(L.weight, dtype=np.float64), None if L.bias is None else np.asarray(L.bias),
                        strides=tuple(a.get("strides", (1, 1))), pads=conv_pads(a, x_deq.shape[2:], L.weight.shape[2:]),
                        dilations=tuple(a.get("dilations", (1, 1))), group=int(a.get("group", 1)))
        if L.y_float in self.folded_relu:  # the layer includes the Relu / Clip quantize_static folded into its range
            ref = np.clip(ref, 0.0, self.folded_top.get(L.y_float, np.inf))
        self.run.local.add(y_deq, ref)


def _dequantized_weight(codes: np.ndarray, zp, scale, math_fmt: str) -> np.ndarray:
    """Integer weights under float math (weight-only quantization, W4A16 / W8A16): dequantized as the kernels do,
    in the MMA's operand format — (code - zero point) exact in fp16/bf16, times the scale stored in that format,
    the product rounded once to it (TensorRT-LLM's weight-only GEMMs and Marlin dequantize to fp16 / bf16 before
    the tensor-core MMA); float32 for other math."""
    from accelsim.numerics.formats import cast

    centered = np.asarray(codes, dtype=np.float64) - np.asarray(zp, dtype=np.float64)
    if math_fmt not in ("fp16", "bf16"):
        return (centered * scale).astype(np.float32)
    s = cast(np.asarray(scale, dtype=np.float32), math_fmt).astype(np.float64)
    return cast(centered * s, math_fmt)  # the product of two fp16 values is exact in float64: one rounding


def float_accumulator_for(profile, plan, promote_every: int | None = None):
    """The accumulator a layer's float math sums in: the contract's ``float_accumulator`` for fp8-and-narrower
    math (Hopper's ~14-bit FP8 accumulator, promotion), full fp32 for fp16 / bf16 / fp32 math. ``promote_every``:
    a recipe's software promotion (the ``promote`` step), used where it is more frequent than the contract's."""
    from accelsim.numerics.float_accumulate import FloatAccumulator
    from accelsim.operands import FORMATS, rate_class

    fmt = next((t for t in (plan.activations.type_name, plan.weights.type_name) if t in FORMATS), "fp32")
    name, promote, overflow = profile.float_accumulator
    if rate_class(fmt) in ("fp32", "fp16", "bf16"):
        name, promote = "fp32", None
    elif promote_every is not None and (promote is None or promote_every < promote):
        promote = promote_every
    return FloatAccumulator.named(name, saturate=overflow == "saturate", chunk=promote)


def float_conv2d(x: np.ndarray, wk: np.ndarray, scale, *, kernel, strides, pads, dilations, group: int,
                 gemm) -> np.ndarray:
    """A convolution on a float MAC unit: NCHW elements ``x`` against ``wk`` (K, O) with K ordered (kh, kw, c), the
    patches of each image and group through ``gemm`` (the contract's float accumulation), ``scale`` (scalar or per
    output channel) applied after; (N, O, Ho, Wo) float64."""
    from accelsim.numerics.api import conv_patches

    o = wk.shape[1]
    og, cg = o // group, x.shape[1] // group
    ho = (x.shape[2] + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(1, -1), (1, o))
    images = []
    for img in range(x.shape[0]):
        cols = [gemm(conv_patches(x[img, g * cg:(g + 1) * cg], kernel, strides, pads, dilations),
                     np.ascontiguousarray(wk[:, g * og:(g + 1) * og])) for g in range(group)]
        images.append((np.concatenate(cols, axis=1) * scale).T.reshape(o, ho, -1))
    return np.stack(images)


def _format_values(w: np.ndarray, plan: QuantPlan) -> np.ndarray:
    """The values a linear weight (K, N) takes in its plan's format (per-channel scale if the plan says so)."""
    q, scale = format_operand(np.asarray(w, dtype=np.float32), plan.weights.type_name, axis=0,
                              channel_axis=1 if plan.weights.granularity == "per_channel" else None)
    return np.asarray(q, dtype=np.float64) * np.asarray(scale, dtype=np.float64)


class FloatContractLayer:
    """One integer-layer node run in a float or block format (its plan names one): operands in the format
    (:func:`format_operand`: element formats scaled per tensor from the calibration range, weights per output
    channel when the plan says so, block formats with their own block scales along K), exact products summed by
    the contract's float accumulator in K order with its promotion (accelsim.numerics.float_accumulate) — for fp8
    and narrower math; fp16/bf16 math accumulates in full fp32 — the scales and the fp32 bias applied after.
    Output in fp32 (the epilogue's output format is not modelled)."""

    def __init__(self, L: IntLayer, plan: QuantPlan, profile, calib: dict, recipe: LayerRecipe | None = None,
                 smooth: np.ndarray | None = None):
        from accelsim.operands import BLOCK_FORMATS, FORMATS

        self.L, self.plan, self.profile = L, plan, profile
        self.run = LayerRun()
        self.recipe = recipe = recipe or LayerRecipe()
        # SmoothQuant / AWQ: x / s before the format cast, s into the weight rows (linear layers)
        self.smooth = smooth
        if smooth is None and L.kind == "linear" and L.x_float in calib:  # the layer alone (no shared s given)
            from accelsim.graph.smoothing import scales_for

            self.smooth = scales_for(calib[L.x_float], [L.weight], [plan], recipe)
        weight = L.weight if self.smooth is None else np.asarray(L.weight, dtype=np.float64) * self.smooth[:, None]
        self.weight = weight
        self.x_fmt = plan.activations.type_name if plan.activations.type_name in FORMATS else "fp32"
        self.acc = float_accumulator_for(profile, plan, recipe.promote_every)
        if recipe.promote_every is not None and self.acc.chunk == recipe.promote_every:
            self.run.notes.append(f"partial sums promoted to fp32 every {recipe.promote_every} K elements in "
                                  f"software (recipe step promote, as DeepGEMM): numerics only, its time is not "
                                  f"modelled")
        # per-token dynamic scales (an element format's activations): one amax per row, applied after the GEMM
        self.per_token = (plan.activations.dynamic and plan.activations.granularity == "per_token"
                          and self.x_fmt not in ("fp32", "fp16", "bf16") and self.x_fmt not in BLOCK_FORMATS
                          and L.kind == "linear")

        def amax(tensor):
            sample = calib.get(tensor)
            if sample is not None and tensor == L.x_float and self.smooth is not None:
                sample = np.asarray(sample, dtype=np.float64) / self.smooth
            if sample is None or not np.asarray(sample).size:
                return None
            lo, hi = calibrate_range(np.asarray(sample, dtype=np.float64), plan.activations.calibration,
                                     percentile=plan.activations.percentile, type_name="int8", symmetric=True)
            return max(abs(lo), abs(hi))

        # dynamic scaling: each tensor's own range as it runs (format_operand with amax None), else calibrated
        self.x_amax = None if plan.activations.dynamic else amax(L.x_float)
        self.b_amax = None if plan.activations.dynamic or L.kind != "matmul" else amax(L.b_float)
        self.w = self.w_scale = None
        if L.kind != "matmul":
            w = np.asarray(weight, dtype=np.float32)
            if L.kind == "conv2d":  # (K, O) with K ordered (kh, kw, c), as the patches
                o, cg, kh, kw = w.shape
                w = w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o)
            per_channel = plan.weights.granularity == "per_channel"
            x_sample = calib.get(L.x_float)
            if x_sample is not None and self.smooth is not None:
                x_sample = np.asarray(x_sample, dtype=np.float64) / self.smooth
            if plan.weights.type_name in FORMATS:
                self.w, self.w_scale = format_operand(w, plan.weights.type_name, axis=0,
                                                      channel_axis=1 if per_channel else None)
                if recipe.rounding == "gptq" and L.kind == "linear" and x_sample is not None:
                    self.w = self._gptq_format(w, x_sample, plan, per_channel, recipe.gptq_damp)
            else:  # integer weights under float math (weight-only quantization, e.g. W4A16): dequantized
                codes, scale, zp = _weight_grid(w.astype(np.float64), plan)
                if recipe.rounding == "gptq" and L.kind == "linear" and x_sample is not None:
                    from accelsim.quant.gptq import auto_damp, gptq_codes, hessian

                    lo, hi = type_range(plan.weights.type_name)
                    if plan.weights.narrow and not plan.weights.type_name.startswith("u"):
                        lo += 1
                    k = w.shape[0]
                    damp = recipe.gptq_damp if recipe.gptq_damp is not None else auto_damp(
                        k, int(np.asarray(x_sample).size // k))
                    codes = gptq_codes(w.astype(np.float64), hessian(x_sample, k), scale, zp, lo, hi, damp=damp)
                self.w, self.w_scale = _dequantized_weight(codes, zp, scale, self.x_fmt), np.float32(1.0)
        self.bias = None if L.bias is None else np.asarray(L.bias, dtype=np.float32)
        if recipe.bias_correction and L.kind == "linear" and x_sample is not None:  # on the float epilogue's bias
            from accelsim.graph.smoothing import corrected_bias

            w_q = np.asarray(self.w, dtype=np.float64) * np.asarray(self.w_scale, dtype=np.float64)
            self.bias = corrected_bias(L.bias, weight, w_q, x_sample).astype(np.float32)

    @staticmethod
    def _gptq_format(w: np.ndarray, x_sample: np.ndarray, plan, per_channel: bool, damp) -> np.ndarray:
        """GPTQ on the format's grid with its scales fixed from the original weights (accelsim.quant.gptq): the
        elements (FP8/FP6/FP4, scale applied after the GEMM) or the values (MX / NVFP4, block scales folded in)."""
        from accelsim.numerics.formats import fixed_scales
        from accelsim.operands import BLOCK_FORMATS
        from accelsim.quant.gptq import auto_damp, gptq_format, hessian

        fmt = plan.weights.type_name
        k = w.shape[0]
        scales, round_elements = fixed_scales(w, fmt, channel_axis=1 if per_channel else None)
        damp = damp if damp is not None else auto_damp(k, int(np.asarray(x_sample).size // k))
        elements = gptq_format(w.astype(np.float64), hessian(x_sample, k), scales, round_elements, damp=damp)
        return (elements * scales).astype(np.float32) if fmt in BLOCK_FORMATS else elements

    def _gemm(self, x2: np.ndarray, w2: np.ndarray) -> np.ndarray:
        from accelsim.numerics.float_accumulate import float_matmul

        y, events = float_matmul(x2, w2, self.acc)
        ev = self.run.events
        self.run.events = events.copy() if ev is None or ev.shape != events.shape else ev + events
        return y

    def __call__(self, env: dict) -> None:
        L = self.L
        xin = env[L.x_float] if self.smooth is None else (np.asarray(env[L.x_float], dtype=np.float64) /
                                                          self.smooth).astype(np.float32)
        if self.per_token:  # rows of (.., K) each with its own scale amax_row / max_finite, shape (rows, 1)
            x, sx = format_operand(np.asarray(xin).reshape(-1, xin.shape[-1]), self.x_fmt, channel_axis=0,
                                   overflow=self.profile.float_conversion)
        else:
            x, sx = format_operand(xin, self.x_fmt, amax=self.x_amax, axis=-1,
                                   overflow=self.profile.float_conversion)
        xv = x * sx  # the values the layer computes on, for its own (local) error
        if L.kind == "linear":
            lead = np.shape(xin)[:-1]
            y = (self._gemm(x.reshape(-1, x.shape[-1]), self.w) * (sx * self.w_scale)).reshape(*lead, -1)
            ref = (xv.astype(np.float64) @ np.asarray(self.weight, dtype=np.float64)).reshape(*lead, -1)
            if self.bias is not None:
                y, ref = y + self.bias, ref + self.bias
        elif L.kind == "conv2d":
            a = L.conv_attrs
            strides, pads = tuple(a.get("strides", (1, 1))), conv_pads(a, np.shape(xin)[2:], np.shape(L.weight)[2:])
            dilations, group = tuple(a.get("dilations", (1, 1))), int(a.get("group", 1))
            y = float_conv2d(x, self.w, sx * self.w_scale, kernel=tuple(np.shape(L.weight)[2:]), strides=strides,
                             pads=pads, dilations=dilations, group=group, gemm=self._gemm)
            from accelsim.ops.nn import _conv

            ref = _conv(xv.astype(np.float64), np.asarray(L.weight, dtype=np.float64), None, strides=strides,
                        pads=pads, dilations=dilations, group=group)
            if self.bias is not None:
                y, ref = y + self.bias.reshape(1, -1, 1, 1), ref + self.bias.reshape(1, -1, 1, 1)
        else:  # a matmul of two activations, batched with broadcasting; B's blocks run along K (its rows)
            bt, sb = format_operand(np.swapaxes(np.asarray(env[L.b_float], dtype=np.float32), -1, -2), self.x_fmt,
                                    amax=self.b_amax, axis=-1, overflow=self.profile.float_conversion)
            b = np.swapaxes(bt, -1, -2)
            batch = np.broadcast_shapes(x.shape[:-2], b.shape[:-2])
            xb = np.broadcast_to(x, (*batch, *x.shape[-2:])).reshape(-1, *x.shape[-2:])
            bb = np.broadcast_to(b, (*batch, *b.shape[-2:])).reshape(-1, *b.shape[-2:])
            y = np.stack([self._gemm(xb[i], bb[i]) for i in range(xb.shape[0])]).reshape(
                *batch, x.shape[-2], b.shape[-1]) * (sx * sb)
            ref = xv.astype(np.float64) @ (b * sb).astype(np.float64)
        y = np.asarray(y, dtype=np.float32)
        if self.run.track:
            self.run.local.add(y, ref)
        env[L.y_float] = y
        env[f"{L.y_float}::accelsim"] = y
        if L.y_int is not None:  # a QDQ graph: its output DequantizeLinear passes the format's values through
            env[L.y_int] = _Pass(y)
