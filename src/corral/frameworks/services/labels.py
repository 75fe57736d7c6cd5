"""Marathon's label selectors for ``GET /v2/apps?label=...`` (pure).

A selector is terms joined by commas, all of which must hold (AND):
``k`` (the label exists), ``k==v`` (also ``k=v``), ``k!=v`` (the label is missing or
differs), ``k in (a, b)``, ``k notin (a, b)`` (missing or none of them). Keys and values are
label text; a backslash escapes the next character (``a\\,b``). A selector that does not
parse raises Invalid naming the query parameter ``label``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from corral.frameworks.services.errors import Invalid

_WORD = r"(?:\\.|[^,\s()=!\\])+"  # a key or value: anything but separators (or escaped)
_TERM = re.compile(
    rf"""\s*(?P<key>{_WORD})\s*
    (?:
        (?P<op>==|=|!=)\s*(?P<value>(?:\\.|[^,()\\])*?)\s*
      | \s(?P<set>in|notin)\s*\(\s*(?P<values>(?:\\.|[^()\\])*)\)\s*
    )?
    (?:,|$)""",
    re.VERBOSE,
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _split_values(text: str) -> tuple[str, ...]:
    parts = re.split(r"(?<!\\),", text)
    return tuple(_unescape(p.strip()) for p in parts if p.strip())


@dataclass(frozen=True)
class Term:
    key: str
    op: str  # exists | == | != | in | notin
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.key)
        if self.op == "exists":
            return have is not None
        if self.op == "==":
            return have == self.values[0]
        if self.op == "!=":
            return have != self.values[0]
        if self.op == "in":
            return have in self.values
        return have not in self.values  # notin


@dataclass(frozen=True)
class Selector:
    terms: tuple[Term, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every term holds for ``labels`` (an empty selector matches all)."""
        return all(t.matches(labels) for t in self.terms)


def parse_selector(text: str) -> Selector:
    """The selector in ``text``; Invalid (path ``label``) names what does not parse."""
    terms: list[Term] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos:
            raise Invalid.one(
                "label",
                f"invalid label selector {text!r} at {text[pos:]!r}: expected "
                "k, k==v, k!=v, k in (a,b) or k notin (a,b), separated by commas",
            )
        key = _unescape(m["key"])
        if m["op"]:
            op = "==" if m["op"] in ("=", "==") else "!="
            terms.append(Term(key, op, (_unescape(m["value"]),)))
        elif m["set"]:
            values = _split_values(m["values"])
            if not values:
                raise Invalid.one(
                    "label", f"invalid label selector {text!r}: {m['set']} () is empty"
                )
            terms.append(Term(key, m["set"], values))
        else:
            terms.append(Term(key, "exists"))
        pos = m.end()
    return Selector(tuple(terms))


__all__ = ["Selector", "Term", "parse_selector"]
