"""accelsim's graph IR back to ONNX: a node as a NodeProto, a whole graph as a ModelProto.

For what only ONNX tools do with a graph: ONNX Runtime as the oracle (node-level checks, the float model run
by ONNX Runtime), ONNX shape inference, and writing a model built from its weights (accelsim.models) to a file.
"""

from __future__ import annotations

import numpy as np

from accelsim.graph.ir import Graph, Node

#: numpy element types -> ONNX TensorProto element types (the inverse of accelsim.ops.ELEMENT_TYPES)
_ELEMENT_TYPE_OF = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.uint16): 4,
                    np.dtype(np.int16): 5, np.dtype(np.int32): 6, np.dtype(np.int64): 7, np.dtype(np.bool_): 9,
                    np.dtype(np.float16): 10, np.dtype(np.float64): 11}


def to_node_proto(node: Node):
    """The NodeProto of an IR node (array attributes become tensor attributes)."""
    from onnx import helper, numpy_helper

    attrs = {k: (numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v) for k, v in node.attrs.items()}
    return helper.make_node(node.op_type, list(node.inputs), list(node.outputs), name=node.name, **attrs)


def to_onnx(graph: Graph, ir_version: int = 8):
    """The ONNX ModelProto of a graph: its nodes, its constants as initializers, typed inputs and outputs (dynamic
    dims by name; an output without ``output_info``: float32 of unknown shape)."""
    from onnx import helper, numpy_helper

    def value_info(i):
        return helper.make_tensor_value_info(i.name, _ELEMENT_TYPE_OF[np.dtype(i.dtype)],
                                             [d if isinstance(d, int) else (None if d == "?" else d) for d in i.dims])

    inputs = [value_info(i) for i in graph.inputs]
    known = {i.name: i for i in graph.output_info}
    outputs = [value_info(known[o]) if o in known else helper.make_tensor_value_info(o, 1, None)
               for o in graph.outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in graph.constants.items()]
    onnx_graph = helper.make_graph([to_node_proto(n) for n in graph.nodes], graph.name, inputs, outputs,
                                   initializer=inits)
    # a per-axis Q/DQ (a lowered QOperator layer of an opset-11 model) is opset 13's
    per_axis = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") and "axis" in n.attrs for n in graph.nodes)
    opset = max(graph.opset, 13) if per_axis else graph.opset
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model
