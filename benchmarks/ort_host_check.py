"""ONNX Runtime's integer kernels on another kind of x86 host, checked from this one.

MLAS picks its integer GEMM by CPU: VNNI/AMX (exact int32 dot products) or AVX2 (VPMADDUBSW: u8 x s8 pair sums
saturate to int16). A VNNI machine never runs the AVX2 path, so this script runs ONNX Runtime under Debian's
qemu-user with a CPU model without AVX-512 (default ``Haswell``) and compares every output with an accelsim
contract (default ``onnxruntime-avx2``) computed natively:

    python benchmarks/ort_host_check.py                      # 300 cases per op, Haswell, onnxruntime-avx2
    python benchmarks/ort_host_check.py --cpu host --hw onnxruntime-cpu   # no emulation: this host's contract
    python benchmarks/ort_host_check.py --qdq                # + QDQ models' fused nodes (QLinearConv, QGemm, ...)

The cases are the conformance suite's generators (tests/numerics/test_conformance_ort.py: QLinearMatMul u8/s8
activations x s8/u8 weights, MatMulInteger, QLinearConv and ConvInteger with groups and depthwise, adversarial operands and
scales; tests/numerics/test_float_output.py: DynamicQuantizeLinear -> MatMulIntegerToFloat, compared bit for bit
in float32), regenerated from their seeds inside the emulated process, so nothing but seeds and results crosses.
``--qdq`` also checks whole QDQ models (a conv + MLP + MatMul, uint8 and int8 activations, per-tensor and
per-channel weights) node by node: ONNX Runtime fuses them into its integer kernels (int8 activations through its
s8-to-u8 rewrite) and accelsim computes each from ONNX Runtime's own input integers (accelsim.onnx.conformance);
that check runs entirely inside the emulated process (slow: a few minutes).
Prints mismatching cases per op and operand types; exit 1 if any differ.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OPS = ("qlinearmatmul", "matmulinteger", "qlinearconv", "convinteger", "dynamic")


def convinteger_case(seed: int):
    """A ConvInteger case from the QLinearConv case of the same seed: uint8 activations (int8 ones shifted by 128
    with their zero point, the same differences), int8 weights with a nonzero zero point."""
    from tests.numerics.test_conformance_ort import conv_case

    x, w, _, _, xz, _, _, _, _, strides, pads, dil, group = conv_case(seed)
    if x.dtype == np.int8:
        x, xz = (x.astype(np.int16) + 128).astype(np.uint8), np.uint8(int(xz) + 128)
    wz = np.int8(np.random.default_rng(seed).integers(-4, 5))
    return x, w, xz, wz, strides, pads, dil, group


def _oracle(out: str, cases: int) -> None:
    """Inside the (emulated) process: ONNX Runtime's output of every case, saved by op and seed."""
    from tests.numerics import ort_oracle
    from tests.numerics.test_conformance_ort import conv_case, matmul_case
    from tests.numerics.test_float_output import dynamic_case, dynamic_ort

    got = {}
    for seed in range(cases):
        x, w, xs, xz, ws, wz, ys, yz, const = matmul_case(seed)
        got[f"qlinearmatmul/{seed}"] = ort_oracle.qlinearmatmul(x, w, xs, xz, ws, wz, ys, yz, weights_const=const)
        got[f"matmulinteger/{seed}"] = ort_oracle.matmulinteger(x, w, xz, wz)
        x, w, b, xs, xz, ws, wz, ys, yz, strides, pads, dil, group = conv_case(seed)
        got[f"qlinearconv/{seed}"] = ort_oracle.qlinearconv(x, w, b, xs, xz, ws, wz, ys, yz, strides=strides,
                                                            pads=pads, dilations=dil, group=group)
        x, w, xz, wz, strides, pads, dil, group = convinteger_case(seed)
        got[f"convinteger/{seed}"] = ort_oracle.convinteger(x, w, xz, wz, strides=strides, pads=pads, dilations=dil,
                                                            group=group)
        got[f"dynamic/{seed}"] = dynamic_ort(*dynamic_case(seed))[0]  # MatMulIntegerToFloat's float32 output
    np.savez(out, **got)


def _ours(op: str, seed: int, hw: str) -> tuple[np.ndarray, str]:
    """accelsim's output of a case under ``hw`` and the case's operand types (for the report)."""
    from accelsim.numerics import qconv2d, qlinear
    from accelsim.numerics.api import qmatmul_integer
    from tests.numerics.test_conformance_ort import conv_case, matmul_case

    if op == "dynamic":
        from tests.numerics.test_float_output import dynamic_case, dynamic_ours

        case = dynamic_case(seed)
        return dynamic_ours(*case, hw=hw)[0], f"DynamicQuantizeLinear u8 x {case[1].dtype.name}"
    if op == "convinteger":
        return _conv_integer(convinteger_case(seed), hw)
    if op == "qlinearconv":
        x, w, b, xs, xz, ws, wz, ys, yz, strides, pads, dil, group = conv_case(seed)
        y, _ = qconv2d(x, w, b, strides=strides, pads=pads, dilations=dil, group=group, x_scale=xs,
                       x_zero_point=xz, w_scale=ws, w_zero_point=wz, y_scale=ys, y_zero_point=yz, hw=hw)
        kind = "depthwise" if group == x.shape[1] and group > 1 else ("grouped" if group > 1 else "dense")
        return y, f"{x.dtype.name} x {w.dtype.name} {kind}"
    x, w, xs, xz, ws, wz, ys, yz, _ = matmul_case(seed)
    if op == "matmulinteger":
        acc, _ = qmatmul_integer(x, w, xz, wz, hw=hw)
        return acc.astype(np.int32), f"{x.dtype.name} x {w.dtype.name}"
    y, _ = qlinear(x, w, None, x_scale=xs, x_zero_point=xz, w_scale=ws, w_zero_point=wz, y_scale=ys,
                   y_zero_point=yz, hw=hw)
    return y, f"{x.dtype.name} x {w.dtype.name}"


def _conv_integer(case, hw: str) -> tuple[np.ndarray, str]:
    """accelsim's ConvInteger node (accelsim.graph.integer_ops) of a case under ``hw``."""
    from accelsim.graph.integer_ops import ConvIntegerNode
    from accelsim.graph.ir import Node
    from accelsim.hardware import load_profile

    x, w, xz, wz, strides, pads, dil, group = case
    node = Node(name="ci", op_type="ConvInteger", inputs=("x", "w", "xz", "wz"), outputs=("y",),
                attrs=dict(strides=strides, pads=pads, dilations=dil, group=group))
    env = {"x": x, "w": w, "xz": xz, "wz": wz}
    ConvIntegerNode(node, load_profile(hw), 17)(env)
    kind = "depthwise" if group == x.shape[1] and group > 1 else ("grouped" if group > 1 else "dense")
    return env["y"], f"uint8 x int8 {kind}"


def _qdq_nodes(hw: str, inputs: int = 20) -> list[str]:
    """Inside the (emulated) process: node-level checks of QDQ models under ``hw``, one line per model."""
    from accelsim.onnx.conformance import node_level_check
    from tests.onnx.qdq_models import qdq_mlp_conv

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for act in (np.uint8, np.int8):
            for per_channel in (True, False):
                path = Path(tmp) / "m.onnx"
                qdq_mlp_conv(seed=3, path=path, per_channel=per_channel, act=act)
                feeds = [{"x": np.random.default_rng(i).normal(0, 1.5, (1, 3, 8, 8)).astype(np.float32)}
                         for i in range(inputs)]
                for c in node_level_check(path, feeds, hw=hw):
                    lines.append(f"qdq {np.dtype(act).name} {'per-channel' if per_channel else 'per-tensor'} "
                                 f"{c.kernel} {c.mismatches} {c.elements}")
    return lines


def run_qdq(hw: str, cpu: str, inputs: int = 20) -> list[tuple[str, int, int]]:
    """(model and kernel, mismatching elements, elements) of the QDQ node checks under ``cpu``, on ``inputs``
    random inputs per model."""
    cmd = [sys.executable, __file__, "--qdq-inside", "--hw", hw, "--qdq-inputs", str(inputs)]
    if cpu != "host":
        cmd = [shutil.which("qemu-x86_64") or "qemu-x86_64", "-cpu", cpu, *cmd]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the QDQ check failed under {cpu}:\n{proc.stderr[-3000:]}")
    out = []
    for line in proc.stdout.splitlines():
        if line.startswith("qdq "):
            *name, bad, total = line.split()
            out.append((" ".join(name[1:]), int(bad), int(total)))
    return out


def run_oracle(cases: int, cpu: str) -> dict:
    """ONNX Runtime's outputs of ``cases`` seeds per op, run under ``qemu-x86_64 -cpu CPU`` (``host``: natively)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "oracle.npz")
        cmd = [sys.executable, __file__, "--oracle", out, "--cases", str(cases)]
        if cpu != "host":
            qemu = shutil.which("qemu-x86_64")
            if qemu is None:
                raise SystemExit("qemu-x86_64 not found: apt-get install qemu-user (or --cpu host)")
            cmd = [qemu, "-cpu", cpu, *cmd]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the oracle failed under {cpu}:\n{proc.stderr[-3000:]}")
        with np.load(out, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}


def compare(oracle: dict, hw: str) -> tuple[Counter, Counter]:
    """(cases by op and operand types, mismatching cases by op and operand types)."""
    total, bad = Counter(), Counter()
    for key, theirs in sorted(oracle.items()):
        op, seed = key.split("/")
        ours, kind = _ours(op, int(seed), hw)
        total[(op, kind)] += 1
        if ours.dtype != theirs.dtype or not np.array_equal(ours.view(np.uint8), theirs.view(np.uint8)):
            bad[(op, kind)] += 1
    return total, bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=300, help="seeds per op (default 300)")
    ap.add_argument("--cpu", default="Haswell", help="qemu CPU model (Haswell: AVX2, no AVX-512) or 'host'")
    ap.add_argument("--hw", default="onnxruntime-avx2", help="the accelsim contract compared")
    ap.add_argument("--qdq", action="store_true", help="also check QDQ models node by node (slow under qemu)")
    ap.add_argument("--qdq-inputs", type=int, default=20, help="random inputs per QDQ model (default 20)")
    ap.add_argument("--oracle", help=argparse.SUPPRESS)
    ap.add_argument("--qdq-inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.oracle:
        _oracle(args.oracle, args.cases)
        return 0
    if args.qdq_inside:
        print("\n".join(_qdq_nodes(args.hw, args.qdq_inputs)))
        return 0
    oracle = run_oracle(args.cases, args.cpu)
    total, bad = compare(oracle, args.hw)
    print(f"ONNX Runtime under {args.cpu} against accelsim's {args.hw}: {sum(bad.values())} of "
          f"{sum(total.values())} cases differ")
    print(f"{'op':15s} {'operands':28s} {'cases':>6s} {'differ':>7s}")
    for (op, kind), n in sorted(total.items()):
        print(f"{op:15s} {kind:28s} {n:6d} {bad[(op, kind)]:7d}")
    failed = bool(bad)
    if args.qdq:
        print(f"QDQ models node by node under {args.cpu} against {args.hw} (mismatching / elements):")
        for name, n_bad, n in run_qdq(args.hw, args.cpu, args.qdq_inputs):
            print(f"  {name:40s} {n_bad:6d} / {n}")
            failed |= n_bad > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
