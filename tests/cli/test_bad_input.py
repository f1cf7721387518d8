"""Hostile and broken input: every case gives exit 2, one line naming the file and field, no traceback, and
writes nothing. To add a case, append a ``Case`` to ``CASES``: ``setup(tmp) -> argv`` creates the files it
needs inside ``tmp`` (the working directory of the run) and returns the command line.

The heavy cases (alias bombs, huge shapes) also run in a subprocess under a 2 GB address-space limit and a
30 s timeout, as a user's shell with ``ulimit -v`` would.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from accelsim.cli import main
from tests.conftest import REPO, TINY_WORKLOAD

PROFILE = (REPO / "hw_profiles" / "edge-npu-pot16.yaml").read_text()


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], list[str]]
    expect: tuple[str, ...]  # substrings of the one-line message


def _w(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(textwrap.dedent(text))
    return name


def _profile(tmp: Path, old: str, new: str, name: str = "p.yaml") -> str:
    assert old in PROFILE, old
    return _w(tmp, name, PROFILE.replace(old, new, 1))


def _workload(tmp: Path, old: str = "", new: str = "", extra: str = "", name: str = "w.yaml") -> str:
    assert old in TINY_WORKLOAD, old
    return _w(tmp, name, TINY_WORKLOAD.replace(old, new, 1) + extra)


def _sweep(tmp: Path, axes: str) -> list[str]:
    """``accelsim sweep`` of a sweep file over mlp on edge-npu-pot16 with the given ``axes:`` lines."""
    return ["sweep", _w(tmp, "s.yaml", "workload: mlp\nbase: edge-npu-pot16\naxes:\n" + axes)]


def _run(*argv: str) -> list[str]:
    return ["run", *argv]


def _alias_bomb(tmp: Path) -> list[str]:
    text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    return ["validate", _w(tmp, "bomb.yaml", text)]


def _merge_bomb(tmp: Path) -> list[str]:  # merge keys ("<<") multiply like aliases
    text = "a0: &a0 {k0: 1, k1: 2, k2: 3}\n" + "".join(
        f"a{i}: &a{i}\n  <<: [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    return ["validate", _w(tmp, "merge.yaml", text)]


def _npz(tmp: Path, name: str = "d.npz", **arrays) -> str:
    np.savez(tmp / name, **arrays)
    return name


def _npz_workload(tmp: Path, **arrays) -> list[str]:
    _npz(tmp, **arrays)
    return _run(_workload(tmp, extra="data: {source: npz, path: d.npz}\n"), "--hw", "tensorcore-int8")


def _fifo(tmp: Path, name: str) -> str:
    os.mkfifo(tmp / name)
    return name


def _socket(tmp: Path, name: str) -> str:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp / name))  # the socket file stays after the process's socket object is collected
    return name


def _onnx_model(tmp: Path, name: str = "m.onnx", *, dynamic: bool = True, int_input: bool = False,
                opset: int = 17, unnamed: bool = False) -> str:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.2, (16, 8)).astype(np.float32), "w")
    batch = None if unnamed else "batch"  # unnamed: a '?' dimension, bound as --dim 'x[0]=N'
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16] if dynamic else [4, 16])]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")]
    if int_input:
        inputs.append(helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 16]))
        nodes = [helper.make_node("Cast", ["ids"], ["idsf"], to=TensorProto.FLOAT, name="cast"),
                 helper.make_node("Add", ["x", "idsf"], ["xs"], name="add"),
                 helper.make_node("MatMul", ["xs", "w"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "m", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8] if dynamic else [4, 8])],
                          initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    import onnx

    onnx.save(m, str(tmp / name))
    return name


def _qdq_bad_scale(tmp: Path) -> list[str]:
    import onnx
    from onnx import numpy_helper

    from tests.onnx.qdq_models import qdq_mlp_conv

    m = qdq_mlp_conv(seed=1)
    for i, init in enumerate(m.graph.initializer):
        if init.name == "conv_o_s":
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.array(np.nan, np.float32), "conv_o_s"))
    onnx.save(m, str(tmp / "q.onnx"))
    return _run("q.onnx", "--hw", "onnxruntime-cpu")


def _external_data_model(tmp: Path, location: str) -> list[str]:
    """An ONNX model whose weight lives in an external file, pointed at ``location``."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    model = onnx.load(str(tmp / _onnx_model(tmp, dynamic=False)))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    onnx.save(model, str(tmp / "e.onnx"))
    model = onnx.load(str(tmp / "e.onnx"), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(model, str(tmp / "e.onnx"))
    if location == "fifo.bin":
        os.mkfifo(tmp / "fifo.bin")
    return _run("e.onnx", "--hw", "tensorcore-int8")


def _dev_null_link(tmp: Path) -> list[str]:
    (tmp / "null.html").symlink_to("/dev/null")
    return _run("mlp", "--hw", "tensorcore-int8", "--html", "null.html")


def _other_run_results(tmp: Path) -> list[str]:
    assert main(["run", "mlp", "--hw", "arm-neon-sdot", "--out", "shared"]) == 0
    return _run("mlp", "--hw", "tensorcore-int8", "--out", "shared")


CASES = [
    # --- YAML files that attack the loader ---------------------------------------------------------------
    Case("alias-bomb", _alias_bomb, ("bomb.yaml", "alias")),
    Case("merge-key-bomb", _merge_bomb, ("merge.yaml", "alias")),
    Case("recursive-alias", lambda t: ["validate", _w(t, "r.yaml", "a: &a [*a]\n")], ("r.yaml", "recursive alias")),
    Case("deep-nesting", lambda t: ["validate", _w(t, "d.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")],
         ("d.yaml", "nested")),
    Case("deep-nesting-65", lambda t: ["validate", _w(t, "d.yaml", "a: " + "[" * 70 + "]" * 70 + "\n")],
         ("d.yaml", "nested more than 64")),
    Case("nul-bytes", lambda t: (t / "n.yaml").write_bytes(b"name: x\x00\x01\n") and ["validate", "n.yaml"],
         ("n.yaml", "binary file")),
    Case("random-binary", lambda t: (t / "b.yaml").write_bytes(bytes(range(256)) * 4) and ["validate", "b.yaml"],
         ("b.yaml", "binary")),
    Case("not-utf8", lambda t: (t / "u.yaml").write_bytes(b"name: \xff\xfe caf\xe9\n") and ["validate", "u.yaml"],
         ("u.yaml", "not UTF-8")),
    Case("control-char", lambda t: ["validate", _w(t, "c.yaml", "name: a\x07b\n")], ("c.yaml", "not YAML text")),
    Case("huge-file", lambda t: ["validate", _w(t, "h.yaml", "# " + "x" * (5 << 20) + "\nname: x\n")],
         ("h.yaml", "at most")),
    Case("5000-digit-int", lambda t: _run(_workload(t, "out_features: 16", "out_features: " + "9" * 5000),
                                          "--hw", "tensorcore-int8"), ("w.yaml:5", "layers[0].out_features", "digits")),
    Case("float-overflow", lambda t: ["validate", _profile(t, "clock_hz: 400e6", "clock_hz: 1e400")],
         ("p.yaml:", "clock_hz", "out of range")),
    Case("nan-literal", lambda t: ["validate", _profile(t, "clock_hz: 400e6", "clock_hz: .nan")],
         ("p.yaml:", "clock_hz", "finite")),
    Case("workload-is-fifo", lambda t: _run(_fifo(t, "f.yaml"), "--hw", "tensorcore-int8"),
         ("f.yaml", "not a regular file")),
    Case("workload-is-dir", lambda t: (t / "d.yaml").mkdir() or _run("d.yaml", "--hw", "tensorcore-int8"),
         ("d.yaml", "directory")),
    Case("profile-is-fifo", lambda t: _run("mlp", "--hw", _fifo(t, "p.yaml")), ("p.yaml", "not a regular file")),
    Case("onnx-is-fifo", lambda t: _run(_fifo(t, "m.onnx"), "--hw", "tensorcore-int8"),
         ("m.onnx", "not a regular file")),
    Case("missing-workload", lambda t: _run("nope.yaml", "--hw", "tensorcore-int8"), ("nope.yaml", "file not found")),
    Case("missing-onnx", lambda t: _run("nope.onnx", "--hw", "tensorcore-int8"), ("nope.onnx", "file not found")),
    # --- schema messages without validator internals -----------------------------------------------------
    Case("unknown-op", lambda t: _run(_workload(t, "op: linear, out_features: 4", "op: maxpol, kernel: 2"),
                                      "--hw", "tensorcore-int8"), ("layers[1]", "unknown op 'maxpol'", "maxpool")),
    Case("negative-padding", lambda t: _run(_w(t, "c.yaml", """\
        name: c
        inputs: {x: {shape: [1, 3, 8, 8]}}
        layers: [{name: c1, op: conv2d, out_channels: 4, kernel: 3, padding: -1}]
        """), "--hw", "tensorcore-int8"), ("c.yaml:3", "layers[0].padding", "greater than or equal to 0")),
    Case("workload-name-path", lambda t: _run(_workload(t, "name: tiny", "name: ../../etc"), "--hw", "tensorcore-int8"),
         ("w.yaml:1", "name", "must start with a letter")),
    Case("long-workload-name", lambda t: _run(_workload(t, "name: tiny", "name: " + "n" * 100_000),
                                              "--hw", "tensorcore-int8"), ("w.yaml:1", "name", "at most 100")),
    # --- number formats and the contract fields that go with them (session 4) ------------------------------
    Case("unknown-format", lambda t: _run(_workload(t, extra="quant: {weights: {format: fp7}}\n"),
                                          "--hw", "h100-sxm"), ("w.yaml:", "quant.weights.format", "nvfp4", "fp7")),
    Case("dynamic-integer-scaling", lambda t: _run(_workload(t, extra="quant: {activations: {scaling: dynamic}}\n"),
                                                   "--hw", "h100-sxm"),
         ("w.yaml:", "quant.activations", "dynamic applies to a float format")),
    Case("format-without-rate", lambda t: ["validate", _profile(t, "  activations: [int8]",
                                                                  "  activations: [int8, mxfp4]")],
         ("p.yaml:", "float_rates.fp4")),
    Case("unknown-float-accumulator", lambda t: ["validate", _profile(
        t, "  chunk: array_rows", "  chunk: array_rows\nfloat_accumulator: {format: fp33}", )],
         ("p.yaml:", "float_accumulator.format", "fp32_m<1..23>")),
    Case("zero-promotion", lambda t: ["validate", _profile(
        t, "  chunk: array_rows", "  chunk: array_rows\nfloat_accumulator: {promote_every: 0}")],
         ("p.yaml:", "float_accumulator.promote_every", "greater than 0")),
    Case("unknown-conversion", lambda t: ["validate", _profile(
        t, "  chunk: array_rows", "  chunk: array_rows\nfloat_conversion: clamp")],
         ("p.yaml:", "float_conversion", "saturate")),
    Case("systolic-float-rate", lambda t: ["validate", _profile(
        t, "  chunk: array_rows", "  chunk: array_rows\nfloat_rates: {fp16: 0.5}")],
         ("p.yaml:", "float_rates", "rates must be 1")),
    Case("byte-pairs-on-16-bit", lambda t: ["validate", _profile(
        t, "  chunk: array_rows", "  chunk: array_rows\n  byte_pairs: saturate_int16")],
         ("p.yaml:", "byte_pairs", "bits: 32")),
    # --- physical ranges in profiles ---------------------------------------------------------------------
    Case("1-byte-sram", lambda t: ["validate", _profile(t, "bytes: 262144", "bytes: 1")],
         ("p.yaml:", "memory[1].bytes", "greater than or equal to 64")),
    Case("tiny-clock", lambda t: ["validate", _profile(t, "clock_hz: 400e6", "clock_hz: 1e-300")],
         ("p.yaml:", "clock_hz", "between 1000 and 1e+11 Hz")),
    Case("huge-latency", lambda t: ["validate", _profile(t, "latency_cycles: 100", "latency_cycles: " + "1" + "0" * 21)],
         ("p.yaml:", "latency_cycles", "less than or equal to")),
    Case("long-profile-name", lambda t: ["validate", _profile(t, "name: edge-npu-pot16", "name: " + "a" * 100_000)],
         ("p.yaml:", "name", "at most 64")),
    Case("zero-bandwidth", lambda t: ["validate", _profile(t, "bandwidth_Bps: 1.6e9", "bandwidth_Bps: 0")],
         ("p.yaml:", "bandwidth_Bps", "between")),
    Case("tile-cannot-fit", lambda t: ["validate", _profile(t, "bytes: 262144", "bytes: 512")],
         ("p.yaml:", "memory[1].bytes", "cannot hold one 16 x 16 fold")),
    Case("seven-memory-levels", lambda t: ["validate", _w(t, "p.yaml", PROFILE.replace(
        "energy:", "".join(f"  - {{name: x{i}, bytes: 65536, bandwidth_Bps: 1e9}}\n" for i in range(5)) + "energy:"))],
         ("p.yaml:", "memory", "at most 6")),
    Case("dram-only", lambda t: _run("mlp", "--hw", _w(t, "p.yaml", PROFILE.split("  - name: sram")[0])),
         ("p.yaml:", "memory", "on-chip level")),
    Case("duplicate-profile-names", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--hw",
                                                   _profile(t, "name: edge-npu-pot16", "name: tensorcore-int8")),
         ("--hw", "two profiles are named 'tensorcore-int8'")),
    # --- output paths ------------------------------------------------------------------------------------
    Case("html-dev-null-link", _dev_null_link, ("null.html", "--html", "device")),
    Case("html-fifo", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--html", _fifo(t, "r.html")),
         ("r.html", "--html", "FIFO")),
    Case("html-socket", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--html", _socket(t, "r.sock")),
         ("r.sock", "--html", "socket")),
    Case("html-directory", lambda t: (t / "adir").mkdir() or _run("mlp", "--hw", "tensorcore-int8", "--html", "adir"),
         ("adir", "--html", "directory")),
    Case("html-empty", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--html", ""), ("--html", "empty path")),
    Case("out-empty", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--out", ""), ("--out", "empty path")),
    Case("out-is-file", lambda t: _w(t, "f", "x") and _run("mlp", "--hw", "tensorcore-int8", "--out", "f"),
         ("f", "--out", "not a directory")),
    Case("out-parent-is-file", lambda t: _w(t, "f", "x") and _run("mlp", "--hw", "tensorcore-int8", "--out", "f/sub"),
         ("f/sub", "--out", "not a directory")),
    Case("html-parent-is-file", lambda t: _w(t, "f", "x") and _run("mlp", "--hw", "tensorcore-int8", "--html",
                                                                    "f/r.html"), ("f/r.html", "--html", "not a directory")),
    Case("out-in-proc", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--out", "/proc/accelsim-results"),
         ("/proc/accelsim-results", "--out", "not writable")),
    Case("html-in-sys", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--html", "/sys/accelsim.html"),
         ("/sys/accelsim.html", "--html", "not writable")),
    Case("out-file-is-fifo", lambda t: (t / "o").mkdir() or _fifo(t, "o/results.json") and
         _run("mlp", "--hw", "tensorcore-int8", "--out", "o"), ("results.json", "--out", "FIFO")),
    Case("another-runs-results", _other_run_results, ("shared/results.json", "--out", "another run")),
    Case("html-name-too-long", lambda t: _run("mlp", "--hw", "tensorcore-int8", "--html", "r" * 300 + ".html"),
         ("--html", "longer than 255")),
    # --- .npz data of a YAML workload --------------------------------------------------------------------
    Case("npz-missing-input", lambda t: _npz_workload(t, X=np.zeros((8, 32), np.float32)),
         ("d.npz", "array 'x'", "missing", "did you mean 'X'")),
    Case("npz-wrong-shape", lambda t: _npz_workload(t, x=np.zeros((8, 31), np.float32)),
         ("d.npz", "array 'x'", "shape [8, 31]")),
    Case("npz-nan", lambda t: _npz_workload(t, x=np.full((8, 32), np.nan, np.float32)),
         ("d.npz", "array 'x'", "NaN")),
    Case("npz-strings", lambda t: _npz_workload(t, x=np.array(["a"] * 8)), ("d.npz", "array 'x'", "strings")),
    Case("npz-objects", lambda t: _npz_workload(t, x=np.array([{}, []], dtype=object)),
         ("d.npz", "array 'x'", "Python objects")),
    Case("npz-random-bytes", lambda t: (t / "d.npz").write_bytes(os.urandom(2048)) and
         _run(_workload(t, extra="data: {source: npz, path: d.npz}\n"), "--hw", "tensorcore-int8"),
         ("d.npz", "not an .npz archive")),
    Case("npz-weight-wrong-shape", lambda t: _npz_workload(t, x=np.zeros((8, 32), np.float32),
                                                           **{"fc1.weight": np.zeros((3, 3), np.float32)}),
         ("d.npz", "array 'fc1.weight'", "[32, 16]")),
    # --- ONNX models and their data ----------------------------------------------------------------------
    Case("onnx-dim-unknown", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8", "--dim", "btach=4"),
         ("m.onnx", "--dim", "'btach' is not a dynamic dimension", "batch")),
    # an unnamed dynamic dimension is bound by input and axis; unbound, or named by a wrong axis, it is refused
    Case("onnx-unnamed-dim-unbound", lambda t: _run(_onnx_model(t, unnamed=True), "--hw", "tensorcore-int8"),
         ("m.onnx", "dims", "--dim x[0]=N")),
    Case("onnx-unnamed-dim-wrong-axis", lambda t: _run(_onnx_model(t, unnamed=True), "--hw", "tensorcore-int8",
                                                       "--dim", "x[1]=4"),
         ("m.onnx", "--dim", "'x[1]' is not a dynamic dimension", "x[0]")),
    Case("onnx-dim-contradicts-data", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8", "--dim", "batch=4",
                                                     "--data", _npz(t, x=np.zeros((3, 16), np.float32))),
         ("--dim", "batch=4 contradicts the data", "array 'x'")),
    Case("onnx-data-missing-input", lambda t: _run(_onnx_model(t, int_input=True), "--hw", "tensorcore-int8",
                                                   "--data", _npz(t, x=np.zeros((3, 16), np.float32))),
         ("d.npz", "'ids'", "missing")),
    Case("onnx-data-wrong-rank", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8",
                                                "--data", _npz(t, x=np.zeros((3, 16, 1), np.float32))),
         ("d.npz", "array 'x'", "rank 3")),
    Case("onnx-data-wrong-fixed-dim", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8",
                                                     "--data", _npz(t, x=np.zeros((3, 15), np.float32))),
         ("d.npz", "array 'x'", "dimension 1 must be 16")),
    Case("onnx-data-fractional-ids", lambda t: _run(_onnx_model(t, int_input=True), "--hw", "tensorcore-int8", "--data",
                                                    _npz(t, x=np.zeros((3, 16), np.float32),
                                                         ids=np.full((3, 16), 0.5, np.float32))),
         ("d.npz", "array 'ids'", "fractional")),
    Case("onnx-data-strings", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8",
                                             "--data", _npz(t, x=np.array([["a"] * 16] * 3))),
         ("d.npz", "array 'x'", "strings")),
    Case("onnx-data-nan", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8",
                                         "--data", _npz(t, x=np.full((3, 16), np.inf, np.float32))),
         ("d.npz", "array 'x'", "NaN or infinite")),
    Case("onnx-records-disagree", lambda t: _run(_onnx_model(t, int_input=True), "--hw", "tensorcore-int8", "--data",
                                                 _npz(t, x=np.zeros((3, 16), np.float32),
                                                      ids=np.zeros((2, 16), np.int64))),
         ("d.npz", "dimension 'batch'", "'ids'")),
    Case("onnx-nan-scale", _qdq_bad_scale, ("q.onnx", "scale 'conv_o_s'", "finite")),
    Case("onnx-external-data-fifo", lambda t: _external_data_model(t, "fifo.bin"), ("e.onnx", "not a regular file")),
    Case("onnx-external-data-outside", lambda t: _external_data_model(t, "../../etc/passwd"),
         ("e.onnx", "outside the model's directory")),
    Case("onnx-random-bytes", lambda t: (t / "r.onnx").write_bytes(os.urandom(4096)) and
         _run("r.onnx", "--hw", "tensorcore-int8"), ("r.onnx", "ONNX model")),
    # --- shapes too large for the machine (checked before any allocation) --------------------------------
    Case("huge-input", lambda t: _run(_workload(t, "[8, 32]", "[1000, 1000000000]"), "--hw", "tensorcore-int8"),
         ("w.yaml:", "memory", "numerics.sample")),
    Case("huge-image", lambda t: _run(_w(t, "c.yaml", """\
        name: c
        inputs: {x: {shape: [1, 3, 100000, 100000]}}
        layers: [{name: c1, op: conv2d, out_channels: 64, kernel: 3, padding: 1}]
        """), "--hw", "tensorcore-int8"), ("c.yaml:", "memory")),
    Case("huge-linear-sample-1", lambda t: _run(_workload(t, "out_features: 16", "out_features: 1000000000",
                                                          "numerics: {sample: 1}\n"), "--hw", "tensorcore-int8"),
         ("w.yaml:", "numerics.sample", "memory")),
    Case("huge-dim", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8", "--dim", "batch=100000000000"),
         ("m.onnx", "memory", "--dim")),
    Case("dim-too-many-digits", lambda t: _run(_onnx_model(t), "--hw", "tensorcore-int8", "--dim", "batch=1e12"),
         ("--dim", "NAME=N")),
    Case("huge-shape-overflow", lambda t: _run(_workload(t, "[8, 32]", "[8, 1099511627777]"), "--hw", "tensorcore-int8"),
         ("w.yaml:", "inputs.x.shape[1]", "less than or equal to")),
    Case("llm-huge-hidden", lambda t: _run(_w(t, "l.yaml", (REPO / "workloads" / "llama2-7b-decode.yaml").read_text()
                                                .replace("hidden: 4096", "hidden: 4096000000000")), "--hw", "tensorcore-int8"),
         ("l.yaml:", "llm.hidden", "less than or equal to")),
    Case("llm-too-large-to-time", lambda t: _run(_w(t, "l.yaml", (REPO / "workloads" / "llama2-7b-decode.yaml").read_text()
                                                    .replace("prompt: 2048", "prompt: 16000000")
                                                    .replace("ffn: 11008", "ffn: 1000000")), "--hw", "tensorcore-int8"),
         ("l.yaml:", "llm", "too large to time")),
    # --- workload semantics --------------------------------------------------------------------------------
    Case("linear-after-conv", lambda t: _run(_w(t, "c.yaml", """\
        name: c
        inputs: {x: {shape: [1, 3, 8, 8]}}
        layers:
          - {name: c1, op: conv2d, out_channels: 4, kernel: 3}
          - {name: fc, op: linear, out_features: 10}
        """), "--hw", "tensorcore-int8"), ("c.yaml:5", "layers[1].input", "flatten")),
    # --- recipes ------------------------------------------------------------------------------------------------
    Case("recipe-unknown-step", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe",
                                               _w(t, "r.yaml", "recipe: {steps: [{quantize_harder: {}}]}\n")),
         ("r.yaml", "recipe.steps.0", "unknown step", "smoothquant")),
    Case("recipe-bad-alpha", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe",
                                            _w(t, "r.yaml", "recipe: {steps: [{smoothquant: {alpha: 2}}]}\n")),
         ("r.yaml", "recipe.steps.0.smoothquant.alpha", "between 0 and 1")),
    Case("recipe-missing-file", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe", "nope.yaml"),
         ("nope.yaml", "recipe file not found")),
    Case("recipe-not-yaml", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe",
                                           _w(t, "r.yaml", "recipe: [unclosed\n")), ("r.yaml", "YAML syntax error")),
    Case("recipe-illegal-on-contract", lambda t: _run(_workload(t), "--hw", "onnxruntime-cpu", "--recipe",
                                                      _w(t, "r.yaml", "recipe: {steps: [{dynamic: {granularity: "
                                                                      "per_token}}]}\n")),
         ("r.yaml", "per_token", "onnxruntime-cpu", "dynamic_activations")),
    Case("recipe-float-output-on-integer-npu", lambda t: _run(_workload(t), "--hw", "edge-npu-pot16", "--recipe",
                                                              _w(t, "r.yaml", "- float_output\n")),
         ("float_output", "integer outputs only")),
    Case("recipe-layer-pattern-matches-nothing", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe",
                                                                _w(t, "r.yaml", "- {mixed_precision: {type: int16, "
                                                                                "layers: [attn*]}}\n")),
         ("recipe.steps.0.mixed_precision.layers", "'attn*' matches no layer")),
    Case("recipe-weight-step-on-layer-chain", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe",
                                                             _w(t, "r.yaml", "- float_output\n")),
         ("quant.recipe", "graph workload")),
    Case("workload-recipe-missing", lambda t: _run(_workload(t, extra="quant: {recipe: gone.yaml}\n"),
                                                   "--hw", "tensorcore-int8"),
         ("w.yaml", "quant.recipe", "recipe file not found: gone.yaml")),
    Case("trials-without-search", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--trials", "5"),
         ("--trials", "--recipe auto")),
    Case("trials-zero", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe", "auto", "--trials", "0"),
         ("--trials", "1 to")),
    Case("recipe-auto-timing-only", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe", "auto",
                                                   "--timing-only"), ("--recipe", "--timing-only")),
    Case("tune-out-not-yaml", lambda t: ["tune", _workload(t), "--hw", "tensorcore-int8", "--out", "r.txt"],
         ("r.txt", "--out", ".yaml")),
    # --- serve ----------------------------------------------------------------------------------------------------
    Case("serve-zero-rate", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "0"], ("--rate", "(0,")),
    Case("serve-no-arrivals", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm"], ("--rate", "--trace")),
    Case("serve-bad-dist", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1", "--prompt-dist",
                                      "uniform:10"], ("--prompt-dist", "LO,HI")),
    Case("serve-dist-reversed", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1", "--output-dist",
                                           "uniform:100,10"], ("--output-dist", "must not exceed")),
    Case("serve-dist-missing-csv", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1",
                                              "--prompt-dist", "lens.csv"], ("--prompt-dist", "lens.csv")),
    Case("serve-trace-columns", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--trace",
                                           _w(t, "t.csv", "time,len\n0,5\n")], ("t.csv", "--trace", "arrival_s")),
    Case("serve-dram-efficiency", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1",
                                             "--dram-efficiency", "0"], ("--dram-efficiency", "(0, 1]")),
    Case("serve-memory-fraction", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1",
                                             "--memory-fraction", "1.5"], ("--memory-fraction", "(0, 1]")),
    Case("serve-no-device-memory", lambda t: ["serve", "llama2-7b", "--hw", "ethos-u55", "--rate", "1", "--weights",
                                              "int8", "--kv", "int8"],
         ("--hw", "device memory")),
    Case("serve-tp-does-not-split", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1", "--tp", "3"],
         ("--tp", "does not split")),
    Case("serve-model-too-big", lambda t: ["serve", "llama2-70b", "--hw", "h100-sxm", "--rate", "1", "--weights",
                                           "fp16"], ("--weights", "no room for a KV cache")),
    Case("serve-mismatched-deployments", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1",
                                                    "--weights", "fp16", "--weights", "int4", "--kv", "fp16", "--kv",
                                                    "int8", "--kv", "fp8"], ("--kv", "one of each")),
    Case("serve-html-is-a-directory", lambda t: (t / "d").mkdir() or ["serve", "llama2-7b", "--hw", "h100-sxm",
                                                                      "--rate", "1", "--html", "d"], ("--html",)),
    # --- sweep ----------------------------------------------------------------------------------------------------
    Case("sweep-unknown-path", lambda t: _sweep(t, "  array.rowz: [8, 16]\n"),
         ("s.yaml", "axes.array.rowz", "unknown path")),
    Case("sweep-no-effect-axis", lambda t: _sweep(t, "  concurrent_layers: [true, false]\n"),
         ("s.yaml", "axes.concurrent_layers", "runtime")),
    Case("sweep-index-beyond", lambda t: _sweep(t, "  memory.7.bytes: [1024]\n"),
         ("axes.memory.7.bytes", "unknown path", "memory.7")),
    Case("sweep-empty-axis", lambda t: _sweep(t, "  array.rows: []\n"),
         ("axes.array.rows", "empty axis")),
    Case("sweep-wrong-type", lambda t: _sweep(t, "  array.rows: [eight]\n"),
         ("axes.array.rows", "wrong type")),
    Case("sweep-axis-not-a-list", lambda t: _sweep(t, "  array.rows: 8\n"),
         ("s.yaml", "axes")),
    Case("sweep-unknown-objective", lambda t: ["sweep", _w(t, "s.yaml", "workload: mlp\nbase: edge-npu-pot16\n"
                                                                      "axes: {array.rows: [8]}\n"
                                                                      "objectives: [speed]\n")],
         ("objectives", "unknown objective 'speed'", "latency_s")),
    Case("sweep-unknown-base", lambda t: ["sweep", _w(t, "s.yaml", "workload: mlp\nbase: nope.yaml\n"
                                                                 "axes: {array.rows: [8]}\n")],
         ("base", "not found")),
    Case("sweep-no-workload", lambda t: ["sweep", _w(t, "s.yaml", "base: edge-npu-pot16\naxes: {array.rows: [8]}\n")],
         ("workload",)),
    # issue 27: a missing scheduler file hung, a malformed one ended in a traceback, a bad URL named no flag
    Case("sweep-scheduler-file-missing", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler", "nope.json"],
         ("--scheduler", "nope.json", "no such scheduler file")),
    Case("sweep-scheduler-file-malformed", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler",
                                                      _w(t, "bad.json", "{bad")], ("--scheduler", "bad.json")),
    Case("sweep-scheduler-file-no-address", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler",
                                                       _w(t, "n.json", '{"id": 1}')], ("--scheduler", "'address'")),
    Case("sweep-scheduler-file-is-a-fifo", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler",
                                                      _fifo(t, "f.json")], ("--scheduler", "not a regular file")),
    Case("sweep-scheduler-bad-url", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler", "http://[::zz"],
         ("--scheduler", "not an address")),
    Case("sweep-scheduler-bad-scheme", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler",
                                                  "http://localhost:8786"], ("--scheduler", "scheme 'http'")),
    Case("sweep-scheduler-no-port", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler", "tcp://host"],
         ("--scheduler", "host and port")),
    Case("sweep-scheduler-empty", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler", ""],
         ("--scheduler", "empty")),
    Case("sweep-scheduler-unreachable", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--scheduler",
                                                   "tcp://127.0.0.1:9", "--out", "o"],
         ("--scheduler", "cannot reach")),
    Case("llm-activations-the-contract-lacks", lambda t: ["llm", "llama2-7b", "--hw", "a100-80gb", "--weights",
                                                          "int8", "--activations", "fp8"],
         ("--activations", "no fp8 math")),
    Case("recipe-promote-not-whole", lambda t: _run(_workload(t), "--hw", "h100-sxm", "--recipe",
                                                    _w(t, "r.yaml", "recipe: {steps: [{promote: {every: 12.5}}]}\n")),
         ("r.yaml", "promote.every", "whole number")),
    Case("recipe-promote-on-full-fp32", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe",
                                                       _w(t, "r.yaml", "recipe: {steps: [{promote: {every: 128}}]}\n")),
         ("promote", "nothing to promote")),
    Case("recipe-fifo", lambda t: _run(_workload(t), "--hw", "tensorcore-int8", "--recipe", _fifo(t, "r.yaml")),
         ("r.yaml", "not a regular file")),
    # issue 27, smaller cases
    Case("sweep-float-on-an-integer-axis", lambda t: _sweep(t, "  array.rows: [1.5, 16]\n"),
         ("s.yaml", "axes.array.rows", "1.5", "integer")),
    Case("sweep-value-out-of-range", lambda t: _sweep(t, "  memory.0.bandwidth_Bps: [-1, 2.0e+9]\n"),
         ("s.yaml", "axes.memory.0.bandwidth_Bps", "-1")),
    Case("onnx-opset-from-the-future", lambda t: _run(_onnx_model(t, opset=99), "--hw", "tensorcore-int8"),
         ("m.onnx", "opset_import", "opset 99", "newer")),
    Case("serve-html-trailing-slash", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--rate", "1",
                                                 "--html", "newdir/"], ("--html", "newdir/", "directory")),
    Case("serve-trace-binary", lambda t: (t / "b.csv").write_bytes(
        b"arrival_s,prompt_tokens,output_tokens\n\x80\x81\xff,1,2\n") and
        ["serve", "llama2-7b", "--hw", "h100-sxm", "--trace", "b.csv"], ("b.csv", "--trace", "not a text CSV")),
    Case("serve-trace-fifo", lambda t: ["serve", "llama2-7b", "--hw", "h100-sxm", "--trace", _fifo(t, "f.csv")],
         ("f.csv", "--trace", "not a regular file")),
    # issue 27: --cache naming a regular file gave exit 0 with every row failed
    Case("sweep-cache-is-a-file", lambda t: [*_sweep(t, "  array.rows: [8]\n"), "--cache", _w(t, "c", "x")],
         ("--cache", "not a directory")),
    Case("tune-zero-trials", lambda t: ["tune", _workload(t), "--hw", "tensorcore-int8", "--trials", "0"],
         ("--trials", "whole number")),
]


def _tree(root: Path) -> dict:
    out = {}
    for p in sorted(root.rglob("*")):
        try:
            st = os.lstat(p)
        except OSError:
            continue
        out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # an unreachable scheduler is refused after the connect timeout: 2 s here, not the 20 s a user gets
    import importlib

    monkeypatch.setattr(importlib.import_module("accelsim.sweep.scheduler"), "CONNECT_TIMEOUT_S", 2)
    argv = case.setup(tmp_path)
    capsys.readouterr()
    before = _tree(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("accelsim: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "constrained-" not in err and "Input tag" not in err, err
    for text in case.expect:
        assert text in err, (text, err)
    assert _tree(tmp_path) == before, "something was written or removed"
    assert not (tmp_path / "reports").exists()


HEAVY = ["alias-bomb", "merge-key-bomb", "deep-nesting", "huge-input", "huge-image", "huge-linear-sample-1"]


@pytest.mark.parametrize("case_id", HEAVY)
def test_heavy_cases_under_a_memory_limit(case_id, tmp_path):
    """The same cases in a fresh process under ``ulimit -v`` 2 GB (plus what numba maps at import) and 30 s."""
    case = next(c for c in CASES if c.id == case_id)
    argv = case.setup(tmp_path)
    limit = 2 << 30
    script = ("import resource, sys\n"
              "import numba  # noqa: F401  (its LLVM maps address space at import; the limit is for the run)\n"
              "soft = resource.getrlimit(resource.RLIMIT_AS)[0]\n"
              "import accelsim.cli\n"
              f"resource.setrlimit(resource.RLIMIT_AS, ({limit} + int(open('/proc/self/status').read()"
              f".split('VmSize:')[1].split()[0]) * 1024, resource.RLIM_INFINITY))\n"
              "sys.exit(accelsim.cli.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_a_1e12_element_input_under_2_gb_is_refused_up_front(tmp_path):
    """issue 27: a [1e6, 1e6] input (its numerics sample 64 x 1e6) ran at 2.4-2.5 GB; under a 2 GB limit it is
    refused before any allocation, naming the knob (numerics.sample)."""
    (tmp_path / "w.yaml").write_text("name: big\ninputs:\n  x: {shape: [1000000, 1000000]}\n"
                                     "layers:\n  - {name: fc1, op: linear, out_features: 16}\n")
    limit = 2 << 30
    script = ("import resource, sys\n"
              f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, resource.RLIM_INFINITY))\n"
              "import accelsim.cli\n"
              "sys.exit(accelsim.cli.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, "run", "w.yaml", "--hw", "tensorcore-int8", "--no-write"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "numerics.sample" in proc.stderr, proc.stderr


def test_symlink_is_written_through(tmp_path, monkeypatch, capsys):
    """Policy (docs/results.md): a symlink target is replaced atomically; the link itself stays a link."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real.html").write_text("old")
    (tmp_path / "link.html").symlink_to("real.html")
    assert main(["run", "mlp", "--hw", "tensorcore-int8", "--html", "link.html", "--no-write"]) == 0
    assert (tmp_path / "link.html").is_symlink()
    assert (tmp_path / "real.html").read_text().startswith("<!DOCTYPE html>")


def test_extra_npz_arrays_are_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = _npz_workload(tmp_path, x=np.ones((8, 32), np.float32), fc1_weight=np.zeros((32, 16), np.float32))
    assert main([*argv, "--no-write"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "'fc1_weight'" in err and "did you mean 'fc1.weight'" in err
    assert "synthetic" in err  # the weights the file does not carry are named


def test_onnx_extra_arrays_are_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _onnx_model(tmp_path)
    _npz(tmp_path, x=np.ones((3, 16), np.float32), x_extra=np.ones(3, np.float32))
    assert main(["run", "m.onnx", "--hw", "tensorcore-int8", "--data", "d.npz", "--no-write"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "'x_extra'" in err


def test_results_of_each_run_are_kept(tmp_path, monkeypatch, capsys):
    """The README's sequence: a run per profile, a compare, JSON to stdout: every results file survives."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", "mlp", "--hw", "tensorcore-int8"]) == 0
    assert main(["run", "mlp", "--hw", "arm-neon-sdot"]) == 0
    assert main(["compare", "mlp", "--hw", "tensorcore-int8", "--hw", "edge-npu-pot16"]) == 0
    first = (tmp_path / "reports/mlp/tensorcore-int8/results.json").read_text()
    assert main(["run", "mlp", "--hw", "arm-neon-sdot", "--format", "json"]) == 0  # stdout only
    assert main(["run", "mlp", "--hw", "tensorcore-int8", "--no-write", "--html", "r.html"]) == 0
    import json

    for sub, profiles in (("tensorcore-int8", ["tensorcore-int8"]), ("arm-neon-sdot", ["arm-neon-sdot"]),
                          ("compare-tensorcore-int8+edge-npu-pot16", ["tensorcore-int8", "edge-npu-pot16"])):
        doc = json.loads((tmp_path / "reports/mlp" / sub / "results.json").read_text())
        assert [p["profile"] for p in doc["summary"]["profiles"]] == profiles
        assert (tmp_path / "reports/mlp" / sub / "results.csv").is_file()
    assert (tmp_path / "reports/mlp/tensorcore-int8/results.json").read_text() == first
    assert sorted(p.name for p in (tmp_path / "reports/mlp").iterdir()) == [
        "arm-neon-sdot", "compare-tensorcore-int8+edge-npu-pot16", "tensorcore-int8"]


def test_a_hostile_sweep_cache_is_data_not_code(tmp_path, monkeypatch, capsys):
    """issue 27, case 1 and 4: a pickle planted as a cache entry ran its code on the next sweep, random bytes and
    directories in entries gave failed rows with exit 0. Now every entry is JSON with a checksum: a pickle, random
    bytes, a directory or an edited value is rejected, the point recomputed (same table), nothing executed, and
    the command's last lines count the rejections."""
    import pickle

    pytest.importorskip("dask.distributed")
    monkeypatch.chdir(tmp_path)

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    argv = [*_sweep(tmp_path, "  accumulator.bits: [12, 16]\n"), "--out", "o", "--workers", "1"]
    assert main(argv) == 0
    first = (tmp_path / "o" / "sweep.csv").read_text()
    rows = sorted((tmp_path / "o" / "cache" / "rows").rglob("*.json"))
    assert len(rows) == 2
    rows[0].write_bytes(pickle.dumps(Exploit()))
    rows[1].write_text(rows[1].read_text().replace('"valid":true', '"valid":false'))
    for entry in (tmp_path / "o" / "cache" / "numerics").rglob("*.json"):
        entry.unlink()
        entry.mkdir()  # a directory where an entry should be
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert not (tmp_path / "PWNED").exists()
    assert "entries rejected and recomputed: 2 damaged" in out and "could not be written" in out
    import pandas as pd

    again = pd.read_csv(tmp_path / "o" / "sweep.csv")
    before = pd.read_csv(__import__("io").StringIO(first))
    cols = ["point", "accumulator.bits", "latency_s", "final_sqnr_db", "valid"]
    assert again[cols].equals(before[cols]) and again["valid"].all()
