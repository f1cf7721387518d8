"""Design-space sweeps: the grid, the Pareto flags against brute force, the cache's work counts, the HTML front
in headless Chromium, an external Dask scheduler + worker, sampling."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

from accelsim.sweep import load_sweep, run_sweep, write_tables  # noqa: E402
from accelsim.sweep.spec import OBJECTIVES, sample_points  # noqa: E402
from tests.conftest import REPO  # noqa: E402

GRID = f"""\
workload: {REPO / 'workloads' / 'resnet18.yaml'}
base: edge-npu-pot16
axes:
  array.rows: [8, 16, 32]
  accumulator.bits: [12, 14, 16]
  memory.0.bandwidth_Bps: [1.6e9, 6.4e9]
sample: grid
objectives: [latency_s, energy_pj, final_sqnr_db, area_mm2]
"""

SMALL = f"""\
workload: {REPO / 'workloads' / 'mlp.yaml'}
base: edge-npu-pot16
axes:
  accumulator.bits: [12, 16]
  memory.0.bandwidth_Bps: [BW]
objectives: [latency_s, final_sqnr_db, area_mm2]
"""


def _brute(frame, objectives):
    v = frame[frame["valid"]]
    out = {}
    for i, r in v.iterrows():
        dominated = False
        for j, q in v.iterrows():
            if i == j:
                continue
            better_eq = all((q[o] >= r[o]) if OBJECTIVES[o] else (q[o] <= r[o]) for o in objectives)
            better = any((q[o] > r[o]) if OBJECTIVES[o] else (q[o] < r[o]) for o in objectives)
            dominated |= better_eq and better
        out[i] = not dominated
    return out


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    d = tmp_path_factory.mktemp("grid")
    (d / "s.yaml").write_text(GRID)
    spec = load_sweep(str(d / "s.yaml"))
    result = run_sweep(spec, cache=str(d / "cache"), workers=2)
    return d, spec, result


def test_grid_has_every_point_and_a_correct_pareto_flag(grid):
    _, spec, result = grid
    f = result.frame
    assert len(f) == 18 and f["valid"].all()
    assert list(f.columns[:5]) == ["point", "workload", "array.rows", "accumulator.bits", "memory.0.bandwidth_Bps"]
    brute = _brute(f, list(spec.objectives))
    assert all(bool(f.loc[i, "pareto"]) == flag for i, flag in brute.items())
    assert f["pareto"].sum() > 0
    # numerics once per numerics contract (3 accumulator widths x 3 array heights do not share; bandwidth does)
    assert result.counts.get("run", 0) == 9 and result.counts.get("timing", 0) == 9


def test_rerun_does_no_work(grid):
    d, spec, first = grid
    again = run_sweep(spec, cache=str(d / "cache"), workers=1)
    assert again.counts == {"cached": 18}
    assert again.numerics_runs == 0 and again.timing_runs == 0
    cols = ["latency_s", "energy_pj", "final_sqnr_db", "area_mm2", "pareto"]
    assert again.frame[cols].equals(first.frame[cols])


def test_a_bandwidth_change_reruns_timing_only(tmp_path):
    (tmp_path / "a.yaml").write_text(SMALL.replace("BW", "1.6e9"))
    (tmp_path / "b.yaml").write_text(SMALL.replace("BW", "3.2e9"))
    cache = str(tmp_path / "cache")
    a = run_sweep(load_sweep(str(tmp_path / "a.yaml")), cache=cache, workers=1)
    b = run_sweep(load_sweep(str(tmp_path / "b.yaml")), cache=cache, workers=1)
    assert a.counts == {"run": 2}
    assert b.counts == {"timing": 2}        # numerics reused, timing rerun
    assert (b.frame["final_sqnr_db"].values == a.frame["final_sqnr_db"].values).all()
    assert (b.frame["latency_s"].values < a.frame["latency_s"].values).all()


def test_tables_and_html(grid, tmp_path):
    import shutil

    from accelsim.report.sweep_html import render_sweep_report

    d, spec, result = grid
    parquet, csv = write_tables(result.frame, tmp_path / "out")
    import pandas as pd

    back = pd.read_parquet(parquet)
    assert len(back) == 18 and "pareto" in back.columns and back["pareto"].dtype == bool
    page = tmp_path / "s.html"
    page.write_text(render_sweep_report(result, command="accelsim sweep s.yaml"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from tests.report.test_browser import _chromium

    proc = _chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", page.as_uri())
    root = re.search(r"<html[^>]*>", proc.stdout)
    assert root, proc.stderr[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', root.group(0)))
    assert int(attrs.get("data-plots", "0")) == 2 and attrs.get("data-plots-drawn") == "2"
    assert "data-errors" not in attrs


def test_external_scheduler_and_worker_give_the_same_table(tmp_path):
    """A `dask scheduler` and a `dask worker` started as separate processes (not in-process)."""
    (tmp_path / "s.yaml").write_text(SMALL.replace("BW", "1.6e9"))
    spec = load_sweep(str(tmp_path / "s.yaml"))
    local = run_sweep(spec, workers=1)
    sched_file = tmp_path / "scheduler.json"
    bindir = f"{sys.prefix}/bin"
    scheduler = subprocess.Popen([f"{bindir}/dask", "scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                                  "--dashboard-address", ":0", "--no-show"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        worker = subprocess.Popen([f"{bindir}/dask", "worker", "--scheduler-file", str(sched_file), "--nworkers",
                                   "1", "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        from dask.distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=30) as c:
            c.wait_for_workers(1, timeout=60)
        remote = run_sweep(spec, scheduler=str(sched_file))
    finally:
        for p in (worker, scheduler):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)
    cols = ["point", "accumulator.bits", "latency_s", "energy_pj", "final_sqnr_db", "area_mm2", "pareto"]
    assert remote.frame[cols].equals(local.frame[cols])


def test_sampling_random_and_lhs():
    axes = (("a", tuple(range(10))), ("b", (1.0, 2.0)))
    assert len(sample_points(axes, "grid", None, 0)) == 20
    r = sample_points(axes, "random", 7, 1)
    assert len(r) == 7 and all(p["a"] in range(10) for p in r)
    lhs = sample_points(axes, "lhs", 10, 2)
    assert sorted(p["a"] for p in lhs) == list(range(10))   # one point per stratum of each axis
    assert np.bincount([int(p["b"]) for p in lhs])[1:].tolist() == [5, 5]


def test_optimize_samples_with_nsga2(tmp_path):
    pytest.importorskip("optuna")
    (tmp_path / "s.yaml").write_text(f"""\
workload: {REPO / 'workloads' / 'mlp.yaml'}
base: edge-npu-pot16
axes:
  array.rows: [4, 8, 16, 32]
  array.cols: [4, 8, 16, 32]
  memory.1.bytes: [16384, 65536, 262144]
sample: {{optimize: 10}}
objectives: [latency_s, area_mm2]
""")
    r = run_sweep(load_sweep(str(tmp_path / "s.yaml")), workers=1)
    f = r.frame
    assert len(f) == 10 and f["point"].tolist() == list(range(10))
    assert f["valid"].sum() >= 1 and f.loc[f["valid"], "pareto"].any()
