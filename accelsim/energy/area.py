"""Silicon area of a contract's compute and on-chip memory (mm²): an estimate for design-space sweeps.

Logic: Horowitz, "Computing's energy problem", ISSCC 2014, area column at 45 nm (µm²): 8-bit add 36, 16-bit add
67, 32-bit add 137; 8x8 multiply 282, 32x32 multiply 3495; fp16 add 1360, fp16 multiply 1640, fp32 add 4184,
fp32 multiply 7700. A MAC is one multiplier at the widest integer operand widths the contract lists (scaled by
the partial-product count a x w from the nearer anchor, as the energy model does) plus one adder at the
accumulator width (linear through the three adder entries). Float formats add fp multipliers (fp16's entry, by
squared mantissa width for narrower formats) and fp32 adders for the MACs their rate gives. Logic scales with
the node as (node / 45)^2 (ideal scaling: optimistic below 16 nm).

SRAM: the published 6T bitcell area of the node (log-log interpolation through 45 nm 0.346 µm² (Intel, IEDM
2007), 28 nm 0.127 (TSMC), 16 nm 0.074 (TSMC 16FF+), 7 nm 0.027 (TSMC N7, IEDM 2016), 5 nm 0.021 (TSMC N5))
over an array efficiency of 70 % (periphery, sense amplifiers, redundancy). DRAM is off chip: not counted.
Not counted either: accumulator registers, operand buffers inside the array, control, interconnect, I/O: the
figures compare contracts, they are not a die size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Horowitz 2014, 45 nm area (µm²)
HOROWITZ_45NM_UM2 = {"int8_add": 36.0, "int16_add": 67.0, "int32_add": 137.0, "int8_mult": 282.0,
                     "int32_mult": 3495.0, "fp16_add": 1360.0, "fp16_mult": 1640.0, "fp32_add": 4184.0,
                     "fp32_mult": 7700.0}
#: 6T SRAM bitcell area (µm²) by node (nm)
SRAM_BITCELL_UM2 = ((5.0, 0.021), (7.0, 0.027), (16.0, 0.074), (28.0, 0.127), (45.0, 0.346))
SRAM_ARRAY_EFFICIENCY = 0.70
#: mantissa multiplier width (incl. the hidden bit) relative to fp16's 11 bits, squared: a multiplier's area
_FP_MULT_SCALE = {"fp32": (24 / 11) ** 2, "fp16": 1.0, "bf16": (8 / 11) ** 2, "fp8": (4 / 11) ** 2,
                  "fp4": (2 / 11) ** 2}


def logic_scale(node_nm: float) -> float:
    return (node_nm / 45.0) ** 2


def mult_um2(a_bits: int, b_bits: int) -> float:
    ab = a_bits * b_bits
    return (HOROWITZ_45NM_UM2["int8_mult"] * ab / 64.0 if ab <= 256
            else HOROWITZ_45NM_UM2["int32_mult"] * ab / 1024.0)


def add_um2(bits: int) -> float:
    pts = ((8, HOROWITZ_45NM_UM2["int8_add"]), (16, HOROWITZ_45NM_UM2["int16_add"]), (32, HOROWITZ_45NM_UM2["int32_add"]))
    if bits <= 8:
        return pts[0][1] * bits / 8
    if bits >= 32:
        return pts[2][1] * bits / 32
    (b0, a0), (b1, a1) = (pts[0], pts[1]) if bits <= 16 else (pts[1], pts[2])
    return a0 + (a1 - a0) * (bits - b0) / (b1 - b0)


def sram_um2_per_byte(node_nm: float) -> float:
    pts = SRAM_BITCELL_UM2
    x = math.log(node_nm)
    if node_nm <= pts[0][0]:
        (n0, c0), (n1, c1) = pts[0], pts[1]
    elif node_nm >= pts[-1][0]:
        (n0, c0), (n1, c1) = pts[-2], pts[-1]
    else:
        (n0, c0), (n1, c1) = next((p, q) for p, q in zip(pts, pts[1:]) if p[0] <= node_nm <= q[0])
    cell = math.exp(math.log(c0) + (math.log(c1) - math.log(c0)) * (x - math.log(n0)) / (math.log(n1) - math.log(n0)))
    return 8 * cell / SRAM_ARRAY_EFFICIENCY


@dataclass(frozen=True)
class Area:
    """mm² by part."""

    mac_mm2: float
    float_mm2: float
    sram_mm2: float

    @property
    def total_mm2(self) -> float:
        return self.mac_mm2 + self.float_mm2 + self.sram_mm2

    def as_dict(self) -> dict:
        return {"area_mm2": self.total_mm2, "area_mac_mm2": self.mac_mm2, "area_float_mm2": self.float_mm2,
                "area_sram_mm2": self.sram_mm2}


def contract_area(profile) -> Area:
    """The area estimate of ``profile`` (see the module docstring)."""
    from accelsim.inttypes import INT_TYPES, type_bits
    from accelsim.operands import FORMATS, rate_class

    node = profile.energy.node_nm
    macs = profile.peak_macs_per_cycle
    ints_a = [type_bits(t) for t in profile.activation_types if t in INT_TYPES]
    ints_w = [type_bits(t) for t in profile.weight_types if t in INT_TYPES]
    mac = 0.0
    if ints_a and ints_w:
        mac = macs * (mult_um2(max(ints_a), max(ints_w)) + add_um2(profile.accumulator.bits))
    fp = 0.0
    classes = {rate_class(t) for t in profile.activation_types + profile.weight_types if t in FORMATS}
    rates = dict(profile.float_rates)
    for c in classes:
        units = macs * rates.get(c, 1.0)
        fp = max(fp, units * (HOROWITZ_45NM_UM2["fp16_mult"] * _FP_MULT_SCALE.get(c, 1.0)
                              + HOROWITZ_45NM_UM2["fp32_add"]))  # the widest format's units serve the narrower ones
    sram_bytes = sum(lv.bytes or 0 for lv in profile.on_chip)
    scale = logic_scale(node) * 1e-6
    return Area(mac_mm2=mac * scale, float_mm2=fp * scale, sram_mm2=sram_bytes * sram_um2_per_byte(node) * 1e-6)
