"""The cgroup v2 layout and values, against a directory tree shaped like a unified cgroupfs.

This machine (and CI) has cgroup v1, so this tests which files corral writes and reads and
what it puts in them, not the kernel's behaviour (the integration tests do that on v1).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from corral.agent import cgroups2 as v2
from corral.agent.cgroups import Limits


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A unified hierarchy with the agent in /system.slice/corral.service."""
    root = tmp_path / "cgroup"
    own = root / "system.slice" / "corral.service"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (own / "cgroup.procs").write_text("")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/system.slice/corral.service\n")
    return root, proc


def test_detection_and_availability(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root, proc = tree
    assert v2.is_unified(root)
    assert v2.unavailable(root, str(proc)) is None
    (root / "cgroup.controllers").write_text("cpuset io\n")
    assert "memory, cpu, pids are not enabled" in (v2.unavailable(root, str(proc)) or "")
    hybrid = tmp_path / "v1"
    (hybrid / "memory").mkdir(parents=True)
    assert not v2.is_unified(hybrid)


def test_delegation_moves_the_agent_into_a_leaf_and_enables_controllers(
    tree: tuple[Path, Path],
) -> None:
    root, proc = tree
    own = root / "system.slice" / "corral.service"
    parent = v2.delegate(root, str(proc), pid=4321)
    assert parent == own / "corral"
    assert (own / "corral-supervisor" / "cgroup.procs").read_text() == "4321"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (parent / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    # The launcher, started after, finds itself in the leaf and uses the same parent.
    proc.write_text("0::/system.slice/corral.service/corral-supervisor\n")
    assert v2.base_dir(root, v2.own_path(str(proc))) == own


def test_limits_usage_oom_and_cleanup(tree: tuple[Path, Path]) -> None:
    root, proc = tree
    v2.delegate(root, str(proc), pid=4321)
    proc.write_text("0::/system.slice/corral.service/corral-supervisor\n")
    cg = v2.CgroupsV2("c1", root, str(proc))
    cg.create(Limits(mem_bytes=64 << 20, cpu_shares=512, cfs_quota_us=50_000, pids_max=64))
    d = root / "system.slice" / "corral.service" / "corral" / "c1"
    assert cg.path == d
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (d / "cpu.weight").read_text() == "20"  # 512 shares
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "pids.max").read_text() == "64"
    cg.enter(777)
    assert (d / "cgroup.procs").read_text() == "777"
    cg.leave(777)
    leaf = root / "system.slice" / "corral.service" / "corral-supervisor"
    assert (leaf / "cgroup.procs").read_text() == "777"
    # A running executor's container grows; without a quota the cpu.max goes back to "max".
    cg.apply(Limits(mem_bytes=128 << 20, cpu_shares=1024), fresh=False)
    assert (d / "memory.max").read_text() == str(128 << 20)
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpu.max").read_text() == "max 100000"
    # What the kernel would report:
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    (d / "memory.current").write_text("1234567\n")
    (d / "memory.peak").write_text("2345678\n")
    (d / "pids.current").write_text("3\n")
    (d / "cpu.stat").write_text(
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
        "nr_periods 10\nnr_throttled 4\nthrottled_usec 2000\n"
    )
    assert cg.oom_killed()
    assert cg.stats() == {
        "mem_rss_bytes": 1234567,
        "mem_max_bytes": 2345678,
        "mem_limit_bytes": 128 << 20,
        "processes": 3,
        "cpus_time_ns": 1_500_000,
        "cpus_nr_periods": 10,
        "cpus_nr_throttled": 4,
        "cpus_throttled_time_ns": 2_000_000,
    }
    # Everything left is killed through cgroup.kill, then the directory goes.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (d / "cgroup.procs").write_text(f"{sleeper.pid}\n")
        (d / "cgroup.kill").write_text("")
        cg.kill_all()
        assert (d / "cgroup.kill").read_text() == "1"
        cg.kill_all(signal.SIGTERM)  # other signals go to each process
        assert sleeper.wait(10) == -signal.SIGTERM
    finally:
        if sleeper.poll() is None:
            os.kill(sleeper.pid, signal.SIGKILL)
            sleeper.wait()
    for f in d.iterdir():  # (the kernel removes the interface files with the directory)
        f.unlink()
    cg.destroy()
    assert not d.exists()


def test_cpu_weight_conversion() -> None:
    assert v2.cpu_weight(2) == 1
    assert v2.cpu_weight(1024) == 39
    assert v2.cpu_weight(262144) == 10000
    assert v2.cpu_weight(10**9) == 10000
