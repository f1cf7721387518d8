"""An ONNX file as a workload: layers (for timing and results) from the graph at the bound shapes,
data records (calibration and evaluation) from an .npz of model inputs or synthetic inputs.

Dynamic dimensions are bound by name (``--dim seq=128``); the timing model uses those full shapes.
``.npz`` records: arrays named after the graph inputs (one record), or ``<input>.<i>`` (record i; the
records may have different sequence lengths).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from accelsim.errors import InputError
from accelsim.graph.layers import graph_layers
from accelsim.graph.run import GraphSpec
from accelsim.onnx.loops import loop_layers
from accelsim.onnx.specialize import specialize
from accelsim.workload.layers import LayerQuant

_GRAPHS: dict = {}


def load_graph(path: str):
    from accelsim.onnx.graph import OnnxGraph

    key = str(Path(path).resolve())
    if key not in _GRAPHS:
        _GRAPHS[key] = OnnxGraph(path)
    return _GRAPHS[key]


def _bind(g, dims: dict[str, int], source: str) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for name, ds in g.input_dims().items():
        out = []
        for i, d in enumerate(ds):
            if isinstance(d, int):
                out.append(d)
            elif d in dims and d != "?":
                out.append(int(dims[d]))
            elif f"{name}[{i}]" in dims:  # an unnamed dynamic dimension, bound by its input and axis
                out.append(int(dims[f"{name}[{i}]"]))
            else:
                label = d if d != "?" else f"{name}[{i}]"
                raise InputError(f"dynamic dimension '{label}' of input '{name}' is not set; set it with "
                                 f"--dim {label}=N (bound so far: "
                                 f"{', '.join(f'{k}={v}' for k, v in dims.items()) or 'none'})",
                                 source=source, field="dims")
        shapes[name] = tuple(out)
    return shapes


def synthetic_feed(g, shapes: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Model inputs of the given shapes: token ids in [0, 1000), masks of ones, type ids of zeros,
    float inputs standard normal (seeded)."""
    rng = np.random.default_rng(seed)
    feed = {}
    for name, shape in shapes.items():
        dtype = g.input_dtype(name)
        if np.dtype(dtype).kind in "iu":
            if "mask" in name.lower():
                feed[name] = np.ones(shape, dtype=dtype)
            elif "type" in name.lower() or "segment" in name.lower():
                feed[name] = np.zeros(shape, dtype=dtype)
            else:
                feed[name] = rng.integers(1000, 3000, shape).astype(dtype)
        elif np.dtype(dtype).kind == "b":
            feed[name] = np.ones(shape, dtype=bool)
        else:
            feed[name] = rng.standard_normal(shape).astype(dtype)
    return feed


def read_records(path: str, g, warnings: list[str] | None = None) -> list[dict]:
    """Records of model inputs from an .npz: ``<input>`` (one record) or ``<input>.<i>`` (record i).

    Checked against the model: every input present in every record (a missing one is an error naming it),
    rank and fixed dimensions as the model declares them, integer inputs given integer values, floats
    finite; dynamic dimensions consistent across the inputs of a record. Arrays that are not model inputs
    are reported in ``warnings``."""
    from accelsim.configfile import suggest
    from accelsim.workload.npz import read_npz

    data = read_npz(path, what="model inputs")
    names = [i.name for i in g.inputs]
    dims = g.input_dims()
    records: dict[int, dict] = {}
    extra = []
    for key, arr in data.items():
        m = re.fullmatch(r"(.+)\.(\d+)", key)
        name, idx = (m.group(1), int(m.group(2))) if m and m.group(1) in names else (key, 0)
        if name not in names:
            extra.append(f"'{key}'{suggest(key, names)}")
            continue
        records.setdefault(idx, {})[name] = _check_input_array(key, arr, dims[name], g.input_dtype(name), path)
    if extra and warnings is not None:
        warnings.append(f"{path}: arrays that are not inputs of the model (ignored): {', '.join(extra)[:300]}; "
                        f"model inputs: {', '.join(names)}")
    if not records:
        raise InputError(f"no array is a model input; model inputs: {', '.join(names)} (one record: arrays named "
                         f"after the inputs; several: '<input>.<i>')", source=path)
    out = [records[i] for i in sorted(records)]
    for i, r in zip(sorted(records), out):
        missing = [n for n in names if n not in r]
        if missing:
            label = "" if len(out) == 1 and i == 0 else f" of record {i}"
            raise InputError(f"array {', '.join(repr(n) for n in missing)}{label} is missing (model inputs: "
                             f"{', '.join(names)})", source=path)
        bound: dict[str, tuple[int, str]] = {}
        for n in names:
            for axis, d in enumerate(dims[n]):
                if isinstance(d, str) and d != "?":
                    size = int(r[n].shape[axis])
                    if d in bound and bound[d][0] != size:
                        raise InputError(f"record {i}: dimension '{d}' is {bound[d][0]} in array '{bound[d][1]}' "
                                         f"but {size} in array '{n}'", source=path)
                    bound[d] = (size, n)
    return out


def _check_input_array(key: str, arr: np.ndarray, dims: list, dtype, path: str) -> np.ndarray:
    """One array against the model input's rank, fixed dims and element type."""
    if arr.ndim != len(dims):
        raise InputError(f"array '{key}' has rank {arr.ndim} (shape {list(arr.shape)}); the model input has rank "
                         f"{len(dims)} ({_dims_text(dims)})", source=path)
    for axis, d in enumerate(dims):
        if isinstance(d, int) and arr.shape[axis] != d:
            raise InputError(f"array '{key}' has shape {list(arr.shape)}; the model input is {_dims_text(dims)} "
                             f"(dimension {axis} must be {d})", source=path)
        if arr.shape[axis] == 0:
            raise InputError(f"array '{key}' is empty (shape {list(arr.shape)})", source=path)
    target = np.dtype(dtype)
    if target.kind in "iub":
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise InputError(f"array '{key}' holds fractional values; the model input is {target} (token ids, "
                             f"masks)", source=path)
        if target.kind in "iu":
            info = np.iinfo(target)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise InputError(f"array '{key}' has values outside {target}'s range", source=path)
    elif target.kind == "f" and arr.dtype.kind == "f" and arr.size:
        with np.errstate(over="ignore"):
            if not np.isfinite(arr.astype(target)).all():
                raise InputError(f"array '{key}' has values beyond {target}'s range", source=path)
    return arr.astype(target)


def _dims_text(dims: list) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def check_dims(g, dims: dict[str, int], records: list[dict] | None, source: str) -> None:
    """``--dim`` names must be dynamic dimensions of the model, and agree with the data's shapes."""
    from accelsim.configfile import suggest

    symbolic = sorted({d for ds in g.input_dims().values() for d in ds if isinstance(d, str) and d != "?"}
                      | {f"{n}[{i}]" for n, ds in g.input_dims().items() for i, d in enumerate(ds) if d == "?"})
    for name, value in dims.items():
        if name not in symbolic:
            raise InputError(f"'{name}' is not a dynamic dimension of the model{suggest(name, symbolic)}; its "
                             f"dynamic dimensions: {', '.join(symbolic) or 'none'}", source=source, field="--dim")
    for i, record in enumerate(records or []):
        for inp, ds in g.input_dims().items():
            for axis, d in enumerate(ds):
                if isinstance(d, str) and d in dims and inp in record and record[inp].shape[axis] != dims[d]:
                    where = f"array '{inp}'" + (f" of record {i}" if len(records) > 1 else "")
                    raise InputError(f"{d}={dims[d]} contradicts the data: {where} has {d} = "
                                     f"{record[inp].shape[axis]} (shape {list(record[inp].shape)})", source=source,
                                     field="--dim")


def _check_memory(g, shapes: dict, feeds, source: str) -> None:
    """Every tensor of a graph run is kept (run_graph returns them all): estimate their bytes from ONNX shape
    inference at the bound shapes, before the first run allocates them."""
    from accelsim.resources import require_memory

    need = _graph_tensor_bytes(g, shapes)
    if feeds:
        need += sum(np.asarray(v).nbytes for r in feeds for v in r.values())
    require_memory(need * 3, what=f"running the model at {', '.join(f'{k}{list(v)}' for k, v in shapes.items())}",
                   knob="lower --dim values (or the data's sizes)", source=source)


def _graph_tensor_bytes(g, shapes: dict) -> int:
    """Bytes of all tensors of one run: inputs at ``shapes``, every inferred value, constants."""
    import onnx
    from onnx import shape_inference

    total = sum(math.prod(s) * np.dtype(g.input_dtype(n)).itemsize for n, s in shapes.items())
    largest_input = max((math.prod(s) for s in shapes.values()), default=1)
    from accelsim.onnx.export import to_onnx

    model = onnx.ModelProto()
    # ONNX's shape inference knows only the standard domain: a QOperator model (com.microsoft ops) is inferred in
    # the standard-domain form accelsim runs it in (accelsim.onnx.lower)
    foreign = g.model is not None and any(n.domain not in ("", "ai.onnx") for n in g.model.graph.node)
    model.CopyFrom(g.model if g.model is not None and not foreign else to_onnx(g.graph))
    for inp in model.graph.input:
        if inp.name in shapes:
            for d, size in zip(inp.type.tensor_type.shape.dim, shapes[inp.name]):
                d.Clear()
                d.dim_value = int(size)
    unknown = 0
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True).graph.value_info
    except Exception:  # noqa: BLE001 - inference is an estimate; fall back to the inputs' size per node
        inferred = []
        unknown = len(g.nodes)
    seen = set()
    for vi in inferred:
        seen.add(vi.name)
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            total += math.prod(d.dim_value for d in dims) * 8
        else:
            unknown += 1
    unknown += sum(1 for n in g.nodes for o in n.outputs if o not in seen) if inferred else 0
    return total + unknown * largest_input * 8


def onnx_workload(path: str, *, dims: dict[str, int] | None = None, data: str | None = None,
                  reference: str | None = None, name: str | None = None, quant: LayerQuant | None = None,
                  description: str = "", source: str | None = None, records: int = 4):
    """The Workload of an ONNX file (InputError for unsupported ops, unbound dims, bad data)."""
    from accelsim.workload.layers import QuantIntent as QI
    from accelsim.workload.workload import DataSpec, TensorSpec, Workload

    g = load_graph(path)
    dims = dict(dims or {})
    warnings: list[str] = []
    feeds = read_records(data, g, warnings) if data else None
    check_dims(g, dims, feeds, source or path)
    if feeds:  # unbound dims default to the first record's shapes
        for inp_name, ds in g.input_dims().items():
            for i, d in enumerate(ds):
                if isinstance(d, str) and d not in dims and d != "?":
                    dims[d] = int(feeds[0][inp_name].shape[i])
                elif d == "?" and f"{inp_name}[{i}]" not in dims:  # unnamed: bound by input and axis
                    dims[f"{inp_name}[{i}]"] = int(feeds[0][inp_name].shape[i])
    shapes = _bind(g, dims, source or path)
    _check_memory(g, shapes, feeds, source or path)
    timing_feed = synthetic_feed(g, shapes)
    synthetic = feeds is None
    if synthetic:
        feeds = [synthetic_feed(g, shapes, seed=i + 1) for i in range(records)]
    g = specialize(g, [*feeds, timing_feed] if synthetic else feeds, warnings)
    quant = quant or LayerQuant(weights=QI(bits=8, symmetric=True, granularity="per_channel"),
                                activations=QI(bits=8, symmetric=False))
    layers = graph_layers(g, timing_feed, quant, subgraph_layers=loop_layers)
    if not any(layer.is_mac for layer in layers):
        raise InputError("the model has no MatMul, Gemm or Conv that accelsim can run as an integer layer",
                         source=source or path)
    if g.folded_batchnorm:
        pairs = ", ".join(f"{bn} into {conv}" for bn, conv in g.folded_batchnorm[:6])
        more = f" and {len(g.folded_batchnorm) - 6} more" if len(g.folded_batchnorm) > 6 else ""
        warnings.append(f"{len(g.folded_batchnorm)} BatchNormalization node(s) folded into the conv before them, as "
                        f"ONNX Runtime's optimizer folds them ({pairs}{more}); the float reference runs them unfolded")
    spec = GraphSpec(view=g, dims=tuple(sorted(dims.items())), calibration=tuple(feeds), evaluation=tuple(feeds),
                     reference=load_graph(reference) if reference else None, reference_path=reference,
                     synthetic=synthetic, warnings=tuple(warnings))
    inputs = tuple(TensorSpec(name=k, shape=v, sampled=True) for k, v in shapes.items())
    kind = "QDQ" if g.is_qdq else "float"
    desc = description or (f"{Path(path).name}: {kind} ONNX model, {sum(1 for x in layers if x.is_mac)} integer "
                           f"layers, inputs {', '.join(f'{k}{list(v)}' for k, v in shapes.items())}")
    return Workload(name=name or Path(path).stem, description=desc, inputs=inputs, layers=tuple(layers),
                    data=DataSpec(), sample=len(feeds), source=source or str(path), graph=spec)
