"""Unit tests for corral.resources: the resource algebra and the --resources syntax."""

from __future__ import annotations

import json
import random

import pytest

from corral.resources import (
    UNRESERVED,
    ResourceError,
    Resources,
    from_wire,
    parse,
    parse_attributes,
    ranges_count,
    scalars,
)
from corral.wire.codec import decode, encode
from corral.wire.common import Range, Ranges, Resource, Scalar, ValueSet


def ports(*rs: tuple[int, int], role: str = UNRESERVED) -> Resources:
    return Resources(ranges={("ports", role): tuple(rs)})


def rset(name: str, *items: str, role: str = UNRESERVED) -> Resources:
    return Resources(sets={(name, role): frozenset(items)})


# ----------------------------------------------------------------------------- parse


class TestParse:
    def test_standard_agent_resources(self) -> None:
        r = parse("cpus:4;mem:8192;disk:20000;ports:[31000-32000]")
        assert r.scalars == {
            ("cpus", "*"): 4.0,
            ("mem", "*"): 8192.0,
            ("disk", "*"): 20000.0,
        }
        assert r.ranges == {("ports", "*"): ((31000, 32000),)}
        assert r.sets == {}
        assert r.scalar("cpus") == 4.0
        assert r.port_ranges() == ((31000, 32000),)
        assert ranges_count(r.port_ranges()) == 1001

    def test_empty_and_whitespace(self) -> None:
        assert parse("") == Resources()
        assert parse("   ") == Resources()
        assert parse("").is_empty()
        assert not parse("")

    def test_whitespace_and_empty_parts_tolerated(self) -> None:
        r = parse(" cpus : 2 ; ; mem:  64 ;")
        assert r == scalars(cpus=2, mem=64)

    def test_reserved_role(self) -> None:
        r = parse("cpus(ml):2;cpus:1;mem(ml):100")
        assert r.scalars == {("cpus", "ml"): 2.0, ("cpus", "*"): 1.0, ("mem", "ml"): 100.0}
        assert r.scalar("cpus") == 3.0
        assert r.roles() == {"ml", "*"}
        assert r.names() == {"cpus", "mem"}

    def test_default_role(self) -> None:
        r = parse("cpus:2;mem(other):5", default_role="web")
        assert r.scalars == {("cpus", "web"): 2.0, ("mem", "other"): 5.0}

    def test_empty_role_parens_means_default(self) -> None:
        assert parse("cpus():2") == scalars(cpus=2)

    def test_role_whitespace_is_stripped(self) -> None:
        assert parse("cpus( ml ):2").scalars == {("cpus", "ml"): 2.0}

    def test_multiple_ranges_are_merged_and_sorted(self) -> None:
        r = parse("ports:[40-50, 1-5,6-10, 45-60]")
        assert r.ranges[("ports", "*")] == ((1, 10), (40, 60))

    def test_single_port_range(self) -> None:
        assert parse("ports:[80]").ranges[("ports", "*")] == ((80, 80),)
        assert parse("ports:[80,443]").ranges[("ports", "*")] == ((80, 80), (443, 443))

    def test_sets(self) -> None:
        r = parse("zones:{a, b ,c};zones(ml):{x}")
        assert r.sets == {("zones", "*"): frozenset("abc"), ("zones", "ml"): frozenset("x")}

    def test_repeated_names_add_up(self) -> None:
        r = parse("cpus:1;cpus:2.5;ports:[1-5];ports:[6-8];s:{a};s:{b}")
        assert r.scalar("cpus") == 3.5
        assert r.ranges[("ports", "*")] == ((1, 8),)
        assert r.sets[("s", "*")] == frozenset({"a", "b"})

    def test_custom_and_dotted_names(self) -> None:
        r = parse("nvidia.com/gpu:2;my-res_x:3")
        assert r.scalar("nvidia.com/gpu") == 2.0
        assert r.scalar("my-res_x") == 3.0

    def test_fixed_point_on_parse(self) -> None:
        assert parse("cpus:0.12345").scalar("cpus") == 0.123
        assert parse("cpus:1e3").scalar("cpus") == 1000.0

    def test_json_array_form(self) -> None:
        text = json.dumps(
            [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": "512"}},
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": 10, "end": 20}, {"begin": 21, "end": 30}]},
                },
                {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}},
                {
                    "name": "cpus",
                    "type": "SCALAR",
                    "scalar": {"value": 1.5},
                    "reservations": [{"type": "STATIC", "role": "ml"}],
                },
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 7}, "role": "legacy"},
                {"name": "gpus", "scalar": {"value": 1}, "unknown_field": 1},
            ]
        )
        r = parse(text)
        assert r.scalars == {
            ("cpus", "*"): 2.0,
            ("mem", "*"): 512.0,
            ("cpus", "ml"): 1.5,
            ("disk", "legacy"): 7.0,
            ("gpus", "*"): 1.0,
        }
        assert r.ranges == {("ports", "*"): ((10, 30),)}
        assert r.sets == {("zones", "*"): frozenset({"a", "b"})}

    def test_json_array_with_leading_whitespace(self) -> None:
        assert parse('  [{"name": "cpus", "scalar": {"value": 1}}]  ') == scalars(cpus=1)

    def test_json_last_reservation_wins(self) -> None:
        text = json.dumps(
            [
                {
                    "name": "cpus",
                    "scalar": {"value": 1},
                    "reservations": [{"role": "a"}, {"role": "a/b"}],
                }
            ]
        )
        assert parse(text).scalars == {("cpus", "a/b"): 1.0}


class TestParseErrors:
    @pytest.mark.parametrize(
        ("text", "named"),
        [
            ("cpus", "cpus"),
            ("cpus:4;mem", "mem"),
            ("cpus:abc", "cpus"),
            ("mem:", "mem"),
            ("cpus:-1", "cpus"),
            ("mem:-0.5", "mem"),
            ("cpus:nan", "cpus"),
            ("cpus:inf", "cpus"),
            ("cpus:1e400", "cpus"),
            ("cpus:4,mem:2", "cpus"),
            ("ports:[1-", "ports"),
            ("ports:[5-1]", "ports"),
            ("ports:[a-b]", "ports"),
            ("ports:[-1-5]", "ports"),
            ("ports:[1-2-3]", "ports"),
            ("ports:[1-x]", "ports"),
            ("ports:[1.5-2]", "ports"),
            ("zones:{a,b", "zones"),
            ("1cpus:2", "1cpus"),
            ("cpus(ml:2", "cpus(ml"),
            ("cpus:1;disk:oops;mem:2", "disk"),
        ],
    )
    def test_text_errors_name_the_resource(self, text: str, named: str) -> None:
        with pytest.raises(ResourceError) as ei:
            parse(text)
        assert named in str(ei.value)

    def test_error_is_a_value_error(self) -> None:
        assert issubclass(ResourceError, ValueError)

    @pytest.mark.parametrize(
        ("items", "named"),
        [
            ([{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}}], "cpus"),
            ([{"name": "mem", "type": "SCALAR"}], "mem"),
            ([{"name": "ports", "type": "RANGES"}], "ports"),
            (
                [
                    {
                        "name": "ports",
                        "type": "RANGES",
                        "ranges": {"range": [{"begin": 5, "end": 1}]},
                    }
                ],
                "ports",
            ),
            (
                [
                    {
                        "name": "ports",
                        "type": "RANGES",
                        "ranges": {"range": [{"begin": -3, "end": 1}]},
                    }
                ],
                "ports",
            ),
            ([{"name": "zones", "type": "SET"}], "zones"),
            ([{"name": "weird", "type": "TEXT"}], "weird"),
            ([{"name": "", "type": "SCALAR", "scalar": {"value": 1}}], "resources[0]"),
            (
                [
                    {"name": "cpus", "scalar": {"value": 1}},
                    {"name": "disk", "type": "SCALAR", "scalar": {"value": -2}},
                ],
                "resources[1] (disk)",
            ),
        ],
    )
    def test_json_semantic_errors_name_the_resource(
        self, items: list[dict[str, object]], named: str
    ) -> None:
        with pytest.raises(ResourceError) as ei:
            parse(json.dumps(items))
        assert named in str(ei.value)

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            ('[{"type": "SCALAR"}]', "[0].name"),
            ('[{"name": "cpus", "scalar": {"value": "x"}}]', "[0].scalar.value"),
            ('[{"name": "cpus", "scalar": {"value": 1}}, {"name": 3}]', "[1].name"),
        ],
    )
    def test_json_structural_errors_name_the_field(self, text: str, named: str) -> None:
        with pytest.raises(ResourceError) as ei:
            parse(text)
        msg = str(ei.value)
        assert msg.startswith("resources JSON:")
        assert named in msg

    def test_malformed_json(self) -> None:
        with pytest.raises(ResourceError, match="resources JSON"):
            parse('[{"name": "cpus"')

    def test_from_wire_non_finite(self) -> None:
        for bad in (float("nan"), float("inf")):
            r = Resource(name="cpus", type="SCALAR", scalar=Scalar(value=bad))
            with pytest.raises(ResourceError, match=r"cpus"):
                from_wire([r])

    def test_from_wire_field_name_in_message(self) -> None:
        r = Resource(name="mem", type="SCALAR", scalar=Scalar(value=-1))
        with pytest.raises(ResourceError, match=r"task_infos\[0\]\.resources\[0\] \(mem\)"):
            from_wire([r], field_name="task_infos[0].resources")


# ----------------------------------------------------------------------------- algebra


class TestScalarAlgebra:
    def test_add_sub_basic(self) -> None:
        a = scalars(cpus=2, mem=1024)
        b = scalars(cpus=0.5, disk=10)
        assert (a + b).scalars == {("cpus", "*"): 2.5, ("mem", "*"): 1024.0, ("disk", "*"): 10.0}
        assert a + b - b == a
        assert a + b - a == b

    def test_sub_to_zero_drops_key(self) -> None:
        a = scalars(cpus=1, mem=10)
        assert (a - scalars(cpus=1)).scalars == {("mem", "*"): 10.0}
        assert (a - a) == Resources()
        assert (a - a).is_empty()

    def test_sub_more_than_present_clamps_to_nothing(self) -> None:
        assert scalars(cpus=1) - scalars(cpus=5) == Resources()

    def test_sub_missing_key_is_noop(self) -> None:
        assert scalars(cpus=1) - scalars(gpus=1) == scalars(cpus=1)

    def test_operands_not_mutated(self) -> None:
        a = scalars(cpus=1)
        b = scalars(cpus=2)
        _ = a + b
        _ = b - a
        assert a == scalars(cpus=1)
        assert b == scalars(cpus=2)

    def test_tenth_added_ten_times_is_one(self) -> None:
        tenth = scalars(cpus=0.1)
        total = Resources()
        for _ in range(10):
            total = total + tenth
        assert total.scalar("cpus") == 1.0
        assert total == scalars(cpus=1)
        for _ in range(10):
            total = total - tenth
        assert total == Resources()

    def test_fixed_point_many_small_steps_never_drift(self) -> None:
        step = scalars(cpus=0.001, mem=0.3)
        total = Resources()
        for _ in range(1000):
            total = total + step
        assert total.scalar("cpus") == 1.0
        assert total.scalar("mem") == 300.0
        for _ in range(1000):
            assert total.contains(step)
            total = total - step
        assert total.is_empty()

    def test_scalars_helper(self) -> None:
        assert scalars(cpus=0, mem=0) == Resources()
        assert scalars(cpus=0.33333).scalars == {("cpus", "*"): 0.333}

    def test_add_sub_inverse_random(self) -> None:
        rng = random.Random(1234)
        names = ["cpus", "mem", "disk", "gpus"]
        roles = ["*", "ml", "web"]
        for _ in range(300):
            a = self._rand(rng, names, roles)
            b = self._rand(rng, names, roles)
            assert a + b - b == a
            assert a + b == b + a
            assert (a + b).contains(a)
            assert (a + b).contains(b)
            assert a.contains(a)
            c = self._rand(rng, names, roles)
            assert (a + b) + c == a + (b + c)

    @staticmethod
    def _rand(rng: random.Random, names: list[str], roles: list[str]) -> Resources:
        out: dict[tuple[str, str], float] = {}
        for n in rng.sample(names, rng.randint(0, len(names))):
            out[(n, rng.choice(roles))] = round(rng.uniform(0.001, 5000), 3)
        return Resources(out)


class TestRangeAlgebra:
    def test_adjacent_ranges_merge(self) -> None:
        assert (ports((1, 5)) + ports((6, 10))).ranges[("ports", "*")] == ((1, 10),)

    def test_overlapping_ranges_merge(self) -> None:
        assert (ports((1, 7)) + ports((5, 10))).ranges[("ports", "*")] == ((1, 10),)

    def test_contained_range_merge(self) -> None:
        assert (ports((1, 10)) + ports((3, 4))).ranges[("ports", "*")] == ((1, 10),)

    def test_gap_kept(self) -> None:
        assert (ports((7, 10)) + ports((1, 5))).ranges[("ports", "*")] == ((1, 5), (7, 10))

    def test_subtract_splits_range(self) -> None:
        r = ports((31000, 32000)) - ports((31500, 31500))
        assert r.ranges[("ports", "*")] == ((31000, 31499), (31501, 32000))
        assert ranges_count(r.port_ranges()) == 1000

    def test_subtract_edges(self) -> None:
        assert (ports((1, 10)) - ports((1, 1))).ranges[("ports", "*")] == ((2, 10),)
        assert (ports((1, 10)) - ports((10, 10))).ranges[("ports", "*")] == ((1, 9),)
        assert (ports((1, 10)) - ports((0, 3))).ranges[("ports", "*")] == ((4, 10),)
        assert (ports((1, 10)) - ports((8, 20))).ranges[("ports", "*")] == ((1, 7),)

    def test_subtract_spanning_several(self) -> None:
        r = ports((1, 5), (10, 15), (20, 25)) - ports((4, 21))
        assert r.ranges[("ports", "*")] == ((1, 3), (22, 25))

    def test_subtract_several_holes(self) -> None:
        r = ports((1, 100)) - ports((10, 10), (20, 29), (50, 50))
        assert r.ranges[("ports", "*")] == ((1, 9), (11, 19), (30, 49), (51, 100))

    def test_subtract_all_drops_key(self) -> None:
        r = ports((1, 10)) + scalars(cpus=1)
        assert (r - ports((0, 100))) == scalars(cpus=1)

    def test_subtract_other_role_is_noop(self) -> None:
        assert ports((1, 10)) - ports((1, 10), role="ml") == ports((1, 10))

    def test_contains(self) -> None:
        have = ports((1, 10), (20, 30))
        assert have.contains(ports((1, 10)))
        assert have.contains(ports((2, 3), (25, 30)))
        assert not have.contains(ports((9, 21)))  # spans the gap
        assert not have.contains(ports((31, 31)))
        assert not have.contains(ports((1, 1), role="ml"))
        assert Resources().contains(Resources())
        assert have.contains(Resources())
        assert not Resources().contains(ports((1, 1)))

    def test_add_sub_inverse_random_disjoint(self) -> None:
        # Ranges are sets of integers: a + b - b == a holds when a and b are disjoint.
        rng = random.Random(99)
        for _ in range(100):
            pts = list(range(120))
            rng.shuffle(pts)
            cut = rng.randint(0, 120)
            pa, pb = set(pts[:cut][: rng.randint(0, cut)]), set(pts[cut:][: rng.randint(0, 80)])
            a, b = self._from_points(pa), self._from_points(pb)
            assert a + b - b == a
            assert a + b - a == b
            assert (a + b).contains(a)
            assert (a + b).contains(b)
            assert ranges_count((a + b).port_ranges()) == len(pa | pb)

    def test_sub_matches_set_difference_random(self) -> None:
        rng = random.Random(7)
        for _ in range(100):
            pa = {p for p in range(80) if rng.random() < 0.6}
            pb = {p for p in range(80) if rng.random() < 0.3}
            got = self._points(self._from_points(pa) - self._from_points(pb))
            assert got == pa - pb
            assert self._points(self._from_points(pa) + self._from_points(pb)) == pa | pb
            assert self._from_points(pa).contains(self._from_points(pb)) == (pb <= pa)

    @staticmethod
    def _from_points(points: set[int]) -> Resources:
        if not points:
            return Resources()
        # Deliberately unnormalised input: one single-port range per point, shuffled.
        out = Resources()
        for p in points:
            out = out + ports((p, p))
        return out

    @staticmethod
    def _points(r: Resources) -> set[int]:
        return {p for b, e in r.port_ranges() for p in range(b, e + 1)}


class TestSetAlgebra:
    def test_union_and_difference(self) -> None:
        a = rset("zones", "a", "b")
        b = rset("zones", "c")
        assert (a + b).sets[("zones", "*")] == frozenset("abc")
        assert a + b - b == a
        assert (a + b).contains(a)
        assert not a.contains(b)
        assert (a - a) == Resources()

    def test_partial_difference(self) -> None:
        assert rset("z", "a", "b", "c") - rset("z", "b") == rset("z", "a", "c")


class TestMixedAndViews:
    def test_contains_by_role(self) -> None:
        have = parse("cpus:2;cpus(ml):2;mem:100")
        assert have.contains(parse("cpus:2"))
        assert have.contains(parse("cpus(ml):2;mem:50"))
        assert not have.contains(parse("cpus:3"))  # unreserved part only has 2
        assert not have.contains(parse("cpus(web):1"))
        assert not have.contains(parse("gpus:1"))

    def test_contains_after_add(self) -> None:
        a = parse("cpus:1;mem:128;ports:[1-10];s:{x}")
        b = parse("cpus(ml):1;ports:[20-30];s:{y};disk:5")
        assert (a + b).contains(a)
        assert (a + b).contains(b)
        assert (a + b).contains(a + b)
        assert not a.contains(a + b)

    def test_for_role(self) -> None:
        r = parse("cpus:1;cpus(ml):2;mem(web):10;ports(ml):[1-5];ports:[6-7];s(web):{a}")
        ml = r.for_role("ml")
        assert ml == parse("cpus:1;cpus(ml):2;ports(ml):[1-5];ports:[6-7]")
        assert r.for_role("*") == parse("cpus:1;ports:[6-7]")
        assert r.for_role("web") == parse("cpus:1;mem(web):10;ports:[6-7];s(web):{a}")
        assert r.for_role("nobody") == r.for_role("*")
        assert r.contains(ml)

    def test_port_ranges_merge_roles(self) -> None:
        r = parse("ports:[1-5];ports(ml):[6-9];ports(web):[20-21]")
        assert r.port_ranges() == ((1, 9), (20, 21))

    def test_is_empty_and_bool(self) -> None:
        assert not Resources()
        assert Resources({("cpus", "*"): 0.0}).is_empty()
        assert parse("ports:[1-1]")
        assert parse("s:{a}")
        assert parse("cpus:0.001")

    def test_iter_yields_keys(self) -> None:
        r = parse("cpus:1;ports:[1-2];s:{a}")
        assert set(r) == {("cpus", "*"), ("ports", "*"), ("s", "*")}

    def test_str_round_trips_through_parse(self) -> None:
        text = "cpus:4;cpus(ml):0.5;mem:8192;ports:[31000-31009,31011-32000];zones:{a,b}"
        r = parse(text)
        assert parse(str(r)) == r

    def test_str_round_trips_large_values(self) -> None:
        r = parse("mem:1048576;disk:1907729.5")
        assert parse(str(r)) == r

    def test_to_legacy(self) -> None:
        r = parse(
            "cpus:4;cpus(ml):2;mem:1024;ports:[31000-31005];ports(ml):[31006-31010,40000-40001];"
            "foo:3;zones:{b,a};zones(ml):{c}"
        )
        legacy = r.to_legacy()
        assert legacy == {
            "cpus": 6.0,
            "mem": 1024.0,
            "disk": 0,
            "gpus": 0,
            "foo": 3.0,
            "ports": "[31000-31010,40000-40001]",
            "zones": "{a,b,c}",
        }
        json.dumps(legacy)  # serialisable as-is

    def test_to_legacy_empty(self) -> None:
        assert Resources().to_legacy() == {"cpus": 0, "mem": 0, "disk": 0, "gpus": 0}


# ----------------------------------------------------------------------------- wire


class TestWire:
    SAMPLE = (
        "cpus:4;cpus(ml):1.5;mem:8192;disk:20000;gpus(ml):1;"
        "ports:[31000-31500,31600-32000];ports(ml):[5000-5001];zones:{a,b};labels(ml):{x}"
    )

    def test_round_trip(self) -> None:
        r = parse(self.SAMPLE)
        assert from_wire(r.to_wire()) == r

    def test_round_trip_through_json(self) -> None:
        r = parse(self.SAMPLE)
        assert parse(encode(r.to_wire()).decode()) == r
        assert from_wire(decode(encode(r.to_wire()), list[Resource])) == r

    def test_wire_shape(self) -> None:
        r = parse("cpus:1;cpus(ml):2;ports:[1-2,5-5];s:{b,a}")
        by_key = {(w.name, w.role): w for w in r.to_wire()}
        unreserved = by_key[("cpus", None)]
        assert unreserved.type == "SCALAR"
        assert unreserved.scalar == Scalar(value=1.0)
        assert unreserved.reservations == []
        assert unreserved.allocation_info is None
        reserved = by_key[("cpus", "ml")]
        assert [(x.type, x.role) for x in reserved.reservations] == [("STATIC", "ml")]
        p = by_key[("ports", None)]
        assert p.type == "RANGES"
        assert p.ranges == Ranges(range=[Range(begin=1, end=2), Range(begin=5, end=5)])
        s = by_key[("s", None)]
        assert s.type == "SET"
        assert s.set == ValueSet(item=["a", "b"])

    def test_wire_json_omits_unset(self) -> None:
        (doc,) = json.loads(encode(scalars(cpus=1).to_wire()))
        assert doc["name"] == "cpus"
        assert doc["scalar"] == {"value": 1.0}
        assert set(doc) <= {"name", "type", "scalar"}

    def test_wire_json_always_has_type(self) -> None:
        (doc,) = json.loads(encode(scalars(cpus=1).to_wire()))
        assert doc == {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}

    def test_allocation_role(self) -> None:
        wire = parse("cpus:1;mem(ml):5").to_wire(allocation_role="ml")
        assert wire
        assert all(w.allocation_info is not None for w in wire)
        assert {w.allocation_info.role for w in wire if w.allocation_info} == {"ml"}
        assert from_wire(wire) == parse("cpus:1;mem(ml):5")

    def test_zero_scalars_not_on_wire(self) -> None:
        r = Resources({("cpus", "*"): 0.0, ("mem", "*"): 5.0})
        assert [w.name for w in r.to_wire()] == ["mem"]

    def test_wire_is_sorted_and_deterministic(self) -> None:
        a = parse("mem:1;cpus:1;disk:1")
        b = parse("disk:1;cpus:1;mem:1")
        assert encode(a.to_wire()) == encode(b.to_wire())
        assert [w.name for w in a.to_wire()] == ["cpus", "disk", "mem"]

    def test_from_wire_unnormalised_ranges(self) -> None:
        w = Resource(
            name="ports",
            type="RANGES",
            ranges=Ranges(range=[Range(begin=10, end=20), Range(begin=1, end=9)]),
        )
        assert from_wire([w]).ranges == {("ports", "*"): ((1, 20),)}

    def test_from_wire_duplicates_add(self) -> None:
        w = Resource(name="cpus", type="SCALAR", scalar=Scalar(value=0.1))
        assert from_wire([w] * 10) == scalars(cpus=1)

    def test_round_trip_random(self) -> None:
        rng = random.Random(42)
        for _ in range(100):
            parts = []
            for name in ("cpus", "mem", "disk", "gpus"):
                if rng.random() < 0.7:
                    role = rng.choice(["", "(ml)", "(web)"])
                    parts.append(f"{name}{role}:{round(rng.uniform(0.001, 1e5), 3)}")
            if rng.random() < 0.7:
                b = rng.randint(0, 60000)
                parts.append(f"ports:[{b}-{b + rng.randint(0, 500)}]")
            r = parse(";".join(parts))
            assert from_wire(r.to_wire()) == r
            assert parse(encode(r.to_wire()).decode()) == r


# ----------------------------------------------------------------------------- attributes


class TestAttributes:
    def test_parse(self) -> None:
        assert parse_attributes("rack:a;zone:eu;level:3") == {
            "rack": "a",
            "zone": "eu",
            "level": 3.0,
        }

    def test_whitespace_and_empty_parts(self) -> None:
        assert parse_attributes(" rack : r1 ;; os:linux ;") == {"rack": "r1", "os": "linux"}
        assert parse_attributes("") == {}

    def test_value_may_contain_colon(self) -> None:
        assert parse_attributes("url:http://x") == {"url": "http://x"}

    def test_number_types(self) -> None:
        got = parse_attributes("a:1.5;b:10;c:1e2")
        assert got == {"a": 1.5, "b": 10.0, "c": 100.0}
        assert all(isinstance(v, float) for v in got.values())

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            ("rack", "rack"),
            ("rack:", "rack"),
            (":a", ":a"),
            ("os:linux;zone", "zone"),
            ("s:{a,b}", "s"),
        ],
    )
    def test_errors(self, text: str, named: str) -> None:
        with pytest.raises(ResourceError) as ei:
            parse_attributes(text)
        assert named in str(ei.value)
