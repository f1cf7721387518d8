"""Per-operation energy: Horowitz (ISSCC 2014, "Computing's energy problem"), 45 nm, 0.9 V.

Scaling model (stated, approximate):
- bit width: multiplier energy ~ (a_bits * b_bits) relative to the 8x8 entry; adder ~ bits relative
  to the 32-bit entry (array multipliers grow with the partial-product count, ripple adders linearly);
- technology node: E(node) = E(45 nm) * (node / 45) ** 1.1, a power law fitted to the energy-per-op
  trend of Stillmaker & Baas (Integration, 2017): ~0.6x at 28 nm, ~0.32x at 16 nm, ~0.13x at 7 nm.
Memory energy per byte comes from each profile's memory levels (bytes moved x pJ/byte).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.hardware import HardwareProfile
from accelsim.hardware.technology import HOROWITZ_45NM_PJ, node_scale, sram_pj_per_byte  # noqa: F401 (re-exported)


def mult_pj(a_bits: int, b_bits: int, node_nm: float = 45.0) -> float:
    """Integer multiply: the table's 8x8 (0.2 pJ) or 32x32 (3.1 pJ) entry, scaled by the partial-product
    count a_bits x b_bits from the nearer anchor (exactly the table at 8x8 and 32x32)."""
    ab = a_bits * b_bits
    base = (HOROWITZ_45NM_PJ["int8_mult"] * ab / 64.0 if ab <= 256
            else HOROWITZ_45NM_PJ["int32_mult"] * ab / 1024.0)
    return base * node_scale(node_nm)


def add_pj(bits: int, node_nm: float = 45.0) -> float:
    """Integer add: linear in width through the table's 8-bit (0.03 pJ) and 32-bit (0.1 pJ) entries
    (extrapolated proportionally outside them)."""
    lo, hi = HOROWITZ_45NM_PJ["int8_add"], HOROWITZ_45NM_PJ["int32_add"]
    if bits <= 8:
        base = lo * bits / 8.0
    elif bits <= 32:
        base = lo + (hi - lo) * (bits - 8) / 24.0
    else:
        base = hi * bits / 32.0
    return base * node_scale(node_nm)


@dataclass(frozen=True)
class OpEnergy:
    """Energy per operation in pJ for one profile and operand widths."""

    mac_pj: float       # one multiply + one accumulate
    add_pj: float       # one accumulator-width add (partial-sum spill, elementwise add)
    requant_pj: float   # one output requantization (scale multiply + round + zero point)

    def table(self) -> dict[str, float]:
        return {"mac_pj": self.mac_pj, "add_pj": self.add_pj, "requant_pj": self.requant_pj}


def op_energy(profile: HardwareProfile, a_bits: int = 8, w_bits: int = 8, math_format: str = "int8") -> OpEnergy:
    """Per-op energies for ``profile`` (overrides in the profile win over the scaled table). A float
    ``math_format`` (a rate class: fp32, fp16, bf16, fp8, fp4) multiplies in that format and accumulates in
    fp32: Horowitz's fp16 multiply scaled by the squared mantissa-multiplier width ratio (bf16 as fp16; fp8
    (4/11)^2, fp4 (2/11)^2, fp32 (24/11)^2) + fp32 add."""
    node = profile.energy.node_nm
    acc_bits = profile.accumulator.bits
    if math_format in ("fp16", "bf16", "fp8", "fp4", "fp32"):
        # multiplier energy ~ the square of the mantissa multiplier's width (11 bits for fp16, 4 for fp8, 2 for fp4,
        # 24 for fp32), as for the integer multipliers
        width = {"fp16": 11, "bf16": 11, "fp8": 4, "fp4": 2, "fp32": 24}[math_format]
        mult = HOROWITZ_45NM_PJ["fp16_mult"] * (width / 11) ** 2
        mac = (mult + HOROWITZ_45NM_PJ["fp32_add"]) * node_scale(node)
    else:
        mac = mult_pj(a_bits, w_bits, node) + add_pj(acc_bits, node)
    add = add_pj(profile.accumulator.spill_bits, node)
    kind = profile.requant.scale
    if kind == "float32":
        requant = (HOROWITZ_45NM_PJ["fp32_mult"] + HOROWITZ_45NM_PJ["fp32_add"]) * node_scale(node)
    elif kind == "fixed_point":
        requant = (HOROWITZ_45NM_PJ["int32_mult"] + 2 * HOROWITZ_45NM_PJ["int32_add"]) * node_scale(node)
    else:  # shift + rounding add + zero-point add
        requant = 2 * HOROWITZ_45NM_PJ["int32_add"] * node_scale(node)
    ov = profile.energy.overrides
    return OpEnergy(mac_pj=ov.get("mac_pj", mac), add_pj=ov.get("add_pj", add),
                    requant_pj=ov.get("requant_pj", requant))


@dataclass(frozen=True)
class LayerEnergy:
    """Energy of one layer in pJ, split as in the results schema."""

    mac_pj: float
    requant_pj: float
    sram_pj: float
    dram_pj: float
    static_pj: float = 0.0  # static / leakage power x the layer's latency: stalls cost energy too

    @property
    def total_pj(self) -> float:
        return self.mac_pj + self.requant_pj + self.sram_pj + self.dram_pj + self.static_pj


# Float vector ops (the glue between integer layers runs in fp32 on the vector unit), per element, as counts
# of Horowitz's fp32 operations. exp: range reduction (1 mult, 1 add) + a degree-4 polynomial (4 mult, 4 add)
# + the exponent insert (1 add) -- the usual libm / CUDA __expf construction; a divide or reciprocal square root:
# Newton-Raphson from a table seed, 2 iterations of 2 mult + 1 add (assumption: no divider unit). Dequantizing
# the input and quantizing the output of a float op add 1 mult + 1 add each.
_EXP = (5, 5)       # (fp32 mults, fp32 adds)
_DIV = (4, 2)
_DEQ_Q = (2, 2)
#: per-element (fp32 mults, fp32 adds) of each float vector op, before the dequantize/quantize around it
FLOAT_OP_COUNTS = {
    "softmax": (_EXP[0] + _DIV[0], _EXP[1] + 2),           # exp(x - max), a max compare and a sum add, a divide
    "gelu": (_EXP[0] + _DIV[0] + 4, _EXP[1] + _DIV[1] + 3),  # tanh via exp and a divide, plus the cubic form
    "silu": (_EXP[0] + _DIV[0] + 1, _EXP[1] + _DIV[1] + 1),  # x * sigmoid(x)
    "swiglu": (_EXP[0] + _DIV[0] + 2, _EXP[1] + _DIV[1] + 1),  # silu(gate) * up
    "layernorm": (4, 4),                                     # square, scale, affine (2); mean/var sums, center, shift
    "rmsnorm": (3, 2),                                       # square, scale, gain; the sum of squares, eps
    "mul": (1, 0),
    "avgpool": (0, 1),                                       # one add per window cell (ops = cells)
    "global_avgpool": (0, 1),
}


def vector_op_pj(op: str, ops: "OpEnergy", node_nm: float) -> float:
    """Energy of one element operation of a non-MAC layer (pJ): the fp32 ops of a float op (plus the dequantize
    and quantize around it), or one integer add / compare for add, relu, maxpool."""
    counts = FLOAT_OP_COUNTS.get(op)
    if counts is None:  # integer elementwise: add (requantized: one add), relu / maxpool (a compare)
        return ops.add_pj
    scale = node_scale(node_nm)
    mults, adds = counts[0] + _DEQ_Q[0], counts[1] + _DEQ_Q[1]
    return (mults * HOROWITZ_45NM_PJ["fp32_mult"] + adds * HOROWITZ_45NM_PJ["fp32_add"]) * scale


def layer_energy(profile: HardwareProfile, ops: OpEnergy, *, macs: int, outputs: int, is_mac: bool,
                 psum_adds: int, level_bytes: tuple[tuple[str, int], ...], op: str = "add",
                 latency_s: float = 0.0) -> LayerEnergy:
    """MACs x mac_pj; outputs x requant_pj for MAC layers; a vector layer's element operations (``outputs``)
    x what its op costs per element (:func:`vector_op_pj`); partial-sum adds x add_pj; every byte moved
    between levels costs a read at the source and a write at the destination (each level's pJ/byte); the
    array's operand reads cost a read of the innermost level; static power x ``latency_s``."""
    levels = {lv.name: lv for lv in profile.memory}
    chain = [lv.name for lv in profile.memory]
    sram = dram = 0.0

    def charge(level: str, nbytes: int) -> None:
        nonlocal sram, dram
        pj = nbytes * levels[level].energy_pj_per_byte
        if level == profile.dram.name:
            dram += pj
        else:
            sram += pj

    for i, (name, nbytes) in enumerate(level_bytes):
        if name == "array":              # operand reads of the array from the innermost level
            charge(chain[-1], nbytes)
        elif name == profile.dram.name:  # no on-chip level in between
            charge(name, nbytes)
        else:                            # parent -> level: a read there, a write here
            charge(chain[i], nbytes)
            charge(name, nbytes)
    per_output = ops.requant_pj if is_mac else vector_op_pj(op, ops, profile.energy.node_nm)
    requant = outputs * per_output + psum_adds * ops.add_pj
    static = profile.energy.static_power_w * latency_s * 1e12
    return LayerEnergy(mac_pj=macs * ops.mac_pj, requant_pj=requant, sram_pj=sram, dram_pj=dram, static_pj=static)
