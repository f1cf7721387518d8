"""ONNX Runtime on the other kind of x86 host, from this one (issue 24): under qemu-user's Haswell model (AVX2,
no AVX-512, no VNNI) ONNX Runtime takes MLAS's AVX2 kernels, and the ``onnxruntime-avx2`` contract must equal
them bit for bit — QLinearMatMul, MatMulInteger, QLinearConv and ConvInteger (grouped, depthwise), DynamicQuantizeLinear ->
MatMulIntegerToFloat and the fused nodes of QDQ models (int8 activations through ONNX Runtime's s8-to-u8
rewrite). Skipped where Debian's qemu-user is not installed (.ci/run installs it)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="qemu-user is not installed"),
    # the emulated process is this venv's own python: an x86-64 binary (on another architecture there is no
    # x86-64 ONNX Runtime to emulate)
    pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="an x86-64 host runs it"),
]


def test_avx2_contract_equals_onnxruntime_under_haswell():
    pytest.importorskip("onnxruntime")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ort_host_check.py"), "--cases", "24",
                           "--qdq", "--qdq-inputs", "6"], capture_output=True, text=True, timeout=900)
    out = proc.stdout
    assert "0 of 120 cases differ" in out and out.count("convinteger") == 3, out + proc.stderr[-3000:]
    assert out.count("QLinearConv") == 4 and " 0 / " in out
    assert proc.returncode == 0, out
