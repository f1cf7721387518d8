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
            "Tanh": "gelu", "Sigmoid": "silu", "Where": "mul", "MaxPool": "add", "AveragePool": "add",
            "GlobalAveragePool": "add", "ReduceMean": "add", "Transpose": "add", "Concat": "add",
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


def read_records(path: str, g) -> list[dict]:
    try:
        data = dict(np.load(path, allow_pickle=False))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read .npz of model inputs: {' '.join(str(exc).split())[:120]}", source=path) from None
    names = [i.name for i in g.inputs]
    records: dict[int, dict] = {}
    for key, arr in data.items():
        m = re.fullmatch(r"(.+)\.(\d+)", key)
        name, idx = (m.group(1), int(m.group(2))) if m and m.group(1) in names else (key, 0)
        if name not in names:
            raise InputError(f"array '{key}' is not a model input; inputs: {', '.join(names)}", source=path)
        records.setdefault(idx, {})[name] = arr.astype(g.input_dtype(name))
    out = [records[i] for i in sorted(records)]
    for i, r in enumerate(out):
        missing = [n for n in names if n not in r]
        if missing:
            raise InputError(f"record {i} lacks inputs {', '.join(missing)}", source=path)
    return out


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
        elif node.op_type in GLUE_OPS and node.output[0] in shapes and kinds.get(node.output[0]) == "f":
            out = shapes[node.output[0]]
            if math.prod(out) < 64:
                continue
            ins = [i for i in node.input if i in shapes and kinds.get(i) == "f" and math.prod(shapes[i]) >= 1]
            if not ins:
                continue
            layer = Layer(name=name, op=GLUE_OPS[node.op_type], inputs=tuple(ins[:2]),
                          in_shapes=tuple(shapes[i] for i in ins[:2]), out_shape=out, quant=defaults)
        else:
            continue
        used.add(name)
        layers.append(layer)
    return layers


def onnx_workload(path: str, *, dims: dict[str, int] | None = None, data: str | None = None,
                  reference: str | None = None, name: str | None = None, quant: LayerQuant | None = None,
                  description: str = "", source: str | None = None, records: int = 4):
    """The Workload of an ONNX file (InputError for unsupported ops, unbound dims, bad data)."""
    from accelsim.workload.layers import QuantIntent as QI
    from accelsim.workload.workload import DataSpec, TensorSpec, Workload

    g = load_graph(path)
    dims = dict(dims or {})
    feeds = read_records(data, g) if data else None
    if feeds:  # unbound dims default to the first record's shapes
        for inp_name, ds in g.input_dims().items():
            for i, d in enumerate(ds):
                if isinstance(d, str) and d not in dims and d != "?":
                    dims[d] = int(feeds[0][inp_name].shape[i])
    shapes = _bind(g, dims, source or path)
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
                    evaluation=tuple(feeds), reference=reference, synthetic=data is None)
    inputs = tuple(TensorSpec(name=k, shape=v, sampled=True) for k, v in shapes.items())
    kind = "QDQ" if g.is_qdq else "float"
    desc = description or (f"{Path(path).name}: {kind} ONNX model, {sum(1 for x in layers if x.is_mac)} integer "
                           f"layers, inputs {', '.join(f'{k}{list(v)}' for k, v in shapes.items())}")
    return Workload(name=name or Path(path).stem, description=desc, inputs=inputs, layers=tuple(layers),
                    data=DataSpec(), sample=len(feeds), source=source or str(path), onnx=spec)
