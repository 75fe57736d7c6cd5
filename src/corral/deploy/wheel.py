"""The wheel `corral deploy` installs: built from this checkout, or given, or (`corral upgrade
--to VERSION`) downloaded by pip on the operator's machine; and its digest.

The digest is the sha256 of the wheel's RECORD (every file's own sha256), so rebuilding the
same code gives the same digest whatever the zip's timestamps are.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import corral


def digest(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        records = [n for n in z.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise ValueError(f"{wheel}: not a wheel (no single .dist-info/RECORD)")
        return hashlib.sha256(z.read(records[0])).hexdigest()


def source_tree() -> Path | None:
    """The checkout corral runs from (with its pyproject.toml), or None (installed)."""
    root = Path(corral.__file__).resolve().parents[2]
    ok = (root / "pyproject.toml").is_file() and (root / "src" / "corral").is_dir()
    return root if ok else None


def build(out_dir: Path) -> Path:
    """Build a wheel of the running code into `out_dir` (from a clean copy of the tree, so no
    build/ or egg-info is left in the checkout and no stale file gets in)."""
    root = source_tree()
    if root is None:
        raise RuntimeError("corral is not running from a source checkout: pass --wheel")
    with tempfile.TemporaryDirectory(prefix="corral-wheel-") as tmp:
        copy = Path(tmp) / "src-tree"
        copy.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        shutil.copytree(root / "src", copy / "src", ignore=ignore)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).exists():
                shutil.copy2(root / name, copy / name)
        out_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps",
             "--disable-pip-version-check", "-q", "-w", str(out_dir), str(copy)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"building the wheel failed:\n{done.stdout}{done.stderr}")
    wheels = sorted(out_dir.glob("corral-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise RuntimeError(f"pip wheel wrote no corral wheel into {out_dir}")
    return wheels[-1]


VERSION_RE = re.compile(r"[0-9][0-9A-Za-z.!+_-]*")


class WheelNotFound(RuntimeError):
    """`pip download corral==VERSION` found no wheel; the message says where it looked."""


def pip_download_args(
    version: str, dest: Path, find_links: Sequence[str], index_url: str | None, no_index: bool
) -> list[str]:
    """pip's arguments to download corral's wheel of `version` alone into `dest` (pure)."""
    args = ["download", f"corral=={version}", "--no-deps", "--only-binary", ":all:",
            "--disable-pip-version-check", "-q", "-d", str(dest)]  # fmt: skip
    for link in find_links:
        args += ["--find-links", link]
    if index_url:
        args += ["--index-url", index_url]
    if no_index:
        args.append("--no-index")
    return args


def fetch(
    version: str,
    dest: Path,
    *,
    find_links: Sequence[str] = (),
    index_url: str | None = None,
    no_index: bool = False,
) -> Path:
    """The corral wheel of `version`, downloaded into `dest` by this machine's pip (from an
    index, `find_links` directories, or both); `WheelNotFound` when there is none."""
    args = pip_download_args(version, dest, find_links, index_url, no_index)
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    wheels = sorted(dest.glob(f"corral-{version}-*.whl")) or sorted(dest.glob("corral-*.whl"))
    if done.returncode != 0 or not wheels:
        where = [f"--find-links {d}" for d in find_links]
        if not no_index:
            where.append(f"the index {index_url or 'of pip (PyPI unless configured)'}")
        said = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        reason = next((ln for ln in said if "from versions" in ln), said[-1] if said else "")
        raise WheelNotFound(
            f"no corral {version} wheel in {' or '.join(where) or 'nowhere (--no-index)'}"
            + (f" (pip: {reason})" if reason else "")
        )
    return wheels[-1]
