"""Load hardware profiles from YAML files or built-in names."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from accelsim.builtin import builtin_dir, builtin_names
from accelsim.configfile import load_yaml, suggest, validate
from accelsim.errors import InputError
from accelsim.hardware.profile import HardwareProfile
from accelsim.hardware.schema import HardwareModel


def list_profiles() -> list[str]:
    """Names of the built-in hardware profiles."""
    return builtin_names("hw_profiles")


def load_profile_file(path: str | Path) -> HardwareProfile:
    """Load and validate one hardware-profile YAML file."""
    loaded = load_yaml(path)
    model = validate(HardwareModel, loaded)
    return model.to_profile(source=str(path))


@lru_cache(maxsize=64)
def _builtin(name: str) -> HardwareProfile:
    return load_profile_file(builtin_dir("hw_profiles") / f"{name}.yaml")


def load_profile(ref: "str | Path | HardwareProfile") -> HardwareProfile:
    """A profile from a built-in name, a YAML path, or a profile object (returned as is)."""
    if isinstance(ref, HardwareProfile):
        return ref
    text = str(ref)
    if text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file():
        return load_profile_file(text)
    names = list_profiles()
    if text in names:
        return _builtin(text)
    from accelsim.hardware.host import ALIAS, host_contract

    if text == ALIAS:  # ONNX Runtime's contract on this CPU (accelsim.hardware.host)
        import dataclasses

        name, why = host_contract()
        p = _builtin(name)
        return dataclasses.replace(p, description=f"{p.description} [{ALIAS} on this machine: {why}]")
    raise InputError(f"unknown hardware profile '{text}'{suggest(text, names)}; "
                     f"built-in profiles: {', '.join(names)}, {ALIAS} (or give a path to a YAML file)", field="--hw")
