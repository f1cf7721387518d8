"""Timing-model speed: whole-model Llama-2-7B (prefill 2048 + 128 decode steps) per profile, scaling,
and one 512x768x768 GEMM against SCALE-Sim v3 (its wall time and cycles recorded in the test fixture).

Run: python benchmarks/bench_timing.py
Targets (2-core machine): <= 1 s per profile for the whole model; cost growing no faster than linearly
in blocks and decode steps; the SCALE-Sim layer >= 1000x faster at the same cycle count.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from accelsim.hardware import list_profiles, load_profile
from accelsim.timing import layer_timing
from accelsim.timing.llm import model_llm
from accelsim.timing.scalesim_compat import scalesim_layer, scalesim_profile_yaml
from accelsim.workload.llm import LLAMA2_7B

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "timing" / "scalesim_cycles.json"


def _timed(fn, repeat: int = 1):
    """(result, best wall time of ``repeat`` runs)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _cli_wall() -> float:
    """Wall seconds of the deployment engineer's question, as a user runs it (a fresh process: imports included)."""
    import subprocess

    cmd = [sys.executable, "-m", "accelsim.cli", "llm", "llama2-7b", "--hw", "h100-sxm", "--prompt", "2048",
           "--decode", "128", "--batch", "1", "--weights", "int8", "--kv", "int8", "--format", "json"]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    model_llm(load_profile("tensorcore-int8"), LLAMA2_7B, prompt=16, decode_steps=2)  # imports, warm-up
    print(f"accelsim llm llama2-7b --hw h100-sxm --prompt 2048 --decode 128 (a fresh process, best of 3): "
          f"{_cli_wall():.2f} s wall (target <= 2 s)\n")
    print("Whole-model Llama-2-7B: prefill 2048 tokens + 128 decode steps (32 blocks)")
    print(f"{'profile':<18} {'wall s':>7} {'sims':>5} {'prefill s':>10} {'decode tok/s':>13} {'prefill':>15} {'decode':>13}")
    for name in list_profiles():
        profile = load_profile(name)
        run, wall = _timed(lambda: model_llm(profile, LLAMA2_7B, prompt=2048, decode_steps=128))
        s = run.summary()
        print(f"{name:<18} {wall:7.3f} {run.simulations:5d} {run.prefill_s:10.4f} {run.decode_tokens_per_s:13.2f} "
              f"{s['prefill_projection_regime']:>15} {s['decode_projection_regime']:>13}")

    profile = load_profile("tensorcore-int8")
    print("\nScaling on tensorcore-int8 (wall seconds; ratio to 1x)")
    base = None
    for factor in (1, 2, 4):
        cfg = dataclasses.replace(LLAMA2_7B, layers=32 * factor)
        _, wall = _timed(lambda: model_llm(profile, cfg, prompt=2048, decode_steps=128 * factor), repeat=3)
        base = base or wall
        print(f"  {factor}x blocks ({32 * factor}) and decode steps ({128 * factor}): {wall:7.3f} s  ({wall / base:.2f}x)")

    fixture = json.loads(FIXTURE.read_text())
    big = fixture["big"]
    tmp = Path(time.strftime("/tmp/accelsim-bench-%H%M%S.yaml"))
    tmp.write_text(scalesim_profile_yaml(big["rows"], big["cols"], big["dataflow"]))
    p = load_profile(tmp)
    layer = scalesim_layer("gemm", tuple(big["dims"]))
    layer_timing(layer, p)
    t, wall = _timed(lambda: layer_timing(layer, p))
    tmp.unlink()
    print(f"\nSCALE-Sim comparison, GEMM {'x'.join(map(str, big['dims']))} on {big['rows']}x{big['cols']} "
          f"{big['dataflow']}:")
    print(f"  SCALE-Sim 3.0.0: {big['cycles']} cycles in {big['wall_s']:.2f} s (recorded by "
          f"tests/timing/scalesim_generate.py on this machine)")
    print(f"  accelsim:        {t.compute_cycles} cycles in {wall * 1e3:.2f} ms  -> {big['wall_s'] / wall:,.0f}x faster")

    print("\nCompute cycles vs SCALE-Sim v3 (no memory stalls)")
    print(f"{'kind':<5} {'dims':<22} {'array':<6} {'df':<3} {'SCALE-Sim':>10} {'accelsim':>10} {'diff %':>7}")
    for case in fixture["cases"]:
        tmp.write_text(scalesim_profile_yaml(case["rows"], case["cols"], case["dataflow"]))
        t = layer_timing(scalesim_layer(case["kind"], tuple(case["dims"])), load_profile(tmp))
        diff = 100.0 * (t.compute_cycles - case["cycles"]) / case["cycles"]
        print(f"{case['kind']:<5} {'x'.join(map(str, case['dims'])):<22} {case['rows']}x{case['cols']:<3} "
              f"{case['dataflow']:<3} {case['cycles']:>10} {t.compute_cycles:>10} {diff:7.2f}")
    tmp.unlink()


if __name__ == "__main__":
    main()
