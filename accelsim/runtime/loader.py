"""Load runtime profiles from YAML files or built-in names, and choose the default one for a contract."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from accelsim.builtin import builtin_dir, builtin_names
from accelsim.configfile import load_yaml, suggest, validate
from accelsim.errors import InputError
from accelsim.runtime.profile import IDEAL, RuntimeProfile
from accelsim.runtime.schema import RuntimeModel

#: built-in runtimes in the order a default is chosen: the newest release sourced for a contract wins
#: (NVIDIA GPUs: TensorRT-LLM 1.0 where it has a section; CPUs: ONNX Runtime)
DEFAULT_ORDER = ("trtllm-1.0", "trtllm-0.13", "vllm-0.6", "trtllm-0.6", "trtllm-0.5", "onnxruntime")


def list_runtimes() -> list[str]:
    """Names of the built-in runtime profiles (``ideal`` included)."""
    return sorted({"ideal", *builtin_names("runtimes")})


def load_runtime_file(path: str | Path) -> RuntimeModel:
    """Load and validate one runtime-profile YAML file (every hardware section)."""
    return validate(RuntimeModel, load_yaml(path))


@lru_cache(maxsize=32)
def _builtin(name: str) -> RuntimeModel:
    return load_runtime_file(builtin_dir("runtimes") / f"{name}.yaml")


def _model(ref: str) -> RuntimeModel | None:
    if ref.endswith((".yaml", ".yml")) or "/" in ref or Path(ref).is_file():
        return load_runtime_file(ref)
    if ref == "ideal":
        return None
    names = list_runtimes()
    if ref in names:
        return _builtin(ref)
    raise InputError(f"unknown runtime '{ref}'{suggest(ref, names)}; built-in runtimes: {', '.join(names)} (or give a "
                     f"path to a runtime YAML file)", field="--runtime")


def default_runtime_name(hardware: str) -> str:
    """The newest built-in runtime sourced for contract ``hardware`` (:data:`DEFAULT_ORDER`), else ``ideal``."""
    available = set(builtin_names("runtimes"))
    for name in DEFAULT_ORDER:
        if name in available and hardware in _builtin(name).hardware:
            return name
    return "ideal"


def load_runtime(ref: "str | Path | RuntimeProfile | None", hardware: str) -> RuntimeProfile:
    """The runtime ``ref`` (a built-in name, a YAML path, a RuntimeProfile returned as is; None: the default for
    the contract) resolved for contract ``hardware``."""
    if isinstance(ref, RuntimeProfile):
        return ref
    name = default_runtime_name(hardware) if ref is None else str(ref)
    model = _model(name)
    if model is None:
        return IDEAL
    return model.resolve(hardware)
