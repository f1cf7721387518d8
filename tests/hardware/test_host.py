"""The host's ONNX Runtime contract (``--hw onnxruntime-host``) from the CPU's flags: exact dot products with
VNNI/AMX and off x86, pair-saturating U8S8 on AVX2-only x86 (accelsim.hardware.host)."""

from __future__ import annotations

from accelsim.hardware import load_profile
from accelsim.hardware.host import cpu_flags, host_contract


def test_flags_pick_the_contract():
    assert host_contract({"avx2", "avx512f", "avx512_vnni"}, "x86_64")[0] == "onnxruntime-cpu"
    assert host_contract({"avx2", "avx_vnni"}, "x86_64")[0] == "onnxruntime-cpu"       # Alder Lake's AVX-VNNI
    assert host_contract({"avx2", "amx_int8", "amx_tile"}, "x86_64")[0] == "onnxruntime-cpu"
    assert host_contract({"avx2", "fma"}, "x86_64")[0] == "onnxruntime-avx2"          # AMD EPYC Rome, Haswell
    assert host_contract({"avx2", "avx512f", "avx512bw"}, "x86_64")[0] == "onnxruntime-avx2"  # Skylake-SP
    assert host_contract(set(), "aarch64")[0] == "onnxruntime-cpu"


def test_cpuinfo_is_parsed():
    assert cpu_flags("processor : 0\nflags\t\t: fpu avx2 avx512_vnni\n") == {"fpu", "avx2", "avx512_vnni"}
    assert cpu_flags("") == set()


def test_the_alias_is_this_machines_contract_and_says_so():
    name, why = host_contract()
    p = load_profile("onnxruntime-host")
    assert p.name == name and "onnxruntime-host on this machine" in p.description and why in p.description
    assert p.accumulator == load_profile(name).accumulator
