"""Technology figures a contract derives its defaults from: Horowitz's 45 nm energy table, node scaling,
SRAM access energy by array size. (No dependency on the rest of accelsim: the contract's schema uses it.)

Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V.
Node scaling: E(node) = E(45 nm) x (node / 45) ** 1.1, a power law fitted to the energy-per-op trend of
Stillmaker & Baas (Integration, 2017): ~0.6x at 28 nm, ~0.32x at 16 nm, ~0.13x at 7 nm.
"""

from __future__ import annotations

import math

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


