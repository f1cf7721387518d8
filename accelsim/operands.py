"""Operand format names beyond the integers (accelsim.inttypes): float element formats and block-scaled formats,
their storage bits and the MAC-rate class a contract states them in. Names only — the arithmetic is
accelsim.numerics.formats'; this module imports nothing so that every package may use the names."""

from __future__ import annotations

ELEMENT_FORMATS = ("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1")
BLOCK_FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp4", "mxint8", "nvfp4")
#: every float and block format an operand can have
FORMATS = ELEMENT_FORMATS + BLOCK_FORMATS

_ELEMENT_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8_e4m3": 8, "fp8_e5m2": 8, "fp6_e2m3": 6, "fp6_e3m2": 6,
                 "fp4_e2m1": 4, "int8": 8}
#: block formats: (element format, elements per block sharing one 8-bit scale)
BLOCKS = {"mxfp8_e4m3": ("fp8_e4m3", 32), "mxfp8_e5m2": ("fp8_e5m2", 32), "mxfp6_e2m3": ("fp6_e2m3", 32),
          "mxfp6_e3m2": ("fp6_e3m2", 32), "mxfp4": ("fp4_e2m1", 32), "mxint8": ("int8", 32), "nvfp4": ("fp4_e2m1", 16)}


def is_format(name: str) -> bool:
    return name in FORMATS


def format_bits(fmt: str) -> float:
    """Storage bits per element including the block scale's share (MXFP4: 4 + 8 / 32 = 4.25; NVFP4: 4.5)."""
    if fmt in BLOCKS:
        elem, size = BLOCKS[fmt]
        return _ELEMENT_BITS[elem] + 8 / size
    return _ELEMENT_BITS[fmt]


def rate_class(fmt: str) -> str:
    """The MAC-rate class of a format, as profiles state rates (``float_rates``): fp16, bf16, fp8 (8- and 6-bit
    elements, MXFP8/MXFP6, MXINT8), fp4 (FP4 elements, MXFP4, NVFP4), fp32."""
    if fmt in ("fp32", "fp16", "bf16"):
        return fmt
    if fmt in ("fp4_e2m1", "mxfp4", "nvfp4"):
        return "fp4"
    return "fp8"
