"""Tasks run as the OS user they name (CommandInfo.user, else FrameworkInfo.user), with their
sandbox owned by it, under the process and linux containerizers; --no-switch-user runs them
as the agent's user; an unknown user is a TASK_FAILED naming it."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorder import connected, sandbox_of, task
from test_isolation import busybox_rootfs

from corral.agent.cgroups import unavailable
from corral.resources import scalars
from corral.testing import LocalCluster
from corral.wire.base import ID
from corral.wire.codec import convert
from corral.wire.tasks import CommandInfo, ContainerInfo, ExecutorInfo, HealthCheck, TaskInfo

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs an agent run as root"),
]

SCRIPT = 'id -u; id -g; id -G; echo "$USER $LOGNAME $HOME"; echo hi > "$MESOS_SANDBOX/mine"'


@pytest.fixture(scope="module")
def account() -> Iterator[pwd.struct_passwd]:
    """A throwaway user with a home and a supplementary group, removed afterwards."""
    name, extra = f"crl{os.getpid() % 100000}", f"crlg{os.getpid() % 100000}"
    subprocess.run(["groupadd", extra], check=True)
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/sh", "--user-group", "-G", extra, name],
        check=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
        subprocess.run(["groupdel", extra], check=False, capture_output=True)


@pytest.fixture(scope="module")
def work_root() -> Iterator[Path]:
    """Work directories the task users can reach (a tempfile directory is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="corral-runas-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cluster(work_root: Path, name: str, flags: list[str]) -> LocalCluster:
    work = work_root / name
    work.mkdir()
    return LocalCluster(1, work_dir=work, agent_flags=flags)


@pytest.fixture(scope="module")
def process(work_root: Path) -> Iterator[LocalCluster]:
    with cluster(work_root, "process", ["--containerizers", "process"]) as c:
        yield c


@pytest.fixture(scope="module")
def noswitch(work_root: Path) -> Iterator[LocalCluster]:
    with cluster(work_root, "noswitch", ["--containerizers", "process", "--no-switch-user"]) as c:
        yield c


@pytest.fixture(scope="module")
def linux(work_root: Path) -> Iterator[LocalCluster]:
    why = unavailable()
    if why:
        pytest.skip(f"no cgroups here: {why}")
    images = work_root / "images"
    images.mkdir()
    try:
        busybox_rootfs(images / "busybox")
    except pytest.skip.Exception:
        shutil.rmtree(images / "busybox", ignore_errors=True)  # the image test skips itself
    flags = ["--containerizers", "linux", "--images-dir", str(images)]
    with cluster(work_root, "linux", flags) as c:
        yield c


async def run_one(c: LocalCluster, make: object) -> tuple[str, object]:
    """Launch the TaskInfo ``make(offer)`` builds; its terminal status."""
    async with connected(c.master) as (driver, rec):
        offer = await rec.next_offer()
        info: TaskInfo = make(offer)  # type: ignore[operator]
        tid = info.task_id.value
        await driver.launch([offer.id.value], [info])
        status = await rec.wait_for(
            lambda: next(
                (
                    u
                    for u in rec.updates
                    if u.task_id.value == tid and u.state not in ("TASK_STARTING", "TASK_RUNNING")
                ),
                None,
            ),
            30,
            f"{tid} to end",
        )
        return tid, status


def check_ran_as(c: LocalCluster, tid: str, user: pwd.struct_passwd, agent: int = 0) -> None:
    sandbox = Path(sandbox_of(c, tid, agent))
    lines = (sandbox / "stdout").read_text().splitlines()
    extra = grp.getgrnam(f"crlg{os.getpid() % 100000}").gr_gid
    assert lines[0] == str(user.pw_uid), lines
    assert lines[1] == str(user.pw_gid), lines
    assert {int(g) for g in lines[2].split()} == {user.pw_gid, extra}, lines  # initgroups
    assert lines[3] == f"{user.pw_name} {user.pw_name} {user.pw_dir}", lines
    for path in (sandbox, sandbox / "stdout", sandbox / "stderr", sandbox / "mine"):
        assert path.stat().st_uid == user.pw_uid, path


async def test_a_process_task_runs_as_its_user_in_a_sandbox_it_owns(
    process: LocalCluster, account: pwd.struct_passwd, work_root: Path
) -> None:
    fetched = work_root / "payload.txt"
    fetched.write_text("payload\n")

    def make(offer: object) -> TaskInfo:
        info = task("as-user", offer, SCRIPT, uris=[str(fetched)])  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = account.pw_name
        return info

    tid, status = await run_one(process, make)
    assert status.state == "TASK_FINISHED", status.message  # type: ignore[attr-defined]
    check_ran_as(process, tid, account)
    assert (Path(sandbox_of(process, tid)) / "payload.txt").stat().st_uid == account.pw_uid


async def test_a_linux_task_runs_as_its_user_as_pid_1(
    linux: LocalCluster, account: pwd.struct_passwd
) -> None:
    def make(offer: object) -> TaskInfo:
        info = task("as-user-linux", offer, f"{SCRIPT}; echo pid $$")  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = account.pw_name
        return info

    tid, status = await run_one(linux, make)
    assert status.state == "TASK_FINISHED", status.message  # type: ignore[attr-defined]
    check_ran_as(linux, tid, account)
    assert "pid 1" in (Path(sandbox_of(linux, tid)) / "stdout").read_text()


@pytest.mark.parametrize("which", ["process", "linux"])
async def test_an_unknown_user_fails_the_task_naming_the_user(
    which: str, request: pytest.FixtureRequest
) -> None:
    c: LocalCluster = request.getfixturevalue(which)

    def make(offer: object) -> TaskInfo:
        info = task(f"nobody-here-{which}", offer, "true")  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = "no-such-user-xyz"
        return info

    _, status = await run_one(c, make)
    assert status.state == "TASK_FAILED"  # type: ignore[attr-defined]
    assert "'no-such-user-xyz'" in status.message  # type: ignore[attr-defined]


async def test_no_switch_user_runs_the_task_as_the_agents_user(
    noswitch: LocalCluster, account: pwd.struct_passwd
) -> None:
    def make(offer: object) -> TaskInfo:
        info = task("as-agent", offer, "id -u; echo $USER")  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = account.pw_name
        return info

    tid, status = await run_one(noswitch, make)
    assert status.state == "TASK_FINISHED", status.message  # type: ignore[attr-defined]
    sandbox = Path(sandbox_of(noswitch, tid))
    out = (sandbox / "stdout").read_text().split()
    assert out[0] == "0"
    assert out[1:] != [account.pw_name]
    assert (sandbox / "stdout").stat().st_uid == 0


async def test_corral_run_user_sets_the_commands_user(
    process: LocalCluster, account: pwd.struct_passwd
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "corral", "run", "--master", process.master, "--timeout", "30",
        "--user", account.pw_name, "--", "id -un; id -u",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    assert account.pw_name in text.split() and str(account.pw_uid) in text.split(), text


@pytest.mark.parametrize("which", ["process", "linux"])
async def test_a_tasks_command_check_runs_as_its_user(
    which: str, account: pwd.struct_passwd, request: pytest.FixtureRequest
) -> None:
    c: LocalCluster = request.getfixturevalue(which)
    tid = f"checked-{which}"
    async with connected(c.master) as (driver, rec):
        offer = await rec.next_offer()
        info = task(tid, offer, "sleep 30")
        assert info.command is not None
        info.command.user = account.pw_name
        probe = f'test "$(id -u)" = {account.pw_uid} && test "$USER" = {account.pw_name}'
        info.health_check = HealthCheck(
            type="COMMAND",
            command=CommandInfo(value=probe),
            delay_seconds=0,
            interval_seconds=0.2,
            timeout_seconds=5,
        )
        await driver.launch([offer.id.value], [info])
        first = await rec.wait_for(
            lambda: next(
                (u for u in rec.updates if u.task_id.value == tid and u.healthy is not None), None
            ),
            20,
            f"{tid}'s first health verdict",
        )
        assert first.healthy is True, first.message
        await driver.kill(tid)
        await rec.wait_state(tid, "TASK_KILLED")


async def test_a_custom_executor_runs_as_its_commands_user(
    process: LocalCluster, account: pwd.struct_passwd
) -> None:
    async with connected(process.master) as (driver, rec):
        offer = await rec.next_offer()
        executor = ExecutorInfo(
            executor_id=ID("as-user-executor"),
            command=CommandInfo(value="id -u; echo $USER", user=account.pw_name),
            resources=scalars(cpus=0.1, mem=32).to_wire(),
        )
        info = TaskInfo(
            name="t",
            task_id=ID("executor-task"),
            agent_id=offer.agent_id,
            resources=scalars(cpus=0.1, mem=32).to_wire(),
            executor=executor,
        )
        await driver.launch([offer.id.value], [info])
        await rec.wait_state("executor-task", "TASK_FAILED")  # it exits without a word
        sandbox = Path(sandbox_of(process, "executor-task"))
        assert (sandbox / "stdout").read_text().split() == [str(account.pw_uid), account.pw_name]
        assert (sandbox / "stdout").stat().st_uid == account.pw_uid


async def test_a_task_in_an_image_runs_as_its_user(
    linux: LocalCluster, account: pwd.struct_passwd, work_root: Path
) -> None:
    if not (work_root / "images" / "busybox").is_dir():
        pytest.skip("needs busybox-static (apt-get install busybox-static)")

    def make(offer: object) -> TaskInfo:
        info = task("image-as-user", offer, "id -u; id -g; echo $$; touch /mnt/mesos/sandbox/mine")  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = account.pw_name
        image = {"type": "APPC", "appc": {"name": "busybox"}}
        info.container = convert({"type": "MESOS", "mesos": {"image": image}}, ContainerInfo)
        return info

    tid, status = await run_one(linux, make)
    assert status.state == "TASK_FINISHED", status.message  # type: ignore[attr-defined]
    sandbox = Path(sandbox_of(linux, tid))
    out = (sandbox / "stdout").read_text().split()
    assert out == [str(account.pw_uid), str(account.pw_gid), "1"]
    assert (sandbox / "mine").stat().st_uid == account.pw_uid


async def test_a_task_cannot_write_into_another_users_sandbox(
    process: LocalCluster, account: pwd.struct_passwd
) -> None:
    def owner(offer: object) -> TaskInfo:
        info = task("owner", offer, "echo mine > kept")  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = account.pw_name
        return info

    tid, status = await run_one(process, owner)
    assert status.state == "TASK_FINISHED", status.message  # type: ignore[attr-defined]
    theirs = Path(sandbox_of(process, tid))

    def intruder(offer: object) -> TaskInfo:
        attempt = f"echo x > {theirs}/intruder || echo x >> {theirs}/kept || exit 3"
        info = task("intruder", offer, attempt)  # type: ignore[arg-type]
        assert info.command is not None
        info.command.user = "nobody"
        return info

    _, status = await run_one(process, intruder)
    assert status.state == "TASK_FAILED"  # type: ignore[attr-defined]
    assert status.message == "Command exited with status 3"  # type: ignore[attr-defined]
    assert not (theirs / "intruder").exists() and (theirs / "kept").read_text() == "mine\n"
