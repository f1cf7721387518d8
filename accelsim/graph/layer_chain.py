"""A workload of accelsim layers (a YAML workload) as a graph, and its integer-chain semantics.

Each layer becomes one node ``accelsim.<op>`` (float semantics: :func:`accelsim.numerics.floatops.float_op`,
float64) with its weight and bias as constants. The graph's ``layer_chain`` marks the semantics of an integer
accelerator running the layers back to back, as the workload describes it: every tensor between layers is
stored as integer codes. Per node (:class:`ChainLayer`):

- linear, conv2d, matmul: the contract's bit-accurate kernel on the input codes (accumulator, K-chunks,
  requantization), output parameters calibrated on the layer's float output; a matmul's B operand sits where
  weights sit, so it is requantized to meet the weight contract if it does not;
- relu, maxpool, flatten: on the codes, with the input's parameters (exact, as ONNX Runtime's QDQ MaxPool);
- add and the float ops (softmax, gelu, silu, mul, layernorm, rmsnorm, avgpool, global_avgpool): dequantize,
  compute in float64, quantize with round half to even.

Calibration: each tensor's parameters come from the float graph's values on the calibration records with the
plan of the layer that produces it (a workload input: its first consumer's plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.graph.ir import Graph, Node, TensorInfo
from accelsim.numerics.execute import QTensor, activation_params, mac_layer, matmul_layer, weight_params
from accelsim.numerics.floatops import float_op, pool2d
from accelsim.numerics.formats import FormatParams, format_operand
from accelsim.numerics.metrics import ErrorAccumulator
from accelsim.operands import FORMATS
from accelsim.quant.quantizers import calibrate_range


def op_type(op: str) -> str:
    """The graph op type of an accelsim layer op."""
    return f"accelsim.{op}"


def layers_graph(workload, data) -> Graph:
    """The graph of a workload's layers, weights and biases from ``data`` (an accelsim.workload.data.DataSource),
    inputs at the numerics sample's shape."""
    constants: dict[str, np.ndarray] = {}
    nodes = []
    for layer in workload.layers:
        inputs = list(layer.inputs)
        if layer.op in ("linear", "conv2d"):
            constants[f"{layer.name}::weight"] = data.weight(layer)  # as the data gives it (float32)
            inputs.append(f"{layer.name}::weight")
            bias = data.bias(layer)
            if bias is not None:
                constants[f"{layer.name}::bias"] = bias
                inputs.append(f"{layer.name}::bias")
        nodes.append(Node(name=layer.name, op_type=op_type(layer.op), inputs=tuple(inputs), outputs=(layer.name,),
                          attrs={"layer": layer}))
    sample = workload.sample
    inputs = tuple(TensorInfo(name=s.name, dtype=np.float64,
                              dims=((min(sample, s.shape[0]), *s.shape[1:]) if s.sampled else s.shape))
                   for s in workload.inputs)
    return Graph(name=workload.name, nodes=tuple(nodes), constants=constants, inputs=inputs,
                 outputs=(workload.layers[-1].name,), source=workload.source or workload.name, layer_chain=True)


def input_feed(workload, data) -> dict[str, np.ndarray]:
    """The numerics sample of every workload input (float64)."""
    return {s.name: data.input(s.name, workload.sample).astype(np.float64) for s in workload.inputs}


def layer_of(node: Node):
    return node.attrs["layer"]


def split_operands(node: Node, values: list):
    """(activation inputs, weight, bias) of a layer node's input values."""
    n = len(layer_of(node).inputs)
    rest = list(values[n:]) + [None, None]
    return list(values[:n]), rest[0], rest[1]


def tensor_params(values: np.ndarray, plan, overflow: str = "saturate"):
    """How a tensor between layers is stored under an activation plan: integer codes (QuantParams) or a float /
    block format (FormatParams, per-tensor scale from the calibration range for fp8 and narrower elements)."""
    if plan.type_name in FORMATS:
        lo, hi = calibrate_range(values, plan.calibration, percentile=plan.percentile, type_name="int8", symmetric=True)
        return FormatParams.calibrated(plan.type_name, max(abs(lo), abs(hi)), np.ndim(values), dynamic=plan.dynamic,
                                       overflow=overflow)
    return activation_params(values, plan)


def calibrate_chain(view, plans: dict, calib: dict, overflow: str = "saturate") -> dict:
    """Parameters of every tensor between layers: a layer's output with its plan on its float values; a workload
    input with its first consumer's plan; relu, maxpool and flatten keep their input's parameters."""
    params = {}
    for node in view.nodes:
        layer = layer_of(node)
        for name in layer.inputs:
            if name not in params and name in calib:  # a workload input
                params[name] = tensor_params(calib[name], plans[layer.name].activations, overflow)
    for node in view.nodes:
        layer = layer_of(node)
        if layer.op in ("relu", "maxpool", "flatten"):
            params[layer.name] = params[layer.inputs[0]]
        else:
            params[layer.name] = tensor_params(calib[layer.name], plans[layer.name].activations, overflow)
    return params


@dataclass
class ChainRun:
    """What one layer did over the evaluation records."""

    events: np.ndarray | None = None
    overflow_events: int = 0
    saturation_events: int = 0
    fast_path: bool = True
    local: ErrorAccumulator = field(default_factory=ErrorAccumulator)  # output vs float op on the same inputs
    notes: list = field(default_factory=list)


class ChainLayer:
    """One layer node's executor under the integer-chain semantics (module docstring)."""

    def __init__(self, node: Node, plan, profile, params: dict, progress=None):
        self.node, self.layer, self.plan, self.profile = node, layer_of(node), plan, profile
        # a MAC layer whose plan names a float or block format runs on the float datapath
        self.float_math = self.layer.is_mac and any(getattr(plan, w).type_name in FORMATS
                                                    for w in ("weights", "activations"))
        if self.float_math:
            from accelsim.graph.contract import float_accumulator_for

            self.acc = float_accumulator_for(profile, plan)
        self.params = params
        self.progress = progress
        self.run = ChainRun()

    def __call__(self, env: dict) -> None:
        layer = self.layer
        codes = env["::codes"]
        values = [env[i] if i else None for i in self.node.inputs]
        _, weight, bias = split_operands(self.node, values)
        ins = [codes[n] for n in layer.inputs]
        out_params = self.params[layer.name]
        if layer.is_mac and self.float_math:
            y = self._float_mac(ins, weight, bias)
            out_params = out_params.for_tensor(y) if isinstance(out_params, FormatParams) else out_params
            q_out = out_params.quantize(y)
        elif layer.op in ("linear", "conv2d"):
            q_out, stats = mac_layer(layer, ins[0], weight, bias, self.plan, out_params, self.profile)
            self._note(stats.notes)
            self._count(stats.overflow_events, stats.saturation_events, stats.events.by_channel_chunk, stats.fast_path)
        elif layer.op == "matmul":
            q_out, events, fast, notes = matmul_layer(layer, ins[0], ins[1], self.profile, self.plan.weights,
                                                     out_params)
            self._note(notes)
            self._count(events.overflow_events, events.saturation_events, events.by_channel_chunk, fast)
        elif layer.op == "relu":
            x = ins[0]
            q_out = np.maximum(x.q, x.params.zero_point.reshape(-1)[0]).astype(x.q.dtype)
        elif layer.op in ("maxpool", "flatten"):  # order-preserving / layout ops: exact on the codes
            x = ins[0]
            q_out = (float_op(layer, [x.q]) if layer.op == "flatten" else pool2d(x.q, layer)).astype(x.q.dtype)
        else:
            y = float_op(layer, [t.real() for t in ins])
            out_params = out_params.for_tensor(y) if isinstance(out_params, FormatParams) else out_params
            q_out = out_params.quantize(y)
        out = QTensor(q_out, out_params)
        codes[layer.name] = out
        real = out.real()
        env[layer.name] = real
        self.run.local.add(real, float_op(layer, [t.real() for t in ins], weight, bias))
        if self.progress is not None:
            self.progress(layer.name)

    def _float_mac(self, ins, weight, bias) -> np.ndarray:
        """A MAC layer in a float / block format: the stored elements (their per-tensor scales applied after the
        accumulation), weights in the plan's format, the contract's float accumulator in K order, then the bias
        and the fused activation; float64 output, stored by the caller in the output's format."""
        from accelsim.graph.contract import float_conv2d
        from accelsim.numerics.float_accumulate import float_matmul
        from accelsim.numerics.floatops import apply_activation, merge_heads, split_heads

        layer, plan = self.layer, self.plan

        def operand(t):  # (elements, scale) of a stored tensor; an integer-coded one as its fp32 values
            if isinstance(t.params, FormatParams):
                return np.asarray(t.q, dtype=np.float32), t.params.scale
            return t.real().astype(np.float32), 1.0

        def gemm(a, b):
            y, events = float_matmul(a, b, self.acc)
            sat = self.acc.saturate
            total = int(events.sum())
            self._count(0 if sat else total, total if sat else 0, events, False)
            return y.astype(np.float64)

        x, sx = operand(ins[0])
        if layer.op == "matmul":
            b, sb = operand(ins[1])
            a3, b3 = split_heads(layer, x, b)
            shape = np.broadcast_shapes(a3.shape[:-2], b3.shape[:-2])
            a3 = np.broadcast_to(a3, (*shape, *a3.shape[-2:])).reshape(-1, *a3.shape[-2:])
            b3 = np.broadcast_to(b3, (*shape, *b3.shape[-2:])).reshape(-1, *b3.shape[-2:])
            y = np.stack([gemm(np.ascontiguousarray(a3[h]), np.ascontiguousarray(b3[h])) for h in range(a3.shape[0])])
            return merge_heads(layer, y.reshape(*shape, a3.shape[-2], b3.shape[-1]) * (sx * sb))
        w = np.asarray(weight, dtype=np.float32)
        if layer.op == "conv2d":
            o, cg, kh, kw = w.shape
            w = w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o)   # K ordered (kh, kw, c), as the patches
        per_channel = plan.weights.granularity == "per_channel"
        if plan.weights.type_name in FORMATS:
            we, sw = format_operand(w, plan.weights.type_name, axis=0, channel_axis=1 if per_channel else None)
        else:  # integer weights under float math (weight-only quantization): dequantized
            wp = weight_params(w.astype(np.float64), plan.weights, 1)
            we, sw = wp.dequantize(wp.quantize(w)).astype(np.float32), 1.0
        scale = np.asarray(sx * sw, dtype=np.float64).reshape(1, -1) if np.ndim(sw) else sx * sw
        if layer.op == "linear":
            lead = x.shape[:-1]
            y = gemm(np.ascontiguousarray(x.reshape(-1, x.shape[-1])), we) * scale
            y = y.reshape(*lead, -1)
            if bias is not None:
                y = y + np.asarray(bias, dtype=np.float64)
        else:
            y = float_conv2d(x, we, scale, kernel=layer.kernel, strides=layer.stride, pads=layer.padding,
                             dilations=layer.dilation, group=layer.groups, gemm=gemm)
            if bias is not None:
                y = y + np.asarray(bias, dtype=np.float64)[None, :, None, None]
        return apply_activation(y, layer.activation)

    def _note(self, notes) -> None:
        for n in notes:  # once per layer, not once per record
            if n not in self.run.notes:
                self.run.notes.append(n)

    def _count(self, overflow: int, saturation: int, grid: np.ndarray, fast: bool) -> None:
        r = self.run
        r.overflow_events += int(overflow)
        r.saturation_events += int(saturation)
        r.events = grid.copy() if r.events is None or r.events.shape != grid.shape else r.events + grid
        r.fast_path &= bool(fast)


def quantize_inputs(view, feed: dict, params: dict) -> dict:
    """The workload inputs as codes (the chain's state at the start of a run)."""
    out = {}
    for name, v in feed.items():
        if name in params:
            p = params[name].for_tensor(v) if isinstance(params[name], FormatParams) else params[name]
            out[name] = QTensor(p.quantize(np.asarray(v, dtype=np.float64)), p)
    return out
