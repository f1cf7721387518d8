"""The hardware contract as plain frozen dataclasses (validated and built by :mod:`.schema`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Dataflow = Literal["weight_stationary", "output_stationary", "input_stationary"]
Overflow = Literal["wrap", "saturate"]
ScaleKind = Literal["float32", "fixed_point", "power_of_two"]
Rounding = Literal["half_even", "half_up", "half_away_from_zero", "floor", "double", "single", "ruy", "float64_away"]
Granularity = Literal["per_tensor", "per_channel", "per_group"]
ZeroPointPolicy = Literal["symmetric", "asymmetric"]


ComputeKind = Literal["systolic", "simd_dot", "matrix"]


@dataclass(frozen=True)
class ArraySpec:
    """The compute unit: ``count`` identical units of ``rows`` x ``cols`` MACs per cycle.

    What ``rows`` and ``cols`` mean depends on ``kind`` (docs/hardware-profiles.md):

    - ``systolic`` (TPU-style arrays, SCALE-Sim's model): a rows x cols grid of MACs under ``dataflow``;
      for weight/input-stationary, ``rows`` is the reduction depth of one pass (K elements a column adds
      before the partial sum leaves the array); for output-stationary, rows and cols are the output tile
      (M x N) held in the array while K streams through.
    - ``simd_dot`` (CPU dot-product SIMD: Arm SDOT/SMMLA, x86 VNNI): ``rows`` is the dot width along K (products
      one 32-bit lane adds per instruction: 4 for SDOT and VPDPBUSD), ``cols`` the lanes along N issued per
      cycle (lanes per register x instructions per cycle); M runs in time; accumulators stay in registers
      (``register_tile`` output elements: the kernel's mr x nr block), so each operand is read from the
      innermost cache once per register block. ``count`` = cores.
    - ``matrix`` (tensor-core-style MMA units): ``rows`` x ``cols`` is one unit's MACs per cycle (K depth x N
      width of its MMA datapath); ``units_per_core`` units share a core (an SM) and its on-chip buffer, where
      a CTA tile of operands is staged; a warp's ``register_tile`` output elements stay in registers, so
      operands are read from shared memory once per register tile, not once per MMA. ``count`` = all units.
    """

    rows: int
    cols: int
    dataflow: Dataflow
    count: int = 1
    kind: ComputeKind = "systolic"
    register_tile: int = 0   # simd_dot / matrix: output elements held in registers by one unit (mr x nr)
    units_per_core: int = 1  # matrix: MMA units per core (tensor cores per SM); cores = count / units_per_core
    cluster: int = 1         # matrix: cores whose CTAs share one operand load (Hopper thread-block clusters, TMA multicast)
    efficiency: float = 1.0  # simd_dot / matrix: the share of the datasheet rate the kernels sustain (measured)

    @property
    def macs_per_cycle(self) -> int:
        return self.rows * self.cols * self.count

    @property
    def cores(self) -> int:
        """Cores that each stage their own operand tiles (SMs of a GPU, CPU cores; a systolic array: 1 per array)."""
        return max(1, self.count // self.units_per_core)


@dataclass(frozen=True)
class AccumulatorSpec:
    """Accumulator inside the array (``bits``) and the partial-sum register it spills into.

    ``chunk`` is the number of K elements accumulated at ``bits`` before a spill; ``None`` means
    the whole reduction stays in the array accumulator (output-stationary, SIMD dot products).
    """

    bits: int
    overflow: Overflow
    spill_bits: int
    spill_overflow: Overflow
    chunk: int | None
    byte_pairs: str = "exact"   # "saturate_int16": u8 x s8 pair sums clamp to int16 first (x86 VPMADDUBSW)


@dataclass(frozen=True)
class RequantSpec:
    """How int accumulators become output integers.

    ``scale``: float32 (ONNX Runtime CPU: float multiply, round half to even), fixed_point
    (gemmlowp/TFLite int32 multiplier and shift; ``rounding`` 'double' = SRDHM + RoundingDivideByPOT,
    'single' = TFLite's TFLITE_SINGLE_ROUNDING, 'ruy' = ruy's kernels: both steps round ties toward
    +inf), power_of_two (arithmetic shift with ``rounding``). ``rounding_by_op`` overrides the
    rounding for one MAC op kind (linear, matmul, conv2d).
    """

    scale: ScaleKind
    rounding: Rounding
    granularity: tuple[Granularity, ...]
    rounding_by_op: tuple[tuple[str, Rounding], ...] = ()
    outputs: tuple[str, ...] = ("integer",)          # integer | float: what the epilogue can write
    dynamic_activations: tuple[str, ...] = ()        # per_tensor | per_token: run-time activation scales

    def rounding_for(self, op: str) -> Rounding:
        """The rounding used when requantizing ``op``'s accumulators."""
        return dict(self.rounding_by_op).get(op, self.rounding)


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy. ``bytes`` None = unbounded (off-chip DRAM)."""

    name: str
    bandwidth_Bps: float
    energy_pj_per_byte: float
    bytes: int | None = None
    latency_cycles: int = 0


@dataclass(frozen=True)
class EnergySpec:
    """Technology node (nm) and optional per-op energy overrides in pJ (keys as in accelsim.energy)."""

    node_nm: float
    overrides: dict[str, float] = field(default_factory=dict)
    static_power_w: float = 0.0  # static (leakage, clock tree, always-on) power in W, charged x latency

    def __hash__(self) -> int:  # dict field: hash by content
        return hash((self.node_nm, tuple(sorted(self.overrides.items())), self.static_power_w))


@dataclass(frozen=True)
class HardwareProfile:
    """The hardware contract: what an accelerator computes and at what cost.

    Memory levels are ordered from the outermost (off-chip, DRAM) to the innermost on-chip buffer.
    Derived figures (peak MAC/s, ridge point) are properties, never stored twice.
    """

    name: str
    description: str
    clock_hz: float
    array: ArraySpec
    weight_types: tuple[str, ...]
    activation_types: tuple[str, ...]
    accumulator: AccumulatorSpec
    requant: RequantSpec
    weight_zero_point: ZeroPointPolicy
    activation_zero_point: ZeroPointPolicy
    memory: tuple[MemoryLevel, ...]
    energy: EnergySpec
    source: str = ""
    #: what the hardware's kernels fuse (accelsim.timing.fusion): activation, residual, norm, attention
    fusion: tuple[str, ...] = ()
    #: fixed cost of starting one kernel (s): launch latency and the idle tail, paid by every layer that is not
    #: fused into another (GPUs without CUDA graphs: a few microseconds)
    kernel_launch_s: float = 0.0
    interconnect: tuple[float, float] | None = None   # (bandwidth B/s per direction, latency s) between devices
    #: LLM decode steps are replayed from a captured graph (CUDA graphs: TensorRT-LLM's generation phase), so they
    #: pay no per-kernel launch cost; prefill (shapes vary per request) does
    decode_graphs: bool = False
    #: independent layers may run at once on cores the other leaves idle (TensorRT's auxiliary streams, a multi-core
    #: NPU compiler's schedule); False: one layer at a time (ONNX Runtime's sequential executor)
    concurrent_layers: bool = False
    #: MAC rates of float operand formats relative to the integer datapath (rows x cols per unit): A100/H100
    #: run fp16/bf16 at half their int8 rate, H100 fp8 at its int8 rate. A format not listed is not supported.
    float_rates: tuple[tuple[str, float], ...] = ()
    float_accumulator: tuple[str, int | None, str] = ("fp32", None, "nonfinite")  # format, promote_every, overflow
    float_conversion: str = "saturate"   # float operand conversions: "saturate" (satfinite) or "nonfinite" (IEEE)
    #: the MAC ops of a QDQ model the contract runs as integer layers (others: float between their Q/DQ)
    integer_ops: tuple[str, ...] = ("MatMul", "Gemm", "Conv", "ConvTranspose")
    # -- set by a runtime profile (accelsim.runtime.RuntimeProfile.apply), never by the contract's YAML: the as-run
    # view of the contract. kernel_launch_s, decode_graphs and concurrent_layers above are of this kind too.
    #: the GEMM mainloop's sustained share of the MAC rate per rate class (int8, fp16, bf16, fp8, fp4), applied by
    #: at_format (missing: 1)
    format_efficiency: tuple[tuple[str, float], ...] = ()
    #: tensor parallelism's all-reduce (accelsim.timing.llm.all_reduce_s): auto | one_shot | two_shot | ring
    all_reduce_algorithm: str = "auto"
    #: what the mapper ranks tilings by (accelsim.mapping.mapper): latency (energy breaking ties), energy, edp
    mapping_objective: str = "latency"
    # -- set by the graph executor for the model it runs: ONNX Runtime rewrites a QDQ model's int8 activations to
    # uint8 on x86 (QDQS8ToU8Transformer; session.qdqisint8allowed defaults to 0 there), so a QDQ model's s8 x s8
    # layers take the U8S8 kernel; a direct QLinear node keeps its types (accelsim.numerics.api.accumulator_model)
    qdq_s8_to_u8: bool = False

    def rate_of(self, fmt: str) -> float | None:
        """Relative MAC rate of operand format ``fmt`` — an integer type (1 for those the profile lists), a float
        or block format, or a rate class (fp32, fp16, bf16, fp8, fp4) — None if the profile has no such math."""
        from accelsim.operands import FORMATS, rate_class

        if fmt.startswith(("int", "uint")):
            return 1.0 if fmt in self.activation_types + self.weight_types or fmt == "int8" else None
        return dict(self.float_rates).get(rate_class(fmt) if fmt in FORMATS else fmt)

    def at_format(self, fmt: str) -> "HardwareProfile":
        """This profile with its compute unit running GEMMs in ``fmt``: its rate scaled by the format's float rate and
        by the runtime's sustained share for the format (``format_efficiency``; ValueError if the profile has no such math; systolic arrays run every format at their rate, which
        validation checks)."""
        import dataclasses

        from accelsim.operands import FORMATS, rate_class

        rate = self.rate_of(fmt)
        if rate is None:
            supported = ["int8", *[f for f, _ in self.float_rates]]
            raise ValueError(f"profile '{self.name}' has no {fmt} math; supported: {', '.join(supported)}")
        cls = "int8" if fmt.startswith(("int", "uint")) else (rate_class(fmt) if fmt in FORMATS else fmt)
        rate *= dict(self.format_efficiency).get(cls, 1.0)
        if rate == 1.0:
            return self
        return dataclasses.replace(self, array=dataclasses.replace(self.array,
                                                                   efficiency=self.array.efficiency * rate))

    def sustained(self, compute: float = 1.0, dram: float = 1.0) -> "HardwareProfile":
        """This profile at the shares of its datasheet rates that real kernels sustain: ``compute`` of the MAC rate
        (matrix and SIMD units; multiplies ``array.efficiency``) and ``dram`` of the outermost level's bandwidth,
        both in (0, 1]. docs/validation.md fits such a pair on published measurements."""
        import dataclasses

        if not (0 < compute <= 1 and 0 < dram <= 1):
            raise ValueError(f"sustained shares must be in (0, 1], got compute {compute}, dram {dram}")
        if compute != 1 and self.array.kind == "systolic":
            raise ValueError(f"profile '{self.name}' is a systolic array: its cycles are exact, it has no compute "
                             f"efficiency to scale")
        dram_level = dataclasses.replace(self.memory[0], bandwidth_Bps=self.memory[0].bandwidth_Bps * dram)
        return dataclasses.replace(self, memory=(dram_level, *self.memory[1:]),
                                   array=dataclasses.replace(self.array, efficiency=self.array.efficiency * compute))

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.array.macs_per_cycle

    @property
    def peak_macs_per_s(self) -> float:
        """Peak multiply-accumulates per second (MAC/s)."""
        return self.array.macs_per_cycle * self.clock_hz

    @property
    def peak_ops_per_s(self) -> float:
        """Peak operations per second, counting a MAC as 2 ops (the convention of TOPS figures)."""
        return 2.0 * self.peak_macs_per_s

    @property
    def dram(self) -> MemoryLevel:
        """The outermost memory level (first in the list)."""
        return self.memory[0]

    @property
    def ridge_point(self) -> float:
        """Roofline ridge point in MACs per DRAM byte (= peak MAC/s / DRAM bandwidth).

        This is the TPU v1 paper's convention (46 T MAC/s / 34 GB/s ~ 1350); in ops per byte
        (2 ops per MAC) it is twice as large: :attr:`ridge_point_ops`.
        """
        return self.peak_macs_per_s / self.dram.bandwidth_Bps

    @property
    def ridge_point_ops(self) -> float:
        """Roofline ridge point in ops (2 per MAC) per DRAM byte."""
        return 2.0 * self.ridge_point

    @property
    def startup_cycles(self) -> float:
        """Cycles before a kernel's first tile: the DRAM access latency plus the kernel launch overhead."""
        return self.dram.latency_cycles + self.kernel_launch_s * self.clock_hz

    @property
    def on_chip(self) -> tuple[MemoryLevel, ...]:
        return self.memory[1:]

    def k_chunk(self, k: int) -> int:
        """K elements accumulated in the array accumulator before a spill (for a reduction of k)."""
        chunk = self.accumulator.chunk
        return k if chunk is None else max(1, min(chunk, k))
