"""An ONNX model specialized to its bound inputs: each ``If`` whose condition the inputs decide is replaced by the
nodes of the branch it takes.

Why: exporters put whole networks inside an ``If`` (Silero VAD's default export chooses its 8 kHz or 16 kHz
network by the ``sr`` input; tracing exporters branch on shapes). Inside a branch, a node is invisible to the
rest of accelsim: a QDQ pattern there would run through onnx.reference in float instead of on the contract, and
its MACs would not be timed. Once the inputs are bound, the condition is a value: the taken branch is the network
that runs, and inlining it is exact (the same nodes on the same values, ONNX's scoping kept by renaming the
branch's own names). A condition that differs between the inputs of one run keeps its ``If`` (a warning says
that its branches run in float and are not timed).
"""

from __future__ import annotations

import numpy as np

from accelsim.errors import InputError

#: nested Ifs are inlined one level per pass (a branch's If becomes a node of the graph); a bound on the passes
_MAX_DEPTH = 16


def _needed(g, targets: set[str]) -> list:
    """The nodes of ``g`` that ``targets`` depend on, in graph order."""
    want, keep = set(targets), []
    for node in reversed(g.nodes):
        if want & set(node.outputs):
            keep.append(node)
            want.update(i for i in (*node.inputs, *node.captures) if i)
    return keep[::-1]


def _conditions(g, feeds: list[dict]) -> dict[str, set[bool]]:
    """Each If's condition (by node key) on each feed: the nodes it depends on, run in float."""
    from accelsim.ops import run_node

    ifs = [n for n in g.nodes if n.op_type == "If"]
    nodes = _needed(g, {n.inputs[0] for n in ifs})
    seen: dict[str, set[bool]] = {n.key: set() for n in ifs}
    for feed in feeds:
        env = {**g.constants, **feed}
        for node in nodes:
            if node.op_type == "If":  # an If the condition depends on is not inlined in this pass
                break
            captured = {c: env[c] for c in node.captures if c in env} or None
            try:
                outs = run_node(node, [env[i] if i else None for i in node.inputs], g.graph.opset, captured)
            except Exception as exc:  # noqa: BLE001 - the inputs do not fit the model
                raise InputError(f"node '{node.key}' ({node.op_type}), which decides an If's branch, cannot run on "
                                 f"the bound inputs: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}",
                                 source=str(g.path)) from None
            env.update(zip(node.outputs, outs))
        for n in ifs:
            if n.inputs[0] in env:
                seen[n.key].add(bool(np.asarray(env[n.inputs[0]]).reshape(-1)[0]))
    return seen


def _rename_subgraph(graph, rename: dict[str, str]) -> None:
    """Rename the outer names a (nested) subgraph reads, except those it defines itself."""
    local = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {o for n in graph.node
                                                                                    for o in n.output}
    outer = {k: v for k, v in rename.items() if k not in local}
    for n in graph.node:
        n.input[:] = [outer.get(i, i) for i in n.input]
        for a in n.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _rename_subgraph(sub, outer)
    for o in graph.output:
        o.name = outer.get(o.name, o.name)


def _inline(model, taken: dict[str, bool]):
    """A copy of ``model`` with each If named in ``taken`` (node key -> condition) replaced by its branch."""
    import onnx
    from onnx import helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    nodes = []
    for n in g.node:
        key = n.name or n.output[0]
        if n.op_type != "If" or key not in taken:
            nodes.append(n)
            continue
        side = "then_branch" if taken[key] else "else_branch"
        branch = next(a.g for a in n.attribute if a.name == side)
        prefix = f"{key}/{side.split('_')[0]}/"
        local = [t.name for t in branch.initializer] + [o for bn in branch.node for o in bn.output if o]
        rename = {name: prefix + name for name in local}
        for t in branch.initializer:
            copy = g.initializer.add()
            copy.CopyFrom(t)
            copy.name = rename[t.name]
        for bn in branch.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(bn)
            copy.name = prefix + (bn.name or bn.output[0])
            copy.input[:] = [rename.get(i, i) for i in bn.input]
            copy.output[:] = [rename.get(o, o) for o in bn.output]
            for a in copy.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    _rename_subgraph(sub, rename)
            nodes.append(copy)
        for k, (result, target) in enumerate(zip(branch.output, n.output)):
            if target:
                nodes.append(helper.make_node("Identity", [rename.get(result.name, result.name)], [target],
                                              name=f"{prefix}output{k}"))
    del g.node[:]
    g.node.extend(nodes)
    return out


def specialize(g, feeds: list[dict], warnings: list[str] | None = None):
    """``g`` (an imported ONNX graph) with every If its ``feeds`` decide the same way replaced by the branch taken
    (nested Ifs too); ``g`` itself when it has none. ``warnings`` gains one line per If inlined or kept."""
    from accelsim.onnx.graph import OnnxGraph

    if not any(n.op_type == "If" for n in g.nodes) or g.model is None:
        return g
    kept: set[str] = set()
    inlined: list[str] = []
    for _ in range(_MAX_DEPTH):
        seen = _conditions(g, feeds)
        taken = {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}
        kept |= {k for k, v in seen.items() if len(v) > 1}
        if not taken:
            break
        inlined += [f"{k} ({'then' if v else 'else'})" for k, v in taken.items()]
        g = OnnxGraph.from_model(_inline(g.model, taken), g.path)
    if warnings is not None:
        if inlined:
            warnings.append(f"{len(inlined)} If node(s) decided by the bound inputs, inlined as the branch taken: "
                            f"{', '.join(inlined[:6])}{' …' if len(inlined) > 6 else ''}")
        if kept:
            warnings.append(f"If node(s) {', '.join(sorted(kept))} take different branches on different inputs: "
                            f"their branches run in float (onnx.reference) and are not timed")
    return g
