"""``corral spark``: bad flags are clear messages naming the flag (no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli.main import app


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--master", "h:x"], "--master"),
        (["--port", "70000"], "--port"),
        (["--worker-mem", "100"], "--worker-mem"),
        (["--worker-cpus", "0"], "--worker-cpus"),
        (["--master-mem", "64"], "--master-mem"),
        (["--max-workers", "0"], "--max-workers"),
        (["--min-workers", "3", "--max-workers", "2"], "--max-workers"),
        (["--idle-timeout", "-1"], "--idle-timeout"),
        (["--poll-interval", "0"], "--poll-interval"),
        (["--spark-home", "/nonexistent"], "--spark-home"),
    ],
)
def test_bad_flags_name_the_flag(args: list[str], flag: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["spark", "--master", "127.0.0.1:1", "--work-dir", str(tmp_path), *args]
    )
    assert result.exit_code == 2, result.output
    assert flag in result.output and "Traceback" not in result.output


def test_work_dir_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(
        app, ["spark", "--master", "h:1", "--work-dir", str(blocker / "sub")]
    )
    assert result.exit_code == 2 and "--work-dir" in result.output
