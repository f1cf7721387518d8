"""accelsim: what a quantized network computes (bit-accurately) and costs (latency, energy) on an
accelerator described by a hardware contract."""

__version__ = "0.1.0"


def load_results(path):
    """Results written by ``accelsim run`` (JSON or CSV) as a pandas DataFrame."""
    from accelsim.results.io import load_results as _load

    return _load(path)


def run(workload, profile, *, runtime=None, timing_only: bool = False, diagnose: bool = False):
    """Simulate ``workload`` on ``profile`` under ``runtime``: a :class:`accelsim.engine.RunResult` (per-layer results
    as a pandas DataFrame in ``.frame``, the whole-run figures in ``.summary()``, the same run at the datasheet bound
    in ``.ideal``), as ``accelsim run`` does.

    ``workload``: a workload YAML path, an ONNX file, a built-in workload name or a loaded Workload;
    ``profile``: a built-in profile name, a profile YAML path or a loaded HardwareProfile; ``runtime``: a built-in
    runtime name, a runtime YAML path or a RuntimeProfile (None: the newest built-in sourced for the profile, else
    ideal). See docs/api.md."""
    from accelsim.engine import ideal_bound
    from accelsim.engine import run as _run
    from accelsim.hardware import load_profile
    from accelsim.loading import load_workload
    from accelsim.runtime import load_runtime
    from accelsim.workload.workload import Workload

    wl = workload if isinstance(workload, Workload) else load_workload(workload)
    hw = load_profile(profile)
    result = _run(wl, hw, timing_only=timing_only, diagnose=diagnose, runtime=load_runtime(runtime, hw.name))
    result.ideal = ideal_bound(result)
    return result


def sweep(path, *, out=None, cache=None, scheduler=None, workers=None):
    """Run a sweep file (docs/sweeps.md): a pandas DataFrame, one row per point and workload, a column per axis,
    the summary metrics, ``valid``/``error``, ``source`` and ``pareto``; with ``out`` also out/sweep.parquet and
    out/sweep.csv. ``scheduler``: a running Dask scheduler's address or scheduler file; ``workers``: local worker
    processes (default 2). See docs/api.md."""
    from accelsim.sweep import sweep as _sweep

    return _sweep(path, out=out, cache=cache, scheduler=scheduler, workers=workers)


__all__ = ["__version__", "load_results", "run", "sweep"]
