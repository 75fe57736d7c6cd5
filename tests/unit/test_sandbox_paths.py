"""The sandbox is a boundary: output files, archive members and /files paths cannot leave it."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from corral.agent.sandbox import FetchError, confine, extract, output_name, within


def test_output_name_must_stay_inside() -> None:
    assert output_name("a/./b.txt") == "a/b.txt"
    for bad in ("/etc/cron.d/x", "../x", "a/../../x", "", "./"):
        with pytest.raises(FetchError, match="output_file"):
            output_name(bad)


def tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w") as tar:
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    "name,kind,link",
    [
        ("../outside.txt", tarfile.REGTYPE, ""),
        ("up", tarfile.SYMTYPE, "../../etc"),
        ("abs", tarfile.SYMTYPE, "/etc/passwd"),
        ("hard", tarfile.LNKTYPE, "/etc/passwd"),
        ("dev", tarfile.CHRTYPE, ""),
    ],
)
def test_a_tar_member_leaving_the_sandbox_is_refused(
    tmp_path: Path, name: str, kind: bytes, link: str
) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    member.size = 1 if kind == tarfile.REGTYPE else 0
    archive = tar_with(tmp_path / "evil.tar", member, b"x")
    with pytest.raises(FetchError, match=r"Failed to extract evil\.tar: refused"):
        extract(archive, sandbox, "evil.tar")
    assert not (tmp_path / "outside.txt").exists()
    assert not any(p.is_symlink() or p.is_char_device() for p in sandbox.rglob("*"))


def test_an_absolute_tar_member_lands_inside_the_sandbox(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    member = tarfile.TarInfo(f"{tmp_path}/absolute.txt")
    member.size = 1
    extract(tar_with(tmp_path / "abs.tar", member, b"x"), sandbox, "abs.tar")
    assert not (tmp_path / "absolute.txt").exists()
    assert [p.name for p in sandbox.rglob("*") if p.is_file()] == ["absolute.txt"]


def test_a_good_tar_is_extracted_without_setuid(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    member = tarfile.TarInfo("bin/tool")
    member.size = 2
    member.mode = 0o4755
    archive = tar_with(tmp_path / "ok.tar", member, b"hi")
    extract(archive, sandbox, "ok.tar")
    tool = sandbox / "bin" / "tool"
    assert tool.read_bytes() == b"hi"
    assert tool.stat().st_mode & 0o4000 == 0


def test_zip_members_with_dotdot_or_absolute_names_are_skipped(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../escaped.txt", "no")
        z.writestr("/abs.txt", "no")
        z.writestr("in/side.txt", "yes")
    extract(archive, sandbox, "x.zip")
    assert (sandbox / "in" / "side.txt").read_text() == "yes"
    assert not (tmp_path / "escaped.txt").exists()
    assert [p.name for p in sandbox.rglob("*") if p.is_file()] == ["side.txt"]


def test_a_broken_archive_says_so(tmp_path: Path) -> None:
    (tmp_path / "bad.tgz").write_bytes(b"not an archive")
    with pytest.raises(FetchError, match=r"Failed to extract bad\.tgz"):
        extract(tmp_path / "bad.tgz", tmp_path, "bad.tgz")


def test_files_paths_stay_in_the_sandbox_asked_about(tmp_path: Path) -> None:
    root = tmp_path / "sandboxes"
    a, b = root / "a", root / "b"
    for d in (a, b):
        d.mkdir(parents=True)
        (d / "stdout").write_text(d.name)
    (a / "to-b").symlink_to(b)
    (a / "to-etc").symlink_to("/etc/passwd")
    (a / "inner").symlink_to("stdout")
    assert confine(root, f"{a}/stdout") == (a / "stdout").resolve()
    assert confine(root, f"{a}/inner") == (a / "stdout").resolve()
    assert confine(root, f"{a}/../b/stdout") == (b / "stdout").resolve()  # names b itself
    for bad in (
        f"{a}/to-b/stdout",
        f"{a}/to-etc",
        f"{a}/../../x",
        str(root),
        "/etc/passwd",
        "relative/stdout",
    ):
        assert confine(root, bad) is None, bad
    assert within(a, "../b/stdout") is None
    assert within(a, "/stdout") == (a / "stdout").resolve()
    assert within(a, "") == a.resolve()


def test_a_symlinked_work_dir_is_the_same_root(tmp_path: Path) -> None:
    real = tmp_path / "real" / "sandboxes" / "c"
    real.mkdir(parents=True)
    (real / "stdout").write_text("c")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    root = tmp_path / "link" / "sandboxes"
    assert confine(root, f"{root}/c/stdout") == (real / "stdout").resolve()
    assert confine(root, f"{real}/stdout") == (real / "stdout").resolve()
