"""accelsim: what a quantized network computes (bit-accurately) and costs (latency, energy) on an
accelerator described by a hardware contract."""

__version__ = "0.1.0"


def load_results(path):
    """Results written by ``accelsim run`` (JSON or CSV) as a pandas DataFrame."""
    from accelsim.results.io import load_results as _load

    return _load(path)


def run(workload, profile, *, timing_only: bool = False, diagnose: bool = False):
    """Simulate ``workload`` on ``profile``: a :class:`accelsim.engine.RunResult` (per-layer results as a pandas
    DataFrame in ``.frame``, the whole-run figures in ``.summary()``).

    ``workload``: a workload YAML path, an ONNX file, a built-in workload name or a loaded Workload;
    ``profile``: a built-in profile name, a profile YAML path or a loaded HardwareProfile. See docs/api.md."""
    from accelsim.engine import run as _run
    from accelsim.hardware import load_profile
    from accelsim.loading import load_workload
    from accelsim.workload.workload import Workload

    wl = workload if isinstance(workload, Workload) else load_workload(workload)
    return _run(wl, load_profile(profile), timing_only=timing_only, diagnose=diagnose)


def sweep(path, *, out=None, cache=None, scheduler=None, workers=None):
    """Run a sweep file (docs/sweeps.md): a pandas DataFrame, one row per point and workload, a column per axis,
    the summary metrics, ``valid``/``error``, ``source`` and ``pareto``; with ``out`` also out/sweep.parquet and
    out/sweep.csv. ``scheduler``: a running Dask scheduler's address or scheduler file; ``workers``: local worker
    processes (default 2). See docs/api.md."""
    from accelsim.sweep import sweep as _sweep

    return _sweep(path, out=out, cache=cache, scheduler=scheduler, workers=workers)


__all__ = ["__version__", "load_results", "run", "sweep"]
