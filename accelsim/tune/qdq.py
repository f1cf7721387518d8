"""What to change in a QDQ model to recover accuracy under the same contract.

A QDQ model carries its own recipe: its QuantizeLinear / DequantizeLinear pairs. Under a contract, two kinds of
change are possible without touching the integer layers' own quantization:

- an integer layer's output Q removed: the layer's epilogue writes float instead of requantized integers
  (``float_output`` on that layer; legal where the contract's epilogue has float outputs — ONNX Runtime fuses
  DQ -> MatMul without a following Q into MatMulIntegerToFloat);
- a glue Q (one outside the integer layers: before an Add, a Softmax, a LayerNorm) removed: that glue runs in
  float (``remove_qdq``; always runnable, it changes only float ops).

Each candidate is measured alone on the tuning records (its accuracy gain) and costed by the timing model
(a float output moves 32-bit elements) or, for glue, by the bytes it adds (the tensor written and read as
float32 instead of 8-bit codes, at the outermost level's bandwidth). The advice then adds the candidates in
order of gain while each still improves the tuning accuracy (greedy forward selection), and the result is a
recipe: ``float_output`` and ``remove_qdq`` steps that ``run --recipe`` replays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelsim.quant.recipe import Recipe, Step

#: at most this many candidates enter the greedy selection (the ones with the largest gains alone)
MAX_SELECTED = 12


@dataclass(frozen=True)
class QdqChange:
    """One Q/DQ change: its kind, the node or layer, the accuracy with it alone, and its cost."""

    kind: str             # "layer output Q" | "glue Q/DQ"
    target: str           # the integer layer (float output) or the QuantizeLinear node (glue)
    accuracy: float       # tuning-record accuracy with this change alone
    gain: float           # over the model as given
    extra_latency_s: float
    extra_bytes: int
    legal: bool = True
    why: str = ""

    def step(self) -> Step:
        if self.kind == "layer output Q":
            return Step("float_output", (), (self.target,))
        return Step("remove_qdq", (("nodes", (self.target,)),))


def _merge(steps: list[Step]) -> Recipe:
    """One float_output step over the chosen layers and one remove_qdq step over the chosen nodes."""
    layers = tuple(t for s in steps if s.kind == "float_output" for t in s.layers)
    nodes = tuple(n for s in steps if s.kind == "remove_qdq" for n in s.param("nodes"))
    out = []
    if layers:
        out.append(Step("float_output", (), layers))
    if nodes:
        out.append(Step("remove_qdq", (("nodes", nodes),)))
    return Recipe(tuple(out))


def qdq_candidates(g, profile) -> list[tuple[str, str, bool, str]]:
    """(kind, target, legal, why) for every change the advice considers on QDQ graph ``g``."""
    out = []
    floats = "float" in profile.requant.outputs
    layer_qs = set()
    for L in g.layers:
        if L.y_q_node is None:
            continue
        layer_qs.add(L.y_q_node.key)
        if L.kind == "linear":
            why = "" if floats else f"profile '{profile.name}' writes integer outputs only (requant.outputs)"
            out.append(("layer output Q", L.name, floats, why))
    layer_nodes = {id(L.node) for L in g.layers}
    for n in g.nodes:
        if n.op_type != "QuantizeLinear" or n.key in layer_qs:
            continue
        # a Q whose codes only feed integer layers changes nothing when removed (the layer quantizes its input
        # with the same parameters): only a Q with a float consumer after its DequantizeLinear is a candidate
        readers = [c for dq in g.consumers.get(n.outputs[0], []) for c in g.consumers.get(dq.outputs[0], [])]
        if any(id(c) not in layer_nodes for c in readers) or not readers:
            out.append(("glue Q/DQ", n.key, True, ""))
    return out


def qdq_advice(ev, workload, profile, progress=None) -> tuple[list[QdqChange], Recipe, float]:
    """Measure each candidate alone, then select greedily. ``ev``: accelsim.tune's evaluator (tuning records).
    Returns (every change measured, the recipe chosen, its tuning accuracy)."""
    g = workload.graph.view
    candidates = qdq_candidates(g, profile)
    if progress is not None:
        progress(0, len(candidates), "the model's own Q/DQ")
    base_acc, _ = ev.accuracy(Recipe())
    base_lat, _ = ev.cost(Recipe())
    shapes = {}
    for feed in workload.graph.calibration[:1]:
        from accelsim.graph.execute import run_graph

        shapes = {k: np.shape(v) for k, v in run_graph(g, feed).items()}
    per_byte = 1.0 / profile.dram.bandwidth_Bps
    changes = []
    for i, (kind, target, legal, why) in enumerate(candidates):
        if not legal:
            changes.append(QdqChange(kind, target, math.nan, math.nan, math.nan, 0, False, why))
            continue
        step = Step("float_output", (), (target,)) if kind == "layer output Q" else \
            Step("remove_qdq", (("nodes", (target,)),))
        recipe = Recipe((step,))
        acc, _ = ev.accuracy(recipe)
        if kind == "layer output Q":
            lat, _ = ev.cost(recipe)
            extra_bytes = 0
            for L in g.layers:
                if L.name == target:
                    extra_bytes = int(np.prod(shapes.get(L.y_float, (0,)))) * 3
            extra = lat - base_lat
        else:  # the tensor goes out and comes back as float32 instead of 8-bit codes: 3 more bytes each way
            node = next(n for n in g.nodes if n.key == target)
            extra_bytes = 2 * 3 * int(np.prod(shapes.get(node.inputs[0], (0,))))
            extra = extra_bytes * per_byte
        changes.append(QdqChange(kind, target, acc, acc - base_acc, extra, extra_bytes))
        if progress is not None:
            progress(i + 1, len(candidates), f"{kind} {target}: {acc - base_acc:+.4f}")
    ranked = sorted((c for c in changes if c.legal and c.gain > 0), key=lambda c: -c.gain)[:MAX_SELECTED]
    chosen: list[Step] = []
    best = base_acc
    for c in ranked:
        trial = _merge(chosen + [c.step()])
        acc, _ = ev.accuracy(trial)
        if acc > best:
            chosen.append(c.step())
            best = acc
    return changes, _merge(chosen), best
