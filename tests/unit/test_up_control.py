"""`corral up`'s directory lock and what it does when one of its processes exits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.cli.up_control import DirectoryBusy, WorkDirLock, after_exits, holder


def test_one_holder_per_directory(tmp_path: Path) -> None:
    assert holder(tmp_path) is None
    lock = WorkDirLock(tmp_path).acquire()
    assert holder(tmp_path) == os.getpid()
    with pytest.raises(DirectoryBusy) as busy:
        WorkDirLock(tmp_path).acquire()
    assert busy.value.pid == os.getpid()
    assert f"--work-dir {tmp_path}" in str(busy.value) and "corral down" in str(busy.value)
    lock.release()
    assert holder(tmp_path) is None
    WorkDirLock(tmp_path).acquire().release()  # free again


def test_losing_some_masters_is_a_failover() -> None:
    masters = ["master0", "master1", "master2"]
    v = after_exits(["master1"], masters)
    assert not v.stop and "2 of 3 masters remain" in v.message
    assert after_exits(masters, masters).stop  # all of them: the end
    assert after_exits(["master0", "agent0"], masters).stop  # an agent too: stop
    assert after_exits(["master0"], ["master0"]).stop  # the only master
    assert after_exits(["services"], masters).stop
