"""Decoded JSON/TOML -> msgspec Structs, collecting EVERY error with its JSON path (pure).

``msgspec.convert`` stops at the first error; a user fixing a definition wants them all.
``to_struct`` walks the Struct's fields itself: nested Structs, lists, ``X | None`` and
``dict[str, str]`` are descended into, every leaf is converted by ``msgspec.convert``, and
each failure becomes a ``Detail`` at the field's camelCase path (``/container/docker/image``).
Unknown keys are errors too, except those listed as ignored (Marathon's read-only and
legacy keys, which clients send back). ``null`` for a field that cannot be null means "not
given" (clients serializing every attribute send nulls).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from corral.frameworks.services.errors import Detail

BAD: Any = object()  # sentinel: the value did not convert (its errors are recorded)

Unsupported = Mapping[str, str]  # encode name -> why it is refused when set


class Rules(msgspec.Struct, frozen=True):
    """What to do with keys a Struct does not define: ``ignored`` ones are dropped,
    ``unsupported`` ones are refused with the message when their value is set (not null,
    false or empty), others are errors."""

    ignored: frozenset[str] = frozenset()
    unsupported: Mapping[str, str] = {}


def to_struct(
    value: object,
    cls: type[msgspec.Struct],
    path: str,
    errors: list[Detail],
    rules: Mapping[type, Rules],
) -> Any:
    """``value`` converted to ``cls``, or BAD with the reasons appended to ``errors``."""
    if not isinstance(value, dict):
        errors.append(Detail(path or "/", [f"expected an object, got {kind(value)}"]))
        return BAD
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    rule = rules.get(cls, Rules())
    kwargs: dict[str, object] = {}
    bad = False
    for key, item in value.items():
        where = f"{path}/{key}"
        f = fields.get(key)
        if f is None:
            if key in rule.ignored:
                continue
            if key in rule.unsupported:
                if item not in (None, False, "", [], {}):
                    errors.append(Detail(where, [rule.unsupported[key]]))
                    bad = True
                continue
            errors.append(Detail(where, ["unknown field"]))
            bad = True
            continue
        if item is None and not f.required and not _nullable(f.type):
            continue  # null for a field that cannot be null: not given (its default)
        got = to_type(item, f.type, where, errors, rules)
        if got is BAD:
            bad = True
        else:
            kwargs[f.name] = got
    for key, f in fields.items():
        if f.required and key not in value:
            errors.append(Detail(f"{path}/{key}", ["is required"]))
            bad = True
    if bad:
        return BAD
    return cls(**kwargs)


def to_type(
    value: object, tp: Any, path: str, errors: list[Detail], rules: Mapping[type, Rules]
) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return to_struct(value, tp, path, errors, rules)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if value is None and len(rest) < len(args):
            return None
        if len(rest) == 1:
            return to_type(value, rest[0], path, errors, rules)
    elif origin is list and args:
        if not isinstance(value, list):
            errors.append(Detail(path, [f"expected an array, got {kind(value)}"]))
            return BAD
        out = [to_type(v, args[0], f"{path}/{i}", errors, rules) for i, v in enumerate(value)]
        return BAD if any(v is BAD for v in out) else out
    elif origin is dict and len(args) == 2:
        if not isinstance(value, dict):
            errors.append(Detail(path, [f"expected an object, got {kind(value)}"]))
            return BAD
        outd = {str(k): to_type(v, args[1], f"{path}/{k}", errors, rules) for k, v in value.items()}
        return BAD if any(v is BAD for v in outd.values()) else outd
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        errors.append(Detail(path or "/", [str(exc).split(" - at `", 1)[0]]))
        return BAD


def _nullable(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(tp)
    )


def kind(value: object) -> str:
    """A JSON type name for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


__all__ = ["BAD", "Rules", "kind", "to_struct", "to_type"]
