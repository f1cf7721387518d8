"""Design-space sweeps: thousands of contracts from one base profile, run on Dask, cached, with Pareto fronts.

``sweep(path)`` loads a sweep file (accelsim.sweep.spec), runs every point on every workload through the engine
(accelsim.sweep.evaluate: numerics and rows cached by content), and returns one pandas DataFrame: a row per
point and workload, a column per axis (its dotted path), the summary metrics under the results schema's names,
``valid``/``error``, ``source`` (run | timing | cached | invalid | failed), ``cache`` (hit | miss | off, or why an
entry was rejected and recomputed: damaged | foreign | stale; accelsim.sweep.cache) and ``pareto`` over the objectives
(all minimized except accuracy-like ones: SQNR, cosine, utilization). ``sample: {optimize: N}`` asks optuna's
NSGA-II sampler for the points, a batch per round of workers.

Execution: a ``dask.distributed`` LocalCluster (``workers`` processes, one thread each) unless ``scheduler``
names a running scheduler (``tcp://host:8786`` or a scheduler file); points go out in chunks; a failing point is a
row with its error, never the end of the sweep.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd

from accelsim.errors import InputError
from accelsim.results.pareto import pareto_flags
from accelsim.sweep.spec import OBJECTIVES, Sweep, load_sweep

__all__ = ["SweepRun", "load_sweep", "pareto_flags", "run_sweep", "sweep"]


@dataclass
class SweepRun:
    """A finished sweep: its table and what it took (counts of points by how they were obtained)."""

    sweep: Sweep
    frame: pd.DataFrame
    counts: dict = field(default_factory=dict)
    cache_counts: dict = field(default_factory=dict)  # rows by what the cache said (hit, miss, damaged, ...)
    wall_s: float = 0.0
    startup_s: float = 0.0     # of wall_s: starting the local cluster (or connecting to the scheduler)

    @property
    def numerics_runs(self) -> int:
        return self.counts.get("run", 0)

    @property
    def timing_runs(self) -> int:
        return self.counts.get("run", 0) + self.counts.get("timing", 0)


def _rows_on(client, sweep: Sweep, items: list, cache: str | None, chunk: int, progress) -> list[dict]:
    from dask.distributed import as_completed

    from accelsim.sweep.evaluate import evaluate_chunk

    # one scattered copy per call, with its own key: a copy shared by content with an earlier call could be
    # released by that call's end while this one still needs it ("lost dependencies")
    sweep_f = client.scatter(sweep, broadcast=True, hash=False)
    chunks = {client.submit(evaluate_chunk, sweep_f, items[i:i + chunk], cache, pure=False): items[i:i + chunk]
              for i in range(0, len(items), chunk)}
    rows = []
    for fut in as_completed(list(chunks)):
        try:
            got = fut.result()
        except Exception as exc:  # noqa: BLE001 - a worker died or raised: each of its points is a failed row
            error = f"{type(exc).__name__}: {exc}"[:300]
            got = [{"point": i, "workload": w, **p, "valid": False, "error": error, "source": "failed",
                    "cache": "off"} for w, p, i in chunks[fut]]
        rows.extend(got)
        if progress is not None:
            progress(got)
    return rows


def run_sweep(sweep: Sweep, *, cache: str | None = None, scheduler: str | None = None, workers: int | None = None,
              progress=None, chunk: int | None = None) -> SweepRun:
    """Run ``sweep`` (a Sweep from :func:`load_sweep`); ``progress(rows)`` after each finished chunk."""
    from accelsim.sweep.cache import check_cache_dir
    from accelsim.sweep.scheduler import client_for, scheduler_address

    check_cache_dir(cache)
    if scheduler is not None:
        scheduler_address(scheduler)  # a bad address or file is one line before any work
    t0 = time.perf_counter()
    client, cluster = client_for(scheduler, workers)
    if cluster is not None:
        client.wait_for_workers(workers or 2, timeout=120)
    from accelsim.sweep.evaluate import warm_up

    client.run(warm_up, list(sweep.workloads))  # each worker loads the workloads (and JIT-compiles) once, up front
    startup = time.perf_counter() - t0
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or (workers or 1))
        if sweep.sample == "optimize":
            rows = _optimize(client, sweep, cache, n_workers, progress)
        else:
            items = [(w, p, i) for i, p in enumerate(sweep.points) for w in sweep.workloads]
            rows = []
            if cache and sweep.needs_numerics:
                # first one point per numerics contract (its numerics land in the cache), then the rest, which
                # reuse them: no two workers compute the same numerics
                first, rest, seen = [], [], set()
                for item in items:
                    key = (item[0], _numerics_group(item[1]))
                    (rest if key in seen else first).append(item)
                    seen.add(key)
                size = chunk or max(1, min(32, math.ceil(len(first) / (8 * n_workers))))
                rows += _rows_on(client, sweep, first, cache, size, progress)
                items = rest
            size = chunk or max(1, min(32, math.ceil(len(items) / (8 * n_workers))))
            rows += _rows_on(client, sweep, items, cache, size, progress) if items else []
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    frame = _frame(sweep, rows)
    counts = frame["source"].value_counts().to_dict() if len(frame) else {}
    cache_counts = frame["cache"].value_counts().to_dict() if len(frame) else {}
    return SweepRun(sweep=sweep, frame=frame, counts=counts, cache_counts=cache_counts, wall_s=time.perf_counter() - t0, startup_s=startup)


#: profile sections whose values can change what the numerics compute (array: its rows can set the K-chunk)
NUMERICS_SECTIONS = ("operands", "accumulator", "requant", "zero_point", "float_accumulator", "float_conversion",
                     "array")


def _numerics_group(point: dict) -> tuple:
    """The point's values on the axes that can change its numerics (points equal on them share numerics)."""
    return tuple(sorted((p, repr(v)) for p, v in point.items() if p.split(".")[0] in NUMERICS_SECTIONS))


def _frame(sweep: Sweep, rows: list[dict]) -> pd.DataFrame:
    axes = [p for p, _ in sweep.axes]
    metrics = ["latency_s", "energy_pj", "energy_static_pj", "cycles", "utilization", "macs", "dram_bytes",
               "overflow_events", "saturation_events", "final_sqnr_db", "cosine_mean", "cosine_min", "area_mm2"]
    cols = ["point", "workload", *axes, *metrics, "valid", "error", "source", "cache"]
    frame = pd.DataFrame(rows).reindex(columns=cols)
    frame = frame.sort_values(["point", "workload"], na_position="last", kind="stable").reset_index(drop=True)
    frame["valid"] = frame["valid"].fillna(False).astype(bool)
    frame["pareto"] = False
    objectives = list(sweep.objectives)
    for _, group in frame[frame["valid"]].groupby("workload"):
        values = group[objectives].astype(float)
        ok = values.notna().all(axis=1)
        flags = pareto_flags([tuple(r) for r in values[ok].itertuples(index=False)],
                             tuple(OBJECTIVES[o] for o in objectives))
        frame.loc[values[ok].index, "pareto"] = flags
    return frame


def _optimize(client, sweep: Sweep, cache, n_workers: int, progress) -> list[dict]:
    """``sample: {optimize: N}``: optuna NSGA-II over the axes' values, a batch of trials per round."""
    try:
        import optuna
    except ImportError:
        raise InputError("sample: optimize needs optuna: pip install 'accelsim[tune]'", field="sample") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = ["maximize" if OBJECTIVES[o] else "minimize" for o in sweep.objectives]
    study = optuna.create_study(directions=directions, sampler=optuna.samplers.NSGAIISampler(seed=sweep.seed))
    rows, index = [], 0
    while index < sweep.count:
        batch = []
        for _ in range(min(max(2, n_workers * 2), sweep.count - index)):
            trial = study.ask()
            point = {p: v[trial.suggest_categorical(p, list(range(len(v))))] for p, v in sweep.axes}
            batch.append((trial, point, index))
            index += 1
        items = [(w, p, i) for _, p, i in batch for w in sweep.workloads]
        got = _rows_on(client, sweep, items, cache, 1, progress)
        rows.extend(got)
        by_index = {}
        for r in got:
            by_index.setdefault(r.get("point"), []).append(r)
        for trial, _, i in batch:
            rs = [r for r in by_index.get(i, []) if r.get("valid")]
            if len(rs) != len(sweep.workloads) or any(r.get(o) is None for r in rs for o in sweep.objectives):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            study.tell(trial, [sum(float(r[o]) for r in rs) / len(rs) for o in sweep.objectives])
    return rows


def sweep(path: str, *, out: str | None = None, cache: str | None = None, scheduler: str | None = None,
          workers: int | None = None) -> pd.DataFrame:
    """Run the sweep file at ``path`` and return its table (see the module docstring); with ``out`` also write
    ``out/sweep.parquet`` and ``out/sweep.csv``. ``cache``: the cache directory (default ``out/cache``, or none)."""
    from pathlib import Path

    spec = load_sweep(path)
    cache = cache or (str(Path(out) / "cache") if out else None)
    result = run_sweep(spec, cache=cache, scheduler=scheduler, workers=workers)
    if out:
        write_tables(result.frame, Path(out))
    return result.frame


def write_tables(frame: pd.DataFrame, directory) -> tuple:
    """``directory/sweep.parquet`` and ``directory/sweep.csv``, each written atomically."""
    import io
    from pathlib import Path

    from accelsim.results.io import atomic_write, atomic_write_bytes

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    parquet, csv = directory / "sweep.parquet", directory / "sweep.csv"
    atomic_write_bytes(parquet, buf.getvalue())
    atomic_write(csv, frame.to_csv(index=False))
    return parquet, csv
