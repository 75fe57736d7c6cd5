"""App and group ids: Marathon's path rule and relative ids (pure).

An id is a slash-separated path; each segment is lowercase letters, digits, ``-`` and ``.``,
starting and ending with a letter or digit. A relative id (``web``, ``./web``, ``../db``)
is resolved against the enclosing group; the result is absolute (``/team/web``).
"""

from __future__ import annotations

import re

from corral.frameworks.services.errors import Invalid

_PART = r"([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])"
SEGMENT = re.compile(rf"^({_PART}\.)*{_PART}$")
RULE = (
    "must be lowercase letters, digits, '-' and '.', separated by '/', each part "
    "starting and ending with a letter or digit"
)


def normalize_id(raw: str, base: str = "/", *, path: str = "/id") -> str:
    """``raw`` as an absolute id, relative ones resolved against the group ``base``.
    Raises Invalid (at ``path``) naming the rule."""
    return _resolve(raw, base, path, allow_root=False)


def normalize_group_id(raw: str, base: str = "/", *, path: str = "/id") -> str:
    """Like ``normalize_id``, but the root group ``/`` is allowed."""
    return _resolve(raw, base, path, allow_root=True)


def _resolve(raw: object, base: str, path: str, *, allow_root: bool) -> str:
    if not isinstance(raw, str):
        raise Invalid.one(path, f"expected a string id, got {type(raw).__name__}")
    if not raw.strip() and not allow_root:
        raise Invalid.one(path, "the id is empty")
    parts: list[str] = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for seg in raw.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                raise Invalid.one(path, f"{raw!r} is not a valid id: '..' goes above the root")
            parts.pop()
            continue
        if not SEGMENT.match(seg):
            raise Invalid.one(path, f"{raw!r} is not a valid id: {RULE}")
        parts.append(seg)
    if not parts and not allow_root:
        raise Invalid.one(path, f"{raw!r} is not a valid id: it names the root group")
    return "/" + "/".join(parts)


def parent_of(app_id: str) -> str:
    """The group an id lives in: ``/a/b`` -> ``/a``, ``/a`` -> ``/``."""
    head = app_id.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def is_under(app_id: str, group_id: str) -> bool:
    """Whether ``app_id`` is inside ``group_id`` (or is it)."""
    g = group_id.rstrip("/")
    return g == "" or app_id == g or app_id.startswith(g + "/")


__all__ = ["RULE", "SEGMENT", "is_under", "normalize_group_id", "normalize_id", "parent_of"]
