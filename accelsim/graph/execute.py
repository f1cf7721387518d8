"""The one executor: a graph's float version, and the graph under a hardware contract with integer layers.

- ``run_graph(g, feeds)``: the float version — the same graph without Q/DQ (QuantizeLinear passes its
  float input through, DequantizeLinear of a constant dequantizes it), with the Relus that quantize_static
  folded into Q ranges put back after their producers (``OnnxGraph.folded_relu``).
- ``run_graph(g, feeds, executors=...)``: every integer layer computed by its executor (accelsim's
  bit-accurate kernels); Q/DQ nodes elsewhere follow the ONNX spec; the rest is float32 glue.
``tap(name, value)`` sees every tensor produced.
"""

from __future__ import annotations

import numpy as np

from accelsim.errors import InputError
from accelsim.graph.view import GraphView
from accelsim.ops import dequantize_linear, run_node

#: ops that only move elements: applied to the float standing for a stripped QuantizeLinear's integers (the
#: layout an importer put between a Q and its DQ, accelsim.onnx.lower), their output still stands for integers
_MOVES = ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Slice", "Gather", "Concat",
          "Split", "Expand", "Tile", "Pad")


class _Pass:
    """A float value standing where the QDQ graph has integers (the float version strips Q/DQ)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _constant_dq(g: GraphView, node) -> np.ndarray:
    """DequantizeLinear of constants, computed once per graph (a QDQ CNN dequantizes a hundred weights and biases;
    the graph's constants never change)."""
    cache = g.__dict__.setdefault("_constant_dq", {})
    key = id(node)
    if key not in cache:
        cache[key] = run_node(node, [g.constants[i] if i else None for i in node.inputs], g.graph.opset)[0]
        cache[key].setflags(write=False)
    return cache[key]


def _inserted_zero(env: dict, dq_override: dict, src: str, codes, passed: bool, model_zero) -> np.ndarray:
    """The value a lowered ConvTranspose inserts between its input's integers: the zero point they are written
    with (an upstream layer's legalized parameters, when it wrote them), or a real 0 in the float version."""
    dtype = np.asarray(codes).dtype
    params = dq_override.get(src) or env.get("::params", {}).get(src)
    if passed or params is None:
        return np.asarray(0 if passed or model_zero is None else model_zero, dtype)
    return np.asarray(np.asarray(params.zero_point).reshape(-1)[0], dtype)


def run_graph(g: GraphView, feeds: dict[str, np.ndarray], executors: dict | None = None, tap=None,
              dq_override: dict | None = None, strip_q: bool = False) -> dict[str, np.ndarray]:
    """Execute ``g``; returns every tensor by name. ``executors``: node name -> fn(env) that writes the
    layer's outputs (then its output QuantizeLinear is skipped); without executors, the float version.
    ``dq_override``: integer tensor -> QParams to dequantize it with (legalized output params).
    ``strip_q``: with executors, QuantizeLinear nodes outside the integer layers pass their float through (True: all
    of them; a set: the nodes named in it)."""
    env: dict = dict(g.constants)
    env.update(feeds)
    float_version = executors is None
    executors = executors or {}
    dq_override = dict(dq_override or {})
    skip = set()
    for layer in g.layers:
        if layer.node.key in executors:  # the layer writes its own output: its output Q, or its fused bias Add
            skip.update(id(n) for n in (layer.y_q_node, layer.bias_node) if n is not None)
    for node in g.nodes:
        if node.op_type == "Constant" or id(node) in skip:
            continue
        name = node.key
        if name in executors:
            executors[name](env)
            continue
        stripped = strip_q is True or (bool(strip_q) and not isinstance(strip_q, bool) and name in strip_q)
        if (float_version or stripped) and node.op_type == "QuantizeLinear":
            env[node.outputs[0]] = _Pass(env[node.inputs[0]])
            continue
        if node.op_type == "DequantizeLinear":
            src = env.get(node.inputs[0])
            if isinstance(src, _Pass):
                env[node.outputs[0]] = src.value
                if tap:
                    tap(node.outputs[0], src.value)
                continue
            if node.inputs[0] in dq_override:
                p = dq_override[node.inputs[0]]
                env[node.outputs[0]] = dequantize_linear(src, p.scale, p.zero_point, p.axis or 1)
                continue
            if all(not i or i in g.constants for i in node.inputs):  # a weight's or a bias' DQ: the same every run
                folded = _constant_dq(g, node)
                env[node.outputs[0]] = folded
                if tap:
                    tap(node.outputs[0], folded)
                continue
        inputs = [env[i] if i else None for i in node.inputs]
        passed = bool(inputs) and isinstance(inputs[0], _Pass)
        inputs = [v.value if isinstance(v, _Pass) else v for v in inputs]
        if node.op_type == "Pad" and name.endswith("/insert_pad"):  # accelsim.onnx.conv_transpose
            inputs = [*inputs[:2], _inserted_zero(env, dq_override, node.inputs[0], inputs[0], passed,
                                                      inputs[2] if len(inputs) > 2 else None)]
        captured = None
        if node.captures:  # a control-flow node: the outer values its subgraphs read
            captured = {c: (env[c].value if isinstance(env[c], _Pass) else env[c]) for c in node.captures if c in env}
        try:
            outs = run_node(node, inputs, g.graph.opset, captured)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - attributes or shapes the model's author got wrong
            shapes = ", ".join(str(list(np.shape(v))) for v in inputs if v is not None)
            raise InputError(f"node '{name}' ({node.op_type}) cannot run on inputs {shapes}: "
                             f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}", source=str(g.path)) from None
        if node.outputs[0] in g.folded_relu and (float_version or strip_q is True or (
                bool(strip_q) and not isinstance(strip_q, bool)
                and any(c.key in strip_q for c in g.consumers.get(node.outputs[0], [])))):  # the Relu quantize_static folded away
            top = g.folded_range_max.get(node.outputs[0], np.inf)
            outs = [np.clip(outs[0], 0, top).astype(np.asarray(outs[0]).dtype), *outs[1:]]
        if passed and node.op_type in _MOVES:  # moving a stripped Q's float keeps it standing for integers
            outs = [_Pass(v) for v in outs]
        if node.op_type in _MOVES and node.inputs:  # moved integers keep the parameters they were written with
            src = node.inputs[0]
            params = env.get("::params", {})
            for o in node.outputs:
                if src in dq_override:
                    dq_override[o] = dq_override[src]
                if src in params:
                    params[o] = params[src]
        for o, v in zip(node.outputs, outs):
            env[o] = v
            if tap:
                tap(o, v.value if isinstance(v, _Pass) else v)
    return env
