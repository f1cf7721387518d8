"""Strict YAML loading shared by hardware profiles and workloads.

Why not ``yaml.safe_load`` plus pydantic as-is:
- PyYAML follows YAML 1.1, where ``1.41e9`` (no sign in the exponent, no dot) is a *string*; people
  write it anyway, so numbers in that form load as floats here (YAML 1.2 core schema behaviour).
- Duplicate keys silently keep the last value in PyYAML; here they are errors.
- Error messages name the file and the line of the offending field, which needs node marks that
  ``safe_load`` throws away.
- Hostile files are refused before they cost memory or time: a size limit, binary (NUL) and
  non-UTF-8 text named as such, aliases expanded against a node budget ("billion laughs": nine
  aliases of nine aliases grow to 10^9 nodes from a 1 kB file), a nesting limit (PyYAML's composer
  and our converter recurse), integers beyond Python's digit limit, floats that overflow to inf.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
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


#: a configuration file is small; anything larger is not one (a profile is ~3 kB, a workload ~10 kB)
MAX_FILE_BYTES = 4 << 20
#: nodes after alias expansion: far above any real profile/workload, far below what exhausts memory
MAX_NODES = 200_000
#: nesting depth of mappings/sequences (real files nest < 10 deep)
MAX_DEPTH = 64
#: digits of an integer literal (Python refuses > 4300; no physical quantity here needs > 30)
MAX_INT_DIGITS = 30


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node).lower()
    if text.endswith((".inf", ".nan")):
        raise _ScalarError(node, f"'{text}' is not allowed; every number must be finite")
    value = float(text)
    if not math.isfinite(value):
        raise _ScalarError(node, f"number {text[:40]} is out of range (larger than {sys.float_info.max:.3g})")
    return value


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise _ScalarError(node, f"integer with {len(text.lstrip('+-'))} digits is out of range "
                                 f"(at most {MAX_INT_DIGITS} digits)")
    return int(text, 0)


class _ScalarError(Exception):
    """A scalar that loads but is not a usable number (raised from the constructors, with its node)."""

    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


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


class _Budget:
    """Counts nodes as aliases are expanded (each use of an anchor counts its whole subtree again)."""

    def __init__(self, source: str):
        self.source = source
        self.nodes = 0

    def visit(self, node: yaml.Node, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InputError(f"too many values after expanding aliases (more than {MAX_NODES:,}); "
                             f"a configuration file this large is refused (alias bomb?)", source=self.source,
                             line=node.start_mark.line + 1)
        if depth > MAX_DEPTH:
            raise InputError(f"nested more than {MAX_DEPTH} levels deep; a configuration file is refused "
                             f"beyond that", source=self.source, line=node.start_mark.line + 1)


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Refuse a node graph whose alias expansion exceeds MAX_NODES or MAX_DEPTH, or that refers to itself,
    before anything is expanded: sizes are computed once per distinct node (linear in the file), so a
    billion-laughs file costs microseconds. Merge keys (``<<``) count like any other value."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    active: set[int] = set()

    def walk(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in size:
            return size[key], depth[key]
        if key in active:
            raise InputError("an alias refers to the value that contains it (recursive alias)", source=source,
                             line=node.start_mark.line + 1)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            size[key], depth[key] = 1, 0
            return 1, 0
        active.add(key)
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        total, deepest = 1, 0
        for child in children:
            s, d = walk(child)
            total += s
            deepest = max(deepest, d + 1)
            if total > MAX_NODES:
                raise InputError(f"too many values after expanding aliases (more than {MAX_NODES:,}); "
                                 f"a configuration file this large is refused (alias bomb?)", source=source,
                                 line=node.start_mark.line + 1)
            if deepest > MAX_DEPTH:
                raise InputError(f"nested more than {MAX_DEPTH} levels deep; a configuration file is refused "
                                 f"beyond that", source=source, line=node.start_mark.line + 1)
        active.discard(key)
        size[key], depth[key] = total, deepest
        return total, deepest

    walk(root)


def _to_python(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, source: str,
               budget: _Budget | None = None) -> Any:
    budget = budget or _Budget(source)
    budget.visit(node, len(path))
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("keys must be plain names, got a mapping or list", source=source,
                                 line=key_node.start_mark.line + 1)
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                raise InputError(f"keys must be plain names, got {key!r}", source=source,
                                 line=key_node.start_mark.line + 1)
            if key in out:
                raise InputError(f"duplicate key '{key}'", source=source, line=key_node.start_mark.line + 1,
                                 field=_dotted(path + (key,)))
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_python(loader, value_node, path + (key,), lines, source, budget)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, path + (i,), lines, source, budget) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except _ScalarError as exc:
        raise InputError(exc.message, source=source, line=exc.node.start_mark.line + 1,
                         field=_dotted(path) or None) from None


def load_yaml(path: str | Path, *, top: tuple = (dict,)) -> LoadedYaml:
    """Read one YAML document; raise :class:`InputError` for a missing file, a syntax error or a top level that is
    not one of ``top`` (a mapping of fields; a recipe may also be a list of steps)."""
    path = Path(path)
    source = str(path)
    raw = read_input_bytes(path, MAX_FILE_BYTES, what="a YAML configuration file")
    if b"\x00" in raw:
        raise InputError(f"binary file (NUL byte at offset {raw.index(0)}); expected YAML text", source=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (undecodable byte at offset {exc.start}); expected YAML text",
                         source=source) from None
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters before parsing
        raise InputError(f"not YAML text: {' '.join(str(exc).split())[:160]}", source=source) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("file is empty; expected a mapping of fields", source=source)
        _check_expanded_size(node, source)
        lines: dict[tuple, int] = {}
        data = _to_python(loader, node, (), lines, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        raise InputError(f"YAML syntax error: {problem}", source=source,
                         line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {' '.join(str(exc).split())[:160]}", source=source) from None
    except RecursionError:
        raise InputError(f"nested too deeply (more than {MAX_DEPTH} levels are refused)", source=source) from None
    finally:
        loader.dispose()
    if not isinstance(data, top):
        raise InputError(f"expected a mapping of fields at the top level, got {type(data).__name__}",
                         source=source, line=1)
    return LoadedYaml(data, lines, source)


def read_input_bytes(path: Path, limit: int, *, what: str) -> bytes:
    """The bytes of a user's input file, with one-line errors for a missing, special or oversized file."""
    source = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError("file not found", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=source) from None
    import stat as stat_mod

    if stat_mod.S_ISDIR(st.st_mode):
        raise InputError(f"is a directory; expected {what}", source=source)
    if not stat_mod.S_ISREG(st.st_mode):
        raise InputError(f"is not a regular file (device, FIFO or socket); expected {what}", source=source)
    if st.st_size > limit:
        raise InputError(f"file is {st.st_size:,} bytes; {what} is at most {limit:,} bytes", source=source)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=source) from None
    if len(data) > limit:
        raise InputError(f"file is larger than {limit:,} bytes; {what} is at most that", source=source)
    return data


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


def _tags_of(model: type[BaseModel]) -> tuple:
    """Every value of a union member's Literal ``op`` field."""
    import typing

    field = model.model_fields.get("op")
    if field is not None and typing.get_origin(field.annotation) is typing.Literal:
        return typing.get_args(field.annotation)
    return ()


def _union_members(model: type[BaseModel], loc: tuple) -> list:
    """The model classes a (tagged-union) field at ``loc`` can hold."""
    current: list = [model]
    for part in loc:
        if isinstance(part, int) or not current:
            continue
        field = current[0].model_fields.get(part)
        if field is None:
            return []
        current = _candidates(field.annotation)
    return current


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
        elif last and isinstance(current, dict) and not (isinstance(part, str) and part.startswith("function-")):
            out.append(part)  # a missing key of this mapping
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
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        # the tags the union accepts, as pydantic lists them: "'linear', 'conv2d', ..."
        tags = [t.strip(" '") for t in str(err.get("ctx", {}).get("expected_tags", "")).split(",") if t.strip()]
        if not tags:  # the tag is missing altogether: read the members of the union at this place
            tags = [t for m in _union_members(model, loc) for t in _tags_of(m)]
        name = str(err.get("ctx", {}).get("discriminator", "op")).strip("'")
        if kind == "union_tag_not_found":
            return f"required field '{name}' is missing; allowed: {', '.join(tags)}"
        tag = str(err.get("ctx", {}).get("tag", got))
        return f"unknown {name} '{tag}'{suggest(tag, tags)}; allowed: {', '.join(tags)}"
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
    folded = [c for c in choices if c.lower() == name.lower() and c != name]  # 'X' for 'x'
    close = folded or difflib.get_close_matches(name, choices, n=2, cutoff=0.4)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def check_name(v: str) -> str:
    """A contract's ``name`` (hardware or runtime profile): lower-case letters, digits, '-', '_' or '.' (it names
    result directories and files)."""
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", v):
        raise ValueError("must be lower-case letters, digits, '-', '_' or '.'")
    return v
