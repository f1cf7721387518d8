"""Importing an ONNX model into accelsim's graph IR (accelsim.graph): nodes, constants, inputs, outputs.

``OnnxGraph(path)`` loads and checks the file (regular file, memory, external data beside it, the ONNX
checker, supported ops) and is the :class:`accelsim.graph.view.GraphView` of the imported graph, with the
source ModelProto kept for what only ONNX tools do (shape inference for the memory estimate, ONNX Runtime's
node-level checks). Constant nodes become constants; tensor-valued attributes become numpy arrays.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import InputError
from accelsim.graph.ir import Graph, Node, TensorInfo
from accelsim.graph.view import MAC_OPS, GraphView, IntLayer, QParams  # noqa: F401 - re-exported


def _load(path: Path):
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise InputError(f"not a readable ONNX model ({' '.join(str(exc).split())[:160]})", source=str(path)) from None
    _check_external_data(model, path)
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(path.parent))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read the model's external data ({' '.join(str(exc).split())[:160]})",
                         source=str(path)) from None
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"invalid ONNX model: {' '.join(str(exc).split())[:200]}", source=str(path)) from None
    return model


def _check_external_data(model, path: Path) -> None:
    """Tensors stored outside the .onnx file must be regular files beside it (a FIFO would block the read
    forever; a path leaving the model's directory is refused), and must fit in memory."""
    from onnx.external_data_helper import uses_external_data

    from accelsim.resources import require_memory

    base = path.parent.resolve()
    total = 0
    for tensor in model.graph.initializer:
        if not uses_external_data(tensor):
            continue
        info = {e.key: e.value for e in tensor.external_data}
        target = (base / info.get("location", "")).resolve()
        if base not in target.parents:
            raise InputError(f"tensor '{tensor.name}': external data '{info.get('location')}' is outside the model's "
                             f"directory", source=str(path))
        if not target.is_file():
            raise InputError(f"tensor '{tensor.name}': external data '{info.get('location')}' is not a regular file",
                             source=str(path))
        total += int(info.get("length", 0) or target.stat().st_size)
    if total:
        require_memory(3 * total, what="loading the model's external data", knob="use a smaller model",
                       source=str(path))


def outer_refs(graph) -> set[str]:
    """Names a subgraph (GraphProto) reads from the scopes around it: inputs of its nodes (and of their own
    subgraphs) that neither it nor its nodes define. ONNX lets a branch of If or a body of Loop / Scan read any
    value defined before the node."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    refs: set[str] = set()
    for n in graph.node:
        refs.update(i for i in n.input if i and i not in defined)
        for sub in _subgraphs(n):
            refs.update(r for r in outer_refs(sub) if r not in defined)
        defined.update(n.output)
    return refs


def _subgraphs(node) -> list:
    """The GraphProtos among a NodeProto's attributes (If's branches, Loop's and Scan's bodies)."""
    from onnx import AttributeProto

    out = []
    for a in node.attribute:
        out += [a.g] if a.type == AttributeProto.GRAPH else list(a.graphs) if a.type == AttributeProto.GRAPHS else []
    return out


def _captures(node) -> tuple[str, ...]:
    refs: set[str] = set()
    for sub in _subgraphs(node):
        refs |= outer_refs(sub)
    return tuple(sorted(refs))


def _attribute_values(node) -> dict:
    from onnx import AttributeProto, helper, numpy_helper

    out = {}
    for a in node.attribute:
        if a.type == AttributeProto.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        else:  # a subgraph (If, Loop, Scan) stays a GraphProto: onnx.reference runs it
            out[a.name] = helper.get_attribute_value(a)
    return out


#: the oldest standard-domain opset accepted (ONNX Runtime's quantization tools write 11 and newer; older
#: opsets gave several ops other attributes, e.g. Upsample, BatchNormalization's spatial)
MIN_OPSET = 7


def check_opset(model, path: str) -> int:
    """The model's standard-domain opset, refused when the installed onnx does not know it (an op's meaning
    depends on its opset: a model from a newer ONNX cannot be read as if it were an older one) or it is older
    than :data:`MIN_OPSET`."""
    from onnx import __version__ as onnx_version
    from onnx.defs import onnx_opset_version

    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise InputError("the model imports no standard-domain (ai.onnx) opset", source=str(path),
                         field="opset_import")
    opset, known = max(versions), onnx_opset_version()
    if opset > known:
        raise InputError(f"opset {opset} is newer than the installed onnx {onnx_version} knows (at most {known}): "
                         f"upgrade onnx, or convert the model (onnx.version_converter) to opset {known} or older",
                         source=str(path), field="opset_import")
    if opset < MIN_OPSET:
        raise InputError(f"opset {opset} is older than accelsim reads ({MIN_OPSET}): convert it with "
                         f"onnx.version_converter", source=str(path), field="opset_import")
    return opset


def import_onnx(model, path: str) -> Graph:
    """The graph IR of a loaded ModelProto (InputError for unsupported ops and input types)."""
    from onnx import numpy_helper

    from accelsim.ops import ELEMENT_TYPES, run_node, unsupported

    g = model.graph
    check_opset(model, path)
    from accelsim.onnx.lower import QOPERATOR, QOPERATOR_DOMAINS, lower

    # accelsim's own layer ops (accelsim.<op>) are not ONNX ops: a file naming them is refused like any other
    foreign = sorted({n.op_type if not n.domain else f"{n.domain}:{n.op_type}" for n in g.node
                      if (n.domain not in ("", "ai.onnx") and not (n.domain in QOPERATOR_DOMAINS
                                                                   and n.op_type in QOPERATOR))
                      or n.op_type.startswith("accelsim.")})
    missing = sorted(set(foreign) | set(unsupported([n for n in g.node if n.domain in ("", "ai.onnx")])))
    if missing:
        raise InputError(f"unsupported ONNX ops: {', '.join(missing)} (accelsim runs every op of the ONNX standard "
                         f"domain, and the QOperator ops; see docs/onnx.md)", source=str(path))
    constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes, domains = [], []
    for n in g.node:
        node = Node(name=n.name, op_type=n.op_type, inputs=tuple(n.input), outputs=tuple(n.output),
                    attrs=_attribute_values(n), captures=_captures(n))
        if n.op_type == "Constant":  # Constant nodes are constants (quantize_static emits many)
            constants[n.output[0]] = run_node(node, [])[0]
            continue
        nodes.append(node)
        domains.append(n.domain)
    nodes, lowered = lower(nodes, domains, constants, str(path))
    inputs = []
    for i in g.input:
        if i.name in constants:
            continue
        elem = i.type.tensor_type.elem_type
        if elem not in ELEMENT_TYPES:
            raise InputError(f"input '{i.name}' has ONNX element type {elem}, which accelsim does not run",
                             source=str(path))
        dims = tuple(d.dim_param if d.dim_param else (d.dim_value if d.dim_value > 0 else "?")
                     for d in i.type.tensor_type.shape.dim)
        inputs.append(TensorInfo(name=i.name, dtype=ELEMENT_TYPES[elem], dims=dims))
    opset = check_opset(model, path)
    output_info = tuple(TensorInfo(name=o.name, dtype=ELEMENT_TYPES[o.type.tensor_type.elem_type],
                                   dims=tuple(d.dim_param if d.dim_param else (d.dim_value if d.dim_value > 0 else "?")
                                              for d in o.type.tensor_type.shape.dim))
                        for o in g.output if o.type.tensor_type.elem_type in ELEMENT_TYPES)
    return Graph(name=g.name or Path(path).stem, nodes=tuple(nodes), constants=constants, inputs=tuple(inputs),
                 outputs=tuple(o.name for o in g.output), source=str(path), opset=opset, output_info=output_info,
                 lowered_ops=lowered)


class OnnxGraph(GraphView):
    """An ONNX file imported and analysed (see the module docstring)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise InputError("file not found", source=str(path))
        if not path.is_file():  # a FIFO would block onnx.load forever; a directory is not a model
            raise InputError("is not a regular file; expected an ONNX model", source=str(path))
        from accelsim.resources import require_memory

        # the protobuf, its parsed copy and the numpy constants: about three times the file
        require_memory(3 * path.stat().st_size, what="loading the ONNX model", knob="use a smaller model",
                       source=str(path))
        model = _load(path)
        super().__init__(import_onnx(model, str(path)), path=str(path), model=model)
        self.path = path

    @classmethod
    def from_model(cls, model, path: str | Path) -> "OnnxGraph":
        """The graph of a ModelProto derived from the file at ``path`` (accelsim.onnx.specialize); messages
        name ``path``."""
        g = cls.__new__(cls)
        GraphView.__init__(g, import_onnx(model, str(path)), path=str(path), model=model)
        g.path = Path(path)
        return g


