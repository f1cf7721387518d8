"""An ONNX file as a workload: layers (for timing and results) from the graph at the bound shapes,
data records (calibration and evaluation) from an .npz of model inputs or synthetic inputs.

Dynamic dimensions are bound by name (``--dim seq=128``); the timing model uses those full shapes.
``.npz`` records: arrays named after the graph inputs (one record), or ``<input>.<i>`` (record i; the
records may have different sequence lengths).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import InputError
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent

#: float glue op -> the vector op accelsim times it as; layout-only ops and Q/DQ are not timed (fused)
GLUE_OPS = {"Softmax": "softmax", "LayerNormalization": "layernorm", "Erf": "gelu", "Gelu": "gelu",
            "Relu": "relu", "Add": "add", "Sub": "add", "Mul": "mul", "Div": "mul", "Pow": "mul", "Sqrt": "mul",
            "Tanh": "gelu", "Sigmoid": "silu", "Where": "mul", "MaxPool": "maxpool", "AveragePool": "avgpool",
            "GlobalAveragePool": "global_avgpool", "ReduceMean": "add", "Transpose": "add", "Concat": "add",
            "Gather": "add", "Clip": "relu", "Exp": "mul"}


@dataclass(frozen=True)
class OnnxSpec:
    """The ONNX model behind a workload and the data it runs on."""

    path: str
    dims: tuple[tuple[str, int], ...]
    calibration: tuple          # feed dicts
    evaluation: tuple           # feed dicts
    reference: str | None = None
    synthetic: bool = True
    warnings: tuple[str, ...] = ()   # about the data (arrays that are not model inputs), printed by the CLI


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
            elif d in dims:
                out.append(int(dims[d]))
            else:
                label = d if d != "?" else f"{name}[{i}]"
                raise InputError(f"dynamic dimension '{label}' of input '{name}' is not set; set it with "
                                 f"--dim {label}=N (bound so far: {', '.join(f'{k}={v}' for k, v in dims.items()) or 'none'})",
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

    symbolic = sorted({d for ds in g.input_dims().values() for d in ds if isinstance(d, str) and d != "?"})
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


def _intent(L) -> LayerQuant:
    from accelsim.onnx.contract import is_symmetric

    if L.x_q is None:
        return None
    acts = [p for p in (L.x_q, L.y_q, L.b_q if L.kind == "matmul" else None) if p is not None]
    a = QuantIntent(bits=8 if all(np.asarray(p.zero_point).dtype.itemsize == 1 for p in acts) else 16,
                    symmetric=all(is_symmetric(p) for p in acts), granularity="per_tensor")
    if L.kind == "matmul":
        return LayerQuant(weights=a, activations=a)
    w = QuantIntent(bits=8 * np.asarray(L.b_q.zero_point).dtype.itemsize, symmetric=is_symmetric(L.b_q),
                    granularity="per_channel" if L.b_q.per_channel else "per_tensor")
    return LayerQuant(weights=w, activations=a)


def graph_layers(g, feed: dict, defaults: LayerQuant) -> list[Layer]:
    """accelsim layers for the integer layers and the timed float glue, at the shapes of ``feed``."""
    from accelsim.onnx.execute import run_graph

    shapes: dict[str, tuple] = {}
    kinds: dict[str, str] = {}

    def tap(name, value):
        v = np.asarray(value)
        shapes[name] = v.shape
        kinds[name] = v.dtype.kind

    run_graph(g, feed, tap=tap)
    for k, v in feed.items():
        shapes[k] = v.shape
    by_node = {id(L.node): L for L in g.layers}
    layers, used = [], set()
    for node in g.nodes:
        name = node.name or node.output[0]
        if name in used:
            name = f"{name}#{len(used)}"
        L = by_node.get(id(node))
        if L is not None:
            quant = _intent(L) or defaults
            y = shapes[L.y_float]
            if L.kind == "linear":
                layer = Layer(name=name, op="linear", inputs=(L.x_float,), in_shapes=(shapes[L.x_float],),
                              out_shape=y, quant=quant, bias=L.bias is not None)
            elif L.kind == "conv2d":
                a = L.conv_attrs
                layer = Layer(name=name, op="conv2d", inputs=(L.x_float,), in_shapes=(shapes[L.x_float],), out_shape=y,
                              quant=quant, bias=L.bias is not None, kernel=tuple(L.weight.shape[2:]),
                              stride=tuple(a.get("strides", (1, 1))), padding=tuple(a.get("pads", (0, 0, 0, 0))),
                              dilation=tuple(a.get("dilations", (1, 1))), groups=int(a.get("group", 1)))
            else:
                layer = Layer(name=name, op="matmul", inputs=(L.x_float, L.b_float),
                              in_shapes=(shapes[L.x_float], shapes[L.b_float]), out_shape=y, quant=quant)
            L.name = name
        elif node.op_type in ("MatMul", "Gemm", "Conv") and kinds.get(node.output[0]) == "f":
            layer = _float_mac_layer(g, node, name, shapes, defaults)
        elif node.op_type in GLUE_OPS and node.output[0] in shapes and kinds.get(node.output[0]) == "f":
            out = shapes[node.output[0]]
            ins = [i for i in node.input if i in shapes and kinds.get(i) == "f" and math.prod(shapes[i]) >= 1]
            if not ins:
                continue
            window = {}
            if node.op_type in ("MaxPool", "AveragePool") and len(out) == 4:
                from accelsim.onnx.ops import attrs

                a = attrs(node)
                window = dict(kernel=tuple(a.get("kernel_shape", (1, 1))), stride=tuple(a.get("strides", (1, 1))),
                              padding=tuple(a.get("pads", (0, 0, 0, 0))))
            layer = Layer(name=name, op=GLUE_OPS[node.op_type], inputs=tuple(ins[:2]),
                          in_shapes=tuple(shapes[i] for i in ins[:2]), out_shape=out, quant=defaults, **window)
        else:
            continue
        used.add(name)
        layers.append(layer)
    return layers


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
    model = onnx.ModelProto()
    model.CopyFrom(g.model)
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
    unknown += sum(1 for n in g.nodes for o in n.output if o not in seen) if inferred else 0
    return total + unknown * largest_input * 8


def _float_mac_layer(g, node, name: str, shapes: dict, defaults: LayerQuant) -> Layer:
    """A MatMul / Gemm / Conv that is not an integer layer (a Gemm with alpha/beta != 1 or transA in a QDQ
    model, a node outside a Q/DQ pattern): it runs in float, and its MACs are timed and charged like the
    integer layer it would be on the array (at the contract's widths), so no cost goes missing."""
    from accelsim.onnx.ops import attrs

    a = attrs(node)
    def shape(t: str) -> tuple:
        return tuple(shapes[t]) if t in shapes else tuple(np.shape(g.constants[t]))

    x, w = shape(node.input[0]), shape(node.input[1])
    y = shape(node.output[0])
    has_bias = len(node.input) > 2 and bool(node.input[2])
    if node.op_type == "Conv":
        return Layer(name=name, op="conv2d", inputs=(node.input[0],), in_shapes=(x,), out_shape=y, quant=defaults,
                     bias=has_bias, kernel=tuple(w[2:]), stride=tuple(a.get("strides", (1, 1))),
                     padding=tuple(a.get("pads", (0, 0, 0, 0))), dilation=tuple(a.get("dilations", (1, 1))),
                     groups=int(a.get("group", 1)))
    if node.op_type == "Gemm":
        x = x[::-1] if a.get("transA", 0) else x
        k, n = (w[1], w[0]) if a.get("transB", 0) else (w[0], w[1])
        return Layer(name=name, op="linear", inputs=(node.input[0],), in_shapes=((x[0], k),), out_shape=(x[0], n),
                     quant=defaults, bias=has_bias)
    if node.input[1] in g.constants and len(w) == 2:
        return Layer(name=name, op="linear", inputs=(node.input[0],), in_shapes=(x,), out_shape=y, quant=defaults)
    if len(x) < 2 or len(w) < 2:  # a vector operand: a GEMV with M = 1 (or N = 1)
        x2 = x if len(x) >= 2 else (1, x[0])
        w2 = w if len(w) >= 2 else (w[0], 1)
        return Layer(name=name, op="linear", inputs=(node.input[0],), in_shapes=(x2,), out_shape=(*x2[:-1], w2[-1]),
                     quant=defaults)
    batch = tuple(np.broadcast_shapes(tuple(x[:-2]), tuple(w[:-2])))
    return Layer(name=name, op="matmul", inputs=(node.input[0], node.input[1]),
                 in_shapes=((*batch, *x[-2:]), (*batch, *w[-2:])), out_shape=(*batch, x[-2], w[-1]), quant=defaults)


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
    shapes = _bind(g, dims, source or path)
    _check_memory(g, shapes, feeds, source or path)
    timing_feed = synthetic_feed(g, shapes)
    quant = quant or LayerQuant(weights=QI(bits=8, symmetric=True, granularity="per_channel"),
                                activations=QI(bits=8, symmetric=False))
    layers = graph_layers(g, timing_feed, quant)
    if not any(layer.is_mac for layer in layers):
        raise InputError("the model has no MatMul, Gemm or Conv that accelsim can run as an integer layer",
                         source=source or path)
    if feeds is None:
        feeds = [synthetic_feed(g, shapes, seed=i + 1) for i in range(records)]
    spec = OnnxSpec(path=str(path), dims=tuple(sorted(dims.items())), calibration=tuple(feeds),
                    evaluation=tuple(feeds), reference=reference, synthetic=data is None, warnings=tuple(warnings))
    inputs = tuple(TensorSpec(name=k, shape=v, sampled=True) for k, v in shapes.items())
    kind = "QDQ" if g.is_qdq else "float"
    desc = description or (f"{Path(path).name}: {kind} ONNX model, {sum(1 for x in layers if x.is_mac)} integer "
                           f"layers, inputs {', '.join(f'{k}{list(v)}' for k, v in shapes.items())}")
    return Workload(name=name or Path(path).stem, description=desc, inputs=inputs, layers=tuple(layers),
                    data=DataSpec(), sample=len(feeds), source=source or str(path), onnx=spec)
