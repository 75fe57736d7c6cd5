"""Sandbox disk usage as du counts it."""

from __future__ import annotations

import os
from pathlib import Path

from corral.agent.disk import disk_usage


def test_disk_usage_counts_blocks_once_per_inode_and_not_through_symlinks(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    data = tmp_path / "d" / "data"
    data.write_bytes(os.urandom(1 << 20))
    base = disk_usage(tmp_path)
    assert base >= 1 << 20
    os.link(data, tmp_path / "hardlink")  # the same blocks again: not counted twice
    (tmp_path / "symlink").symlink_to("/usr")  # not followed
    after = disk_usage(tmp_path)
    assert base <= after < base + 64 * 1024
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(100 << 20)  # 100 MB long, nothing allocated
    assert disk_usage(tmp_path) < after + 64 * 1024
    assert disk_usage(tmp_path / "missing") == 0
