"""The sweep cache: numerics outcomes and finished rows as JSON data, never code.

A cache directory is often shared between people and machines, so an entry is read as untrusted data:

- one JSON document per entry (``<kind>/<key[:2]>/<key>.json``), written atomically (a temporary file in the same
  directory, then ``os.replace``), holding an envelope: ``format``, ``schema`` (this module's
  :data:`SCHEMA_VERSION`), ``accelsim`` (the version that wrote it), ``kind``, ``key`` and the SHA-256 of the
  canonical payload; arrays are base64 of their raw bytes with a dtype from a fixed list (no object arrays);
- an entry is used only if it is a regular file (not a symlink, directory or FIFO) of at most
  :data:`MAX_ENTRY_BYTES`, parses, names this schema, version, kind and key, matches its checksum and decodes to
  the expected fields and types. Otherwise it is *rejected* — ``damaged`` (unreadable, bad checksum, bad fields),
  ``foreign`` (another kind or key: an entry copied or moved) or ``stale`` (another schema or accelsim version) —
  and the point is recomputed; the reason is returned so the sweep counts it.

The checksum detects damage (a torn write, a disk error, a hand edit that did not also recompute it); it is not
a signature. Nothing read here is ever executed or used to choose a class to construct: the decoder builds the
two known record types field by field.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import stat
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

#: bump when an entry's layout or the meaning of a field changes (older entries are then ``stale``)
SCHEMA_VERSION = 2
FORMAT = "accelsim-sweep-cache"
#: an entry larger than this is not read (a numerics outcome of a large model is a few MB)
MAX_ENTRY_BYTES = 256 * 2**20
#: array dtypes an entry may hold (events counters, metrics)
ARRAY_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32",
                "float64")

#: a finished row's fields and the types each may take (None: not measured)
ROW_FIELDS = {
    "latency_s": (float, int), "energy_pj": (float, int), "cycles": (int, float), "utilization": (float, int),
    "macs": (int, float), "overflow_events": (int, type(None)), "saturation_events": (int, type(None)),
    "final_sqnr_db": (float, int, type(None)), "area_mm2": (float, int, type(None)),
    "energy_static_pj": (float, int), "dram_bytes": (int,), "cosine_mean": (float, int, type(None)),
    "cosine_min": (float, int, type(None)), "runtime": (str,), "valid": (bool,), "error": (str,),
}
#: row fields that are physical amounts: finite and not negative
NON_NEGATIVE = ("latency_s", "energy_pj", "cycles", "utilization", "macs", "energy_static_pj", "dram_bytes")


class EntryRejected(ValueError):
    """An entry that is not used; ``reason`` is damaged, foreign or stale."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _plain(o):
    """numpy scalars as Python numbers (a counter may be np.int64); anything else is not cache data."""
    if isinstance(o, np.generic) and o.dtype.kind in "biuf":
        return o.item()
    raise TypeError(f"{type(o).__name__} is not cache data")


def _canonical(payload) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_plain).encode()


class Cache:
    """Numerics outcomes (``numerics``) and finished rows (``rows``) on disk; ``root`` None: no cache."""

    def __init__(self, root: str | None, version: str | None = None):
        self.root = Path(root) if root else None
        if version is None:
            from accelsim import __version__ as version
        self.version = str(version)

    def _path(self, kind: str, key: str) -> Path | None:
        return None if self.root is None else self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str):
        """``(value, status)``: status ``hit``, ``miss``, ``off`` (no cache), or a rejection reason (damaged,
        foreign, stale) with value None."""
        p = self._path(kind, key)
        if p is None:
            return None, "off"
        try:
            value = self._read(p, kind, key)
        except FileNotFoundError:
            return None, "miss"
        except EntryRejected as exc:
            return None, exc.reason
        return value, "hit"

    def _read(self, p: Path, kind: str, key: str):
        st = os.lstat(p)  # never follow a link, never open a FIFO or device (it could block or be endless)
        if not stat.S_ISREG(st.st_mode):
            raise EntryRejected("damaged", "not a regular file")
        if st.st_size > MAX_ENTRY_BYTES:
            raise EntryRejected("damaged", f"{st.st_size} bytes")
        try:
            with open(p, "rb") as fh:
                doc = json.loads(fh.read(MAX_ENTRY_BYTES + 1))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise EntryRejected("damaged", type(exc).__name__) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise EntryRejected("damaged", "not a cache entry")
        if doc.get("schema") != SCHEMA_VERSION or doc.get("accelsim") != self.version:
            raise EntryRejected("stale", f"schema {doc.get('schema')!r}, accelsim {doc.get('accelsim')!r}")
        if doc.get("kind") != kind or doc.get("key") != key:
            raise EntryRejected("foreign", "another entry's kind or key")
        payload = doc.get("payload")
        if doc.get("sha256") != hashlib.sha256(_canonical(payload)).hexdigest():
            raise EntryRejected("damaged", "checksum")
        try:
            return DECODERS[kind](payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EntryRejected("damaged", f"fields: {exc}") from None

    def put(self, kind: str, key: str, value) -> bool:
        """Write an entry atomically; False if it could not be written (a read-only cache, a directory in the
        entry's place: the sweep goes on, nothing of the user's is removed)."""
        p = self._path(kind, key)
        if p is None:
            return False
        payload = json.loads(_canonical(ENCODERS[kind](value)))  # as a reader will see it
        doc = {"format": FORMAT, "schema": SCHEMA_VERSION, "accelsim": self.version, "kind": kind, "key": key,
               "sha256": hashlib.sha256(_canonical(payload)).hexdigest(), "payload": payload}
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.is_symlink() or (p.exists() and not p.is_file()):
                return False
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_canonical(doc))
            os.replace(tmp, p)  # atomic: a reader sees the old entry or the new one
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return False
        return True


# --- rows -------------------------------------------------------------------------------------------------------

def _encode_row(row: dict) -> dict:
    return {k: row[k] for k in ROW_FIELDS}


def _decode_row(payload: dict) -> dict:
    if not isinstance(payload, dict) or set(payload) != set(ROW_FIELDS):
        raise ValueError("row fields")
    for k, types in ROW_FIELDS.items():
        v = payload[k]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            raise TypeError(k)
        if k in NON_NEGATIVE and not (math.isfinite(v) and v >= 0):
            raise ValueError(k)
    return dict(payload)


# --- numerics outcomes --------------------------------------------------------------------------------------------

def _encode_array(a):
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    if a.dtype.name not in ARRAY_DTYPES:
        raise TypeError(f"array dtype {a.dtype}")
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def _decode_array(d):
    if d is None:
        return None
    if d["dtype"] not in ARRAY_DTYPES:
        raise ValueError(f"array dtype {d['dtype']!r}")
    shape = tuple(int(s) for s in d["shape"])
    raw = base64.b64decode(d["data"], validate=True)
    dtype = np.dtype(d["dtype"])
    if any(s < 0 for s in shape) or math.prod(shape) * dtype.itemsize != len(raw):
        raise ValueError("array shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _encode_numerics(outcome) -> dict:
    from dataclasses import asdict

    layers = {}
    for name, res in outcome.layers.items():
        d = {f.name: getattr(res, f.name) for f in fields(res) if f.name not in ("events", "changes")}
        d["events"] = _encode_array(res.events)
        d["changes"] = [asdict(c) for c in res.changes]
        layers[name] = d
    return {"layers": layers, "end_to_end": outcome.end_to_end, "diagnosis": outcome.diagnosis,
            "recalibration": outcome.recalibration}


def _decode_numerics(payload: dict):
    from accelsim.engine import NumericsOutcome
    from accelsim.numerics.execute import LayerNumerics
    from accelsim.quant.legalize import LegalizationChange

    names = {f.name for f in fields(LayerNumerics)}
    change_names = {f.name for f in fields(LegalizationChange)}
    layers = {}
    for name, d in payload["layers"].items():
        if set(d) != names:
            raise ValueError(f"layer {name!r} fields")
        changes = [c for c in d["changes"]]
        if any(not isinstance(c, dict) or set(c) != change_names for c in changes):
            raise ValueError(f"layer {name!r} changes")
        res = LayerNumerics(**{k: v for k, v in d.items() if k not in ("events", "changes")})
        res.events = _decode_array(d["events"])
        res.changes = [LegalizationChange(**c) for c in changes]
        if not isinstance(res.notes, list) or not all(isinstance(n, str) for n in res.notes):
            raise ValueError(f"layer {name!r} notes")
        layers[str(name)] = res
    for part in ("end_to_end", "recalibration"):
        if payload[part] is not None and not isinstance(payload[part], dict):
            raise ValueError(part)
    if payload["diagnosis"] is not None and not isinstance(payload["diagnosis"], list):
        raise ValueError("diagnosis")
    return NumericsOutcome(layers, payload["end_to_end"], payload["diagnosis"], payload["recalibration"])


ENCODERS = {"rows": _encode_row, "numerics": _encode_numerics}
DECODERS = {"rows": _decode_row, "numerics": _decode_numerics}



def check_cache_dir(root: str | None, field: str = "--cache") -> None:
    """Refuse up front a cache path that cannot be a cache directory (a regular file, a FIFO, an unwritable
    directory): otherwise every point would fail, or every entry silently go unwritten."""
    from accelsim.errors import InputError

    if not root:
        return
    p = Path(root)
    if p.exists() and not p.is_dir():
        raise InputError(f"{root} exists and is not a directory (give a directory for the cache, or --no-cache)",
                         field=field)
    existing = p if p.exists() else next((q for q in p.parents if q.exists()), None)
    if existing is not None and not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        raise InputError(f"{root}: {existing} is not a writable directory", field=field)


__all__ = ["Cache", "EntryRejected", "SCHEMA_VERSION", "check_cache_dir"]
