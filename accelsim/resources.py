"""Resource guards: how much memory a run may use, checked before anything large is allocated.

A shape typo (an extra digit in a dimension, ``--dim batch=100000000``) must give a one-line error
naming the knob to turn, not a MemoryError after minutes, or a machine swapping. The budget is the
smallest of what the kernel reports as available (``MemAvailable``), the address-space limit of this
process (``ulimit -v``: the budget is what is left under it) and the cgroup's memory limit (containers,
CI runners), times a safety factor for the interpreter, BLAS buffers and fragmentation.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from accelsim.errors import InputError

#: share of the available memory a run may plan to use (the rest: interpreter, BLAS, allocator slack)
USABLE_FRACTION = 0.7


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:  # VmSize: the address space this process already holds
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def _cgroup_left() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            text = Path(limit_file).read_text().strip()
            if text == "max":
                return None
            limit = int(text)
            if limit >= 1 << 60:  # cgroup v1 "unlimited"
                return None
            return max(0, limit - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory_bytes() -> int:
    """Bytes this process can still allocate without swapping or hitting a limit (best estimate)."""
    candidates = [v for v in (_meminfo_available(), _address_space_left(), _cgroup_left()) if v is not None]
    if not candidates:  # not Linux: trust the machine's physical memory
        try:
            candidates.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return 1 << 62
    return min(candidates)


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000.0
    return f"{n:.3g} EB"


def require_memory(nbytes: float, *, what: str, knob: str, source: str | None = None,
                   field: str | None = None) -> None:
    """Raise :class:`InputError` if ``nbytes`` will not fit in the usable share of available memory."""
    budget = int(available_memory_bytes() * USABLE_FRACTION)
    if nbytes > budget:
        raise InputError(f"{what} needs about {format_bytes(nbytes)} of memory; {format_bytes(budget)} is "
                         f"available to this run: {knob}", source=source, field=field)
