"""The cost of a Loop's or a Scan's body: its layers at the shapes of one iteration, over all iterations.

A body is an ONNX graph of its own (a GraphProto attribute) that reads the values around its node. It is imported
like a model — the outer constants it reads as its initializers (so a QDQ body's weights are weights), the other
outer values and its per-iteration inputs as its inputs — and its layers found as a model's are
(accelsim.graph.layers), at the values of the first iteration: a Scan's initial states and the first slice of
each scanned input; a Loop's iteration 0, condition true and initial loop-carried values.

The iterations are folded into each layer's leading dimension (the rows of a GEMM, the images of a conv, the
batch of a matmul, the elements of a vector op): MACs and element work are exact, and a body's weights are read
once for all iterations (held on chip between iterations, as a recurrent kernel keeps them). The count is a Scan's
scanned length; for a Loop, the length of its scan outputs, else its trip count M; a Loop with neither (a
condition-only while loop) is timed for one iteration and its layer names say so.
Names: ``<node>/<layer>(x<iterations>)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from accelsim.errors import InputError
from accelsim.workload.layers import Layer, LayerQuant


def _scan_feed(node, values: dict) -> tuple[int, dict]:
    """(iterations, the body's inputs at iteration 0) of a Scan."""
    body = node.attrs["body"]
    n_scan = int(node.attrs["num_scan_inputs"])
    states = [i for i in node.inputs[:len(node.inputs) - n_scan]]
    scanned = node.inputs[len(node.inputs) - n_scan:]
    axes = list(node.attrs.get("scan_input_axes", [0] * n_scan))
    feed, iterations = {}, 1
    for spec, name in zip(body.input, [*states, *scanned]):
        v = np.asarray(values[name])
        if name in scanned:
            axis = axes[scanned.index(name)] % v.ndim
            iterations = v.shape[axis]
            v = np.take(v, 0, axis=axis) if iterations else v
        feed[spec.name] = v
    return max(iterations, 1), feed


def _loop_feed(node, values: dict, shapes: dict) -> tuple[int | None, dict]:
    """(iterations or None when unknown, the body's inputs at iteration 0) of a Loop."""
    body = node.attrs["body"]
    carried = list(node.inputs[2:])
    feed = {body.input[0].name: np.asarray(0, np.int64), body.input[1].name: np.asarray(True)}
    for spec, name in zip(body.input[2:], carried):
        feed[spec.name] = np.asarray(values[name])
    scan_outputs = node.outputs[len(carried):]
    if scan_outputs and scan_outputs[0] in shapes and shapes[scan_outputs[0]]:
        return int(shapes[scan_outputs[0]][0]), feed
    m = node.inputs[0] if node.inputs else ""
    if m and m in values and np.size(values[m]) == 1:
        return int(np.asarray(values[m]).reshape(-1)[0]), feed
    return None, feed


def _body_model(node, g, values: dict, body_inputs: dict):
    """The body as a ModelProto: the outer constants it reads as initializers, other outer values as inputs."""
    from onnx import helper, numpy_helper

    body = node.attrs["body"]
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype),
                                            list(np.shape(v))) for n, v in body_inputs.items()]
    inits = []
    for c in node.captures:
        if c in g.constants:
            inits.append(numpy_helper.from_array(np.asarray(g.constants[c]), c))
        elif c in values:
            v = np.asarray(values[c])
            inputs.append(helper.make_tensor_value_info(c, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
    graph = helper.make_graph(list(body.node), f"{node.key}/body", inputs, list(body.output),
                              initializer=[*body.initializer, *inits])
    opsets = [helper.make_opsetid(d, v) for d, v in (g.model.opset_import and
                                                       [(o.domain, o.version) for o in g.model.opset_import])]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = g.model.ir_version
    return model


def _repeat(layer: Layer, n: int, name: str) -> Layer:
    """``layer`` over ``n`` iterations, folded into its leading dimension (module docstring)."""
    def times(shape):
        return (shape[0] * n, *shape[1:]) if shape else (n,)

    if layer.op == "matmul" and len(layer.in_shapes[0]) == 2:  # no batch dimension to fold into: add one
        return dataclasses.replace(layer, name=name, in_shapes=tuple((n, *s) for s in layer.in_shapes),
                                   out_shape=(n, *layer.out_shape))
    return dataclasses.replace(layer, name=name, in_shapes=tuple(times(s) for s in layer.in_shapes),
                               out_shape=times(layer.out_shape), work=layer.work * n)


def loop_layers(node, g, values: dict, shapes: dict, defaults: LayerQuant) -> list[Layer]:
    """The layers of ``node``'s body (a Loop or a Scan of ``g``) over all its iterations."""
    from accelsim.graph.layers import graph_layers
    from accelsim.onnx.graph import OnnxGraph

    values = {**g.constants, **values}  # a trip count, an initial state may be constants
    try:
        if node.op_type == "Scan":
            iterations, feed = _scan_feed(node, values)
        else:
            iterations, feed = _loop_feed(node, values, shapes)
        body = OnnxGraph.from_model(_body_model(node, g, values, feed), g.path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a body form not modelled (optional inputs left empty, ...): say so
        raise InputError(f"node '{node.key}' ({node.op_type}): its body cannot be timed ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:120]})", source=str(g.path)) from None
    outer = {c: values[c] for c in node.captures if c in values and c not in g.constants}
    suffix = f"(x{iterations})" if iterations is not None else "(x1: iterations unknown)"
    layers = graph_layers(body, {**feed, **outer}, defaults, subgraph_layers=loop_layers)
    return [_repeat(L, iterations or 1, f"{node.key}/{L.name}{suffix}") for L in layers if math.prod(L.out_shape)]
