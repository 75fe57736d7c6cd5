"""Unit tests for corral.wire.codec: decoding scheduler Calls and encoding wire types."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from corral.wire import ID, WireError, decode, encode
from corral.wire.codec import convert, to_builtins
from corral.wire.common import Filters, FrameworkInfo, Resource, Scalar
from corral.wire.scheduler import Acknowledge, Call, Decline, Subscribe


def dec(doc: Any) -> Call:
    return decode(json.dumps(doc), Call)


def err(doc: Any) -> str:
    data = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
    with pytest.raises(WireError) as ei:
        decode(data, Call)
    return str(ei.value)


SUBSCRIBE = {
    "type": "SUBSCRIBE",
    "subscribe": {
        "framework_info": {
            "user": "root",
            "name": "demo",
            "roles": ["ml", "web"],
            "capabilities": [{"type": "MULTI_ROLE"}],
        }
    },
}


# ----------------------------------------------------------------------------- decode ok


def test_decode_subscribe() -> None:
    call = dec(SUBSCRIBE)
    assert call.type == "SUBSCRIBE"
    assert call.subscribe is not None
    fi = call.subscribe.framework_info
    assert (fi.user, fi.name) == ("root", "demo")
    assert fi.role_list() == ["ml", "web"]
    assert fi.failover_timeout == 0.0
    assert fi.checkpoint is False
    assert call.framework_id is None
    assert call.accept is None


def test_decode_bytes_and_str_alike() -> None:
    text = json.dumps(SUBSCRIBE)
    assert decode(text, Call) == decode(text.encode(), Call)


def test_decode_ids() -> None:
    call = dec(
        {
            "type": "DECLINE",
            "framework_id": {"value": "fw-1"},
            "decline": {"offer_ids": [{"value": "o1"}, {"value": "o2"}]},
        }
    )
    assert call.framework_id == ID("fw-1")
    assert call.decline is not None
    assert call.decline.offer_ids == [ID("o1"), ID("o2")]
    assert call.decline.filters is None


def test_unknown_fields_ignored_at_every_level() -> None:
    doc = json.loads(json.dumps(SUBSCRIBE))
    doc["unknown_top"] = {"deep": [1, 2, 3]}
    doc["subscribe"]["extra"] = True
    doc["subscribe"]["framework_info"]["not_a_field"] = "x"
    doc["subscribe"]["framework_info"]["capabilities"][0]["junk"] = None
    assert dec(doc) == dec(SUBSCRIBE)


def test_numbers_in_strings_accepted() -> None:
    call = dec(
        {
            "type": "DECLINE",
            "decline": {"offer_ids": [{"value": "o"}], "filters": {"refuse_seconds": "5.5"}},
        }
    )
    assert call.decline is not None
    assert call.decline.filters == Filters(refuse_seconds=5.5)


def test_integer_and_bool_in_strings_accepted() -> None:
    doc = json.loads(json.dumps(SUBSCRIBE))
    fi = doc["subscribe"]["framework_info"]
    fi["failover_timeout"] = "3600"
    fi["checkpoint"] = "true"
    doc["subscribe"]["force"] = "false"
    call = dec(doc)
    assert call.subscribe is not None
    assert call.subscribe.framework_info.failover_timeout == 3600.0
    assert call.subscribe.framework_info.checkpoint is True
    assert call.subscribe.force is False


def test_integer_for_float_field() -> None:
    call = dec({"type": "DECLINE", "decline": {"filters": {"refuse_seconds": 5}}})
    assert call.decline is not None
    assert call.decline.filters is not None
    assert call.decline.filters.refuse_seconds == 5.0


def test_null_optional_field() -> None:
    call = dec({"type": "REVIVE", "framework_id": None, "revive": None})
    assert call.framework_id is None
    assert call.revive is None


def test_acknowledge_uuid_base64() -> None:
    raw = bytes(range(16))
    call = dec(
        {
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": {"value": "a"},
                "task_id": {"value": "t"},
                "uuid": base64.b64encode(raw).decode(),
            },
        }
    )
    assert call.acknowledge is not None
    assert call.acknowledge.uuid == raw


def test_free_form_dict_fields() -> None:
    call = dec({"type": "RECONCILE_OPERATIONS", "reconcile_operations": {"operations": [{"x": 1}]}})
    assert call.reconcile_operations == {"operations": [{"x": 1}]}


def test_request_is_typed_and_ignores_unknown_fields() -> None:
    call = dec({"type": "REQUEST", "request": {"requests": [{"x": 1, "corral": {"priority": 3}}]}})
    assert call.request is not None
    (rr,) = call.request.requests
    assert rr.resources == [] and rr.corral is not None and rr.corral.priority == 3


# ----------------------------------------------------------------------------- decode errors


def test_missing_required_nested_field_names_dotted_path() -> None:
    msg = err({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u"}}})
    assert msg == "Missing required field 'subscribe.framework_info.name'"


def test_missing_required_one_level() -> None:
    assert err({"type": "SUBSCRIBE", "subscribe": {}}) == (
        "Missing required field 'subscribe.framework_info'"
    )


def test_missing_required_inside_list_names_index() -> None:
    msg = err({"type": "DECLINE", "decline": {"offer_ids": [{"value": "a"}, {}]}})
    assert msg == "Missing required field 'decline.offer_ids[1].value'"


def test_missing_required_top_level_names_field() -> None:
    # msgspec reports no path for the root object; the field name must still be there.
    msg = err({"framework_id": {"value": "x"}})
    assert "missing required field" in msg.lower()
    assert "type" in msg


@pytest.mark.parametrize(
    "data",
    [b'{"type": "SUBSCRIBE"', b"{type: 1}", b"", b"not json", b'{"type": "A"} trailing'],
)
def test_malformed_json(data: bytes) -> None:
    assert err(data).startswith("Malformed JSON")


def test_wrong_type_names_field() -> None:
    msg = err({"type": 5})
    assert msg.startswith("Invalid field 'type'")
    assert "str" in msg


def test_wrong_type_nested() -> None:
    msg = err({"type": "DECLINE", "decline": {"filters": {"refuse_seconds": "soon"}}})
    assert msg.startswith("Invalid field 'decline.filters.refuse_seconds'")


def test_wrong_container_type() -> None:
    msg = err({"type": "DECLINE", "decline": {"offer_ids": {"value": "o"}}})
    assert msg.startswith("Invalid field 'decline.offer_ids'")
    assert "array" in msg


def test_bool_string_that_is_not_a_bool() -> None:
    doc = json.loads(json.dumps(SUBSCRIBE))
    doc["subscribe"]["framework_info"]["checkpoint"] = "yes"
    assert err(doc).startswith("Invalid field 'subscribe.framework_info.checkpoint'")


def test_top_level_not_an_object() -> None:
    assert "object" in err([1, 2])


def test_bad_base64_uuid() -> None:
    msg = err(
        {
            "type": "ACKNOWLEDGE",
            "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "!!"},
        }
    )
    assert msg.startswith("Invalid field 'acknowledge.uuid'")
    assert "base64" in msg


def test_wire_error_is_value_error() -> None:
    assert issubclass(WireError, ValueError)


# ----------------------------------------------------------------------------- encode


def test_encode_omits_unset_fields() -> None:
    assert json.loads(encode(Call(type="REVIVE"))) == {"type": "REVIVE"}


def test_encode_omits_defaults_but_keeps_set_values() -> None:
    call = Call(
        type="SUBSCRIBE",
        subscribe=Subscribe(
            framework_info=FrameworkInfo(user="u", name="n", failover_timeout=10.0)
        ),
    )
    assert json.loads(encode(call)) == {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "u", "name": "n", "failover_timeout": 10.0}},
    }


def test_encode_bytes_as_base64() -> None:
    raw = b"\x00\xff\x10binary"
    call = Call(
        type="ACKNOWLEDGE",
        acknowledge=Acknowledge(agent_id=ID("a"), task_id=ID("t"), uuid=raw),
    )
    doc = json.loads(encode(call))
    assert doc["acknowledge"]["uuid"] == base64.b64encode(raw).decode()
    assert doc["acknowledge"]["agent_id"] == {"value": "a"}


def test_encode_decode_round_trip() -> None:
    call = Call(
        type="DECLINE",
        framework_id=ID("fw"),
        decline=Decline(offer_ids=[ID("o1")], filters=Filters(refuse_seconds=1.5)),
    )
    assert decode(encode(call), Call) == call
    ack = Call(
        type="ACKNOWLEDGE",
        acknowledge=Acknowledge(agent_id=ID("a"), task_id=ID("t"), uuid=bytes(range(256))),
    )
    assert decode(encode(ack), Call) == ack
    sub = dec(SUBSCRIBE)
    assert decode(encode(sub), Call) == sub


def test_encode_returns_compact_bytes() -> None:
    out = encode(Call(type="REVIVE"))
    assert isinstance(out, bytes)
    assert out == b'{"type":"REVIVE"}'


def test_encode_list() -> None:
    doc = json.loads(encode([ID("a"), ID("b")]))
    assert doc == [{"value": "a"}, {"value": "b"}]


# ----------------------------------------------------------------------------- convert / builtins


def test_convert_from_builtins() -> None:
    call = convert({"type": "DECLINE", "decline": {"filters": {"refuse_seconds": "2"}}}, Call)
    assert call.decline is not None
    assert call.decline.filters == Filters(refuse_seconds=2.0)


def test_convert_error_names_path() -> None:
    with pytest.raises(WireError) as ei:
        convert({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "n"}}}, Call)
    assert str(ei.value) == "Missing required field 'subscribe.framework_info.user'"


def test_to_builtins_omits_unset() -> None:
    r = Resource(name="cpus", type="RANGES", scalar=Scalar(value=1.0))
    assert to_builtins(r) == {"name": "cpus", "type": "RANGES", "scalar": {"value": 1.0}}
    assert to_builtins(Call(type="REVIVE")) == {"type": "REVIVE"}
