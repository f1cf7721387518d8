"""One sweep point: the base profile with the point's values, validated, run, reduced to a row; with a cache.

Cache (a directory the user may delete; entries are JSON data with a checksum, written atomically, named by a
SHA-256 key, read as untrusted: accelsim.sweep.cache):

- ``numerics/<key>``: the numerics outcome, keyed by what numerics depends on: the workload's content (layers and
  their quantization intent, data, the files they come from) and the contract's numerics fields (operand types,
  zero-point policies, accumulator, requant, float accumulator and conversion). A point that changes only
  timing fields (bandwidths, sizes, clock, array shape when the K-chunk does not follow it) reuses it.
- ``rows/<key>``: the finished row, keyed by the numerics key and every other profile field: a rerun of the same
  point does no work at all; an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from functools import lru_cache
from pathlib import Path

from accelsim.errors import InputError
from accelsim.sweep.cache import Cache
from accelsim.sweep.spec import NUMERICS_OBJECTIVES, Sweep, set_path

#: a profile's fields that decide what the numerics compute (accelsim.hardware.profile.HardwareProfile)
NUMERICS_FIELDS = ("weight_types", "activation_types", "weight_zero_point", "activation_zero_point", "accumulator",
                   "requant", "float_accumulator", "float_conversion")


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _file_digest(path) -> str:
    if not path or not Path(path).is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=16)
def load_workload_cached(ref: str):
    """A workload per process (workers load each once) and its content digest."""
    from accelsim import __version__
    from accelsim.loading import load_workload

    wl = load_workload(ref)
    files = [wl.source, getattr(wl.data, "path", None)]
    if wl.graph is not None:
        files += [str(getattr(wl.graph.view, "path", "") or ""), wl.graph.reference_path]
    digest = _digest(wl.name, wl.layers, wl.data, wl.sample, wl.recipe, [_file_digest(f) for f in files],
                     __version__)
    return wl, digest


def warm_up(refs: list) -> None:
    """Load the sweep's workloads in this worker process before its first point (errors surface at the point)."""
    for ref in refs:
        try:
            load_workload_cached(ref)
        except InputError:
            pass


def point_profile(sweep: Sweep, point: dict, index: int):
    """The base profile with ``point``'s values (InputError naming the axis and the problem if invalid)."""
    from accelsim.configfile import LoadedYaml, validate
    from accelsim.hardware.schema import HardwareModel

    data = copy.deepcopy(sweep.base_data)
    for path, value in point.items():
        if path == "runtime" or path.startswith("runtime."):
            continue  # the software stack's: point_runtime
        set_path(data, path, value)
    data["name"] = f"{str(data.get('name', 'point'))[:80]}-p{index}"
    model = validate(HardwareModel, LoadedYaml(data, {}, source=f"{sweep.source} point {index}"))
    return model.to_profile(source=f"{sweep.source} point {index}")


def point_runtime(sweep: Sweep, point: dict):
    """The runtime profile of ``point``: its ``runtime`` axis value (or the sweep's ``runtime``, or the base
    contract's default), resolved for the base contract, with its ``runtime.<field>`` axis values."""
    from accelsim.runtime import load_runtime

    base_name = str(sweep.base_data.get("name", ""))
    rt = load_runtime(point.get("runtime", sweep.runtime), base_name)
    changes = {}
    gemm = dict(rt.gemm_efficiency)
    for path, value in point.items():
        parts = path.split(".")
        if parts[0] != "runtime" or len(parts) == 1:
            continue
        if parts[1] == "gemm_efficiency":
            gemm[parts[2]] = float(value)
            changes["gemm_efficiency"] = tuple(sorted(gemm.items()))
        else:
            changes[parts[1]] = float(value)
    return dataclasses.replace(rt, **changes) if changes else rt


def evaluate(sweep: Sweep, workload_ref: str, point: dict, index: int, cache_root: str | None) -> dict:
    """The row of one point on one workload: axis values, summary metrics, how it was obtained (``source``: run,
    timing (numerics from the cache), cached), what the cache said (``cache``: hit, miss, off, or the reason an
    entry was rejected and recomputed: damaged, foreign, stale; ``+unwritable`` when the new entry could not be
    stored), or the error that made the point invalid."""
    from accelsim.engine import run

    row = {"point": index, "workload": workload_ref, **{p: v for p, v in point.items()}}
    try:
        profile = point_profile(sweep, point, index)
        runtime = point_runtime(sweep, point)
    except InputError as exc:
        return {**row, "valid": False, "error": str(exc), "source": "invalid", "cache": "off"}
    cache = Cache(cache_root)
    wl, wl_digest = load_workload_cached(workload_ref)
    timing_only = not sweep.needs_numerics
    neutral = dataclasses.replace(profile, name="point", description="", source="")
    numerics_key = _digest(wl_digest, timing_only, [getattr(profile, f) for f in NUMERICS_FIELDS])
    row_key = _digest(numerics_key, neutral, runtime, sweep.objectives)
    hit, status = cache.get("rows", row_key)
    if hit is not None:
        return {**hit, **row, "source": "cached", "cache": status}
    outcome, numerics_status = (None, "off") if timing_only else cache.get("numerics", numerics_key)
    if numerics_status not in ("hit", "miss", "off"):
        status = numerics_status if status in ("miss", "off") else status
    source = "timing" if outcome is not None or timing_only else "run"
    try:
        result = run(wl, profile, timing_only=timing_only, numerics=outcome, network=False, runtime=runtime)
    except (InputError, ValueError) as exc:
        return {**row, "valid": False, "error": " ".join(str(exc).split())[:300], "source": "failed",
                "cache": status}
    stored = True
    if outcome is None and not timing_only and cache.root is not None:
        stored = cache.put("numerics", numerics_key, result.outcome)
    metrics = summary_metrics(result)
    if cache.root is not None:
        stored = cache.put("rows", row_key, metrics) and stored
    return {**metrics, **row, "source": source, "cache": status + ("" if stored else "+unwritable")}


def summary_metrics(result) -> dict:
    """A run's row: the summary metrics under the results schema's names, plus the end-to-end metric."""
    s = result.summary()
    row = {k: s[k] for k in ("latency_s", "energy_pj", "cycles", "utilization", "macs", "overflow_events",
                             "saturation_events", "final_sqnr_db", "area_mm2")}
    row["energy_static_pj"] = float(result.frame["energy_static_pj"].sum())
    row["dram_bytes"] = int(result.frame["dram_bytes"].sum())
    e2e = result.end_to_end or {}
    row["cosine_mean"], row["cosine_min"] = e2e.get("mean"), e2e.get("min")
    row["runtime"] = s["runtime"]
    row["valid"], row["error"] = True, ""
    return row


def evaluate_chunk(sweep: Sweep, items: list, cache_root: str | None) -> list[dict]:
    """Several points in one task (amortizes the scheduler's per-task cost); ``items``: (workload, point, index)."""
    return [evaluate(sweep, w, p, i, cache_root) for w, p, i in items]


__all__ = ["Cache", "NUMERICS_OBJECTIVES", "evaluate", "evaluate_chunk", "point_profile", "summary_metrics"]
