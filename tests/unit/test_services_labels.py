"""The ?label= selector language."""

from __future__ import annotations

import pytest

from corral.frameworks.services.errors import Invalid
from corral.frameworks.services.labels import parse_selector

LABELS = {"env": "prod", "tier": "web", "csv": "a,b"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env", True),
        ("missing", False),
        ("env==prod", True),
        ("env=prod", True),
        ("env==dev", False),
        ("env!=dev", True),
        ("env!=prod", False),
        ("missing!=x", True),
        ("tier in (web, db)", True),
        ("tier in (db)", False),
        ("tier notin (db,cache)", True),
        ("tier notin (web)", False),
        ("missing notin (a)", True),
        ("env==prod,tier in (web)", True),
        ("env==prod, tier==db", False),
        ("  env  ==  prod ,  tier  ", True),
        (r"csv==a\,b", True),
        ("", True),
    ],
)
def test_selector_matches(text: str, expected: bool) -> None:
    assert parse_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("text", ["env==prod,,tier", "(a)", "a in ()", "a in (b", "in (x"])
def test_bad_selector_is_invalid(text: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_selector(text)
    assert info.value.details[0].path == "label"
    assert "label selector" in info.value.details[0].errors[0]
