"""Load workloads from YAML: strict schema validation, defaults, shape inference and chaining."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from accelsim.builtin import builtin_dir, builtin_names
from accelsim.configfile import LoadedYaml, load_yaml, suggest, validate
from accelsim.errors import InputError
from accelsim.workload import schema as ws
from accelsim.workload.layers import Layer, LayerQuant, QuantIntent, conv_out_size
from accelsim.workload.llm import LlmConfig
from accelsim.workload.workload import (
    DataSpec,
    LlmContext,
    SyntheticActivations,
    SyntheticWeights,
    TensorSpec,
    Workload,
)

DEFAULT_SAMPLE = 64
_DEFAULT_WEIGHTS = QuantIntent(bits=8, symmetric=True, granularity="per_channel", calibration="minmax")
_DEFAULT_ACTIVATIONS = QuantIntent(bits=8, symmetric=False, granularity="per_tensor", calibration="minmax")


def list_workloads() -> list[str]:
    return builtin_names("workloads")


def resolve_workload_path(ref: str | Path) -> Path:
    """A path as given, or the built-in workload of that name."""
    path = Path(ref)
    if path.exists() or str(ref).endswith((".yaml", ".yml")) or "/" in str(ref):
        return path
    names = list_workloads()
    if str(ref) in names:
        return builtin_dir("workloads") / f"{ref}.yaml"
    raise InputError(f"file not found, and no built-in workload is named '{ref}'{suggest(str(ref), names)}; "
                     f"built-in workloads: {', '.join(names)}", source=str(ref))


@dataclass(frozen=True)
class GeneratedSection:
    """A workload YAML whose layers another package generates: an ``onnx:`` or a ``model:`` section, with the
    workload's name, description, quantization defaults and the file it came from (paths are resolved
    relative to it). :func:`accelsim.loading.load_workload` builds these."""

    kind: str                     # "onnx" | "model"
    section: object               # ws.OnnxSource | ws.ModelSource
    name: str
    description: str
    quant: LayerQuant
    source: str
    recipe: object | None = None


def load_workload_yaml(ref: str | Path) -> Workload | GeneratedSection:
    """Load, validate and shape-check a workload YAML file or a built-in workload name: a layer workload, or
    the section a model importer builds the layers from."""
    path = resolve_workload_path(ref)
    loaded = load_yaml(path)
    model: ws.WorkloadModel = validate(ws.WorkloadModel, loaded)
    return _build(model, loaded)


def _merge(base: QuantIntent, override: ws.QuantIntentModel | None) -> QuantIntent:
    if override is None:
        return base
    changes = {k: v for k, v in override.model_dump().items() if v is not None}
    return dataclasses.replace(base, **changes)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _padding(v) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, [h, w] or [top, left, bottom, right] (ONNX order)."""
    if isinstance(v, int):
        return (v, v, v, v)
    if len(v) == 2:
        return (v[0], v[1], v[0], v[1])
    if len(v) == 4:
        return tuple(v)  # type: ignore[return-value]
    raise ValueError


def _recipe(value, src: str, fail):
    """quant.recipe as written: None, "auto", a recipe file (made absolute, relative to the workload) or the steps
    inline; accelsim.loading parses it (accelsim.quant.recipe.resolve_recipe)."""
    if value is None or value == "auto" or not isinstance(value, str):
        return value
    path = Path(value) if Path(value).is_absolute() else Path(src).parent / value
    if not path.is_file():
        raise fail(("quant", "recipe"), f"recipe file not found: {value} (a recipe YAML, 'auto', or the steps inline)")
    return str(path)


def _build(model: ws.WorkloadModel, loaded: LoadedYaml) -> Workload:
    src = loaded.source

    def fail(loc: tuple, message: str) -> InputError:
        from accelsim.configfile import _dotted

        return InputError(message, source=src, line=loaded.line_of(loc), field=_dotted(loc))

    defaults = LayerQuant(weights=_merge(_DEFAULT_WEIGHTS, model.quant.weights),
                          activations=_merge(_DEFAULT_ACTIVATIONS, model.quant.activations))
    _check_quant(defaults, ("quant",), fail)
    recipe = _recipe(model.quant.recipe, src, fail)
    for kind in ("model", "onnx"):
        if getattr(model, kind) is not None:
            return GeneratedSection(kind=kind, section=getattr(model, kind), name=model.name,
                                    description=model.description, quant=defaults, source=src, recipe=recipe)

    first = next(iter(model.inputs))
    inputs = tuple(TensorSpec(name=n, shape=tuple(m.shape), sampled=(m.sampled if m.sampled is not None
                                                                     else n == first))
                   for n, m in model.inputs.items())
    shapes: dict[str, tuple[int, ...]] = {t.name: t.shape for t in inputs}
    layers: list[Layer] = []
    previous = inputs[0].name
    for i, lm in enumerate(model.layers):
        loc = ("layers", i)
        if lm.name in shapes:
            raise fail(loc + ("name",), f"name '{lm.name}' is already used by an input or an earlier layer")
        if hasattr(lm, "inputs"):
            names = list(lm.inputs)
            field = "inputs"
        else:
            names = [lm.input or previous]
            field = "input"
        for j, n in enumerate(names):
            if n not in shapes:
                where = loc + ((field, j) if field == "inputs" else (field,))
                raise fail(where, f"unknown tensor '{n}'{suggest(n, list(shapes))}; a layer can read the "
                                  f"workload inputs and earlier layers: {', '.join(shapes)}")
        in_shapes = tuple(shapes[n] for n in names)
        quant = LayerQuant(
            weights=_merge(defaults.weights, lm.quant.weights if lm.quant else None),
            activations=_merge(defaults.activations, lm.quant.activations if lm.quant else None))
        _check_quant(quant, loc + ("quant",), fail)
        layer = _infer(lm, tuple(names), in_shapes, quant, loc, fail)
        if layer.op in ("linear", "conv2d") and quant.weights.granularity == "per_group":
            k = layer.weight_shape[0] if layer.op == "linear" else math.prod(layer.weight_shape[1:])
            if k % quant.weights.group_size:
                raise fail(loc + ("quant",), f"weights group_size {quant.weights.group_size} must divide "
                                             f"the reduction length {k}")
        layers.append(layer)
        shapes[layer.name] = layer.out_shape
        previous = layer.name

    sampled = [t for t in inputs if t.sampled]
    limit = min((t.shape[0] for t in sampled), default=1)
    if model.numerics.sample is None:
        sample = _default_sample(layers, min(DEFAULT_SAMPLE, limit), inputs, model)
    else:
        sample = model.numerics.sample
        if sample > limit:
            raise fail(("numerics", "sample"),
                       f"sample {sample} is larger than the layer: the sampled inputs' leading "
                       f"dimension is {limit}; allowed: 1..{limit}")
    _check_sizes(layers, sample, inputs, model, fail)
    data = DataSpec(source=model.data.source, seed=model.data.seed,
                    path=_data_path(model.data.path, loaded, fail),
                    weights=SyntheticWeights(**model.data.weights.model_dump()),
                    activations=SyntheticActivations(**model.data.activations.model_dump()))
    llm = None
    if model.llm is not None:
        m = model.llm
        bits = {layer.quant.activations.bits for layer in layers if layer.is_mac}
        cfg = LlmConfig(name=m.name or model.name, hidden=m.hidden, heads=m.heads, kv_heads=m.kv_heads or m.heads,
                        ffn=m.ffn, mlp=m.mlp, layers=m.layers, weight_bits=m.weight_bits,
                        activation_bits=max(bits or {8}), kv_cache_bits=m.kv_cache_bits, vocab=m.vocab,
                        math_format=m.math_format or "int8")
        llm = LlmContext(config=cfg, prompt=m.prompt, decode_steps=m.decode_steps)
    return Workload(name=model.name, description=model.description, inputs=inputs, layers=tuple(layers),
                    data=data, sample=sample, source=src, llm=llm, recipe=recipe)


#: results columns are int64: a layer's MACs or cycles must fit (2^62 leaves headroom for sums)
_MAX_MACS = 1 << 62
#: elements of one tensor (2^48 = 281e12: 1,000x the activations of the largest LLM prefill)
_MAX_ELEMENTS = 1 << 48


#: the memory a default numerics sample may plan for (bytes): the default shrinks to fit it (issue 27: a
#: [1e6, 1e6] input's 64 default rows ran at 2.5 GB); a sample the user sets is checked against the machine
DEFAULT_SAMPLE_BUDGET = 2 << 30


def _default_sample(layers: list[Layer], sample: int, inputs, model) -> int:
    """The default numerics sample: ``sample`` rows, or the most that fit :data:`DEFAULT_SAMPLE_BUDGET` when those
    would not (the table's header shows the sample run); unchanged when even one row does not fit (the weights
    dominate: the machine's memory decides, in :func:`_check_sizes`)."""
    from accelsim.workload.budget import execute_memory_bytes

    def need(n: int) -> int:
        probe = Workload(name=model.name, description="", inputs=inputs, layers=tuple(layers), data=DataSpec(),
                         sample=n, source="")
        return execute_memory_bytes(probe)[0]

    if sample <= 1 or need(sample) <= DEFAULT_SAMPLE_BUDGET or need(1) > DEFAULT_SAMPLE_BUDGET:
        return sample
    lo, hi = 1, sample  # need(lo) fits, need(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if need(mid) <= DEFAULT_SAMPLE_BUDGET else (lo, mid)
    return lo


def _check_sizes(layers: list[Layer], sample: int, inputs, model, fail) -> None:
    """Shapes the timing model can count and the numerics sample fits in memory (before any allocation)."""
    from accelsim.resources import require_memory
    from accelsim.workload.budget import execute_memory_bytes

    for i, layer in enumerate(layers):
        if layer.macs > _MAX_MACS or layer.out_elements > _MAX_ELEMENTS or layer.weight_elements > _MAX_ELEMENTS:
            raise fail(("layers", i), f"layer '{layer.name}' is too large to model ({layer.macs:.3g} MACs, "
                                      f"output {list(layer.out_shape)}); allowed: at most 2^62 MACs and 2^48 "
                                      f"elements per tensor")
    probe = Workload(name=model.name, description="", inputs=inputs, layers=tuple(layers), data=DataSpec(),
                     sample=sample, source="")
    need, where = execute_memory_bytes(probe)
    index = next((i for i, layer in enumerate(layers) if layer.name == where), None)
    try:
        require_memory(need, what=f"the bit-accurate run (numerics sample {sample}, at layer '{where}')",
                       knob="lower numerics.sample (rows of the sampled inputs that run bit-accurately) or the "
                            "shapes")
    except InputError as exc:
        raise fail(("numerics", "sample") if model.numerics.sample is not None or index is None else ("layers", index),
                   exc.detail) from None


def _data_path(path: str | None, loaded: LoadedYaml, fail) -> str | None:
    if path is None:
        return None
    resolved = Path(path)
    if not resolved.is_absolute():
        resolved = Path(loaded.source).parent / resolved
    if not resolved.is_file():
        raise fail(("data", "path"), f"data file '{path}' not found (relative paths are relative to the "
                                     f"workload file)")
    return str(resolved)


def _check_quant(quant: LayerQuant, loc: tuple, fail) -> None:
    for which in ("weights", "activations"):
        intent: QuantIntent = getattr(quant, which)
        if intent.granularity == "per_group":
            if which == "activations":
                raise fail(loc + (which, "granularity"), "per_group granularity is for weights only; "
                                                         "allowed for activations: per_tensor, per_channel")
            if intent.group_size is None:
                raise fail(loc + (which, "group_size"), "per_group granularity needs group_size (> 0)")
        elif intent.group_size is not None:
            raise fail(loc + (which, "group_size"), "group_size is only allowed with granularity per_group")
        if which == "weights" and intent.calibration == "entropy":
            raise fail(loc + (which, "calibration"), "entropy calibration is for activations; "
                                                     "allowed for weights: minmax, percentile, mse")


def _infer(lm, names, in_shapes, quant, loc, fail) -> Layer:
    base = dict(name=lm.name, op=lm.op, inputs=names, in_shapes=in_shapes, quant=quant)
    x = in_shapes[0]
    if lm.op == "linear":
        if len(x) > 3:
            raise fail(loc + ("input",), f"linear acts on the last axis, and '{names[0]}' has shape {list(x)} (rank "
                                         f"{len(x)}: an image layout, not (tokens, features) or (batch, tokens, "
                                         f"features)); insert a 'flatten' or 'global_avgpool' layer before it")
        k = x[-1]
        if lm.in_features is not None and lm.in_features != k:
            raise fail(loc + ("in_features",), f"shapes do not chain: in_features {lm.in_features} but the "
                                               f"input '{names[0]}' has shape {list(x)} (last dimension {k})")
        return Layer(**base, out_shape=(*x[:-1], lm.out_features), bias=lm.bias, activation=lm.activation)
    if lm.op == "conv2d":
        if len(x) != 4:
            raise fail(loc + ("input",), f"conv2d needs an NCHW input; '{names[0]}' has shape {list(x)}")
        n, c, h, w = x
        if lm.in_channels is not None and lm.in_channels != c:
            raise fail(loc + ("in_channels",), f"shapes do not chain: in_channels {lm.in_channels} but the "
                                               f"input '{names[0]}' has {c} channels (shape {list(x)})")
        if c % lm.groups or lm.out_channels % lm.groups:
            raise fail(loc + ("groups",), f"groups {lm.groups} must divide in_channels {c} and "
                                          f"out_channels {lm.out_channels}")
        kernel, stride, dilation = _pair(lm.kernel), _pair(lm.stride), _pair(lm.dilation)
        try:
            pads = _padding(lm.padding)
        except ValueError:
            raise fail(loc + ("padding",), "padding must be an int, [h, w] or [top, left, bottom, right]") from None
        ho = conv_out_size(h, kernel[0], stride[0], pads[0], pads[2], dilation[0])
        wo = conv_out_size(w, kernel[1], stride[1], pads[1], pads[3], dilation[1])
        if ho <= 0 or wo <= 0:
            raise fail(loc + ("kernel",), f"impossible shape: kernel {list(kernel)} (dilation {list(dilation)}) "
                                          f"does not fit the padded {h}x{w} input; output would be {ho}x{wo}")
        return Layer(**base, out_shape=(n, lm.out_channels, ho, wo), bias=lm.bias, activation=lm.activation,
                     kernel=kernel, stride=stride, padding=pads, dilation=dilation, groups=lm.groups)
    if lm.op == "matmul":
        a, b = in_shapes
        if len(a) < 2 or len(b) < 2:
            raise fail(loc + ("inputs",), f"matmul operands need >= 2 dimensions, got {list(a)} and {list(b)}")
        probe = Layer(**base, out_shape=(), transpose_b=lm.transpose_b, heads=lm.heads, merge_heads=lm.merge_heads)
        for shape, name in ((a, names[0]), (b, names[1])):
            if lm.heads > 1 and len(shape) == 2 and shape[1] % lm.heads:
                raise fail(loc + ("heads",), f"heads {lm.heads} must divide the last dimension of "
                                             f"'{name}' (shape {list(shape)})")
        a2, b2 = probe.matmul_operand_shapes
        if a2[-1] != b2[-2]:
            raise fail(loc + ("inputs",), f"shapes do not chain: '{names[0]}' {list(a)} x '{names[1]}' {list(b)}"
                                          f"{' (transposed)' if lm.transpose_b else ''}"
                                          f"{f' split into {lm.heads} heads' if lm.heads > 1 else ''}: "
                                          f"K {a2[-1]} != {b2[-2]}")
        if a2[:-2] != b2[:-2]:
            raise fail(loc + ("inputs",), f"matmul batch dimensions differ: {list(a2[:-2])} vs {list(b2[:-2])}")
        out = (*a2[:-2], a2[-2], b2[-1])
        if lm.merge_heads:
            if len(out) != 3:
                raise fail(loc + ("merge_heads",), "merge_heads needs a (heads, rows, cols) result")
            out = (out[1], out[0] * out[2])
        return dataclasses.replace(probe, out_shape=out)
    if lm.op in ("add", "mul"):
        a, b = in_shapes
        if a != b:
            raise fail(loc + ("inputs",), f"shapes do not chain: {lm.op} needs equal shapes, got "
                                          f"'{names[0]}' {list(a)} and '{names[1]}' {list(b)}")
        return Layer(**base, out_shape=a)
    if lm.op == "softmax":
        return Layer(**base, out_shape=x, scale=lm.scale)
    if lm.op in ("maxpool", "avgpool", "global_avgpool"):
        if len(x) != 4:
            raise fail(loc + ("input",), f"{lm.op} needs an NCHW input; '{names[0]}' has shape {list(x)}")
        n, c, h, w = x
        if lm.op == "global_avgpool":
            return Layer(**base, out_shape=(n, c, 1, 1), kernel=(h, w), stride=(h, w))
        kernel = _pair(lm.kernel)
        stride = _pair(lm.stride) if lm.stride is not None else kernel
        try:
            pads = _padding(lm.padding)
        except ValueError:
            raise fail(loc + ("padding",), "padding must be an int, [h, w] or [top, left, bottom, right]") from None
        if pads[0] >= kernel[0] or pads[2] >= kernel[0] or pads[1] >= kernel[1] or pads[3] >= kernel[1]:
            raise fail(loc + ("padding",), f"padding {list(pads)} must be smaller than the kernel {list(kernel)} "
                                           f"(ONNX: a window must hold at least one input cell)")
        ho = conv_out_size(h, kernel[0], stride[0], pads[0], pads[2], 1)
        wo = conv_out_size(w, kernel[1], stride[1], pads[1], pads[3], 1)
        if ho <= 0 or wo <= 0:
            raise fail(loc + ("kernel",), f"impossible shape: kernel {list(kernel)} does not fit the padded {h}x{w} "
                                          f"input; output would be {ho}x{wo}")
        return Layer(**base, out_shape=(n, c, ho, wo), kernel=kernel, stride=stride, padding=pads)
    if lm.op == "flatten":
        if len(x) < 2:
            raise fail(loc + ("input",), f"flatten needs a rank >= 2 input; '{names[0]}' has shape {list(x)}")
        return Layer(**base, out_shape=(x[0], math.prod(x[1:])))
    return Layer(**base, out_shape=x)  # relu, gelu, silu, layernorm, rmsnorm
