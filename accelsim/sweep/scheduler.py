"""Where a sweep runs: a local Dask cluster, or a running scheduler named by address or scheduler file.

Everything about ``--scheduler`` is checked before Dask sees it, because Dask's own handling waits for a missing
scheduler file to appear (forever: distributed polls for it), ends a malformed one in an AssertionError, and
names no flag in its errors. The connection itself is bounded by :data:`CONNECT_TIMEOUT_S`.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from urllib.parse import urlsplit

from accelsim.errors import InputError

#: seconds to reach a scheduler (docs/sweeps.md)
CONNECT_TIMEOUT_S = 20
#: the address schemes distributed's communication layer registers (distributed.comm)
SCHEMES = ("tcp", "tls", "ws", "wss", "inproc", "ucx")
FIELD = "--scheduler"


def scheduler_address(scheduler: str) -> str:
    """The scheduler address ``scheduler`` names: an address (``tcp://host:8786``, ``host:8786``) as given, or
    the ``address`` field of a scheduler file (``dask scheduler --scheduler-file F`` writes it); InputError
    naming ``--scheduler`` otherwise."""
    text = str(scheduler).strip()
    if not text:
        raise InputError("empty: give tcp://host:port or a scheduler file (.json)", field=FIELD)
    if "://" not in text and (text.endswith(".json") or "/" in text or Path(text).exists()):
        return check_address(_address_in_file(Path(text)), where=f"{text}: address")
    return check_address(text if "://" in text else f"tcp://{text}", where=text)


def _address_in_file(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        raise InputError(f"{path}: no such scheduler file (start the scheduler with --scheduler-file {path}, or "
                         f"give its address tcp://host:port)", field=FIELD) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file", field=FIELD)
    if st.st_size > 1 << 20:
        raise InputError(f"{path}: {st.st_size} bytes is not a scheduler file", field=FIELD)
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a scheduler file ({type(exc).__name__}: it should be JSON with an "
                         f"'address')", field=FIELD) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("address"), str):
        raise InputError(f"{path}: no 'address' string in the scheduler file", field=FIELD)
    return doc["address"]


def check_address(address: str, where: str) -> str:
    """``address`` if it is scheme://host:port with a known scheme and a port in 1..65535."""
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{where}: not an address ({exc}); give tcp://host:port", field=FIELD) from None
    if parts.scheme not in SCHEMES:
        raise InputError(f"{where}: scheme {parts.scheme!r} is not one of {', '.join(SCHEMES)}", field=FIELD)
    if parts.scheme != "inproc" and (not parts.hostname or port is None or not 0 < port < 65536):
        raise InputError(f"{where}: give host and port (tcp://host:8786)", field=FIELD)
    return address


def client_for(scheduler: str | None, workers: int | None):
    """``(client, cluster)``: a client of the named scheduler (cluster None), or of a new local cluster of
    ``workers`` processes with one thread each."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("accelsim sweep runs on Dask: pip install 'accelsim[dist]'", field="sweep") from None
    if scheduler is not None:
        address = scheduler_address(scheduler)
        try:
            return Client(address, timeout=CONNECT_TIMEOUT_S), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
                             f"({type(exc).__name__})", field=FIELD) from None
    cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=50)
    return Client(cluster), cluster


__all__ = ["CONNECT_TIMEOUT_S", "check_address", "client_for", "scheduler_address"]
