"""Requests for a serving simulation: arrival times and prompt / output lengths.

Length distributions are written ``fixed:N``, ``uniform:LO,HI`` (integers, both ends included) or a CSV file
path (one length per row, in a column named ``prompt_tokens`` / ``output_tokens``, or the first column; sampled
with replacement). Arrivals are Poisson at a rate (exponential gaps, seeded), or a trace CSV with columns
``arrival_s, prompt_tokens, output_tokens`` that replaces all three.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import InputError

#: a sequence longer than this (prompt + output tokens) is refused: no built-in model has a longer context
MAX_TOKENS = 1 << 20
#: the largest trace file read (about two million requests; their simulation state stays well under 2 GB)
MAX_TRACE_BYTES = 64 << 20


@dataclass(frozen=True)
class Request:
    """One request: when it arrives (s), its prompt and how many tokens it generates."""

    rid: int
    arrival_s: float
    prompt: int
    output: int


@dataclass(frozen=True)
class LengthDist:
    """A length distribution: ``kind`` fixed | uniform | samples, with its values."""

    kind: str
    values: tuple[int, ...]
    text: str

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.values[0], dtype=np.int64)
        if self.kind == "uniform":
            return rng.integers(self.values[0], self.values[1] + 1, n)
        return np.asarray(self.values, dtype=np.int64)[rng.integers(0, len(self.values), n)]

    @property
    def mean(self) -> float:
        if self.kind == "uniform":
            return (self.values[0] + self.values[1]) / 2
        return float(np.mean(self.values))


def _read_column(path: str, column: str, field: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {path} (a length distribution is fixed:N, uniform:LO,HI or a CSV file)",
                         field=field)
    try:
        with p.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {type(exc).__name__}", source=path, field=field) from None
    if not rows:
        raise InputError("is empty", source=path, field=field)
    header = [h.strip() for h in rows[0]]
    idx = header.index(column) if column in header else 0
    body = rows[1:] if not header[idx].strip().lstrip("-").isdigit() else rows
    return [r[idx] for r in body if len(r) > idx and r[idx].strip()]


def _whole(text: str, field: str, where: str) -> int:
    t = text.strip()
    if not t.isdigit() or not 1 <= int(t) <= MAX_TOKENS:
        raise InputError(f"{where}: expected a whole number of tokens from 1 to {MAX_TOKENS}, got '{t[:40]}'",
                         field=field)
    return int(t)


def parse_length(text: str, field: str, column: str) -> LengthDist:
    """``fixed:N`` | ``uniform:LO,HI`` | a CSV path (InputError naming ``field`` otherwise)."""
    kind, _, arg = text.partition(":")
    if kind == "fixed" and arg:
        return LengthDist("fixed", (_whole(arg, field, text),), text)
    if kind == "uniform" and arg:
        parts = arg.split(",")
        if len(parts) != 2:
            raise InputError(f"uniform takes LO,HI, got '{text[:60]}'", field=field)
        lo, hi = (_whole(x, field, text) for x in parts)
        if lo > hi:
            raise InputError(f"uniform:{lo},{hi}: LO must not exceed HI", field=field)
        return LengthDist("uniform", (lo, hi), text)
    if text.endswith(".csv"):
        values = tuple(_whole(v, field, f"{text} row {i + 1}") for i, v in enumerate(_read_column(text, column, field)))
        if not values:
            raise InputError("has no lengths", source=text, field=field)
        return LengthDist("samples", values, text)
    raise InputError(f"expected fixed:N, uniform:LO,HI or a .csv file, got '{text[:60]}'", field=field)


def poisson_requests(rate: float, duration_s: float, prompt: LengthDist, output: LengthDist,
                     seed: int = 0, max_requests: int = 10_000_000) -> list[Request]:
    """Requests arriving as a Poisson process of ``rate`` per second over ``duration_s`` (seeded)."""
    rng = np.random.default_rng(seed)
    expected = rate * duration_s
    if expected > max_requests:
        raise InputError(f"rate x duration = {expected:,.0f} requests is more than {max_requests:,} to simulate",
                         field="--rate")
    n = int(expected + 10 * np.sqrt(expected) + 10)
    times = np.cumsum(rng.exponential(1.0 / rate, n))
    times = times[times < duration_s]
    prompts, outputs = prompt.sample(rng, len(times)), output.sample(rng, len(times))
    return [Request(i, float(t), int(p), int(o)) for i, (t, p, o) in enumerate(zip(times, prompts, outputs))]


def trace_requests(path: str) -> list[Request]:
    """A trace CSV: arrival_s, prompt_tokens, output_tokens (header required), any order of rows."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"trace file not found: {path}", field="--trace")
    if not p.is_file():  # a FIFO or device could block or never end
        raise InputError("is not a regular file (a trace is a CSV file)", source=path, field="--trace")
    if p.stat().st_size > MAX_TRACE_BYTES:
        raise InputError(f"is {p.stat().st_size:,} bytes; a trace of at most {MAX_TRACE_BYTES:,} bytes is read",
                         source=path, field="--trace")
    try:
        return _trace_rows(p, path)
    except UnicodeDecodeError as exc:
        raise InputError(f"is not a text CSV (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not "
                         f"UTF-8)", source=path, field="--trace") from None
    except csv.Error as exc:
        raise InputError(f"is not a valid CSV: {exc}", source=path, field="--trace") from None


def _trace_rows(p: Path, path: str) -> list[Request]:
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"arrival_s", "prompt_tokens", "output_tokens"}
        if reader.fieldnames is None or not need <= {f.strip() for f in reader.fieldnames}:
            raise InputError(f"needs the columns {', '.join(sorted(need))}", source=path, field="--trace")
        out = []
        for i, row in enumerate(reader):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            try:
                t = float(row["arrival_s"])
            except ValueError:
                raise InputError(f"row {i + 2}: arrival_s '{row['arrival_s'][:30]}' is not a number", source=path,
                                 field="--trace") from None
            if not np.isfinite(t) or t < 0:
                raise InputError(f"row {i + 2}: arrival_s must be finite and >= 0", source=path, field="--trace")
            out.append((t, _whole(row["prompt_tokens"], "--trace", f"{path} row {i + 2}"),
                        _whole(row["output_tokens"], "--trace", f"{path} row {i + 2}")))
    if not out:
        raise InputError("has no requests", source=path, field="--trace")
    out.sort()
    return [Request(i, t, pr, o) for i, (t, pr, o) in enumerate(out)]
