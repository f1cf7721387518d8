""".npz tensors from the user, read defensively.

Every array's header (dtype, shape) is read from the archive before any array is loaded, so a
compressed archive that inflates to terabytes, a pickled object array or a string array is refused
with a one-line error naming the file and the array, not a MemoryError or numpy's own text. Loaded
float arrays must be finite: a NaN or inf in the data poisons every metric downstream.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from accelsim.errors import InputError
from accelsim.resources import format_bytes, require_memory

#: numpy dtype kinds accelsim can use as tensors: bool, signed/unsigned integers, floats
NUMERIC_KINDS = "biuf"


def _header(zf: zipfile.ZipFile, member: str, source: str) -> tuple[np.dtype, tuple[int, ...]]:
    from numpy.lib import format as npy

    key = member[:-4] if member.endswith(".npy") else member
    try:
        with zf.open(member) as fh:
            version = npy.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npy.read_array_header_2_0(fh)
            else:
                shape, _, dtype = npy._read_array_header(fh, version)  # 3.0: utf-8 field names
    except Exception as exc:  # noqa: BLE001 - a corrupt member is a user error
        raise InputError(f"array '{key}' is not a readable .npy member ({' '.join(str(exc).split())[:100]})",
                         source=source) from None
    return np.dtype(dtype), tuple(int(d) for d in shape)


def read_npz(path: str | Path, *, what: str = "tensors") -> dict[str, np.ndarray]:
    """All arrays of an .npz file, checked: numeric dtypes only, finite floats, fits in memory."""
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=source)
    if not p.is_file():
        raise InputError(f"is not a regular file; expected an .npz of {what}", source=source)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputError(f"not an .npz archive (numpy.savez writes one); expected {what}", source=source) from None
    with zf:
        members = [m for m in zf.namelist()]
        if not members:
            raise InputError(f"the archive holds no arrays; expected {what}", source=source)
        total = 0
        for member in members:
            key = member[:-4] if member.endswith(".npy") else member
            dtype, shape = _header(zf, member, source)
            if dtype.hasobject:
                raise InputError(f"array '{key}' holds Python objects (pickled); accelsim reads numeric arrays only",
                                 source=source)
            if dtype.kind not in NUMERIC_KINDS:
                raise InputError(f"array '{key}' has dtype {dtype} ({'strings' if dtype.kind in 'SU' else dtype.kind}); "
                                 f"allowed: numeric arrays (bool, integer, float)", source=source)
            total += int(np.prod(shape, dtype=object)) * dtype.itemsize
        require_memory(total * 2, what=f"reading {len(members)} arrays ({format_bytes(total)})",
                       knob="pass smaller arrays", source=source)
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise InputError(f"cannot read .npz: {' '.join(str(exc).split())[:120]}", source=source) from None
    for key, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise InputError(f"array '{key}' has {bad} NaN or infinite values; data must be finite", source=source)
    return arrays
