"""The op registry: one entry per op, with everything accelsim needs of it.

An :class:`OpDef` holds an op's float semantics (``run``: numpy, float32 where the model is float32, as ONNX
Runtime computes), its cost (``cost``: which unit runs it and how many operations per element) and its integer
form under a hardware contract (``integer``: the layer kind the contract executes it as, or None). Its shape
rule is ONNX's (the op's schema: shape inference for the memory estimate; the float run for the timed shapes).

The hand-written ops (accelsim.ops.tensor, .elementwise, .nn, .quant) are the fast kernels real models spend
their time in. Every other op of the ONNX standard domain runs through ``onnx.reference`` (accelsim.ops.reference),
the ONNX project's own evaluator, one node at a time, costed by its kind (accelsim.ops.reference.COST).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: what a cost class means for timing: ``layout`` moves no element (a view, a shape computation: not timed);
#: ``vector``: ``ops`` operations per output element on the vector unit; ``reduce``: per input element;
#: ``window``: per output element and window cell (pooling); ``mac``: multiply-accumulates on the MAC array
COST_CLASSES = ("layout", "vector", "reduce", "window", "mac")


@dataclass(frozen=True)
class OpDef:
    """One op. ``run(*inputs, **attributes)`` returns an array or a list of arrays; an absent optional input is
    None. ``timed_as``: the accelsim vector op it is timed and charged as (energy per op: accelsim.energy);
    ``input_attrs``: attributes that newer opsets pass as inputs (position 1 on), accepted either way;
    ``versioned``: ``run`` is given the model's opset, for ops whose meaning changed (Softmax flattened its input
    to 2-D at the axis before opset 13; Resize took (X, scales) in opset 10): onnx.reference implements only the
    newest meaning of such ops."""

    name: str
    run: Callable
    cost: str = "vector"
    timed_as: str = "add"
    ops: int = 1
    integer: str | None = None
    input_attrs: tuple[str, ...] = ()
    source: str = "accelsim"
    versioned: bool = False   # ``run`` takes the model's opset (``opset=``): the op's meaning changed across opsets

    def __post_init__(self):
        if self.cost not in COST_CLASSES:
            raise ValueError(f"op {self.name}: cost {self.cost!r} is not one of {COST_CLASSES}")


REGISTRY: dict[str, OpDef] = {}


def define(name: str, run: Callable, **kw) -> OpDef:
    """Register one op (a second definition of the same name is a programming error)."""
    if name in REGISTRY:
        raise ValueError(f"op {name} is defined twice")
    REGISTRY[name] = OpDef(name=name, run=run, **kw)
    return REGISTRY[name]


def op(name: str, **kw):
    """Decorator form of :func:`define`."""
    def wrap(fn):
        define(name, fn, **kw)
        return fn
    return wrap
