"""Strict, typed config objects on plain dataclasses.

`from_dict(Cls, data)` builds a (nested) dataclass from a mapping and refuses unknown keys and
wrong types with a one-line `ConfigError` naming the key path and the accepted keys/values.
`to_dict` is the inverse. `load_config` / `save_config` read and write YAML (`yaml.safe_load`)
or JSON by file extension. Dotted paths (`stages.s1_long.lr_schedule.kind`) can be read and set
with `get_path` / `set_path`, which is what overrides (`--set a.b=c`) and ablations use.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from longva.errors import ConfigError, InputError
from longva.utils.io import atomic_write_text
from longva.utils.text_input import read_text

T = TypeVar("T")


def _close(word: str, options) -> str:
    options = [str(o) for o in options]
    near = difflib.get_close_matches(str(word), options, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return f"{hint} accepted: {', '.join(options)}"


def _type_name(tp) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check/convert `value` to annotation `tp`; raise ConfigError naming `where`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: invalid value {value!r};{_close(value, allowed)}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list ({_type_name(tp)}), got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item_tp = args[0] if args else Any
        out = [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = (get_args(tp) or (Any, Any))
        return {_convert(k, kt, where): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, str):  # YAML reads "1e9" as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # YAML's .nan / .inf would train on NaN or never stop
            raise ConfigError(f"{where}: {value!r} is not finite; expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from `data`, strictly (unknown keys and bad types are errors)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown config key {path!r};{_close(key, fields)}")
        kwargs[key] = _convert(value, hints[key], path)
    try:
        obj = cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {e}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(where or cls.__name__)
    return obj


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def read_mapping(path: str | Path) -> dict:
    """Read a YAML or JSON file into a dict (one-line error if missing or malformed)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist; expected a .yaml/.yml/.json file")
    try:
        text = read_text(path, "config file", "a UTF-8 .yaml/.yml/.json file")
    except InputError as e:
        raise ConfigError(str(e)) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"config file {str(path)!r} is not valid {path.suffix[1:] or 'YAML'}: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path, overrides: list[str] | None = None) -> T:
    """Read dataclass `cls` from a YAML/JSON file, then apply `--set key.path=value` overrides."""
    return apply_overrides(from_dict(cls, read_mapping(path), where=""), overrides)


def save_config(obj: Any, path: str | Path) -> Path:
    path = Path(path)
    data = to_dict(obj)
    if path.suffix == ".json":
        return atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def get_path(obj: Any, dotted: str) -> Any:
    cur = obj
    for part in dotted.split("."):
        if dataclasses.is_dataclass(cur):
            names = [f.name for f in dataclasses.fields(cur)]
            if part not in names:
                raise ConfigError(f"unknown config path {dotted!r} at {part!r};{_close(part, names)}")
            cur = getattr(cur, part)
        elif isinstance(cur, dict):
            if part not in cur:
                raise ConfigError(f"unknown config path {dotted!r} at {part!r};{_close(part, list(cur))}")
            cur = cur[part]
        else:
            raise ConfigError(f"unknown config path {dotted!r}: {part!r} is below a leaf value")
    return cur


def set_path(obj: T, dotted: str, value: Any, where: str = "") -> T:
    """Return a copy of dataclass `obj` with the field at `dotted` set (type-checked); `where` is
    the path of `obj` itself, so errors name the whole path (`train.optimizer.lr`)."""
    head, _, rest = dotted.partition(".")
    full = f"{where}.{dotted}" if where else dotted
    if not dataclasses.is_dataclass(obj):
        raise ConfigError(f"unknown config path {full!r}: not a config section")
    names = [f.name for f in dataclasses.fields(obj)]
    if head not in names:
        raise ConfigError(f"unknown config path {full!r} at {head!r};{_close(head, names)}")
    hints = typing.get_type_hints(type(obj))
    current = getattr(obj, head)
    inner = f"{where}.{head}" if where else head
    if rest:
        if isinstance(current, dict):
            new_value = dict(current)
            new_value[rest] = value  # free-form mapping (e.g. hf_config): no schema to check
        else:
            new_value = set_path(current, rest, value, inner)
    else:
        new_value = _convert(value, hints[head], full)
    new_obj = dataclasses.replace(obj, **{head: new_value})
    validate = getattr(new_obj, "validate", None)
    if callable(validate):
        validate(where or type(obj).__name__)
    return new_obj


def parse_scalar(text: str) -> Any:
    """Parse a `--set key=value` value with YAML rules (numbers, booleans, lists, null)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(cfg: T, overrides: list[str] | None) -> T:
    """Apply `--set key.path=value` items (YAML-typed values) to dataclass config `cfg`."""
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key.path=value, e.g. stages.s1_long.steps=200")
        cfg = set_path(cfg, key.strip(), parse_scalar(value))
    return cfg
