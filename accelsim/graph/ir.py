"""The graph every workload becomes: nodes in execution order, constants, inputs and outputs.

One IR for YAML layers, ONNX models and real models built from their weights (accelsim.models). A node is an
op with named inputs and outputs and its attributes; the op vocabulary is ONNX's (float and Q/DQ semantics
in :mod:`accelsim.ops`), so an imported model keeps its ops and a built one can be exported as ONNX.
Float weights are constants; the quantization intent is in the graph itself: Q/DQ nodes with their scales
(a QDQ model), or, in a float graph, every MatMul / Gemm / Conv not listed in ``float_nodes`` (the
contract's plan decides how it is quantized). :class:`accelsim.graph.view.GraphView` finds the integer
layers; :func:`accelsim.graph.execute.run_graph` executes the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class Node:
    """One op. ``inputs`` may hold '' for an omitted optional input; ``attrs`` are plain Python / numpy values."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping = field(default_factory=dict)
    # values a subgraph attribute (If's branches, Loop's and Scan's bodies) reads from the graph around it
    captures: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "captures", tuple(self.captures))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attrs", _frozen(self.attrs))

    @property
    def key(self) -> str:
        """The node's name, or its first output's when it has none."""
        return self.name or self.outputs[0]


@dataclass(frozen=True)
class TensorInfo:
    """A graph input: element type and dims (an int, or the name of a dynamic dimension, or '?')."""

    name: str
    dtype: type
    dims: tuple


@dataclass(frozen=True, eq=False)
class Graph:
    """A whole model. ``float_nodes``: MAC nodes the model itself keeps in float (e.g. MiniLM's attention
    matmuls, as its workload states); ``source``: where it came from (a file path, or a builder's name)."""

    name: str
    nodes: tuple[Node, ...]
    constants: Mapping[str, np.ndarray]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[str, ...]
    source: str = ""
    float_nodes: frozenset[str] = frozenset()
    opset: int = 17
    output_info: tuple[TensorInfo, ...] = ()   # element type and dims of outputs, where known (ONNX export)
    # an accelerator running accelsim layer nodes back to back with integer tensors between them
    # (accelsim.graph.layer_chain): a YAML workload
    layer_chain: bool = False
    # node key -> the ONNX op an importer rewrote into this node (accelsim.onnx.lower: a ConvTranspose as a Gemm),
    # for contracts whose integer_ops decide per original op
    lowered_ops: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "constants", _frozen(self.constants))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "float_nodes", frozenset(self.float_nodes))
        object.__setattr__(self, "output_info", tuple(self.output_info))
        object.__setattr__(self, "lowered_ops", _frozen(self.lowered_ops))
