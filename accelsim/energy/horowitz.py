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
    return HOROWITZ_45NM_PJ["int8_mult"] * (a_bits * b_bits) / 64.0 * node_scale(node_nm)


def add_pj(bits: int, node_nm: float = 45.0) -> float:
    return HOROWITZ_45NM_PJ["int32_add"] * bits / 32.0 * node_scale(node_nm)


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
