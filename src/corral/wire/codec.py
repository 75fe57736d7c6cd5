"""JSON encode/decode for wire types; decode errors name the offending field."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


class WireError(ValueError):
    """A message failed to decode or validate; ``str()`` names the field path."""


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def decode(data: bytes | str, type_: type[T]) -> T:
    """Decode JSON into ``type_``. Like Mesos, numbers and booleans inside strings are accepted."""
    dec = _decoders.get(type_)
    if dec is None:
        dec = _decoders[type_] = msgspec.json.Decoder(type_, strict=False)
    try:
        return dec.decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise WireError(_describe(str(exc))) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise WireError(f"Malformed JSON: {exc}") from None


def convert(obj: Any, type_: type[T]) -> T:
    try:
        return msgspec.convert(obj, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise WireError(_describe(str(exc))) from None


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def _describe(msg: str) -> str:
    # msgspec says "Object missing required field `name` - at `$.subscribe.framework_info`";
    # turn the JSON path into a dotted field path, the way the rest of corral names fields.
    if " - at `$" in msg:
        text, _, path = msg.partition(" - at `$")
        path = path.rstrip("`").lstrip(".")
        if "missing required field" in text:
            field = text.split("`")[1]
            full = f"{path}.{field}" if path else field
            return f"Missing required field '{full}'"
        return f"Invalid field '{path}': {text}"
    if msg.startswith("Object missing required field `"):
        return f"Missing required field '{msg.split('`')[1]}'"
    return msg
