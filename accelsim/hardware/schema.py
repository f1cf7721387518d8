"""Pydantic schema of hardware-profile YAML: strict (unknown keys are errors), converted to
:class:`~accelsim.hardware.profile.HardwareProfile` after validation."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from accelsim.configfile import check_name
from accelsim.hardware import profile as hp
from accelsim.hardware.technology import sram_pj_per_byte

OperandType = Literal["int4", "uint4", "int8", "uint8", "int16",
                      # float and block formats (accelsim.numerics.formats), run by float MAC units
                      "fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1",
                      "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8", "nvfp4"]

# Rounding modes each requant kind can express (see docs/hardware-profiles.md).
ROUNDING_FOR_SCALE = {
    "float32": ("half_even", "half_up", "half_away_from_zero", "floor"),
    "fixed_point": ("double", "single", "ruy", "float64_away"),
    "power_of_two": ("half_even", "half_up", "half_away_from_zero", "floor"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _finite_positive(v: float) -> float:
    if isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise ValueError("must be a finite number > 0")
    return v


class ArrayModel(_Strict):
    kind: Literal["systolic", "simd_dot", "matrix"] = "systolic"
    rows: int = Field(gt=0, le=1 << 16)
    cols: int = Field(gt=0, le=1 << 16)
    dataflow: Literal["weight_stationary", "output_stationary", "input_stationary"] | None = None
    count: int = Field(default=1, gt=0, le=1 << 20)
    register_tile: int | None = Field(default=None, gt=0, le=1 << 20)
    units_per_core: int = Field(default=1, gt=0, le=1 << 10)
    cluster: int = Field(default=1, gt=0, le=16)
    efficiency: float = Field(default=1.0, gt=0.01, le=1.0)

    @model_validator(mode="after")
    def _kind(self):
        if self.kind == "systolic":
            if self.dataflow is None:
                raise ValueError("a systolic array needs 'dataflow' (weight_stationary, output_stationary or "
                                 "input_stationary)")
            if self.register_tile is not None or self.units_per_core != 1 or self.cluster != 1 or self.efficiency != 1:
                raise ValueError("'register_tile', 'units_per_core', 'cluster' and 'efficiency' apply to kind "
                                 "simd_dot / matrix, not systolic (a systolic array's schedule is exact)")
        else:
            if self.dataflow not in (None, "output_stationary"):
                raise ValueError(f"kind {self.kind} keeps its accumulators in registers: dataflow is "
                                 f"output_stationary (or omit it)")
            if self.register_tile is None:
                raise ValueError(f"kind {self.kind} needs 'register_tile': the output elements one unit keeps in "
                                 f"registers (the kernel's mr x nr accumulator block)")
            if self.kind == "simd_dot" and (self.units_per_core != 1 or self.cluster != 1):
                raise ValueError("'units_per_core' and 'cluster' apply to kind matrix")
            if self.count % self.units_per_core:
                raise ValueError(f"count ({self.count}) must be a multiple of units_per_core ({self.units_per_core})")
        return self


class OperandsModel(_Strict):
    weights: list[OperandType] = Field(min_length=1)
    activations: list[OperandType] = Field(min_length=1)


class AccumulatorModel(_Strict):
    bits: int = Field(ge=8, le=64)
    overflow: Literal["wrap", "saturate"]
    spill_bits: int | None = Field(default=None, ge=8, le=64)
    spill_overflow: Literal["wrap", "saturate"] | None = None
    chunk: int | Literal["array_rows", "none"] = "array_rows"
    # uint8 x int8 products of adjacent K pairs summed into int16 with saturation before the accumulator
    # (x86 VPMADDUBSW: ONNX Runtime's U8S8 kernels on AVX2 and AVX-512 without VNNI)
    byte_pairs: Literal["exact", "saturate_int16"] = "exact"

    @field_validator("chunk")
    @classmethod
    def _chunk(cls, v):
        if isinstance(v, int) and v <= 0:
            raise ValueError("must be a positive integer, 'array_rows' or 'none'")
        return v

    @model_validator(mode="after")
    def _spill(self):
        if self.spill_bits is not None and self.spill_bits < self.bits:
            raise ValueError(f"spill_bits ({self.spill_bits}) must be >= bits ({self.bits})")
        if self.byte_pairs == "saturate_int16" and (self.bits != 32 or self.overflow != "wrap" or self.chunk != "none"
                                                    or self.spill_bits not in (None, 32)):
            raise ValueError("byte_pairs: saturate_int16 is x86's VPMADDUBSW + VPMADDWD into int32 lanes: it needs "
                             "bits: 32, overflow: wrap, chunk: none (and no wider spill)")
        return self


class FloatAccumulatorModel(_Strict):
    format: str = "fp32"
    promote_every: int | None = Field(default=None, gt=0)
    overflow: Literal["nonfinite", "saturate"] = "nonfinite"

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        # the accumulators accelsim.numerics.float_accumulate.FloatAccumulator.named knows
        m = re.fullmatch(r"fp32_m(\d+)", v)
        if v not in ("fp32", "fp16", "bf16") and not (m and 1 <= int(m.group(1)) <= 23):
            raise ValueError(f"unknown accumulator '{v}'; allowed: fp32, fp16, bf16, fp32_m<1..23> (fp32's range with "
                             f"that many mantissa bits, e.g. fp32_m13 for Hopper FP8 tensor cores)")
        return v


class RequantModel(_Strict):
    scale: Literal["float32", "fixed_point", "power_of_two"]
    rounding: Literal["half_even", "half_up", "half_away_from_zero", "floor", "double", "single", "ruy", "float64_away"]
    # Some runtimes round differently per kernel (LiteRT's reference FULLY_CONNECTED rounds once,
    # its reference CONV_2D twice): an override per MAC op.
    rounding_by_op: dict[Literal["linear", "matmul", "conv2d"],
                         Literal["half_even", "half_up", "half_away_from_zero", "floor", "double", "single",
                                 "ruy", "float64_away"]] = Field(default_factory=dict)
    granularity: list[Literal["per_tensor", "per_channel", "per_group"]] = Field(min_length=1)
    # What the epilogue can write besides requantized integers: "float" (the int32 accumulator scaled in
    # float32: TensorRT's int8 GEMM with fp16/fp32 output, ONNX Runtime's MatMulIntegerToFloat)
    outputs: list[Literal["integer", "float"]] = Field(default_factory=lambda: ["integer"], min_length=1)
    # Activation scales the hardware takes at run time, from each tensor as it runs (the epilogue then needs
    # that scale, so dynamic activations imply float outputs): per_tensor (ONNX Runtime DynamicQuantizeLinear),
    # per_token (one scale per row: TensorRT-LLM's SmoothQuant per-token mode)
    dynamic_activations: list[Literal["per_tensor", "per_token"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dynamic_needs_float_output(self):
        if self.dynamic_activations and "float" not in self.outputs:
            raise ValueError("dynamic_activations need 'float' in outputs (the run-time scale is applied in a "
                             "float epilogue)")
        if self.scale != "float32" and "float" in self.outputs:
            raise ValueError(f"outputs 'float' needs scale float32 (a {self.scale} epilogue has no float datapath)")
        return self

    @model_validator(mode="after")
    def _rounding(self):
        allowed = ROUNDING_FOR_SCALE[self.scale]
        for where, rounding in [("rounding", self.rounding)] + [
                (f"rounding_by_op.{op}", r) for op, r in self.rounding_by_op.items()]:
            if rounding not in allowed:
                raise ValueError(f"{where} '{rounding}' is not available with scale '{self.scale}'; "
                                 f"allowed: {', '.join(allowed)}")
        return self


class ZeroPointModel(_Strict):
    weights: Literal["symmetric", "asymmetric"]
    activations: Literal["symmetric", "asymmetric"]


def _in_range(lo: float, hi: float, unit: str):
    """A validator for a physical quantity: finite and within [lo, hi] (the message names the range)."""
    def check(cls, v):
        if isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g} {unit}")
        return v
    return classmethod(check)


# Physical ranges: far outside anything built, close enough to catch a typo or a unit slip
# (a clock in GHz written as Hz, SRAM in kB written as bytes).
CLOCK_HZ = (1e3, 1e11)              # 1 kHz .. 100 GHz
ON_CHIP_BYTES = (64, 1 << 40)       # a 64-byte buffer .. 1 TiB
BANDWIDTH_BPS = (1.0, 1e16)         # 1 B/s .. 10 PB/s
LATENCY_CYCLES = (0, 10**9)
ENERGY_PJ = (0.0, 1e6)              # per byte or per op
NODE_NM = (1.0, 1000.0)


class MemoryModel(_Strict):
    name: str = Field(min_length=1, max_length=64)
    bytes: int | None = Field(default=None, ge=ON_CHIP_BYTES[0], le=ON_CHIP_BYTES[1])
    bandwidth_Bps: float
    energy_pj_per_byte: float | None = None  # on-chip levels: derived from the size (Horowitz, by node) if omitted
    latency_cycles: int = Field(default=0, ge=LATENCY_CYCLES[0], le=LATENCY_CYCLES[1])

    _bw = field_validator("bandwidth_Bps")(_in_range(*BANDWIDTH_BPS, "B/s"))
    @field_validator("energy_pj_per_byte")
    @classmethod
    def _e(cls, v):
        return None if v is None else _in_range(*ENERGY_PJ, "pJ/byte").__func__(cls, v)


ENERGY_OVERRIDE_KEYS = ("mac_pj", "add_pj", "requant_pj")


class InterconnectModel(_Strict):
    """The device-to-device link tensor parallelism all-reduces over (per direction, per device)."""
    bandwidth_Bps: float
    latency_s: float = 5e-6

    _bw = field_validator("bandwidth_Bps")(_in_range(*BANDWIDTH_BPS, "B/s"))
    _lat = field_validator("latency_s")(_in_range(0.0, 1.0, "s"))


class EnergyModel(_Strict):
    node_nm: float = 45.0
    static_power_w: float = 0.0
    overrides: dict[Literal["mac_pj", "add_pj", "requant_pj"], float] = Field(default_factory=dict)

    _node = field_validator("node_nm")(_in_range(*NODE_NM, "nm"))
    _static = field_validator("static_power_w")(_in_range(0.0, 1e5, "W"))

    @field_validator("overrides")
    @classmethod
    def _nonneg(cls, v):
        for key, value in v.items():
            if not math.isfinite(value) or not ENERGY_PJ[0] <= value <= ENERGY_PJ[1]:
                raise ValueError(f"overrides.{key} must be between {ENERGY_PJ[0]:g} and {ENERGY_PJ[1]:g} pJ")
        return v


class HardwareModel(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    clock_hz: float
    array: ArrayModel
    operands: OperandsModel
    accumulator: AccumulatorModel
    requant: RequantModel
    zero_point: ZeroPointModel
    memory: list[MemoryModel] = Field(min_length=1, max_length=6)
    energy: EnergyModel = Field(default_factory=EnergyModel)
    fusion: list[Literal["activation", "residual", "norm", "attention"]] = Field(default_factory=list)
    # the software stack's settings live in runtime profiles (accelsim.runtime): named here to say so
    kernel_launch_s: float | None = None
    decode_graphs: StrictBool | None = None
    concurrent_layers: StrictBool | None = None
    interconnect: InterconnectModel | None = None
    float_rates: dict[Literal["fp32", "fp16", "bf16", "fp8", "fp4"], float] = Field(default_factory=dict)
    # the float MAC unit's accumulator (float and block operand formats): its format, promotion into a full
    # fp32 register every N products of K (Hopper FP8 GEMMs: 128, DeepSeek-V3), overflow to inf or saturating
    float_accumulator: FloatAccumulatorModel = Field(default_factory=lambda: FloatAccumulatorModel())
    # a value beyond a float operand format's range on conversion: clamped to the largest finite (PTX cvt ...
    # .satfinite, OCP MX) or to inf / NaN (IEEE; E4M3 has no inf: NaN)
    float_conversion: Literal["saturate", "nonfinite"] = "saturate"
    # the MAC ops of a QDQ model this contract runs as integer layers; the others it runs in float between their
    # Q/DQ (ONNX Runtime's CPU provider has no integer ConvTranspose: its optimized model keeps DQ -> ConvTranspose
    # -> Q); default all
    integer_ops: list[Literal["MatMul", "Gemm", "Conv", "ConvTranspose"]] = Field(
        default_factory=lambda: ["MatMul", "Gemm", "Conv", "ConvTranspose"], min_length=1)

    @model_validator(mode="after")
    def _format_rates(self):
        """A float or block operand format runs at a stated rate: its class must be in float_rates."""
        from accelsim.operands import FORMATS, rate_class

        for fmt in dict.fromkeys(self.operands.weights + self.operands.activations):
            if fmt in FORMATS and rate_class(fmt) not in self.float_rates:
                raise ValueError(f"operands: {fmt} needs its MAC rate: add float_rates.{rate_class(fmt)} (relative to "
                                 f"the integer rate)")
        if self.array.kind == "systolic" and any(rate != 1 for rate in self.float_rates.values()):
            raise ValueError("float_rates: a systolic array runs every format at its own rate (SCALE-Sim's schedule): "
                             "rates must be 1")
        return self

    @field_validator("float_rates")
    @classmethod
    def _rates(cls, v):
        for key, value in v.items():
            if isinstance(value, bool) or not math.isfinite(value) or not 0 < value <= 16:
                raise ValueError(f"float_rates.{key} must be a number in (0, 16] (relative to the integer rate)")
        return v

    @field_validator("kernel_launch_s", "decode_graphs", "concurrent_layers")
    @classmethod
    def _runtime_fields(cls, v, info):
        raise ValueError(f"{info.field_name} belongs to the software stack, not the silicon: set it in a runtime "
                         f"profile (hw_profiles/runtimes/, --runtime; docs/runtimes.md)")

    _clock = field_validator("clock_hz")(_in_range(*CLOCK_HZ, "Hz"))

    _name = field_validator("name")(lambda v: check_name(v))

    @field_validator("memory")
    @classmethod
    def _memory(cls, memory):
        if len(memory) < 2:
            raise ValueError("needs at least one on-chip level after the outermost (DRAM) one: the array is fed from "
                             "on-chip memory; list DRAM first, then the buffers, outermost to innermost")
        names = [m.name for m in memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory level names must be unique, got {names}")
        if memory[0].energy_pj_per_byte is None:
            raise ValueError(f"memory level '{memory[0].name}' (the outermost, DRAM) needs 'energy_pj_per_byte': "
                             f"off-chip access energy is not derived from a size")
        for level in memory[1:]:
            if level.bytes is None:
                raise ValueError(f"memory level '{level.name}' needs 'bytes' (only the outermost "
                                 f"level, listed first, may be unbounded)")
        return memory

    @model_validator(mode="after")
    def _smallest_tile_fits(self):
        """The innermost buffer must hold the smallest tile the compute unit can work on, double-buffered:
        one array fold of operands (systolic), one CTA tile per core (matrix: 16 x 32 and 32 x 32 panels), one
        dot step's operands per core (simd_dot)."""
        arr = self.array
        from accelsim.operands import FORMATS, format_bits

        widest = max(format_bits(t) if t in FORMATS else int(t.lstrip("uint"))
                     for t in (*self.operands.weights, *self.operands.activations)) / 8
        acc = self.accumulator.bits / 8
        if arr.kind == "systolic":
            need, per, what = 2 * arr.rows * arr.cols * widest + arr.rows * arr.cols * acc, 1, \
                f"one {arr.rows} x {arr.cols} fold of operands (double-buffered) and its accumulators"
        elif arr.kind == "matrix":
            need, per, what = 2 * (16 * 32 + 32 * 32) * widest, arr.count // arr.units_per_core, \
                "a 16 x 32 and a 32 x 32 CTA panel (double-buffered) per core"
        else:
            need, per, what = 2 * (arr.rows + arr.rows * arr.cols) * widest, arr.count, \
                f"one {arr.rows}-deep dot step of {arr.cols} lanes (double-buffered) per core"
        inner = self.memory[-1]
        if inner.bytes is not None and inner.bytes / per < need:
            raise ValueError(f"memory[{len(self.memory) - 1}].bytes: the innermost buffer '{inner.name}' "
                             f"({inner.bytes} bytes{f' for {per} cores' if per > 1 else ''}) cannot hold {what}: "
                             f"{int(need)} bytes{' per core' if per > 1 else ''}")
        return self

    def to_profile(self, source: str = "") -> hp.HardwareProfile:
        acc = self.accumulator
        if acc.chunk == "array_rows":
            chunk = None if (self.array.dataflow or "output_stationary") == "output_stationary" else self.array.rows
        elif acc.chunk == "none":
            chunk = None
        else:
            chunk = acc.chunk
        return hp.HardwareProfile(
            name=self.name,
            description=self.description,
            clock_hz=float(self.clock_hz),
            array=hp.ArraySpec(rows=self.array.rows, cols=self.array.cols,
                               dataflow=self.array.dataflow or "output_stationary", count=self.array.count,
                               kind=self.array.kind, register_tile=self.array.register_tile or 0,
                               units_per_core=self.array.units_per_core, cluster=self.array.cluster,
                               efficiency=float(self.array.efficiency)),
            weight_types=tuple(dict.fromkeys(self.operands.weights)),
            activation_types=tuple(dict.fromkeys(self.operands.activations)),
            accumulator=hp.AccumulatorSpec(
                bits=acc.bits, overflow=acc.overflow,
                spill_bits=acc.spill_bits if acc.spill_bits is not None else acc.bits,
                spill_overflow=acc.spill_overflow or acc.overflow, chunk=chunk,
                byte_pairs=acc.byte_pairs),
            requant=hp.RequantSpec(scale=self.requant.scale, rounding=self.requant.rounding,
                                   granularity=tuple(dict.fromkeys(self.requant.granularity)),
                                   rounding_by_op=tuple(sorted(self.requant.rounding_by_op.items())),
                                   outputs=tuple(dict.fromkeys(self.requant.outputs)),
                                   dynamic_activations=tuple(dict.fromkeys(self.requant.dynamic_activations))),
            weight_zero_point=self.zero_point.weights,
            activation_zero_point=self.zero_point.activations,
            memory=tuple(hp.MemoryLevel(name=m.name, bandwidth_Bps=float(m.bandwidth_Bps),
                                        energy_pj_per_byte=float(m.energy_pj_per_byte if m.energy_pj_per_byte is not None
                                                                 else sram_pj_per_byte(m.bytes, self.energy.node_nm)),
                                        bytes=m.bytes,
                                        latency_cycles=m.latency_cycles) for m in self.memory),
            energy=hp.EnergySpec(node_nm=float(self.energy.node_nm), overrides=dict(self.energy.overrides),
                                 static_power_w=float(self.energy.static_power_w)),
            source=source, fusion=tuple(dict.fromkeys(self.fusion)), float_rates=tuple(sorted(self.float_rates.items())),
            interconnect=None if self.interconnect is None else (float(self.interconnect.bandwidth_Bps),
                                                                 float(self.interconnect.latency_s)),
            float_accumulator=(self.float_accumulator.format, self.float_accumulator.promote_every,
                               self.float_accumulator.overflow),
            float_conversion=self.float_conversion,
            integer_ops=tuple(dict.fromkeys(self.integer_ops)),
        )
