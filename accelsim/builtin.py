"""Where the built-in hardware profiles and workloads live, in a source checkout and installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PKG_ROOT = Path(__file__).resolve().parent


def builtin_dir(kind: str) -> Path:
    """Directory of built-in ``hw_profiles``, ``runtimes`` (hw_profiles/runtimes/) or ``workloads`` YAML files.

    Installed (wheel or editable), setuptools maps the repository's ``hw_profiles/`` and ``workloads/``
    to ``accelsim._builtin.*``; in a plain source checkout they sit beside the package.
    """
    try:
        path = Path(str(resources.files(f"accelsim._builtin.{kind}")))
        if path.is_dir() and any(path.glob("*.yaml")):
            return path
    except (ModuleNotFoundError, TypeError, FileNotFoundError):
        pass
    source = {"runtimes": "hw_profiles/runtimes"}.get(kind, kind)
    for candidate in (_PKG_ROOT / "_builtin" / kind, _PKG_ROOT.parent / source):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"built-in {kind} directory not found")


def builtin_names(kind: str) -> list[str]:
    return sorted(p.stem for p in builtin_dir(kind).glob("*.yaml"))
