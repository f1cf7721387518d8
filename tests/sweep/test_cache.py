"""The sweep cache is data, never code: entries round-trip exactly; pickles, edits, torn writes, foreign and stale
entries, directories, links and FIFOs in an entry's place are rejected (and counted), never executed or trusted;
a sweep over a damaged cache gives the same table as a clean one."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from accelsim.engine import NumericsOutcome
from accelsim.errors import InputError
from accelsim.numerics.execute import LayerNumerics
from accelsim.quant.legalize import LegalizationChange
from accelsim.sweep.cache import Cache, check_cache_dir
from tests.conftest import REPO

ROW = {"latency_s": 1.25e-3, "energy_pj": 3.5e6, "cycles": 1208195, "utilization": 0.5, "macs": 10**9,
       "overflow_events": 0, "saturation_events": 3, "final_sqnr_db": 31.5, "area_mm2": None,
       "energy_static_pj": 12.0, "dram_bytes": 4096, "cosine_mean": 0.999, "cosine_min": None,
       "runtime": "ideal", "valid": True, "error": ""}


def _outcome():
    res = LayerNumerics(layer="fc1", overflow_events=np.int64(2), saturation_events=1,
                        events=np.arange(12, dtype=np.int64).reshape(3, 4), sqnr_db=float("inf"), cosine=0.5,
                        notes=["a note"])
    res.changes = [LegalizationChange("fc1", "weights", "bits", "int4", "int8", "int4 unsupported", 40.0, 39.5)]
    return NumericsOutcome({"fc1": res, "fc2": LayerNumerics(layer="fc2", events=None)},
                           {"metric": "cosine", "mean": 0.99, "min": 0.98, "per_sentence": [0.98, 1.0]}, [], None)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_rows_and_numerics_round_trip_exactly(tmp_path):
    c = Cache(str(tmp_path))
    assert c.put("rows", "ab" * 32, ROW)
    got, status = c.get("rows", "ab" * 32)
    assert status == "hit" and got == ROW
    out = _outcome()
    assert c.put("numerics", "cd" * 32, out)
    back, status = c.get("numerics", "cd" * 32)
    assert status == "hit"
    a, b = out.layers["fc1"], back.layers["fc1"]
    assert np.array_equal(a.events, b.events) and b.events.dtype == np.int64
    assert (b.overflow_events, b.sqnr_db, b.notes, b.changes) == (2, float("inf"), ["a note"], a.changes)
    assert back.layers["fc2"].events is None and back.end_to_end == out.end_to_end
    assert Cache(None).get("rows", "ab" * 32) == (None, "off")
    assert c.get("rows", "ef" * 32) == (None, "miss")


def _entry(c, kind, key):
    return c._path(kind, key)


@pytest.mark.parametrize("damage, reason", [
    ("pickle", "damaged"), ("edit", "damaged"), ("torn", "damaged"), ("bytes", "damaged"), ("directory", "damaged"),
    ("symlink", "damaged"), ("fifo", "damaged"), ("stale", "stale"), ("schema", "stale"), ("foreign", "foreign"),
    ("bad_field", "damaged"), ("negative", "damaged"),
])
def test_a_bad_entry_is_rejected_with_its_reason_and_never_executed(tmp_path, monkeypatch, damage, reason):
    monkeypatch.chdir(tmp_path)
    c = Cache(str(tmp_path / "cache"))
    key, other = "ab" * 32, "cd" * 32
    c.put("rows", key, ROW)
    c.put("rows", other, {**ROW, "latency_s": 9.0})
    p = _entry(c, "rows", key)
    doc = json.loads(p.read_text())
    if damage == "pickle":
        p.write_bytes(pickle.dumps(_Exploit()))
    elif damage == "edit":  # a value changed by hand, the checksum left as it was
        p.write_text(p.read_text().replace('"latency_s":0.00125', '"latency_s":1e-12'))
    elif damage == "torn":
        p.write_bytes(p.read_bytes()[:40])
    elif damage == "bytes":
        p.write_bytes(os.urandom(500))
    elif damage == "directory":
        p.unlink()
        p.mkdir()
    elif damage == "symlink":
        p.unlink()
        p.symlink_to(_entry(c, "rows", other))
    elif damage == "fifo":
        p.unlink()
        os.mkfifo(p)
    elif damage in ("stale", "schema", "foreign"):
        doc[{"stale": "accelsim", "schema": "schema", "foreign": "key"}[damage]] = "0.0.1"
        p.write_text(json.dumps(doc))
    elif damage in ("bad_field", "negative"):
        import hashlib

        from accelsim.sweep.cache import _canonical

        doc["payload"] = {**doc["payload"], "latency_s": "fast" if damage == "bad_field" else -1.0}
        doc["sha256"] = hashlib.sha256(_canonical(doc["payload"])).hexdigest()
        p.write_text(json.dumps(doc))
    assert c.get("rows", key) == (None, reason)
    assert not (tmp_path / "PWNED").exists()
    # the recomputed entry replaces a bad file; a directory in its place is left alone and reported unwritable
    assert c.put("rows", key, ROW) == (damage not in ("directory", "fifo", "symlink"))
    if damage not in ("directory", "fifo", "symlink"):
        assert c.get("rows", key) == (ROW, "hit")
    assert c.get("rows", other)[0]["latency_s"] == 9.0


def test_a_moved_entry_is_foreign(tmp_path):
    c = Cache(str(tmp_path))
    c.put("rows", "ab" * 32, ROW)
    src, dst = _entry(c, "rows", "ab" * 32), _entry(c, "rows", "cd" * 32)
    dst.parent.mkdir(parents=True)
    src.rename(dst)
    assert c.get("rows", "cd" * 32) == (None, "foreign")


def test_a_cache_path_that_is_not_a_directory_is_one_line(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="--cache: .*not a directory"):
        check_cache_dir(str(f))
    with pytest.raises(InputError, match="--cache: .*not a writable directory"):
        check_cache_dir(str(f / "sub"))
    check_cache_dir(str(tmp_path / "new" / "dir"))  # created on first write


SMALL = f"""\
workload: {REPO / 'workloads' / 'mlp.yaml'}
base: edge-npu-pot16
axes:
  accumulator.bits: [12, 16]
  memory.0.bandwidth_Bps: [1.6e9, 3.2e9]
objectives: [latency_s, final_sqnr_db]
"""


def test_a_sweep_over_a_damaged_cache_recomputes_and_counts(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    from accelsim.sweep import load_sweep, run_sweep

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SMALL)
    spec = load_sweep(str(tmp_path / "s.yaml"))
    cache = tmp_path / "cache"
    clean = run_sweep(spec, cache=str(cache), workers=1)
    assert clean.cache_counts == {"miss": 4}
    rows = sorted((cache / "rows").rglob("*.json"))
    numerics = sorted((cache / "numerics").rglob("*.json"))
    assert len(rows) == 4 and len(numerics) == 2
    rows[0].write_bytes(pickle.dumps(_Exploit()))
    rows[1].write_bytes(os.urandom(300))
    rows[2].unlink()
    rows[2].mkdir()
    for n in numerics:  # every numerics entry edited: the rows that need them recompute their numerics too
        n.write_text(n.read_text().replace('"overflow_events":', '"overflow_events": 7,"x":'))
    again = run_sweep(spec, cache=str(cache), workers=1)
    assert not (tmp_path / "PWNED").exists()
    cols = ["point", "workload", "latency_s", "final_sqnr_db", "cycles", "valid"]
    assert again.frame[cols].equals(clean.frame[cols])
    assert again.frame["valid"].all() and again.frame["point"].notna().all()
    assert again.counts.get("cached") == 1 and again.counts.get("run", 0) >= 1
    assert again.counts.get("run", 0) + again.counts.get("timing", 0) == 3
    assert again.cache_counts == {"damaged": 2, "damaged+unwritable": 1, "hit": 1}
