"""HTML report size and generation time: the Llama-2-7B workload across three profiles.

Run: python benchmarks/bench_report.py
Targets: the report <= 10 MB, generated in <= 3 s after the simulation.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from accelsim.engine import run
from accelsim.hardware import load_profile
from accelsim.loading import load_workload
from accelsim.report.html import render_report
from accelsim.results import atomic_write

PROFILES = ("tensorcore-int8", "tpu-v1", "edge-npu-pot16")


def main() -> None:
    for name in ("llama2-7b-decode", "llama2-7b-prefill"):
        wl = load_workload(name)
        t0 = time.perf_counter()
        results = [run(wl, load_profile(p)) for p in PROFILES]
        t_sim = time.perf_counter() - t0
        t1 = time.perf_counter()
        text = render_report(results, wl, f"accelsim compare {name} " + " ".join(f"--hw {p}" for p in PROFILES))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.html"
            atomic_write(path, text)
            size = path.stat().st_size
        t_report = time.perf_counter() - t1
        print(f"{name} x {len(PROFILES)} profiles: simulation {t_sim:.2f} s; report {t_report:.2f} s "
              f"(target <= 3 s), {size / 1e6:.2f} MB (target <= 10 MB)")


if __name__ == "__main__":
    main()
