"""Loading any workload: a YAML of layers, a YAML that names an ONNX model or a real model, an ONNX file.

The front door over the packages that build workloads (accelsim.workload for YAML layers, accelsim.onnx for
ONNX graphs, accelsim.models for real models), so that none of them needs the others: the dependency runs
one way, from here down.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from accelsim.errors import InputError
from accelsim.workload.loader import GeneratedSection, load_workload_yaml
from accelsim.workload.workload import Workload


def load_workload(ref: str | Path, *, dims: dict[str, int] | None = None, data: str | None = None,
                  reference: str | None = None) -> Workload:
    """Load, validate and shape-check a workload YAML file, an ONNX file or a built-in workload name.

    ``dims`` (dynamic dimensions), ``data`` (.npz of model inputs) and ``reference`` (the float model) apply to
    ONNX files."""
    from accelsim.quant.recipe import resolve_recipe

    wl = _load(ref, dims=dims, data=data, reference=reference)
    return dataclasses.replace(wl, recipe=resolve_recipe(wl.recipe, wl.source))


def _load(ref, *, dims, data, reference) -> Workload:
    if str(ref).endswith(".onnx"):
        _require_onnx(str(ref))
        from accelsim.onnx.workload import onnx_workload

        if reference is not None:
            load_graph_checked(reference)
        return onnx_workload(str(ref), dims=dims, data=data, reference=reference)
    if dims or data or reference:
        raise InputError("--dim, --data and --reference apply to ONNX models (a workload YAML sets them under 'onnx:')",
                         source=str(ref))
    loaded = load_workload_yaml(ref)
    if not isinstance(loaded, GeneratedSection):
        return loaded
    if loaded.kind == "model":
        from accelsim.models.minilm_workload import minilm_workload

        return dataclasses.replace(minilm_workload(loaded.section, loaded.quant, loaded.name, loaded.description,
                                                   loaded.source), recipe=loaded.recipe)
    _require_onnx(loaded.source)
    from accelsim.onnx.workload import onnx_workload

    base = Path(loaded.source).parent

    def rel(p):
        return None if p is None else str(p if Path(p).is_absolute() else base / p)

    o = loaded.section
    return dataclasses.replace(onnx_workload(rel(o.path), dims=dict(o.dims), data=rel(o.data),
                                             reference=rel(o.reference), name=loaded.name, quant=loaded.quant,
                                             description=loaded.description, source=loaded.source),
                               recipe=loaded.recipe)


def load_graph_checked(path: str):
    """An ONNX model given as a reference: readable, and supported (InputError otherwise)."""
    _require_onnx(path)
    from accelsim.onnx.workload import load_graph

    return load_graph(path)


def _require_onnx(source: str) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise InputError("ONNX models need the 'onnx' extra: pip install -e \".[onnx]\"", source=source) from None
