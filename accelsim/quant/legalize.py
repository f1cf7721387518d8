"""Legalization: turn a workload's quantization intent into what a hardware contract can run.

Every change is a :class:`LegalizationChange` (layer, operand, rule, before -> after, why); the
numerics measure each one's cost on its layer (:mod:`accelsim.numerics.cost`: SQNR of the layer output
before and after the change). Rules, in order:

- ``bits``: weight bits the profile cannot take -> the narrowest supported type that is as wide
  (int4 -> int8 where int4 is unsupported); activation bits likewise (16-bit -> 8-bit where 16-bit
  activations are unsupported), falling back to the widest supported type;
- ``granularity``: unsupported weight granularity -> per_channel if available, else per_tensor;
- ``symmetry``: asymmetric operands on a symmetric-only contract -> symmetric;
- ``power_of_two``: shift-only contracts get power-of-two scales (exponent chosen by quantization MSE,
  not merely the ceiling);
- activation signedness (no cost, no note): symmetric -> signed type; asymmetric -> the signed type if
  supported (TFLite's int8 convention), else unsigned (ONNX Runtime's uint8 convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from accelsim.hardware import HardwareProfile
from accelsim.inttypes import INT_TYPES, type_bits
from accelsim.operands import FORMATS, format_bits
from accelsim.workload.layers import Layer, QuantIntent
from accelsim.workload.workload import Workload


@dataclass(frozen=True)
class OperandPlan:
    """How one operand class of a layer is quantized on the hardware."""

    type_name: str
    symmetric: bool
    granularity: str
    calibration: str
    percentile: float
    power_of_two: bool
    group_size: int | None = None
    narrow: bool = False
    dynamic: bool = False   # a format's per-tensor scale taken from each tensor as it runs


@dataclass(frozen=True)
class LegalizationChange:
    """One change from the workload's intent to the contract, with its measured cost (dB)."""

    layer: str
    operand: str          # weights | activations
    rule: str             # bits | format | granularity | symmetry | power_of_two
    before: str
    after: str
    reason: str
    sqnr_before_db: float | None = None
    sqnr_after_db: float | None = None

    @property
    def cost_db(self) -> float | None:
        if self.sqnr_before_db is None or self.sqnr_after_db is None:
            return None
        return self.sqnr_before_db - self.sqnr_after_db

    @property
    def text(self) -> str:
        cost = ""
        if self.sqnr_before_db is not None and self.sqnr_after_db is not None:
            cost = f"; layer SQNR {self.sqnr_before_db:.1f} -> {self.sqnr_after_db:.1f} dB"
        return f"{self.layer}: {self.operand} {self.before} -> {self.after} ({self.reason}{cost})"

    def as_dict(self) -> dict:
        return {"layer": self.layer, "operand": self.operand, "rule": self.rule, "before": self.before,
                "after": self.after, "reason": self.reason, "sqnr_before_db": self.sqnr_before_db,
                "sqnr_after_db": self.sqnr_after_db}

    def apply(self, plan: "QuantPlan") -> "QuantPlan":
        """``plan`` with this change made (used to measure changes one after another)."""
        op = getattr(plan, self.operand)
        if self.rule == "bits":
            op = replace(op, type_name=self.after, narrow=op.narrow and not self.after.startswith("u"))
        elif self.rule == "format":
            op = replace(op, type_name=self.after, symmetric=True if self.after in FORMATS else op.symmetric,
                         power_of_two=False, narrow=False)
        elif self.rule == "granularity":
            op = replace(op, granularity=self.after, group_size=op.group_size if self.after == "per_group" else None)
        elif self.rule == "symmetry":
            op = replace(op, symmetric=True)
        elif self.rule == "power_of_two":
            op = replace(op, power_of_two=True)
        return replace(plan, **{self.operand: op})


@dataclass(frozen=True)
class QuantPlan:
    """What the hardware really runs for one layer; ``intent`` is what the workload asked for."""

    layer: str
    weights: OperandPlan
    activations: OperandPlan
    changes: tuple[LegalizationChange, ...] = ()
    intent: "QuantPlan | None" = None
    output: str = "integer"   # what the epilogue writes: integer (requantized) | float (a recipe's float output)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(c.text for c in self.changes)


@dataclass
class LegalizedWorkload:
    workload: Workload
    profile: HardwareProfile
    plans: dict[str, QuantPlan] = field(default_factory=dict)
    # a recipe's per-layer steps (accelsim.quant.recipe.LayerRecipe) and the recipe itself; empty: the naive recipe
    recipes: dict = field(default_factory=dict)
    recipe: object | None = None
    # what the recipe's plan adds that the run should say (e.g. a SmoothQuant rescale that is not free)
    recipe_notes: tuple[str, ...] = ()
    # the recipe's smoothing groups (accelsim.quant.smoothing_plan.SmoothGroup): one s per input tensor
    smooth_groups: tuple = ()

    @property
    def changes(self) -> list[LegalizationChange]:
        return [c for p in self.plans.values() for c in p.changes]

    @property
    def notes(self) -> list[str]:
        return [c.text for c in self.changes]


def _pick_type(bits: int, signed: bool, supported: tuple[str, ...]) -> str | None:
    candidates = sorted((type_bits(t), t) for t in supported if t in INT_TYPES and (not t.startswith("u")) == signed)
    for width, name in candidates:
        if width >= bits:
            return name
    return candidates[-1][1] if candidates else None


def _intent_plan(intent: QuantIntent) -> OperandPlan:
    """The operand exactly as the workload asks (any width 2..16; signed unless asymmetric; or a format)."""
    if intent.format is not None:
        return OperandPlan(type_name=intent.format, symmetric=True, granularity=intent.granularity,
                           calibration=intent.calibration, percentile=intent.percentile, power_of_two=False,
                           dynamic=intent.scaling == "dynamic")
    type_name = f"{'' if intent.symmetric else 'u'}int{intent.bits}"
    return OperandPlan(type_name=type_name, symmetric=intent.symmetric, granularity=intent.granularity,
                       calibration=intent.calibration, percentile=intent.percentile, power_of_two=False,
                       group_size=intent.group_size, narrow=intent.narrow_range and intent.symmetric)


def _format_operand(layer: Layer, which: str, intent: QuantIntent, profile: HardwareProfile,
                    changes: list[LegalizationChange]) -> OperandPlan | None:
    """A format intent: kept if the contract runs it; else the narrowest supported format at least as wide (the
    widest if none is), else, on an integer-only contract, None (the integer rules take the format's width)."""
    supported = profile.weight_types if which == "weights" else profile.activation_types
    formats = [t for t in supported if t in FORMATS]
    fmt = intent.format
    if fmt not in supported:
        if not formats:
            return None
        wide = sorted((format_bits(t), t) for t in formats)
        after = next((t for b, t in wide if b >= format_bits(fmt)), wide[-1][1])
        changes.append(LegalizationChange(layer.name, which, "format", fmt, after,
                                          f"profile '{profile.name}' runs {', '.join(formats)}"))
        fmt = after
    granularity = intent.granularity if which == "weights" and intent.granularity == "per_channel" else "per_tensor"
    return OperandPlan(type_name=fmt, symmetric=True, granularity=granularity, calibration=intent.calibration,
                       percentile=intent.percentile, power_of_two=False, dynamic=intent.scaling == "dynamic")


def _operand(layer: Layer, which: str, intent: QuantIntent, profile: HardwareProfile,
             changes: list[LegalizationChange]) -> OperandPlan:
    is_weight = which == "weights"
    supported = profile.weight_types if is_weight else profile.activation_types
    if intent.format is None and not any(t in INT_TYPES for t in supported):
        # integers on a formats-only contract (an MX NPU): MXINT8 for 8-bit and narrower, else the narrowest
        # format at least as wide
        fmt = "mxint8" if intent.bits <= 8 and "mxint8" in supported else None
        wide = sorted((format_bits(t), t) for t in supported)
        fmt = fmt or next((t for b, t in wide if b >= intent.bits), wide[-1][1])
        changes.append(LegalizationChange(layer.name, which, "format", f"int{intent.bits}", fmt,
                                          f"profile '{profile.name}' runs {', '.join(supported)}"))
        return OperandPlan(type_name=fmt, symmetric=True, granularity="per_tensor", calibration=intent.calibration,
                           percentile=intent.percentile, power_of_two=False)
    if intent.format is not None:
        plan = _format_operand(layer, which, intent, profile, changes)
        if plan is not None:
            return plan
        # an integer-only contract: the format's width in integers (fp8 -> int8, mxfp4 -> int4 or wider)
        ints = [t for t in supported if t in INT_TYPES]
        bits = max(2, int(format_bits(intent.format)))
        signed = next((t for t in sorted(ints, key=type_bits) if type_bits(t) >= bits and not t.startswith("u")),
                      None) or _pick_type(bits, True, supported) or _pick_type(bits, False, supported) or ints[0]
        changes.append(LegalizationChange(layer.name, which, "format", intent.format, signed,
                                          f"profile '{profile.name}' runs integers only: {', '.join(ints)}"))
        intent = replace(intent, format=None, bits=type_bits(signed), symmetric=True)
        sub: list[LegalizationChange] = []
        plan = _operand(layer, which, intent, profile, sub)
        changes.extend(c for c in sub if c.rule != "bits")
        return plan
    policy = profile.weight_zero_point if is_weight else profile.activation_zero_point
    name = profile.name
    symmetric = intent.symmetric
    type_name = None
    for signed in (True, False):  # signed first: TFLite's int8 convention, else ONNX Runtime's uint8
        type_name = _pick_type(intent.bits, signed, supported)
        if type_name is not None:
            break
    if type_name is None:
        type_name = supported[0]
    if type_bits(type_name) != intent.bits:
        changes.append(LegalizationChange(layer.name, which, "bits", f"{intent.bits}-bit", type_name,
                                          f"profile '{name}' supports {', '.join(supported)}"))
    granularity = intent.granularity
    allowed = profile.requant.granularity
    if granularity not in allowed:
        new = "per_channel" if granularity == "per_group" and "per_channel" in allowed else "per_tensor"
        changes.append(LegalizationChange(layer.name, which, "granularity", granularity, new,
                                          f"profile '{name}' supports {', '.join(allowed)}"))
        granularity = new
    if not is_weight and granularity != "per_tensor":
        granularity = "per_tensor"  # activation scales are per tensor in every modelled requantizer
    if not symmetric and policy == "symmetric":
        changes.append(LegalizationChange(layer.name, which, "symmetry", "asymmetric", "symmetric",
                                          f"profile '{name}' has symmetric {which} only"))
        symmetric = True
    pot = profile.requant.scale == "power_of_two"
    if pot:
        changes.append(LegalizationChange(layer.name, which, "power_of_two", "float scale", "power-of-two scale",
                                          f"profile '{name}' requantizes by shifts; exponent by quantization MSE"))
    return OperandPlan(type_name=type_name, symmetric=symmetric, granularity=granularity,
                       calibration=intent.calibration, percentile=intent.percentile, power_of_two=pot,
                       group_size=intent.group_size if granularity == "per_group" else None,
                       narrow=intent.narrow_range and not type_name.startswith("u"))


def legalize(workload: Workload, profile: HardwareProfile) -> LegalizedWorkload:
    """A QuantPlan per layer for ``profile``, with a change for every departure from the intent."""
    out = LegalizedWorkload(workload=workload, profile=profile)
    for layer in workload.layers:
        changes: list[LegalizationChange] = []
        weight_changes: list[LegalizationChange] = []
        weights = _operand(layer, "weights", layer.quant.weights, profile, weight_changes)
        activations = _operand(layer, "activations", layer.quant.activations, profile, changes)
        if layer.op in ("linear", "conv2d"):  # only these carry weights
            changes = weight_changes + changes
        intent = QuantPlan(layer=layer.name, weights=_intent_plan(layer.quant.weights),
                           activations=_intent_plan(layer.quant.activations))
        out.plans[layer.name] = QuantPlan(layer=layer.name, weights=weights, activations=activations,
                                          changes=tuple(changes), intent=intent)
    return out
