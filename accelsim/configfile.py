"""Strict YAML loading shared by hardware profiles and workloads.

Why not ``yaml.safe_load`` plus pydantic as-is:
- PyYAML follows YAML 1.1, where ``1.41e9`` (no sign in the exponent, no dot) is a *string*; people
  write it anyway, so numbers in that form load as floats here (YAML 1.2 core schema behaviour).
- Duplicate keys silently keep the last value in PyYAML; here they are errors.
- Error messages name the file and the line of the offending field, which needs node marks that
  ``safe_load`` throws away.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from accelsim.errors import InputError

# YAML 1.2 core-schema float: optional sign, digits with optional fraction, optional exponent.
_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")
_INT_12 = re.compile(r"^[-+]?[0-9]+$|^0x[0-9a-fA-F]+$|^0o[0-7]+$")


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 style int/float resolution (no sexagesimal, no 1.41e9-as-string)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:int")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT_12, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node).lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith(".nan"):
        return float("nan")
    return float(text)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    return int(loader.construct_scalar(node), 0)


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class LoadedYaml:
    """Plain data from a YAML document plus the line of every field path (1-based)."""

    def __init__(self, data: Any, lines: dict[tuple, int], source: str):
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, loc: tuple) -> int | None:
        """Line of the deepest existing prefix of ``loc``."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def _to_python(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                raise InputError(f"keys must be plain names, got {key!r}", source=source,
                                 line=key_node.start_mark.line + 1)
            if key in out:
                raise InputError(f"duplicate key '{key}'", source=source, line=key_node.start_mark.line + 1,
                                 field=_dotted(path + (key,)))
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(loader, value_node, path + (key,), lines, source)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, path + (i,), lines, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: str | Path) -> LoadedYaml:
    """Read one YAML document; raise :class:`InputError` for a missing file or a syntax error."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError("file not found", source=source)
    if not path.is_file():
        raise InputError("not a file", source=source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=source) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("file is empty; expected a mapping of fields", source=source)
        lines: dict[tuple, int] = {}
        data = _to_python(loader, node, (), lines, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        raise InputError(f"YAML syntax error: {problem}", source=source,
                         line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", source=source) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping of fields at the top level, got {type(data).__name__}",
                         source=source, line=1)
    return LoadedYaml(data, lines, source)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _candidates(ann: Any) -> list:
    """Pydantic model classes an annotation can hold (through Optional, list, Annotated, unions)."""
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out = []
    for arg in typing.get_args(ann):
        out.extend(_candidates(arg))
    return out


def _tag_of(model: type[BaseModel]) -> str | None:
    import typing

    field = model.model_fields.get("op")
    if field is not None and typing.get_origin(field.annotation) is typing.Literal:
        return typing.get_args(field.annotation)[0]
    return None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the last element of pydantic's ``loc`` (for allowed keys)."""
    current: list = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if len(current) > 1:  # tagged union: pydantic puts the tag in the loc
            tagged = [m for m in current if _tag_of(m) == part]
            if tagged:
                current = tagged
                continue
        if not current:
            return None
        field = current[0].model_fields.get(part)
        if field is None:
            return None
        current = _candidates(field.annotation)
    return current[0] if len(current) == 1 else None


def validate(model: type[BaseModel], loaded: LoadedYaml, *, context: dict | None = None) -> BaseModel:
    """Validate ``loaded.data`` against ``model``; the first error becomes a one-line InputError."""
    try:
        return model.model_validate(loaded.data, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # an unknown key usually explains a "missing" one (a typo): report it first
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raw_loc = tuple(err["loc"])
        loc = _data_loc(loaded.data, raw_loc)
        raise InputError(_describe(err, raw_loc, model), source=loaded.source, line=loaded.line_of(loc),
                         field=_dotted(loc) or None) from None


def _data_loc(data: Any, loc: tuple) -> tuple:
    """Pydantic's loc mapped onto the document: union tags and validator names are dropped."""
    out: list = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, dict) and part in current:
            out.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            out.append(part)
            current = current[part]
        elif last and not (isinstance(part, str) and part.startswith("function-")):
            out.append(part)
        # else: a tag or validator name that is not a document key
    return tuple(out)


def _describe(err: dict, loc: tuple, model: type[BaseModel]) -> str:
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(model, loc)
        allowed = sorted(owner.model_fields) if owner else []
        hint = ""
        if allowed:
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return f"unknown key{hint}; allowed keys: {', '.join(allowed)}"
        return "unknown key"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_not_found":
        from accelsim.workload.schema import LAYER_OPS

        tag = str(err.get("ctx", {}).get("discriminator", "op")).strip("'")
        return f"required field '{tag}' is missing; allowed: {', '.join(LAYER_OPS)}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind in ("literal_error", "enum"):
        return f"{msg} (got {got!r})"
    if isinstance(got, (str, int, float, bool)) or got is None:
        return f"{msg} (got {got!r})"
    return msg


def suggest(name: str, choices: list[str]) -> str:
    """' (did you mean X?)' text for an unknown name, or ''."""
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.4)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
