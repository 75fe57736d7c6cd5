"""Run as user and executor tokens: the pure decisions (which user, what environment, what
docker is asked for, whether an executor's token is its own), and the key and spawn helpers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from corral.agent import executor_auth as ea
from corral.agent.docker_spec import container_info, create_kwargs
from corral.agent.environment import EXECUTOR_TOKEN_ENV, environment
from corral.agent.spawn_as import spawn_as
from corral.agent.users import OsUser, Switching, UserError, requested_user, resolve, run_as
from corral.resources import parse
from corral.wire.base import ID
from corral.wire.codec import convert
from corral.wire.common import FrameworkInfo
from corral.wire.tasks import CommandInfo, ContainerInfo, Environment, EnvironmentVariable, TaskInfo

ALICE = OsUser("alice", 1001, 1001, (1001, 27), "/home/alice")


def test_the_commands_user_wins_over_the_frameworks() -> None:
    assert requested_user("alice", "bob") == "alice"
    assert requested_user(None, "bob") == "bob"
    assert requested_user("", "") == ""


def test_run_as_switches_only_to_another_user_and_only_when_on() -> None:
    assert run_as("alice", True, "root", True) == "alice"
    assert run_as("alice", False, "root", True) is None  # --no-switch-user: the agent's user
    assert run_as("root", True, "root", True) is None  # the agent's own user: as today
    assert run_as("", True, "root", True) is None  # names nobody
    assert run_as("alice", False, "carol", False) is None


def test_switching_as_a_non_root_agent_fails_naming_the_user() -> None:
    with pytest.raises(UserError, match=r"'alice'.*not root"):
        run_as("alice", True, "carol", False)


def test_an_unknown_user_is_an_error_naming_it() -> None:
    with pytest.raises(UserError, match="'no-such-user-xyz': no such user on this agent"):
        resolve("no-such-user-xyz")


def test_resolve_gives_the_users_ids_home_and_groups() -> None:
    me = resolve("root") if os.geteuid() == 0 else None
    if me is not None:
        assert (me.uid, me.gid, me.home) == (0, 0, "/root") and 0 in me.groups


def _env(user: OsUser | None, token: str = "", own: dict[str, str] | None = None) -> dict[str, str]:
    command = CommandInfo(
        value="true",
        environment=Environment(
            variables=[EnvironmentVariable(name=k, value=v) for k, v in (own or {}).items()]
        ),
    )
    task = TaskInfo(name="t", task_id=ID("t"), agent_id=ID("a"), resources=[], command=command)
    return environment(
        base={"PATH": "/bin", "USER": "root", "HOME": "/root", "LOGNAME": "root"},
        framework=FrameworkInfo(user="alice", name="f", id=ID("fw")),
        task=task,
        executor=None,
        sandbox=Path("/sb"),
        executor_id="t",
        agent_id="a",
        agent_address="127.0.0.1:5051",
        hostname="h",
        ip="127.0.0.1",
        shutdown_grace=5,
        user=user,
        executor_token=token,
    )


def test_the_environment_is_the_users() -> None:
    env = _env(ALICE)
    assert (env["USER"], env["LOGNAME"], env["HOME"]) == ("alice", "alice", "/home/alice")
    assert _env(None)["USER"] == "root" and _env(None)["HOME"] == "/root"  # unchanged
    assert _env(ALICE, own={"HOME": "/elsewhere"})["HOME"] == "/elsewhere"  # the task's own last


def test_an_executor_gets_its_token_and_nothing_else_does() -> None:
    assert _env(None, token="abc")[EXECUTOR_TOKEN_ENV] == "abc"
    assert EXECUTOR_TOKEN_ENV not in _env(None)


def test_docker_is_asked_to_run_as_the_user() -> None:
    container = {"type": "DOCKER", "docker": {"image": "busybox"}}
    t = TaskInfo(
        name="t",
        task_id=ID("t"),
        agent_id=ID("a"),
        resources=parse("cpus:0.5;mem:64").to_wire(),
        command=CommandInfo(value="id -u"),
        container=convert(container, ContainerInfo),
    )
    ci, docker = container_info(t)
    common = {"info": t, "ci": ci, "docker": docker, "env": {}, "sandbox": Path("/sb")}
    kw = create_kwargs(**common, name="c", labels={}, user="1001:1001")  # type: ignore[arg-type]
    assert kw["user"] == "1001:1001"
    assert "user" not in create_kwargs(**common, name="c", labels={})  # type: ignore[arg-type]


KEY = b"k" * 32


def test_a_token_is_for_one_executor_of_one_framework_in_one_container() -> None:
    t = ea.token_for(KEY, "fw", "ex", "c1")
    assert t == ea.token_for(KEY, "fw", "ex", "c1")
    others = {
        ea.token_for(KEY, "fw", "ex2", "c1"),
        ea.token_for(KEY, "fw2", "ex", "c1"),
        ea.token_for(KEY, "fw", "ex", "c2"),
        ea.token_for(b"j" * 32, "fw", "ex", "c1"),
    }
    assert t not in others and len(others) == 4


def test_the_token_check_decides_401_403_or_go() -> None:
    good = ea.token_for(KEY, "fw", "ex", "c1")
    other = ea.token_for(KEY, "fw", "ex2", "c2")
    assert ea.check(f"Bearer {good}", good, "executor 'ex'") is None
    assert ea.check(f"bearer  {good} ", good, "executor 'ex'") is None
    for header in (None, "", "Basic dTpw", "Bearer", "Bearer "):
        refusal = ea.check(header, good, "executor 'ex'")
        assert refusal is not None and refusal.status == 401, header
        assert refusal.headers["WWW-Authenticate"].startswith("Bearer ")
    refusal = ea.check(f"Bearer {other}", good, "executor 'ex' of framework 'fw'")
    assert refusal is not None and refusal.status == 403 and "'ex'" in refusal.message
    assert refusal.headers == {}
    refusal = ea.check(f"Bearer {good}", None, "executor 'gone'")  # no such executor here
    assert refusal is not None and refusal.status == 403


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    key = ea.load_key(tmp_path / "meta")
    assert len(key) == 32 and ea.load_key(tmp_path / "meta") == key
    mode = stat.S_IMODE((tmp_path / "meta" / ea.KEY_NAME).stat().st_mode)
    assert mode == 0o600


def test_spawn_as_runs_the_program_and_reports_what_failed(tmp_path: Path) -> None:
    uid, gid = os.getuid(), os.getgid()
    out = tmp_path / "out"
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT, 0o644)]
    groups = os.getgroups() if uid != 0 else [gid]
    pid = spawn_as("/bin/sh", ["sh", "-c", "id -u; exit 3"], {}, actions, uid, gid, groups)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 3 and out.read_text().strip() == str(uid)
    with pytest.raises(OSError, match="cannot execute the program"):
        spawn_as("/no/such/program", ["x"], {}, [], uid, gid, groups)
    with pytest.raises(OSError, match="cannot open /no/such/dir/out"):
        bad = [(os.POSIX_SPAWN_OPEN, 1, "/no/such/dir/out", os.O_WRONLY | os.O_CREAT, 0o644)]
        spawn_as("/bin/true", ["true"], {}, bad, uid, gid, groups)


def test_switching_picks_the_commands_user_and_resolves_it() -> None:
    on = Switching(switch_user=True, agent_user="root", agent_is_root=True)
    assert on.user_for(None, "root") is None and on.user_for("", "") is None
    with pytest.raises(UserError, match="'no-such-user-xyz'"):
        on.user_for("no-such-user-xyz", "root")
    off = Switching(switch_user=False, agent_user="root", agent_is_root=True)
    assert off.user_for("no-such-user-xyz", "root") is None  # never looked up
    assert Switching.here(False).switch_user is False
    assert Switching.here(None).switch_user is (os.geteuid() == 0)


def test_executor_tokens_are_the_keys() -> None:
    assert ea.ExecutorTokens(KEY).of("fw", "ex", "c1") == ea.token_for(KEY, "fw", "ex", "c1")


@pytest.mark.skipif(os.geteuid() != 0, reason="spawning as another user needs root")
def test_spawn_as_opens_the_output_as_the_user_so_a_planted_link_leads_nowhere(
    tmp_path: Path,
) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    precious = tmp_path / "precious"
    precious.write_text("root's\n")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    os.chown(sandbox, nobody.pw_uid, nobody.pw_gid)
    (sandbox / "stdout").symlink_to(precious)  # as if the user had put it there
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(sandbox / "stdout"), flags, 0o644)]
    cwd = os.getcwd()
    os.chdir(sandbox)
    try:
        with pytest.raises(OSError, match=r"cannot open .*Permission denied"):
            spawn_as("/bin/echo", ["echo", "x"], {}, actions, nobody.pw_uid, nobody.pw_gid, [])
    finally:
        os.chdir(cwd)
    assert precious.read_text() == "root's\n"
