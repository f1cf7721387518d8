"""Results as pandas DataFrames; JSON and CSV with the same columns; atomic writes."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from accelsim.errors import InputError
from accelsim.results.schema import ALL_COLUMNS, COLUMNS


def _clean(value):
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def to_json_text(frame: pd.DataFrame, summary: dict | None = None) -> str:
    rows = [{k: _clean(v) for k, v in row.items()} for row in frame[ALL_COLUMNS].to_dict(orient="records")]
    doc = {"schema": list(COLUMNS), "layers": rows}
    if summary is not None:
        doc["summary"] = summary
    return json.dumps(doc, indent=2, default=_clean)


def to_csv_text(frame: pd.DataFrame) -> str:
    return frame[ALL_COLUMNS].to_csv(index=False)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_results(path: str | Path) -> pd.DataFrame:
    """Results written by accelsim (JSON or CSV) as a DataFrame with the schema columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=str(path))
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            frame = pd.DataFrame(doc["layers"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not an accelsim results JSON: {exc}", source=str(path)) from None
        for col in ("sqnr_db", "sqnr_local_db"):
            if col in frame:
                frame[col] = frame[col].replace({"inf": math.inf, "-inf": -math.inf}).astype(float)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path)
    else:
        raise InputError("expected a .json or .csv results file", source=str(path))
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"missing results columns: {', '.join(missing)}", source=str(path))
    return frame
