"""Per-operation energy: Horowitz (ISSCC 2014, "Computing's energy problem"), 45 nm, 0.9 V.

Scaling model (stated, approximate):
- bit width: multiplier energy ~ (a_bits * b_bits) relative to the 8x8 entry; adder ~ bits relative
  to the 32-bit entry (array multipliers grow with the partial-product count, ripple adders linearly);
- technology node: E(node) = E(45 nm) * (node / 45) ** 1.1, a power law fitted to the energy-per-op
  trend of Stillmaker & Baas (Integration, 2017): ~0.6x at 28 nm, ~0.32x at 16 nm, ~0.13x at 7 nm.
Memory energy per byte comes from each profile's memory levels (bytes moved x pJ/byte).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.hardware import HardwareProfile

#: Horowitz 2014, Table "energy per operation" at 45 nm (pJ)
HOROWITZ_45NM_PJ = {
    "int8_add": 0.03,
    "int32_add": 0.1,
    "int8_mult": 0.2,
    "int32_mult": 3.1,
    "fp16_add": 0.4,
    "fp16_mult": 1.1,
    "fp32_add": 0.9,
    "fp32_mult": 3.7,
    "sram_8kb_64bit_read": 10.0,
    "sram_32kb_64bit_read": 20.0,
    "sram_1mb_64bit_read": 100.0,
    "dram_64bit_access": 1950.0,  # 1.3-2.6 nJ, midpoint
}


def node_scale(node_nm: float) -> float:
    return (node_nm / 45.0) ** 1.1


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


def sram_pj_per_byte(size_bytes: int, node_nm: float = 45.0) -> float:
    """SRAM read energy per byte by array size: the table's 8 KB / 32 KB / 1 MB 64-bit reads,
    interpolated in log(size) (extrapolated beyond 1 MB along the last segment)."""
    pts = [(8 * 1024, HOROWITZ_45NM_PJ["sram_8kb_64bit_read"] / 8), (32 * 1024, HOROWITZ_45NM_PJ["sram_32kb_64bit_read"] / 8),
           (1024 * 1024, HOROWITZ_45NM_PJ["sram_1mb_64bit_read"] / 8)]
    x = math.log(max(size_bytes, 1))
    if size_bytes <= pts[0][0]:
        base = pts[0][1]
    else:
        (x0, y0), (x1, y1) = (pts[0], pts[1]) if size_bytes <= pts[1][0] else (pts[1], pts[2])
        base = y0 + (y1 - y0) * (x - math.log(x0)) / (math.log(x1) - math.log(x0))
    return base * node_scale(node_nm)


@dataclass(frozen=True)
class OpEnergy:
    """Energy per operation in pJ for one profile and operand widths."""

    mac_pj: float       # one multiply + one accumulate
    add_pj: float       # one accumulator-width add (partial-sum spill, elementwise add)
    requant_pj: float   # one output requantization (scale multiply + round + zero point)

    def table(self) -> dict[str, float]:
        return {"mac_pj": self.mac_pj, "add_pj": self.add_pj, "requant_pj": self.requant_pj}


def op_energy(profile: HardwareProfile, a_bits: int = 8, w_bits: int = 8) -> OpEnergy:
    """Per-op energies for ``profile`` (overrides in the profile win over the scaled table)."""
    node = profile.energy.node_nm
    acc_bits = profile.accumulator.bits
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

    @property
    def total_pj(self) -> float:
        return self.mac_pj + self.requant_pj + self.sram_pj + self.dram_pj


def layer_energy(profile: HardwareProfile, ops: OpEnergy, *, macs: int, outputs: int, is_mac: bool,
                 psum_adds: int, level_bytes: tuple[tuple[str, int], ...]) -> LayerEnergy:
    """MACs x mac_pj; outputs x requant_pj (x add_pj for vector ops) + partial-sum adds x add_pj;
    every byte moved between levels costs a read at the source and a write at the destination
    (each level's pJ/byte); the array's operand reads cost a read of the innermost level."""
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
    requant = outputs * (ops.requant_pj if is_mac else ops.add_pj) + psum_adds * ops.add_pj
    return LayerEnergy(mac_pj=macs * ops.mac_pj, requant_pj=requant, sram_pj=sram, dram_pj=dram)
