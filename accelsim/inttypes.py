"""Integer operand types: their ranges and numpy storage dtypes.

Names are ``int<N>`` / ``uint<N>`` for N = 2..16 (any width a quantizer can produce; hardware
profiles support the subset in OPERAND_TYPES) plus int32 for accumulators and bias.
"""

from __future__ import annotations

import numpy as np


def _storage(bits: int, signed: bool) -> type:
    if bits <= 8:
        return np.int8 if signed else np.uint8
    if bits <= 16:
        return np.int16 if signed else np.uint16
    return np.int32 if signed else np.uint32


#: name -> (min, max, storage dtype). Sub-byte types are stored one value per int8/uint8 element.
INT_TYPES: dict[str, tuple[int, int, type]] = {}
for _bits in range(2, 17):
    INT_TYPES[f"int{_bits}"] = (-(1 << (_bits - 1)), (1 << (_bits - 1)) - 1, _storage(_bits, True))
    INT_TYPES[f"uint{_bits}"] = (0, (1 << _bits) - 1, _storage(_bits, False))
INT_TYPES["int32"] = (-(2**31), 2**31 - 1, np.int32)

OPERAND_TYPES = ("int4", "uint4", "int8", "uint8", "int16")


def type_range(name: str, narrow: bool = False) -> tuple[int, int]:
    """(min, max) of a type; ``narrow``: the symmetric signed range without the most negative value
    (e.g. -127..127 for int8, TFLite's weight convention)."""
    lo, hi, _ = INT_TYPES[name]
    if narrow and lo < 0:
        lo = -hi
    return lo, hi


def type_bits(name: str) -> int:
    return int(name.lstrip("u").removeprefix("int"))


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
