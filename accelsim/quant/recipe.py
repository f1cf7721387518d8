"""Quantization recipes: what a user (or ``accelsim tune``) does beyond the naive recipe, as ordered steps.

The naive recipe is what legalization alone gives: ranges from the workload's calibration method, static
per-tensor activation scales, weights rounded to nearest, every integer layer requantizing its output to
integers. A recipe's steps change that per layer, each one legal only where the contract can run it:

- ``calibration``: the activation range method (minmax, percentile, mse, entropy) for static scales;
- ``dynamic``: activation scales taken from each tensor as it runs, per tensor or per token (row) — the
  contract's ``requant.dynamic_activations``; the run-time scale is applied in a float epilogue;
- ``float_output``: the epilogue writes the scaled int32 sum as float instead of requantized integers
  (``requant.outputs`` has ``float``);
- ``smoothquant``: SmoothQuant's migration (Xiao et al. 2023): input channel k of x divided by
  s_k = max|x_k|^alpha / max|w_k|^(1 - alpha), weight row k multiplied by it (x W = (x / s)(s W));
- ``awq``: AWQ's activation-aware scaling (Lin et al. 2024): s_k = mean|x_k|^alpha with alpha searched per layer
  on the calibration activations for the smallest output error of the quantized weight;
- ``gptq``: GPTQ's Hessian-based sequential rounding of the weights (Frantar et al. 2023);
- ``bias_correction``: the expected output shift of the weight rounding, E[x](W_q - W), removed from the bias
  (Nagel et al. 2019, "Data-Free Quantization", empirical bias correction);
- ``mixed_precision``: the named layers run in a wider type the contract has (int16 activations, fp16, ...);
- ``promote``: float layers whose contract accumulates in a limited-precision register without promotion (Hopper's
  FP8 MMA keeps ~14 bits) copy their partial sums into fp32 every ``every`` K elements, as DeepGEMM's FP8 kernels
  do in software (DeepSeek-V3 technical report, 2024, section 3.3.2: every 128); the numerics run it, its time is
  not modelled (a note says so);
- ``remove_qdq``: a QDQ model's QuantizeLinear nodes (``nodes:``, outside the integer layers) pass float through:
  the glue they quantized runs in float (what ``accelsim tune`` advises for a QDQ model, with ``float_output``
  for the integer layers whose output Q costs most).

Every step takes ``layers:`` (names or fnmatch patterns; default: every layer it applies to). A recipe is
written and read as YAML (``recipe: {steps: [...]}``), so ``accelsim tune``'s choice replays exactly.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace

import yaml

from accelsim.errors import InputError

CALIBRATIONS = ("minmax", "percentile", "mse", "entropy")
SCALINGS = ("per_tensor", "per_token")
STEP_KINDS = ("calibration", "dynamic", "float_output", "smoothquant", "awq", "gptq", "bias_correction",
              "mixed_precision", "promote", "remove_qdq")
#: steps that transform a linear layer's weight (and the matching input scaling)
WEIGHT_STEPS = ("smoothquant", "awq", "gptq", "bias_correction")


@dataclass(frozen=True)
class LayerRecipe:
    """What a recipe does to one integer layer; the defaults are the naive recipe."""

    calibration: str | None = None       # activation range method for static scales (None: the workload's)
    percentile: float | None = None
    scaling: str = "static"              # static | per_tensor | per_token (dynamic activation scales)
    output: str = "integer"              # integer | float (the epilogue's output)
    smooth_alpha: float | None = None    # SmoothQuant migration strength
    awq: bool = False                    # AWQ activation-aware scaling, alpha searched per layer
    rounding: str = "nearest"            # nearest | gptq
    gptq_damp: float | None = None       # GPTQ's dampening (fraction of the Hessian's mean diagonal); None: auto_damp
    bias_correction: bool = False
    widen: str | None = None             # a wider operand type for this layer (mixed precision)
    promote_every: int | None = None     # float layers: partial sums promoted to fp32 every N K elements (software)

    @property
    def naive(self) -> bool:
        return self == LayerRecipe()


@dataclass(frozen=True)
class Step:
    """One recipe step: its kind, its parameters, and the layers it applies to (() = all it applies to)."""

    kind: str
    params: tuple[tuple[str, object], ...] = ()
    layers: tuple[str, ...] = ()

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)

    def selects(self, layer: str) -> bool:
        return not self.layers or any(fnmatch.fnmatchcase(layer, p) for p in self.layers)

    def as_dict(self) -> dict:
        body = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        if self.layers:
            body["layers"] = list(self.layers)
        return {self.kind: body}

    @property
    def text(self) -> str:
        args = ", ".join(f"{k}={'+'.join(v) if isinstance(v, tuple) else v}" for k, v in self.params)
        where = f" on {len(self.layers)} layer(s)" if self.layers else ""
        return f"{self.kind}({args}){where}" if args else f"{self.kind}{where}"


@dataclass(frozen=True)
class Recipe:
    """An ordered list of steps (later steps override earlier ones on the same layer)."""

    steps: tuple[Step, ...] = ()
    source: str = ""

    @property
    def text(self) -> str:
        return " + ".join(s.text for s in self.steps) or "naive"

    @property
    def removed_qdq(self) -> frozenset[str]:
        """QuantizeLinear node names a ``remove_qdq`` step strips."""
        return frozenset(n for s in self.steps if s.kind == "remove_qdq" for n in s.param("nodes", ()))

    def as_dict(self) -> dict:
        return {"recipe": {"steps": [s.as_dict() for s in self.steps]}}

    def dump(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False)

    def without(self, index: int) -> "Recipe":
        return replace(self, steps=self.steps[:index] + self.steps[index + 1:])

    def per_layer(self, layers: list[tuple[str, str]]) -> dict[str, LayerRecipe]:
        """{layer: LayerRecipe} for ``layers`` ((name, op) in order): each step applied to the layers it selects
        (weight steps and dynamic / float output to linear layers only)."""
        out = {name: LayerRecipe() for name, _ in layers}
        for step in self.steps:
            if step.kind == "remove_qdq":
                continue
            for name, op in layers:
                if not step.selects(name):
                    continue
                if step.kind in (*WEIGHT_STEPS, "dynamic", "float_output") and op != "linear":
                    continue
                out[name] = _apply(out[name], step)
        return out


def _apply(r: LayerRecipe, step: Step) -> LayerRecipe:
    k = step.kind
    if k == "calibration":
        return replace(r, calibration=step.param("method"), percentile=step.param("percentile"))
    if k == "dynamic":
        return replace(r, scaling=step.param("granularity", "per_tensor"), output="float")
    if k == "float_output":
        return replace(r, output="float")
    if k == "smoothquant":
        return replace(r, smooth_alpha=float(step.param("alpha", 0.5)), awq=False)
    if k == "awq":
        return replace(r, awq=True, smooth_alpha=None)
    if k == "gptq":
        damp = step.param("damp")
        return replace(r, rounding="gptq", gptq_damp=None if damp is None else float(damp))
    if k == "bias_correction":
        return replace(r, bias_correction=True)
    if k == "mixed_precision":
        return replace(r, widen=step.param("type"))
    if k == "promote":
        return replace(r, promote_every=int(step.param("every")))
    raise ValueError(k)


# -- YAML ---------------------------------------------------------------------------------------------
_PARAMS = {
    "calibration": {"method": CALIBRATIONS, "percentile": float},
    "dynamic": {"granularity": SCALINGS},
    "float_output": {},
    "smoothquant": {"alpha": float},
    "awq": {},
    "gptq": {"damp": float},
    "bias_correction": {},
    "mixed_precision": {"type": str},
    "promote": {"every": float},
    "remove_qdq": {"nodes": list},
}


def parse_recipe(data, source: str = "", where: str = "recipe") -> Recipe:
    """A Recipe from its YAML form: ``{steps: [{kind: {param: value, layers: [...]}}, ...]}`` (or the list alone).
    Raises InputError naming the field and what is allowed."""
    def bad(field_: str, msg: str):
        raise InputError(msg, source=source, field=field_)

    if isinstance(data, dict) and set(data) == {"recipe"}:
        data = data["recipe"]
    if isinstance(data, dict):
        extra = set(data) - {"steps"}
        if extra:
            bad(f"{where}.{sorted(extra)[0]}", "unknown key (allowed: steps)")
        data = data.get("steps", [])
    if not isinstance(data, list):
        bad(f"{where}.steps", f"must be a list of steps, each one of: {', '.join(STEP_KINDS)}")
    steps = []
    for i, item in enumerate(data):
        at = f"{where}.steps.{i}"
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            bad(at, f"a step is one mapping {{kind: {{params}}}}; kinds: {', '.join(STEP_KINDS)}")
        kind, body = next(iter(item.items()))
        if kind not in STEP_KINDS:
            bad(at, f"unknown step '{kind}' (allowed: {', '.join(STEP_KINDS)})")
        body = {} if body is None else body
        if not isinstance(body, dict):
            bad(f"{at}.{kind}", "must be a mapping of parameters")
        layers = body.get("layers", [])
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            bad(f"{at}.{kind}.layers", "must be a list of layer names or patterns")
        params = []
        for key, value in body.items():
            if key == "layers":
                continue
            spec = _PARAMS[kind].get(key)
            if spec is None:
                allowed = ", ".join([*_PARAMS[kind], "layers"])
                bad(f"{at}.{kind}.{key}", f"unknown parameter (allowed: {allowed})")
            if isinstance(spec, tuple):
                if value not in spec:
                    bad(f"{at}.{kind}.{key}", f"must be one of {', '.join(spec)}, got {value!r}")
            elif spec is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    bad(f"{at}.{kind}.{key}", f"must be a number, got {value!r}")
                value = float(value)
            elif spec is list:
                if not isinstance(value, list) or not value or not all(isinstance(x, str) and x for x in value):
                    bad(f"{at}.{kind}.{key}", "must be a non-empty list of node names")
                value = tuple(value)
            elif not isinstance(value, str):
                bad(f"{at}.{kind}.{key}", f"must be a string, got {value!r}")
            params.append((key, value))
        p = dict(params)
        if kind == "smoothquant" and not 0.0 <= p.get("alpha", 0.5) <= 1.0:
            bad(f"{at}.smoothquant.alpha", f"must be between 0 and 1, got {p['alpha']}")
        if kind == "gptq" and not 0.0 < p.get("damp", 0.01) <= 1.0:
            bad(f"{at}.gptq.damp", f"must be in (0, 1], got {p['damp']}")
        if kind == "calibration":
            if "method" not in p:
                bad(f"{at}.calibration.method", f"required: one of {', '.join(CALIBRATIONS)}")
            if p["method"] == "percentile" and not 50.0 < p.get("percentile", 99.99) <= 100.0:
                bad(f"{at}.calibration.percentile", f"must be in (50, 100], got {p.get('percentile')}")
        if kind == "remove_qdq" and "nodes" not in p:
            bad(f"{at}.remove_qdq.nodes", "required: the QuantizeLinear nodes to remove")
        if kind == "promote" and not (float(p.get("every", 0)).is_integer() and 1 <= p.get("every", 0) <= 1 << 20):
            bad(f"{at}.promote.every", f"required: a whole number of K elements, 1 .. 2^20, got {p.get('every')!r}")
        if kind == "mixed_precision" and "type" not in p:
            bad(f"{at}.mixed_precision.type", "required: the wider operand type (int16, fp16, bf16, ...)")
        steps.append(Step(kind=kind, params=tuple(params), layers=tuple(layers)))
    return Recipe(steps=tuple(steps), source=source)


def load_recipe(path: str) -> Recipe:
    """A recipe YAML file (as ``accelsim tune`` writes it)."""
    from pathlib import Path

    from accelsim.configfile import load_yaml

    if not Path(path).exists():
        raise InputError(f"recipe file not found: {path}", source=str(path))
    # the same reader as every YAML accelsim takes: regular files only, size, alias and depth limits
    return parse_recipe(load_yaml(path, top=(dict, list)).data, source=str(path))


def resolve_recipe(value, source: str = ""):
    """A workload's quant.recipe as a Recipe: None and "auto" stay; a path is loaded; inline steps are parsed."""
    if value is None or value == "auto" or isinstance(value, Recipe):
        return value
    if isinstance(value, str):
        return load_recipe(value)
    return parse_recipe(value, source=source, where="quant.recipe")


@dataclass(frozen=True)
class RecipeCheck:
    """Why a recipe cannot run under a contract (empty: legal)."""

    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def legal(self) -> bool:
        return not self.problems


def check_recipe(recipe: Recipe, profile, layers: list[tuple[str, str]], math: dict | None = None) -> RecipeCheck:
    """Each step against the contract: dynamic scaling and float outputs the epilogue has, mixed-precision types
    the contract runs, and layer patterns that match a layer. ``math`` ({layer: its float operand format, or None
    for an integer layer}, from the legalized plans: :func:`layer_math`) adds the checks of steps on format
    layers: each must change what the layer computes, or it is refused with the reason."""
    from accelsim.operands import FORMATS

    problems = []
    names = [n for n, _ in layers]
    for i, step in enumerate(recipe.steps):
        at = f"recipe.steps.{i}.{step.kind}"
        for pat in step.layers:
            if not any(fnmatch.fnmatchcase(n, pat) for n in names):
                problems.append(f"{at}.layers: '{pat}' matches no layer (layers: {', '.join(names[:6])}, ...)")
        if step.kind == "promote":
            problems += _promote_problems(step, at, profile, layers, math)
        if math is not None:
            problems += _format_layer_problems(step, at, layers, math)
        if step.kind == "dynamic":
            g = step.param("granularity", "per_tensor")
            if g not in profile.requant.dynamic_activations:
                allowed = ", ".join(profile.requant.dynamic_activations) or "none"
                problems.append(f"{at}.granularity: profile '{profile.name}' takes no {g} run-time activation "
                                f"scales (requant.dynamic_activations: {allowed})")
        if step.kind in ("dynamic", "float_output") and "float" not in profile.requant.outputs:
            problems.append(f"{at}: profile '{profile.name}' writes integer outputs only (requant.outputs)")
        if step.kind == "mixed_precision":
            t = step.param("type")
            acts, weights = profile.activation_types, profile.weight_types
            ok = t in acts and (t in weights or t not in FORMATS)
            if not ok:
                problems.append(f"{at}.type: profile '{profile.name}' has no {t} operands (activations: "
                                f"{', '.join(acts)}; weights: {', '.join(weights)})")
    return RecipeCheck(tuple(problems))


def layer_math(plans: dict) -> dict:
    """{layer: the float operand format its MACs run in (activations', else weights'), or None: integer math},
    and {"<layer>:activations": the activations' format} for layers whose activations are a float format."""
    from accelsim.operands import FORMATS

    out = {name: next((t for t in (p.activations.type_name, p.weights.type_name) if t in FORMATS), None)
           for name, p in plans.items()}
    out.update({f"{name}:activations": p.activations.type_name for name, p in plans.items()
                if p.activations.type_name in FORMATS})
    return out


def _selected(step: Step, layers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (name, op) pairs ``step`` applies to (weight steps, dynamic and float output: linear layers only)."""
    only_linear = step.kind in (*WEIGHT_STEPS, "dynamic", "float_output")
    return [(n, op) for n, op in layers if step.selects(n) and (op == "linear" or not only_linear)]


def _format_layer_problems(step: Step, at: str, layers, math: dict) -> list[str]:
    """Steps that would change nothing on a layer running float math (they are refused, not run as no-ops).
    ``math`` as :func:`layer_math`; its ``"<layer>:activations"`` entries name the activations' format."""
    from accelsim.operands import BLOCK_FORMATS

    act = {name[:-len(":activations")]: fmt for name, fmt in math.items() if name.endswith(":activations")}
    out = []
    for name, _ in _selected(step, layers):
        fmt = math.get(name)
        if fmt is None:
            continue
        if step.kind == "float_output":
            out.append(f"{at}: layer '{name}' runs {fmt} math, whose epilogue writes float already: "
                       f"float_output would change nothing")
        elif step.kind in ("dynamic", "calibration") and act.get(name) in BLOCK_FORMATS:
            what = "a run-time scale" if step.kind == "dynamic" else "a calibrated activation range"
            block = 16 if act[name] == "nvfp4" else 32
            out.append(f"{at}: layer '{name}' takes {act[name]} activations, whose block scales follow the data "
                       f"every {block} elements already: {what} would change nothing")
        elif step.kind == "dynamic" and fmt in ("fp16", "bf16", "fp32"):
            out.append(f"{at}: layer '{name}' runs {fmt} math, which has no activation scale to set at run time")
        if out:
            break
    return out


def _promote_problems(step: Step, at: str, profile, layers, math: dict | None) -> list[str]:
    """``promote`` is legal where a layer sums in the contract's limited float accumulator and the contract does
    not promote as often already."""
    acc, every, _ = profile.float_accumulator
    if acc in ("fp32", None) or not str(acc).startswith("fp"):
        return [f"{at}: profile '{profile.name}' accumulates float math in full fp32 (float_accumulator "
                f"{acc}): there is nothing to promote"]
    if every is not None and every <= int(step.param("every")):
        return [f"{at}.every: profile '{profile.name}' promotes every {every} K elements in hardware already"]
    if math is not None:
        narrow = [n for n, _ in _selected(step, layers) if math.get(n) not in (None, "fp16", "bf16", "fp32")]
        if not narrow:
            return [f"{at}: no selected layer runs FP8-or-narrower math on '{profile.name}' (fp16/bf16 math and "
                    f"integer layers accumulate in full precision)"]
    return []


def apply_recipe(legal, recipe: Recipe | None):
    """``legal`` (a LegalizedWorkload) with ``recipe``'s plan changes made and its per-layer steps attached for the
    numerics; the recipe is checked against the contract first (InputError naming the step if it is not legal)."""
    from accelsim.operands import FORMATS
    from accelsim.quant.legalize import OperandPlan

    if recipe is None or not recipe.steps:
        return legal
    layers = [(layer.name, layer.op) for layer in legal.workload.layers]
    check = check_recipe(recipe, legal.profile, layers, layer_math(legal.plans))
    if not check.legal:
        raise InputError(check.problems[0], source=recipe.source or None)
    per = recipe.per_layer(layers)
    profile = legal.profile
    plans = dict(legal.plans)
    for name, op in layers:
        r = per[name]
        plan = plans[name]
        act, wts = plan.activations, plan.weights
        if r.calibration is not None:
            act = replace(act, calibration=r.calibration,
                          percentile=r.percentile if r.percentile is not None else act.percentile)
        if r.widen is not None:
            if r.widen in FORMATS:
                act = OperandPlan(type_name=r.widen, symmetric=True, granularity="per_tensor",
                                  calibration=act.calibration, percentile=act.percentile, power_of_two=False)
                if op in ("linear", "conv2d"):
                    wg = "per_channel" if "per_channel" in profile.requant.granularity else "per_tensor"
                    wts = OperandPlan(type_name=r.widen, symmetric=True, granularity=wg, calibration="minmax",
                                      percentile=wts.percentile, power_of_two=False)
            else:
                act = replace(act, type_name=r.widen, narrow=False,
                              symmetric=act.symmetric or r.widen.startswith("int"))
        if r.scaling != "static":
            act = replace(act, dynamic=True, granularity=r.scaling)
        plans[name] = replace(plan, activations=act, weights=wts, output=r.output)
    legal = replace(legal, plans=plans, recipes=per, recipe=recipe)
    return _plan_smoothing(legal)


def _plan_smoothing(legal):
    """SmoothQuant / AWQ: one s per input tensor (accelsim.quant.smoothing_plan); a rescale that does not fold into
    its producer becomes a timed elementwise Mul layer before its first consumer, and a note."""
    from accelsim.quant.smoothing_plan import smoothing_groups

    wl = legal.workload
    if wl.graph is None or wl.graph.view.graph.layer_chain:
        return legal
    groups = smoothing_groups(wl.graph.view, legal.recipes)
    if not groups:
        return legal
    layers, plans, notes = list(wl.layers), dict(legal.plans), []
    for g in groups:
        if g.foldable:
            notes.append(f"smoothing of {', '.join(g.layers)}: one s for their input, {g.reason}: free")
            continue
        i = next(i for i, lyr in enumerate(layers) if lyr.name == g.layers[0])
        first = layers[i]
        shape = first.in_shapes[0]
        layers.insert(i, replace(first, name=g.rescale_layer, op="mul", inputs=first.inputs[:1], in_shapes=(shape,),
                                 out_shape=shape, bias=False, activation="none"))
        plans[g.rescale_layer] = replace(plans[first.name], layer=g.rescale_layer, changes=(), output="float")
        notes.append(f"smoothing of {', '.join(g.layers)}: one s for their input; the rescale x / s does not fold "
                     f"({g.reason}): an elementwise Mul of {shape} on the vector unit, timed as layer "
                     f"'{g.rescale_layer}'")
    return replace(legal, workload=replace(wl, layers=tuple(layers)), plans=plans, recipe_notes=tuple(notes),
                   smooth_groups=tuple(groups))
