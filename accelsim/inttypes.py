"""Integer operand types: their ranges and numpy storage dtypes."""

from __future__ import annotations

import numpy as np

#: name -> (min, max, storage dtype). int4/uint4 are stored one value per int8/uint8 element.
INT_TYPES: dict[str, tuple[int, int, type]] = {
    "int4": (-8, 7, np.int8),
    "uint4": (0, 15, np.uint8),
    "int8": (-128, 127, np.int8),
    "uint8": (0, 255, np.uint8),
    "int16": (-32768, 32767, np.int16),
    "uint16": (0, 65535, np.uint16),
    "int32": (-(2**31), 2**31 - 1, np.int32),
}

OPERAND_TYPES = ("int4", "uint4", "int8", "uint8", "int16")


def type_range(name: str) -> tuple[int, int]:
    lo, hi, _ = INT_TYPES[name]
    return lo, hi


def type_bits(name: str) -> int:
    return {"int4": 4, "uint4": 4, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "int32": 32}[name]


def is_signed(name: str) -> bool:
    return not name.startswith("u")


def storage_dtype(name: str) -> type:
    return INT_TYPES[name][2]


def int_type(bits: int, signed: bool) -> str:
    """The operand type name for a bit width and signedness (e.g. 8, False -> 'uint8')."""
    name = f"{'' if signed else 'u'}int{bits}"
    if name not in INT_TYPES:
        raise KeyError(name)
    return name
