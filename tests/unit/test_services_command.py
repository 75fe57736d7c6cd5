"""``corral services``: bad flags are clear messages naming the flag (no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli.main import app


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--master", "nocolon"], "--master"),
        (["--master", "h:1", "--port", "70000"], "--port"),
        (["--master", "h:1", "--advertise", "ftp://x"], "--advertise"),
        (["--master", "h:1", "--lease-ttl", "0"], "--lease-ttl"),
        (["--master", "h:1", "--zk-session-timeout", "-1"], "--zk-session-timeout"),
        (["--master", "h:1", "--zk", "http://x"], "--zk"),
        (["--master", "h:1", "--name", "a/b"], "--name"),
    ],
)
def test_bad_flags_name_the_flag(args: list[str], flag: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["services", "--work-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert flag in result.output and "Traceback" not in result.output


def test_work_dir_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(
        app, ["services", "--master", "h:1", "--work-dir", str(blocker / "sub")]
    )
    assert result.exit_code == 2 and "--work-dir" in result.output
