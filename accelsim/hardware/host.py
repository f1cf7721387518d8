"""The ONNX Runtime contract of the machine accelsim runs on (``--hw onnxruntime-host``).

ONNX Runtime's MLAS chooses its integer GEMM by CPU (mlas/lib/platform.cpp): with AVX-512 VNNI, AVX-VNNI or AMX
the u8 x s8 dot products are exact int32 (VPDPBUSD, TDPBUSD): ``onnxruntime-cpu``; on AVX2 (or SSE4.1, or
AVX-512 without VNNI) the U8S8 kernel sums byte pairs with VPMADDUBSW, which saturates to int16:
``onnxruntime-avx2``. Other architectures (ARM's SDOT/UDOT, I8MM) are exact: ``onnxruntime-cpu``. Both contracts
were checked against ONNX Runtime, the AVX2 one under qemu's Haswell model (benchmarks/ort_host_check.py).
"""

from __future__ import annotations

import platform
from pathlib import Path

ALIAS = "onnxruntime-host"
#: CPU flags (/proc/cpuinfo) with which MLAS takes an exact int8 dot-product kernel
EXACT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


#: LLVM's names of the features that matter here, as /proc/cpuinfo spells them
_LLVM_FLAGS = {"avx2": "avx2", "avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni", "amx-int8": "amx_int8"}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags as this process sees them: CPUID through LLVM (llvmlite, numba's; what MLAS sees,
    also under an emulator such as qemu-user, whose /proc/cpuinfo is the real machine's), else /proc/cpuinfo's
    (``cpuinfo``: its text, for tests). Empty where neither answers."""
    if cpuinfo is None:
        try:
            import llvmlite.binding as llvm

            features = llvm.get_host_cpu_features()
            return {name for key, name in _LLVM_FLAGS.items() if key in features and features[key]}
        except (ImportError, RuntimeError, AttributeError):
            pass
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def host_contract(flags: set[str] | None = None, machine: str | None = None) -> tuple[str, str]:
    """(built-in profile name, why) of ONNX Runtime's integer kernels on this host."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return "onnxruntime-cpu", f"{machine}: MLAS's integer dot products are exact"
    flags = cpu_flags() if flags is None else flags
    exact = [f for f in EXACT_FLAGS if f in flags]
    if exact:
        return "onnxruntime-cpu", f"x86-64 with {', '.join(exact)}: exact int32 dot products"
    return "onnxruntime-avx2", "x86-64 without VNNI or AMX: U8S8 pair sums saturate to int16 (VPMADDUBSW)"


__all__ = ["ALIAS", "cpu_flags", "host_contract"]
