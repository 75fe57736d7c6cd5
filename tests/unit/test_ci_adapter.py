"""The polling adapter's parsing and what it reports (pure)."""

from __future__ import annotations

import pytest

from corral.frameworks.ci.adapter import ParseError, demand_posts, parse_agents, parse_queue


def test_queue_in_json_and_in_lines() -> None:
    assert parse_queue('[{"labels": ["linux"], "count": 2}, {"count": 1}]') == {
        frozenset({"linux"}): 2,
        frozenset(): 1,
    }
    assert parse_queue("linux,docker 3\n# comment\n- 1\nlinux,docker 1\n") == {
        frozenset({"linux", "docker"}): 4,
        frozenset(): 1,
    }
    with pytest.raises(ParseError, match="line 1"):
        parse_queue("linux three")
    with pytest.raises(ParseError, match=r"queue\[0\]"):
        parse_queue('[{"labels": ["x"]}]')


def test_labels_gone_from_the_queue_are_set_to_zero() -> None:
    before = {frozenset({"a"}): 2, frozenset({"b"}): 1}
    assert demand_posts(before, {frozenset({"b"}): 3}) == [(["a"], 0), (["b"], 3)]


def test_agents() -> None:
    assert parse_agents('{"linux-1": 1, "linux-2": 0}') == {"linux-1": 1, "linux-2": 0}
    assert parse_agents("linux-1 2\n\n") == {"linux-1": 2}
    with pytest.raises(ParseError):
        parse_agents("linux-1 busy")
