"""``corral upgrade --to WHEEL|VERSION``: the wheel file, a version fetched by pip from
--find-links, and bad flags or a missing version as messages naming the flag."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli.deploy_command import resolve_to
from corral.cli.main import app
from corral.deploy import wheel as wheel_mod

INVENTORY = '[[hosts]]\nname = "m"\naddress = "127.0.0.1"\nroles = ["master"]\n'


def fake_wheel(directory: Path, version: str) -> Path:
    """A minimal valid wheel of a project named corral (pip accepts it)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"corral-{version}-py3-none-any.whl"
    info = f"corral-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: corral\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n")  # fmt: skip
        z.writestr(f"{info}/RECORD", f"{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    return path


def upgrade(tmp_path: Path, *args: str) -> tuple[int, str]:
    inv = tmp_path / "inv.toml"
    inv.write_text(INVENTORY)
    result = CliRunner().invoke(app, ["upgrade", str(inv), *args])
    return result.exit_code, result.output


def test_a_wheel_file_gives_its_digest_and_version(tmp_path: Path) -> None:
    whl = fake_wheel(tmp_path / "w", "0.2.0")
    wheel, digest, version = resolve_to(str(whl), [], "", False, tmp_path)
    assert (wheel, digest, version) == (whl, wheel_mod.digest(whl), "0.2.0")


def test_a_version_is_downloaded_from_find_links(tmp_path: Path) -> None:
    links = tmp_path / "links"
    fake_wheel(links, "0.2.0")
    fake_wheel(links, "0.3.0")
    dest = tmp_path / "dest"
    wheel, _, version = resolve_to("0.2.0", [str(links)], "", True, dest)
    assert version == "0.2.0" and wheel.parent == dest and wheel.name.startswith("corral-0.2.0-")


def test_a_version_not_found_names_to_and_where_it_looked(tmp_path: Path) -> None:
    links = tmp_path / "links"
    fake_wheel(links, "0.2.0")
    code, out = upgrade(tmp_path, "--to", "9.9.9", "--find-links", str(links), "--no-index")
    assert code == 1, out
    assert f"--to 9.9.9: no corral 9.9.9 wheel in --find-links {links}" in out
    assert "0.2.0" in out and "Traceback" not in out  # pip's "from versions: 0.2.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "x.whl", "--no-index"], "--no-index only applies to --to VERSION"),
        (["--to", "1.0", "--find-links", "/nonexistent"], "--find-links: /nonexistent is not"),
        (["--to", "1.0", "--index-url", "pypi.org"], "--index-url must be an http://"),
        (["--to", "1.0", "--no-index", "--index-url", "http://x/simple"], "exclude each other"),
        (["--to", "1.0", "--no-index"], "--no-index needs --find-links"),
        (["--to", "latest!"], "--to: 'latest!' is neither a wheel file"),
        (["--to", "1.0", "--step-timeout", "0"], "--step-timeout must be positive"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = upgrade(tmp_path, *args)
    assert code == 2, out
    assert message in out and "Traceback" not in out


def test_a_wheel_file_that_is_not_there(tmp_path: Path) -> None:
    code, out = upgrade(tmp_path, "--to", str(tmp_path / "corral-9-py3-none-any.whl"))
    assert code == 1 and "is not a file" in out
