"""Legalization: turn a workload's quantization intent into what a hardware contract can run.

Each change is recorded as a note (layer, operand, what changed, why). Rules, in order:
- weight bits the profile cannot take -> the narrowest supported weight type that is wider
  (int4 -> int8); activation bits likewise (int16 -> int8 where 16-bit activations are unsupported);
- weight granularity unsupported -> per_channel if available, else per_tensor;
- asymmetric operands on a symmetric-only contract -> symmetric;
- activation signedness: symmetric -> signed type; asymmetric -> the signed type if supported
  (TFLite int8 convention), else unsigned (ONNX Runtime's uint8 convention);
- scales: power_of_two contracts get power-of-two scales (exponent picked by quantization MSE).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.hardware import HardwareProfile
from accelsim.inttypes import type_bits
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


@dataclass(frozen=True)
class QuantPlan:
    """What the hardware really runs for one layer."""

    layer: str
    weights: OperandPlan
    activations: OperandPlan
    notes: tuple[str, ...] = ()


@dataclass
class LegalizedWorkload:
    workload: Workload
    profile: HardwareProfile
    plans: dict[str, QuantPlan] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        return [n for p in self.plans.values() for n in p.notes]


def _pick_type(bits: int, signed: bool, supported: tuple[str, ...]) -> str | None:
    candidates = sorted((type_bits(t), t) for t in supported if (not t.startswith("u")) == signed)
    for width, name in candidates:
        if width >= bits:
            return name
    return candidates[-1][1] if candidates else None


def _operand(layer: Layer, which: str, intent: QuantIntent, profile: HardwareProfile,
             notes: list[str]) -> OperandPlan:
    is_weight = which == "weights"
    supported = profile.weight_types if is_weight else profile.activation_types
    policy = profile.weight_zero_point if is_weight else profile.activation_zero_point
    symmetric = intent.symmetric
    if not symmetric and policy == "symmetric":
        notes.append(f"{layer.name}: {which} asymmetric -> symmetric (profile '{profile.name}' has symmetric "
                     f"{which} only)")
        symmetric = True
    type_name = None
    for signed in (True, False):  # signed first: TFLite's int8 convention, else ONNX Runtime's uint8
        type_name = _pick_type(intent.bits, signed, supported)
        if type_name is not None:
            break
    if type_name is None:
        type_name = supported[0]
    if type_bits(type_name) != intent.bits:
        notes.append(f"{layer.name}: {which} {intent.bits}-bit -> {type_name} (profile '{profile.name}' supports "
                     f"{', '.join(supported)})")
    granularity = intent.granularity
    allowed = profile.requant.granularity
    if granularity not in allowed:
        new = "per_channel" if granularity == "per_group" and "per_channel" in allowed else "per_tensor"
        notes.append(f"{layer.name}: {which} {granularity} -> {new} (profile '{profile.name}' supports "
                     f"{', '.join(allowed)})")
        granularity = new
    if not is_weight and granularity != "per_tensor":
        granularity = "per_tensor"  # activation scales are per tensor in every modelled requantizer
    pot = profile.requant.scale == "power_of_two"
    return OperandPlan(type_name=type_name, symmetric=symmetric, granularity=granularity,
                       calibration=intent.calibration, percentile=intent.percentile, power_of_two=pot,
                       group_size=intent.group_size if granularity == "per_group" else None)


def legalize(workload: Workload, profile: HardwareProfile) -> LegalizedWorkload:
    """A QuantPlan per layer for ``profile``, with a note for every change to the workload's intent."""
    out = LegalizedWorkload(workload=workload, profile=profile)
    pot_noted = False
    for layer in workload.layers:
        notes: list[str] = []
        weights = _operand(layer, "weights", layer.quant.weights, profile, notes if layer.op != "matmul" else [])
        activations = _operand(layer, "activations", layer.quant.activations, profile, notes)
        if layer.op not in ("linear", "conv2d"):
            # no weights: keep only the activation notes
            notes = [n for n in notes if ": weights " not in n]
        if profile.requant.scale == "power_of_two" and not pot_noted:
            notes.append(f"all layers: scales -> powers of two (profile '{profile.name}' requantizes by shifts; "
                         f"exponent chosen per tensor by quantization MSE)")
            pot_noted = True
        out.plans[layer.name] = QuantPlan(layer=layer.name, weights=weights, activations=activations,
                                          notes=tuple(notes))
    return out
