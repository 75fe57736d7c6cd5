"""The process containerizer's resource limits, read by a real task from /proc/self/limits."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from recorder import connected, sandbox_file, task

from corral.agent import rlimits
from corral.agent.launcher_protocol import RLimit
from corral.testing import LocalCluster
from corral.wire.codec import convert
from corral.wire.tasks import ContainerInfo

pytestmark = pytest.mark.integration


def limits_of(text: str) -> dict[str, tuple[str, str]]:
    """/proc/PID/limits: name -> (soft, hard)."""
    out = {}
    for line in text.splitlines()[1:]:
        name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
        out[name] = (soft, hard)
    return out


async def test_process_tasks_get_nproc_and_the_rlimits_they_ask_for() -> None:
    _, nofile_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 512 if nofile_hard == resource.RLIM_INFINITY else min(512, nofile_hard)
    asked = convert(
        {
            "type": "MESOS",
            "rlimit_info": {
                "rlimits": [
                    {"type": "RLMT_NOFILE", "soft": 100, "hard": hard},
                    {"type": "RLMT_CORE"},  # unlimited
                ]
            },
        },
        ContainerInfo,
    )
    bad = convert(
        {"type": "MESOS", "rlimit_info": {"rlimits": [{"type": "RLMT_NOFILE", "soft": 1}]}},
        ContainerInfo,
    )
    flags = ["--containerizers", "process", "--cgroups-pids-max", "333"]
    with LocalCluster(1, agent_flags=flags) as c:
        async with connected(c.master) as (driver, rec):
            offer = await rec.next_offer()
            plain = task("plain", offer, "cat /proc/self/limits")
            limited = task("limited", offer, "cat /proc/self/limits")
            limited.container = asked
            wrong = task("wrong", offer, "true")
            wrong.container = bad
            await driver.launch([offer.id.value], [plain, limited, wrong])
            for tid in ("plain", "limited"):
                await rec.wait_state(tid, "TASK_FINISHED")
            failed = await rec.wait_state("wrong", "TASK_FAILED")
            plain_limits = limits_of(sandbox_file(c, "plain"))
            limited_limits = limits_of(sandbox_file(c, "limited"))
    assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed.message == (
        "container.rlimit_info.rlimits[0]: set both soft and hard, or neither (unlimited)"
    )
    # --cgroups-pids-max stands in for pids.max (capped at what the agent's user may set).
    _, nproc_hard = resource.getrlimit(resource.RLIMIT_NPROC)
    nproc = "333" if nproc_hard == resource.RLIM_INFINITY or nproc_hard >= 333 else str(nproc_hard)
    assert plain_limits["Max processes"] == (nproc, nproc)
    assert limited_limits["Max processes"] == (nproc, nproc)
    assert limited_limits["Max open files"] == ("100", str(hard))
    assert limited_limits["Max core file size"] == ("unlimited", "unlimited")
    # Without rlimit_info a task keeps the agent's own open-file limits.
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert plain_limits["Max open files"][0] == str(soft)


def test_the_launcher_sets_limits_it_cannot_hand_down_on_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an unprivileged launcher does: soft limits for the spawn, lower hard ones on the
    child afterwards; the launcher's own limits are restored."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    _, nproc_hard = resource.getrlimit(resource.RLIMIT_NPROC)
    nproc = 200 if nproc_hard == resource.RLIM_INFINITY else min(200, nproc_hard)
    limits = [
        RLimit(name="NOFILE", soft=64, hard=min(128, before[1])),
        RLimit(name="NPROC", soft=nproc, hard=nproc),
    ]
    out = tmp_path / "limits"
    r, w = os.pipe()
    with rlimits.spawning_with(limits) as later:
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (64, before[1])
        # The child waits on the pipe until its limits are all set, then reads them.
        pid = os.posix_spawnp(
            "sh",
            ["sh", "-c", f"read x; cat /proc/self/limits > {out}"],
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_DUP2, r, 0)],
        )
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
    rlimits.finish(pid, later)
    os.close(r)
    os.write(w, b"go\n")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    got = limits_of(out.read_text())
    assert got["Max open files"] == ("64", str(min(128, before[1])))
    assert got["Max processes"] == (str(nproc), str(nproc))
    with (
        pytest.raises(PermissionError, match="above the launcher's"),
        rlimits.spawning_with([RLimit(name="NOFILE", soft=1, hard=None)]),
    ):
        pass
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
