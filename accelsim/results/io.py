"""Results as pandas DataFrames; JSON and CSV with the same columns; atomic writes."""

from __future__ import annotations

import io
import json
import math
import os
import stat
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


#: longest file name most file systems take (ext4, xfs, btrfs: 255 bytes)
_NAME_MAX = 255


def _special_kind(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def resolve_output_file(path: str | Path, *, field: str) -> Path:
    """Where a write to ``path`` lands, checked before any work is done.

    Policy (docs/results.md): a symlink is written *through* (its target is replaced atomically, the
    link stays); the target must be a regular file or not exist yet; its directory must exist or be
    creatable, and be writable (probed by creating and removing a temporary file: permissions, read-only
    and pseudo file systems such as /proc and /sys all answer that probe truthfully, even for root).
    A device, FIFO, socket or directory target is an :class:`InputError`; nothing is created."""
    text = str(path)
    if not text.strip():
        raise InputError("empty path; give a file path", field=field)
    if "\x00" in text:
        raise InputError("path contains a NUL character", field=field)
    if text.endswith(("/", os.sep)):  # realpath would drop the slash and a file would take the directory's name
        raise InputError("names a directory (it ends in '/'): give a file path such as "
                         f"{text.rstrip('/' + os.sep) or '.'}/report.html", source=text, field=field)
    target = Path(os.path.realpath(text))  # follows symlinks, also dangling ones (their target is created)
    if len(target.name.encode()) > _NAME_MAX:
        raise InputError(f"file name is longer than {_NAME_MAX} bytes", source=text, field=field)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise InputError("is not a directory: a file stands where a directory of the path should be",
                         source=text, field=field) from None
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", source=text, field=field) from None
    if st is not None:
        kind = _special_kind(st.st_mode)
        if kind is not None:
            raise InputError(f"is {kind}; accelsim writes only to a regular file or a new path", source=text,
                             field=field)
    _check_directory(target.parent, text, field)
    return target


def resolve_output_dir(path: str | Path, *, field: str) -> Path:
    """A results directory: an existing directory or a creatable path, writable (probed), never a file."""
    text = str(path)
    if not text.strip():
        raise InputError("empty path; give a directory", field=field)
    target = Path(os.path.realpath(text))
    _check_directory(target, text, field)
    return target


def _check_directory(directory: Path, text: str, field: str) -> None:
    """The nearest existing ancestor of ``directory`` is a directory in which a file can be created."""
    probe = directory
    while True:
        try:
            st = os.stat(probe)
            break
        except FileNotFoundError:
            if probe.parent == probe:
                raise InputError("no existing directory above this path", source=text, field=field) from None
            if len(probe.name.encode()) > _NAME_MAX:
                raise InputError(f"directory name '{probe.name[:40]}...' is longer than {_NAME_MAX} bytes",
                                 source=text, field=field) from None
            probe = probe.parent
        except NotADirectoryError:
            raise InputError("is not a directory: a file stands where a directory of the path should be",
                             source=text, field=field) from None
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", source=text, field=field) from None
    if not stat.S_ISDIR(st.st_mode):
        where = "is" if probe == directory else f"has '{probe}' in its path, which is"
        raise InputError(f"{where} not a directory", source=text, field=field)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"directory '{probe}' is not writable (permission denied)", source=text, field=field)
    # os.access answers for permissions only (root passes it everywhere): creating a file tells the truth on
    # read-only and pseudo file systems too. The probe leaves the directory's timestamps as they were.
    try:
        fd, tmp = tempfile.mkstemp(prefix=".accelsim-probe.", dir=probe)
    except OSError as exc:
        raise InputError(f"directory '{probe}' is not writable ({exc.strerror})", source=text, field=field) from None
    os.close(fd)
    os.unlink(tmp)
    try:
        os.utime(probe, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError:
        pass


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: never a half-written file.

    The rename only ever replaces a regular file (or creates a new one): a symlink is written through to
    its target; a device, FIFO, socket or directory at the target is an :class:`InputError`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of bytes (a Parquet file)."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:200]}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is an ordinary file
        try:  # checked again right before the rename: the target may have changed since the first check
            kind = _special_kind(os.lstat(target).st_mode)
        except FileNotFoundError:
            kind = None
        if kind is not None:
            raise InputError(f"is {kind}; accelsim writes only to a regular file or a new path", source=str(path))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


#: the largest results file read (a results file holds one row per layer: a few MB for the largest models)
MAX_RESULTS_BYTES = 512 << 20


def load_results(path: str | Path) -> pd.DataFrame:
    """Results written by accelsim (JSON or CSV) as a DataFrame with the schema columns."""
    from accelsim.configfile import read_input_bytes

    path = Path(path)
    if path.suffix not in (".json", ".csv"):
        raise InputError("expected a .json or .csv results file", source=str(path))
    data = read_input_bytes(path, MAX_RESULTS_BYTES, what="an accelsim results file")
    if path.suffix == ".json":
        try:
            doc = json.loads(data.decode("utf-8"))
            frame = pd.DataFrame(doc["layers"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not an accelsim results JSON: {exc}", source=str(path)) from None
        for col in ("sqnr_db", "sqnr_local_db"):
            if col in frame:
                frame[col] = frame[col].replace({"inf": math.inf, "-inf": -math.inf}).astype(float)
    else:
        try:
            frame = pd.read_csv(io.BytesIO(data))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not an accelsim results CSV: {' '.join(str(exc).split())[:160]}",
                             source=str(path)) from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"missing results columns: {', '.join(missing)}", source=str(path))
    return frame
