"""Ops: the registry of every op a graph runs (accelsim.ops.registry), its float semantics and its cost.

``lookup(op_type)`` gives an op's :class:`OpDef` — a hand-written one, or for any other op of the ONNX standard
domain one that runs through ``onnx.reference``; ``run_node(node, inputs, opset)`` executes one node.
"""

from __future__ import annotations

import numpy as np

from accelsim.ops import elementwise, layer, nn, quant, tensor  # noqa: F401 - each module registers its ops
from accelsim.ops.nn import NotCovered
from accelsim.ops.quant import dequantize_linear, quantize_linear  # noqa: F401 - re-exported
from accelsim.ops.registry import REGISTRY, OpDef
from accelsim.ops.tensor import ELEMENT_TYPES  # noqa: F401 - re-exported


def attrs(node) -> dict:
    """A node's attributes as a mutable dict."""
    return dict(node.attrs)


def lookup(op_type: str, domain: str = "") -> OpDef | None:
    """The op's definition: the registry's, or the ONNX reference evaluator's for a standard-domain op the
    installed onnx knows; None for anything else (another domain, a misspelt op)."""
    if domain in ("", "ai.onnx") and op_type in REGISTRY:
        return REGISTRY[op_type]
    from accelsim.ops.reference import reference_op

    return reference_op(op_type, domain)


def unsupported(nodes) -> list[str]:
    """Op types among ``nodes`` (objects with op_type and an optional domain) that no definition covers."""
    return sorted({f"{getattr(n, 'domain', '') + ':' if getattr(n, 'domain', '') not in ('', 'ai.onnx') else ''}"
                   f"{n.op_type}" for n in nodes if lookup(n.op_type, getattr(n, "domain", "")) is None})


def run_node(node, inputs: list, opset: int = 17, captured: dict | None = None) -> list:
    """Execute one node on numpy inputs; returns its outputs as a list. ``captured``: the values its subgraphs
    read from the graph around it (``Node.captures``)."""
    d = lookup(node.op_type)
    if d is None:
        raise KeyError(node.op_type)
    if d.source == "onnx.reference":
        from accelsim.ops.reference import run_reference

        return run_reference(node, inputs, opset, captured)
    a = attrs(node)
    if d.versioned:
        a["opset"] = opset
    args = list(inputs)
    if d.input_attrs and len(args) > 1:
        for name, value in zip(d.input_attrs, args[1:1 + len(d.input_attrs)]):
            a[name] = None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]
        args = args[:1]
    while args and args[-1] is None:
        args.pop()
    try:
        out = d.run(*args, **a)
    except NotCovered:  # an attribute value the fast kernel does not implement: the spec's own evaluator
        from accelsim.ops.reference import run_reference

        return run_reference(node, inputs, opset, captured)
    return list(out) if isinstance(out, list) else [out]
