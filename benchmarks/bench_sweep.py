"""Sweep throughput: a timing-only sweep of 1,125 points over the bert-base layer on edge-npu-pot16 (array shape,
SRAM size, DRAM bandwidth, clock), on 1 and on 2 local Dask workers, no cache.

    python benchmarks/bench_sweep.py

Targets: 2 workers >= 1.6x the points/s of 1 worker; >= 100 points/s per worker.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SWEEP = f"""\
workload: {ROOT / 'workloads' / 'bert-base-layer.yaml'}
base: edge-npu-pot16
axes:
  array.rows: [8, 16, 32, 64, 128]
  array.cols: [8, 16, 32, 64, 128]
  memory.1.bytes: [65536, 131072, 262144, 524288, 1048576]
  memory.0.bandwidth_Bps: [1.6e9, 3.2e9, 6.4e9]
  clock_hz: [5.0e8, 7.5e8, 1.0e9]
objectives: [latency_s, energy_pj, area_mm2]
"""


def main() -> int:
    from accelsim.sweep import load_sweep, run_sweep

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "s.yaml").write_text(SWEEP)
        spec = load_sweep(str(Path(d) / "s.yaml"))
        rate = {}
        for workers in (1, 2):
            r = run_sweep(spec, workers=workers)
            n = len(r.frame)
            run_s = r.wall_s - r.startup_s
            rate[workers] = n / run_s
            print(f"{workers} worker(s): {n} points ({r.counts}) in {run_s:.1f} s after {r.startup_s:.1f} s of cluster "
                  f"start-up = {rate[workers]:.0f} points/s ({rate[workers] / workers:.0f} per worker; "
                  f"{n / r.wall_s:.0f} points/s with the start-up)")
        print(f"2 workers / 1 worker: {rate[2] / rate[1]:.2f}x (target >= 1.6x); per worker "
              f"{rate[2] / 2:.0f} points/s (target >= 100)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
