"""The flags every framework daemon checks alike: ``--master`` (HOST:PORT or a zk:// URL)
and where it keeps its state (``--work-dir``: a directory made if missing, or a zk:// URL)."""

from __future__ import annotations

from pathlib import Path

from corral.cli.common import fail
from corral.coordination.url import is_zk_url, parse_zk_url


def check_master(master: str) -> None:
    """``--master`` is a zk:// URL that parses, or HOST:PORT; else exit 2 naming it."""
    if is_zk_url(master):
        try:
            parse_zk_url(master)
        except ValueError as exc:
            fail(f"--master: {exc}")
    elif ":" not in master or not master.rsplit(":", 1)[1].isdigit():
        fail(f"--master must be HOST:PORT or a zk:// URL, got {master!r}")


def made_dir(path: Path, flag: str = "--work-dir") -> Path:
    """``path`` made absolute and created if missing; exit 2 naming ``flag`` if it cannot be."""
    path = path.absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{flag}: cannot create {path}: {exc.strerror or exc}")
    return path


def state_at(work_dir: str) -> str | Path:
    """``--work-dir``: a zk:// URL (checked) for state in ZooKeeper, else a directory."""
    if is_zk_url(work_dir):
        try:
            parse_zk_url(work_dir)
        except ValueError as exc:
            fail(f"--work-dir: {exc}")
        return work_dir
    return made_dir(Path(work_dir))
