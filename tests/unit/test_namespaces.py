"""corral-nsinit: the embedded bytes are nsinit.S assembled, and the ELF wrapper runs."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

import corral.agent.namespaces as ns

SOURCE = Path(ns.__file__).with_name("nsinit.S")
X86_64 = platform.machine() in ("x86_64", "amd64")


@pytest.mark.skipif(
    not (shutil.which("as") and shutil.which("objcopy")), reason="needs binutils (as, objcopy)"
)
def test_embedded_bytes_are_the_assembled_source(tmp_path: Path) -> None:
    obj, text = tmp_path / "nsinit.o", tmp_path / "nsinit.bin"
    subprocess.run(["as", "--64", "-o", str(obj), str(SOURCE)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(text)], check=True)
    assert text.read_bytes() == ns.NSINIT_X86_64


@pytest.mark.skipif(not X86_64, reason="corral-nsinit is x86-64 code")
def test_the_elf_runs_and_explains_its_usage(tmp_path: Path) -> None:
    # Without PROGRAM and ARGV0 it mounts nothing: it says how to call it and exits 127.
    path = ns.install_nsinit(tmp_path)
    assert path is not None and path.stat().st_mode & 0o111
    out = subprocess.run([str(path)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 127
    assert out.stderr == "usage: corral-nsinit PROGRAM ARGV0 [ARG...]\n"
    # Installing again keeps the same file.
    assert ns.install_nsinit(tmp_path) == path


def test_resolve_program_searches_path_like_posix_spawnp(tmp_path: Path) -> None:
    assert ns.resolve_program("sh", "/nonexistent:/bin:/usr/bin") in ("/bin/sh", "/usr/bin/sh")
    assert ns.resolve_program("/bin/sh") == "/bin/sh"
    with pytest.raises(FileNotFoundError):
        ns.resolve_program("no-such-program-here", "/bin:/usr/bin")
    with pytest.raises(FileNotFoundError):
        ns.resolve_program(str(tmp_path / "missing"))
    with pytest.raises(PermissionError):
        ns.resolve_program(str(tmp_path))  # a directory is not a program


@pytest.mark.skipif(os.geteuid() != 0, reason="making namespaces needs root")
@pytest.mark.parametrize("helper", ["nsinit", "unshare"])
def test_spawned_task_is_pid_1_with_its_own_proc(tmp_path: Path, helper: str) -> None:
    spawner = ns.Namespaces(tmp_path)
    if helper == "unshare":  # what machines other than x86-64 use
        spawner.helper = None
        spawner.wrapper = [shutil.which("unshare") or "/usr/bin/unshare", "--mount-proc", "--"]
        spawner.flags = ns.CLONE_NEWPID | ns.CLONE_NEWIPC | ns.CLONE_NEWUTS
    elif spawner.helper is None:
        pytest.skip("corral-nsinit is x86-64 code")
    out = tmp_path / "out"
    mounts = Path("/proc/self/mounts").read_text()
    cwd = os.getcwd()
    try:
        pid, _ = spawner.spawn(
            "sh",
            ["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'; hostname x"],
            {"PATH": "/usr/bin:/bin"},
            [(os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT, 0o644)],
        )
        _, status = os.waitpid(pid, 0)
    finally:
        spawner.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    first, count = out.read_text().split()
    assert first == "1" and int(count) <= 3
    # The launcher (this process) is back in its own namespaces, its mounts untouched.
    assert Path("/proc/self/mounts").read_text() == mounts
    assert os.getcwd() == cwd
    assert os.uname().nodename != "x"
