"""The operator calls of this module's helpers, without a cluster: LIST_FILES / READ_FILE over
a resolver, the daemons' recorded flags (redacted), and corral's KILL_TASK in the master core."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
import typer
from aiohttp import web
from master_builders import Harness, launch, status, task

from corral import daemon_flags
from corral.master.core import events as ev
from corral.master.errors import CallError
from corral.security.acls import ACLs, Entity, Rule
from corral.transport import files_calls
from corral.wire import agent as amsg
from corral.wire.base import ID
from corral.wire.common import DurationInfo


def sandbox_resolver(root: Path):  # type: ignore[no-untyped-def]
    def resolve(raw: str) -> Path | web.Response:
        real = (root / raw.lstrip("/")).resolve()
        if not real.is_relative_to(root) or not real.exists():
            return web.Response(status=404, text="File not found")
        return real

    return resolve


def call(body: dict[str, object], root: Path) -> web.Response:
    return files_calls.answer(json.dumps(body).encode(), "agent::Call", sandbox_resolver(root))


def payload(resp: web.Response) -> dict[str, object]:
    assert isinstance(resp.body, bytes), resp.text
    return json.loads(resp.body)  # type: ignore[no-any-return]


def test_list_files_and_read_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "stdout").write_bytes(b"hello\nworld\n")
    resp = call({"type": "LIST_FILES", "list_files": {"path": "/"}}, tmp_path)
    infos = payload(resp)["list_files"]["file_infos"]  # type: ignore[index]
    assert [i["path"] for i in infos] == ["/stdout", "/sub"]
    assert infos[0]["size"] == 12 and infos[0]["mtime"]["nanoseconds"] > 0
    resp = call({"type": "READ_FILE", "read_file": {"path": "/stdout", "offset": 6}}, tmp_path)
    got = payload(resp)["read_file"]
    assert got["size"] == 12 and base64.b64decode(got["data"]) == b"world\n"  # type: ignore[index]
    body = {"type": "READ_FILE", "read_file": {"path": "/stdout", "offset": 0, "length": 5}}
    got = payload(call(body, tmp_path))["read_file"]
    assert base64.b64decode(got["data"]) == b"hello"  # type: ignore[index]


def test_files_calls_refuse_bad_input_and_escapes(tmp_path: Path) -> None:
    inside = tmp_path / "sandbox"
    inside.mkdir()
    (tmp_path / "secret").write_text("no")
    resp = call({"type": "READ_FILE", "read_file": {"path": "/../secret", "offset": 0}}, inside)
    assert resp.status == 404
    resp = call({"type": "READ_FILE", "read_file": {"path": "/", "offset": -1}}, inside)
    assert resp.status == 400 and "'read_file.offset' must not be negative" in str(resp.text)
    resp = call({"type": "READ_FILE", "read_file": {"path": "/", "offset": 0}}, inside)
    assert resp.status == 400 and "is a directory" in str(resp.text)
    resp = call({"type": "LIST_FILES"}, inside)
    assert resp.status == 400 and "'list_files'" in str(resp.text)


WORK_DIR = typer.Option(Path("/x"), "--work-dir")
MASTER = typer.Option("", "--master")
VERBOSE = typer.Option(False, "--verbose/--quiet")
PASSWORD = typer.Option("", "--ldap-password")


def test_recorded_flags_name_every_flag_and_redact_secrets() -> None:
    def daemon(
        work_dir: Path = WORK_DIR,
        master_addr: str = MASTER,
        verbose: bool = VERBOSE,
        ldap_password: str = PASSWORD,
    ) -> None:
        pass

    flags = daemon_flags.of(
        daemon,
        {
            "work_dir": Path("/w"),
            "master_addr": "zk://user:pw@h1:2181/corral",
            "verbose": True,
            "ldap_password": "hunter2",
        },
    )
    assert flags == {
        "ldap_password": "[redacted]",
        "master": "zk://[redacted]@h1:2181/corral",
        "verbose": "true",
        "work_dir": "/w",
    }


def running(h: Harness) -> tuple[str, str]:
    fid = h.framework()
    aid = h.agent()
    (offer,) = h.allocate()
    h.accept(fid, "st1", [offer.id.value], launch(task("t1", aid)), refuse=0)
    h.update(1, fid, status("t1", "TASK_RUNNING", agent_id=aid))
    return fid, aid


def test_kill_task_sends_the_kill_to_the_agent_with_the_grace() -> None:
    h = Harness()
    fid, _ = running(h)
    h.feed(ev.OperatorKill(None, "t1", grace=2.5))
    (kill,) = h.to_agent(1, amsg.KillTask)
    assert kill.task_id == ID("t1") and kill.framework_id == ID(fid)
    assert kill.kill_policy is not None
    assert kill.kill_policy.grace_period == DurationInfo(nanoseconds=2_500_000_000)


def test_kill_task_of_an_unknown_task_is_404_and_acls_apply() -> None:
    h = Harness()
    fid, _ = running(h)
    with pytest.raises(CallError) as err:
        h.feed(ev.OperatorKill(None, "nope"))
    assert err.value.status == 404 and "Task nope is not running" in err.value.message
    with pytest.raises(CallError) as err:
        h.feed(ev.OperatorKill(None, "t1", framework_id="other"))
    assert err.value.status == 404
    h.state.config.security = dataclasses.replace(
        h.state.config.security,
        acls=ACLs(
            teardown_frameworks=[
                Rule(principals=Entity(values=["ops"]), framework_principals=Entity(type="ANY"))
            ]
        ),
    )
    with pytest.raises(CallError) as err:
        h.feed(ev.OperatorKill("intruder", "t1", framework_id=fid))
    assert err.value.status == 403
    h.feed(ev.OperatorKill("ops", "t1", framework_id=fid))
    assert h.to_agent(1, amsg.KillTask)
