"""accelsim's own layer ops (``accelsim.<op>``): the nodes of a YAML workload's graph (accelsim.graph.layer_chain),
their float semantics those of accelsim.numerics.floatops. Timed from the workload's layers, not from here."""

from __future__ import annotations

from accelsim.ops.registry import define


def _layer_op(*values, layer):
    """An accelsim layer node: its activation inputs, then weight and bias."""
    from accelsim.numerics.floatops import float_op

    n = len(layer.inputs)
    rest = list(values[n:]) + [None, None]
    return float_op(layer, list(values[:n]), rest[0], rest[1])


def _register() -> None:
    from accelsim.workload.layers import FLOAT_OPS, INT_ELEMENTWISE_OPS, MAC_OPS

    for name in (*MAC_OPS, *INT_ELEMENTWISE_OPS, *FLOAT_OPS):
        define(f"accelsim.{name}", _layer_op, cost="mac" if name in MAC_OPS else "vector",
               integer=name if name in MAC_OPS else None)


_register()
