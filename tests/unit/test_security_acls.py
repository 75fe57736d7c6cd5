"""Authorization: ``authorize`` over Mesos-style ACLs, the ACL file loader, and the master
core's checks (subscribe in a role, launch as a user, operator TEARDOWN, views)."""

from __future__ import annotations

from pathlib import Path

import pytest
from master_builders import Harness, framework_info, launch, new_state, task

from corral.master.core import events as ev
from corral.master.core.authz import check_subscribe, may_view
from corral.master.errors import CallError
from corral.security import acls as A
from corral.security.acls import ACLs, Entity, Rule, authorize
from corral.security.authn import AuthFlags
from corral.security.settings import SecuritySettings
from corral.wire import scheduler as s
from corral.wire.tasks import CommandInfo


def some(*values: str) -> Entity:
    return Entity(values=list(values))


ANY = Entity(type="ANY")
NONE = Entity(type="NONE")


def roles_acls(**kw: object) -> ACLs:
    return ACLs(
        register_frameworks=[
            Rule(principals=some("a"), roles=some("a")),
            Rule(principals=some("ops"), roles=ANY),
            Rule(principals=some("banned"), roles=NONE),
        ],
        **kw,  # type: ignore[arg-type]
    )


def test_no_acls_allow_everything() -> None:
    assert authorize(None, None, "run_tasks", "root").allowed


def test_first_matching_subject_and_object_decides() -> None:
    acls = roles_acls()
    assert authorize(acls, "a", "register_frameworks", "a") == A.Decision(
        True, "register_frameworks[0]"
    )
    d = authorize(acls, "a", "register_frameworks", "b")
    assert not d.allowed and d.rule.startswith("default deny")
    assert authorize(acls, "ops", "register_frameworks", "anything").rule == (
        "register_frameworks[1]"
    )


def test_none_object_denies_naming_the_rule() -> None:
    d = authorize(roles_acls(permissive=True), "banned", "register_frameworks", "x")
    assert d == A.Decision(False, "register_frameworks[2]")
    assert "register_frameworks[2]" in d.describe("register_frameworks", "banned", "x")


def test_permissive_allows_what_no_rule_decides() -> None:
    acls = roles_acls(permissive=True)
    d = authorize(acls, "stranger", "register_frameworks", "b")
    assert d.allowed and d.rule.startswith("permissive")
    assert authorize(acls, "x", "run_tasks", "root").allowed


def test_default_deny_once_a_file_is_given() -> None:
    acls = ACLs()
    for action in A.ACTIONS:
        assert not authorize(acls, "anyone", action, "x").allowed


def test_anonymous_matches_only_any() -> None:
    acls = ACLs(run_tasks=[Rule(principals=some("a"), users=ANY)])
    assert not authorize(acls, None, "run_tasks", "nobody").allowed
    acls = ACLs(run_tasks=[Rule(principals=ANY, users=some("nobody"))])
    assert authorize(acls, None, "run_tasks", "nobody").allowed
    assert not authorize(acls, None, "run_tasks", "root").allowed


def test_unset_object_matches_only_any() -> None:
    acls = ACLs(teardown_frameworks=[Rule(principals=ANY, framework_principals=some("a"))])
    assert not authorize(acls, "x", "teardown_frameworks", None).allowed
    acls = ACLs(teardown_frameworks=[Rule(principals=ANY, framework_principals=ANY)])
    assert authorize(acls, "x", "teardown_frameworks", None).allowed


def test_a_rule_without_its_object_lets_the_subject_do_the_action() -> None:
    acls = ACLs(operator_writes=[Rule(principals=some("ops"))])
    assert authorize(acls, "ops", "operator_writes", None).allowed
    assert not authorize(acls, "dev", "operator_writes", None).allowed


def test_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        authorize(ACLs(), "a", "launch_missiles", None)


# ------------------------------------------------------------------ the file
JSON_ACLS = """{
  "permissive": false,
  "register_frameworks": [{"principals": {"values": ["a"]}, "roles": {"values": ["a"]}}],
  "run_tasks": [{"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}}],
  "teardown_frameworks": [{"principals": {"values": ["ops"]},
                           "framework_principals": {"type": "ANY"}}]
}"""

TOML_ACLS = """
permissive = false
[[register_frameworks]]
principals = { values = ["a"] }
roles = { values = ["a"] }
[[run_tasks]]
principals = { type = "ANY" }
users = { values = ["nobody"] }
[[teardown_frameworks]]
principals = { values = ["ops"] }
framework_principals = { type = "ANY" }
"""


def test_json_and_toml_files_mean_the_same(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(JSON_ACLS)
    (tmp_path / "a.toml").write_text(TOML_ACLS)
    j, t = A.load(tmp_path / "a.json"), A.load(tmp_path / "a.toml")
    assert j == t
    assert authorize(j, "a", "register_frameworks", "a").allowed
    assert not authorize(j, "a", "register_frameworks", "b").allowed


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"register_frameworks": [{"principals": {"values": "a"}}]}', "principals.values"),
        ('{"register_frameworks": [{"roles": {"type": "SOMETIMES"}}]}', "roles.type"),
        ('{"run_tasks": [{"roles": {"type": "ANY"}}]}', "$.run_tasks[0].roles"),
        ('{"run_tasks": [{"users": {}}]}', "$.run_tasks[0].users"),
        ('{"view_everything": []}', "view_everything"),
        ('{"permissive": "yes"}', "permissive"),
        ("{", "cannot parse"),
    ],
)
def test_bad_acl_files_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(A.ACLError) as e:
        A.load(p)
    assert field in str(e.value) and str(p) in str(e.value)


# ------------------------------------------------------------------ the master core
def harness(acls: ACLs | None, frameworks: bool = False) -> Harness:
    security = SecuritySettings(flags=AuthFlags(frameworks=frameworks), acls=acls)
    return Harness(state=new_state(security=security))


def subscribe_call(role: str, principal: str | None) -> s.Call:
    info = framework_info(roles=[role])
    info.principal = principal
    return s.Call(type="SUBSCRIBE", subscribe=s.Subscribe(framework_info=info))


def test_subscribe_in_a_denied_role_is_403_naming_the_rule() -> None:
    h = harness(roles_acls())
    check_subscribe(h.state, "a", subscribe_call("a", "a"))
    with pytest.raises(CallError) as e:
        check_subscribe(h.state, "a", subscribe_call("b", "a"))
    assert e.value.status == 403 and "register_frameworks" in e.value.message
    assert "'b'" in e.value.message
    assert h.state.frameworks == {}


def test_framework_principal_must_match_the_authenticated_one() -> None:
    h = harness(None, frameworks=True)
    check_subscribe(h.state, "a", subscribe_call("r", "a"))
    with pytest.raises(CallError) as e:
        check_subscribe(h.state, "a", subscribe_call("r", "b"))
    assert e.value.status == 403 and "subscribe.framework_info.principal" in e.value.message
    with pytest.raises(CallError) as e:
        check_subscribe(h.state, None, subscribe_call("r", None))
    assert e.value.status == 401


def launched(h: Harness, user: str | None) -> list[object]:
    fid = h.framework("st1")
    aid = h.agent(1)
    (offer,) = h.allocate()
    t = task("t1", aid)
    assert t.command is not None
    t.command.user = user
    h.accept(fid, "st1", [offer.id.value], launch(t))
    return h.updates("st1")  # type: ignore[return-value]


def test_launch_as_a_denied_user_is_task_error_naming_the_rule() -> None:
    acls = ACLs(run_tasks=[Rule(principals=ANY, users=some("nobody"))])
    h = harness(acls)
    (st,) = launched(h, "root")
    assert st.state == "TASK_ERROR"  # type: ignore[attr-defined]
    assert st.reason == "REASON_TASK_UNAUTHORIZED"  # type: ignore[attr-defined]
    assert "run_tasks" in st.message and "'root'" in st.message  # type: ignore[attr-defined]
    fw = next(iter(h.state.frameworks.values()))
    assert fw.tasks == {}


def test_launch_as_an_allowed_user_runs() -> None:
    acls = ACLs(run_tasks=[Rule(principals=ANY, users=some("nobody"))])
    h = harness(acls)
    assert launched(h, "nobody") == []
    fw = next(iter(h.state.frameworks.values()))
    assert list(fw.tasks) == ["t1"]


def test_launch_without_a_command_user_is_checked_as_the_framework_user() -> None:
    acls = ACLs(run_tasks=[Rule(principals=ANY, users=some("alice"))])  # FrameworkInfo.user
    assert launched(harness(acls), None) == []
    acls = ACLs(run_tasks=[Rule(principals=ANY, users=some("bob"))])
    (st,) = launched(harness(acls), None)
    assert "'alice'" in st.message  # type: ignore[attr-defined]
    assert CommandInfo(value="x").user is None


def test_operator_teardown_of_another_principals_framework() -> None:
    acls = ACLs(
        teardown_frameworks=[Rule(principals=some("ops"), framework_principals=ANY)],
        permissive=False,
    )
    h = harness(acls)
    fid = h.framework("st1")
    with pytest.raises(CallError) as e:
        h.feed(ev.OperatorTeardown("a", fid))
    assert e.value.status == 403 and "teardown_frameworks" in e.value.message
    assert fid in h.state.frameworks
    h.feed(ev.OperatorTeardown("ops", fid))
    assert fid not in h.state.frameworks
    with pytest.raises(CallError) as e:
        h.feed(ev.OperatorTeardown("ops", "nope"))
    assert e.value.status == 400


def test_views_show_only_frameworks_the_principal_may_view() -> None:
    acls = ACLs(
        view_frameworks=[Rule(principals=some("a"), users=some("alice"))],
        view_tasks=[Rule(principals=some("a"), users=some("alice"))],
    )
    h = harness(acls)
    fid = h.framework("st1")
    fw = h.state.frameworks[fid]
    assert may_view(h.state, "a", fw)
    assert not may_view(h.state, "b", fw)
    assert not may_view(h.state, None, fw)
    assert may_view(harness(None).state, None, fw)


def test_another_principal_cannot_fail_over_or_call_for_a_framework() -> None:
    from corral.master.core.authz import check_call

    h = harness(None, frameworks=True)
    info = framework_info()
    info.principal = "a"
    call = s.Call(type="SUBSCRIBE", subscribe=s.Subscribe(framework_info=info))
    check_subscribe(h.state, "a", call)
    h.feed(ev.StreamOpened("a", call, "st1"))
    (fid,) = h.state.frameworks
    again = framework_info(fid=fid)
    again.principal = "b"
    resub = s.Call(
        type="SUBSCRIBE", framework_id=again.id, subscribe=s.Subscribe(framework_info=again)
    )
    with pytest.raises(CallError) as e:
        check_subscribe(h.state, "b", resub)
    assert e.value.status == 403 and "belongs to principal 'a'" in e.value.message
    revive = s.Call(type="REVIVE", framework_id=again.id)
    check_call(h.state, "a", revive)
    with pytest.raises(CallError) as e:
        check_call(h.state, "b", revive)
    assert e.value.status == 403
