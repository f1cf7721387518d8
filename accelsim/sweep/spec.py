"""The sweep file: what to vary (dotted paths into a base profile), how to sample, what to optimize.

```yaml
workload: workloads/resnet18.yaml        # or several under `workloads:`
base: edge-npu-pot16                     # a built-in name or a profile YAML (relative to the sweep file)
axes:                                    # dotted paths into the profile (list indices allowed: memory.1.bytes)
  array.rows: [8, 16, 32]
  accumulator.bits: [16, 24, 32]
  memory.0.bandwidth_Bps: [1.6e9, 6.4e9]
sample: grid                             # grid | {random: N} | {lhs: N} | {optimize: N}
objectives: [latency_s, energy_pj, final_sqnr_db, area_mm2]
```

Checked when loaded (one-line error naming the key, exit 2): every axis path must exist in the base profile
(parents as mappings or list indices; the leaf a key the base has, or one the profile schema allows), every
axis a non-empty list of values of the base value's type, every objective known, and no axis over a field the
rows cannot see (``NO_EFFECT``: e.g. ``concurrent_layers``, ``interconnect``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from accelsim.errors import InputError

#: objectives a sweep can rank on; the second element: True when larger is better
OBJECTIVES = {
    "latency_s": False, "energy_pj": False, "area_mm2": False, "cycles": False, "overflow_events": False,
    "saturation_events": False, "final_sqnr_db": True, "cosine_mean": True, "cosine_min": True,
    "utilization": True,
}
#: objectives that need the numerics
NUMERICS_OBJECTIVES = ("final_sqnr_db", "cosine_mean", "cosine_min", "overflow_events", "saturation_events")
MAX_POINTS = 1_000_000
#: profile fields a sweep row cannot see (an axis over them would give identical rows): path prefix -> where they act
NO_EFFECT = {
    "interconnect": "tensor parallelism (accelsim llm / serve --tp), not a sweep's rows",
    "runtime.concurrent_layers": "the whole-network simulation, which sweep rows skip (their metrics are per-layer "
                                 "sums)",
    "runtime.cuda_graphs": "LLM decode steps (accelsim llm / serve), not a sweep's rows",
    "runtime.kv_reads": "LLM decode attention (accelsim llm / serve), not a sweep's rows",
    "runtime.attention_efficiency": "LLM decode attention (accelsim llm / serve), not a sweep's rows",
    "runtime.step_overhead_s": "LLM steps (accelsim llm / serve), not a sweep's rows",
    "runtime.request_overhead_s": "LLM requests (accelsim llm / serve), not a sweep's rows",
    "runtime.all_reduce": "tensor parallelism (accelsim llm / serve --tp), not a sweep's rows",
    "runtime.scheduler": "serving (accelsim serve), not a sweep's rows",
    "memory.0.bytes": "the device memory's capacity checks (accelsim llm / serve), not a sweep's rows",
    "name": "the profile's name", "description": "the profile's description",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SweepModel(_Strict):
    workload: str | None = None
    workloads: list[str] | None = Field(default=None, min_length=1)
    base: str
    axes: dict[str, list] = Field(min_length=1)
    sample: Union[Literal["grid"], dict[Literal["random", "lhs", "optimize"], int]] = "grid"
    objectives: list[str] = Field(default_factory=lambda: ["latency_s", "energy_pj", "final_sqnr_db", "area_mm2"],
                                  min_length=1)
    seed: int = 0
    timing_only: bool = False
    runtime: str | None = None   # the runtime profile every point runs under (default: the base's default runtime)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: workload references, the base profile's YAML data, axes, the points to run."""

    name: str
    source: str
    workloads: tuple[str, ...]
    base_name: str
    base_data: dict
    axes: tuple[tuple[str, tuple], ...]
    sample: str
    count: int | None
    objectives: tuple[str, ...]
    seed: int = 0
    timing_only: bool = False
    points: tuple[dict, ...] = field(default_factory=tuple)
    runtime: str | None = None

    @property
    def needs_numerics(self) -> bool:
        return not self.timing_only and any(o in NUMERICS_OBJECTIVES for o in self.objectives)


def _parts(path: str) -> list:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def get_path(data, path: str):
    node = data
    for p in _parts(path):
        node = node[p]
    return node


def set_path(data, path: str, value) -> None:
    parts = _parts(path)
    node = data
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


#: runtime settings an axis may vary (``runtime.<field>``; ``runtime.gemm_efficiency.<rate class>``) and their types
RUNTIME_AXES = {"dram_efficiency": float, "kernel_launch_s": float, "gemm_efficiency": float}


def _check_runtime_axis(base_name: str, path: str, values: list, source: str) -> None:
    """``runtime``: built-in runtime names or YAML paths; ``runtime.<field>``: a number in the field's range."""
    where = f"axes.{path}"
    if path == "runtime":
        from accelsim.runtime import load_runtime

        for v in values:
            if not isinstance(v, str):
                raise InputError(f"wrong type: {v!r}; a runtime is a name or a YAML path", source=source, field=where)
            try:
                load_runtime(v, base_name)
            except InputError as exc:
                raise InputError(exc.detail, source=source, field=where) from None
        return
    parts = path.split(".")[1:]
    if parts[0] not in RUNTIME_AXES or (parts[0] == "gemm_efficiency") != (len(parts) == 2) or len(parts) > 2:
        raise InputError("unknown runtime axis: allowed runtime.dram_efficiency, runtime.kernel_launch_s, "
                         "runtime.gemm_efficiency.<int8|fp16|bf16|fp8|fp4>", source=source, field=where)
    if parts[0] == "gemm_efficiency" and parts[1] not in ("int8", "fp16", "bf16", "fp8", "fp4"):
        raise InputError(f"unknown rate class '{parts[1]}' (int8, fp16, bf16, fp8, fp4)", source=source, field=where)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"wrong type: {v!r}; a number", source=source, field=where)
        limit = 1e-2 if parts[0] == "kernel_launch_s" else 1.0
        low_ok = v >= 0 if parts[0] == "kernel_launch_s" else v > 0
        if not (low_ok and v <= limit):
            raise InputError(f"{v!r} is out of range ({'[0, 0.01] s' if limit < 1 else '(0, 1]'})", source=source,
                             field=where)


def _check_axis(base: dict, path: str, values: list, source: str) -> None:
    """The path exists (or is a key the schema allows at an existing parent) and the values fit its type."""
    from accelsim.hardware.schema import HardwareModel

    where = f"axes.{path}"
    if not values:
        raise InputError("empty axis: give at least one value", source=source, field=where)
    for prefix, acts_on in NO_EFFECT.items():
        if path == prefix or path.startswith(prefix + "."):
            raise InputError(f"'{path}' acts on {acts_on}: every point would give the same row", source=source,
                             field=where)
    if path == "runtime" or path.startswith("runtime."):
        _check_runtime_axis(str(base.get("name", "")), path, values, source)
        return
    if path.split(".")[0] in ("kernel_launch_s", "decode_graphs", "concurrent_layers"):
        raise InputError(f"'{path}' belongs to the software stack, not the hardware contract: vary the runtime "
                         f"(axes: runtime: [ideal, trtllm-1.0], runtime.kernel_launch_s, runtime.dram_efficiency, "
                         f"runtime.gemm_efficiency.<class>)", source=source, field=where)
    parts = _parts(path)
    node = base
    model = HardwareModel
    for i, p in enumerate(parts[:-1]):
        ok = (isinstance(node, dict) and isinstance(p, str) and p in node) or (
            isinstance(node, list) and isinstance(p, int) and p < len(node))
        if not ok:
            raise InputError(f"unknown path: '{'.'.join(map(str, parts[:i + 1]))}' is not in the base profile",
                             source=source, field=where)
        node = node[p]
    leaf = parts[-1]
    if isinstance(node, list):
        if not isinstance(leaf, int) or leaf >= len(node):
            raise InputError(f"unknown path: index {leaf} is beyond the base profile's list of {len(node)}",
                             source=source, field=where)
        current = node[leaf]
    elif isinstance(node, dict):
        if leaf not in node:
            # a key the base leaves at its default: allowed if the schema has it at this level
            allowed = _schema_keys(model, parts[:-1])
            if allowed is not None and leaf not in allowed:
                raise InputError(f"unknown path: '{leaf}' is not a field here (fields: {', '.join(sorted(allowed))})",
                                 source=source, field=where)
            current = None
        else:
            current = node[leaf]
    else:
        raise InputError(f"unknown path: '{parts[-2]}' is a value, not a mapping", source=source, field=where)
    for v in values:
        if isinstance(v, (dict, list)) and not isinstance(current, (dict, list)):
            raise InputError(f"wrong type: {v!r} where the profile has a value", source=source, field=where)
        if current is None or isinstance(current, (dict, list)):
            continue
        numeric = (int, float)
        if isinstance(current, bool) != isinstance(v, bool) or (
                isinstance(current, numeric) and not isinstance(v, numeric)) or (
                isinstance(current, str) and not isinstance(v, str)):
            raise InputError(f"wrong type: {v!r} where the base profile has {type(current).__name__} "
                             f"{current!r}", source=source, field=where)
    _check_field_values(base, parts, values, source, where)


def _check_field_values(base: dict, parts: list, values: list, source: str, where: str) -> None:
    """Each value alone in the base profile, validated by the schema: an error *on this field* (its type, an
    integer field given 1.5, its range) refuses the value when the file loads rather than as an invalid point
    later; errors that involve other fields (a combination the other axes may fix) are left to the points."""
    import copy

    from pydantic import ValidationError

    from accelsim.hardware.schema import HardwareModel

    for v in values:
        data = copy.deepcopy(base)
        set_path(data, ".".join(map(str, parts)), v)
        try:
            HardwareModel.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function")))]
                if loc == list(parts):
                    raise InputError(f"{v!r}: {err['msg']}", source=source, field=where) from None


def _schema_field(model, parts):
    """The pydantic FieldInfo of the leaf at ``parts`` (list indices skipped), or None if unknown."""
    *head, leaf = parts
    if isinstance(leaf, int):
        return None
    parent = _schema_model(model, head)
    return None if parent is None else parent.model_fields.get(leaf)


def _schema_keys(model, parts) -> set | None:
    """Field names of the pydantic model at ``parts`` (list indices skipped), or None if unknown."""
    m = _schema_model(model, parts)
    return None if m is None else set(m.model_fields)


def _schema_model(model, parts):
    """The pydantic model at ``parts`` (list indices skipped), or None if the path leaves the models."""
    import typing

    m = model
    for p in parts:
        if isinstance(p, int):
            continue
        f = m.model_fields.get(p)
        if f is None:
            return None
        ann = f.annotation
        nxt = None
        for cand in (ann, *typing.get_args(ann)):
            for c in (cand, *typing.get_args(cand)):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    nxt = c
        if nxt is None:
            return None
        m = nxt
    return m


def load_sweep(path: str) -> Sweep:
    """Load, validate and expand a sweep file (InputError naming the key otherwise)."""
    from accelsim.builtin import builtin_dir, builtin_names
    from accelsim.configfile import load_yaml, validate

    loaded = load_yaml(path)
    model: SweepModel = validate(SweepModel, loaded)
    src = str(path)
    here = Path(path).parent
    if (model.workload is None) == (model.workloads is None):
        raise InputError("give 'workload' or 'workloads' (one of them)", source=src, field="workload")
    refs = [model.workload] if model.workload else list(model.workloads)

    def resolve(ref: str) -> str:
        p = Path(ref)
        if p.is_absolute() or (here / p).exists() or "/" in ref or ref.endswith((".yaml", ".yml", ".onnx")):
            return str(p if p.is_absolute() else here / p)
        return ref  # a built-in workload name
    workloads = tuple(resolve(r) for r in refs)
    for ref in workloads:  # a missing workload is the sweep file's error, not every point's
        if ref != Path(ref).name and not Path(ref).is_file():
            raise InputError(f"workload not found: {ref}", source=src, field="workload")
        if ref == Path(ref).name and ref not in builtin_names("workloads") and not Path(ref).is_file():
            raise InputError(f"unknown workload '{ref}' (a workload YAML or ONNX path, or a built-in name: "
                             f"{', '.join(builtin_names('workloads'))})", source=src, field="workload")
    for o in model.objectives:
        if o not in OBJECTIVES:
            raise InputError(f"unknown objective '{o}' (allowed: {', '.join(OBJECTIVES)})", source=src,
                             field="objectives")
    base = model.base
    if base in builtin_names("hw_profiles"):
        base_path = builtin_dir("hw_profiles") / f"{base}.yaml"
    else:
        base_path = Path(base) if Path(base).is_absolute() else here / base
        if not base_path.is_file():
            raise InputError(f"base profile not found: {base} (a built-in name or a profile YAML)", source=src,
                             field="base")
    base_data = load_yaml(base_path).data
    if model.runtime is not None:
        from accelsim.runtime import load_runtime

        try:
            load_runtime(model.runtime if Path(model.runtime).is_absolute() or not (here / model.runtime).is_file()
                         else str(here / model.runtime), str(base_data.get("name", "")))
        except InputError as exc:
            raise InputError(exc.detail, source=src, field="runtime") from None
    for p, values in model.axes.items():
        _check_axis(base_data, p, values, src)
    if model.sample == "grid":
        kind, count = "grid", None
    else:
        (kind, count), = model.sample.items()
        if count < 1:
            raise InputError(f"{kind} takes a number of points >= 1, got {count}", source=src, field=f"sample.{kind}")
    axes = tuple((p, tuple(v)) for p, v in model.axes.items())
    total = int(np.prod([len(v) for _, v in axes], dtype=np.float64))
    if kind == "grid" and total > MAX_POINTS:
        raise InputError(f"the grid has {total:,} points (at most {MAX_POINTS:,}); sample: {{random: N}} or "
                         f"{{lhs: N}}", source=src, field="sample")
    if count is not None and count > MAX_POINTS:
        raise InputError(f"at most {MAX_POINTS:,} points", source=src, field=f"sample.{kind}")
    points = tuple(sample_points(axes, kind, count, model.seed)) if kind != "optimize" else ()
    return Sweep(name=Path(path).stem, source=src, workloads=workloads, base_name=base, base_data=base_data,
                 axes=axes, sample=kind, count=count, objectives=tuple(model.objectives), seed=model.seed,
                 timing_only=model.timing_only, points=points,
                 runtime=None if model.runtime is None else (
                     str(here / model.runtime) if (here / model.runtime).is_file() else model.runtime))


def sample_points(axes, kind: str, count: int | None, seed: int) -> list[dict]:
    """Points as {path: value}: the full grid, ``count`` uniform random picks, or a Latin hypercube of ``count``
    (each axis's values split into ``count`` equal strata, one pick per stratum, strata shuffled per axis)."""
    if kind == "grid":
        return [dict(zip([p for p, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]
    rng = np.random.default_rng(seed)
    if kind == "random":
        idx = np.stack([rng.integers(0, len(v), count) for _, v in axes], axis=1)
    else:  # lhs
        cols = []
        for _, v in axes:
            strata = (np.arange(count) + rng.random(count)) / count   # one point per stratum of [0, 1)
            cols.append(np.minimum((rng.permutation(strata) * len(v)).astype(int), len(v) - 1))
        idx = np.stack(cols, axis=1)
    return [{p: v[i] for (p, v), i in zip(axes, row)} for row in idx]
