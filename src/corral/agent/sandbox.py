"""Task sandboxes: directory layout, environment, and the URI fetcher.

The sandbox is a boundary: a URI's ``output_file`` must name a path inside it, and archives
are extracted with tarfile's ``data`` filter (no absolute paths or ``..``, no member outside
the sandbox, no device files, no links pointing out; setuid bits dropped) or, for zip files,
by shutil, which skips absolute and ``..`` names and makes no links.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import urllib.parse
from pathlib import Path

import aiohttp

from corral.wire.tasks import URI

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def make_sandbox(path: Path) -> None:
    try:
        path.mkdir()
    except FileNotFoundError:
        path.mkdir(parents=True)


class FetchError(Exception):
    pass


async def fetch_uris(
    uris: list[URI], sandbox: Path, session: aiohttp.ClientSession | None, log: Path
) -> None:
    """Fetch every URI into the sandbox (http(s) and file/local paths); extract archives."""
    for uri in uris:
        parsed = urllib.parse.urlparse(uri.value)
        name = output_name(uri.output_file) if uri.output_file else None
        name = name or os.path.basename(parsed.path) or "download"
        dest = sandbox / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if parsed.scheme in ("http", "https"):
            if session is None:
                raise FetchError("no HTTP client available")
            try:
                async with session.get(uri.value) as resp:
                    if resp.status != 200:
                        raise FetchError(f"Failed to fetch {uri.value}: HTTP {resp.status}")
                    with open(dest, "wb") as f:
                        async for chunk in resp.content.iter_chunked(1 << 16):
                            f.write(chunk)
            except aiohttp.ClientError as exc:
                raise FetchError(f"Failed to fetch {uri.value}: {exc}") from None
        elif parsed.scheme in ("file", ""):
            src = Path(parsed.path if parsed.scheme == "file" else uri.value)
            if not src.exists():
                raise FetchError(f"Failed to fetch {uri.value}: no such file")
            try:
                if src.is_dir():
                    shutil.copytree(src, dest, dirs_exist_ok=True)
                else:
                    shutil.copyfile(src, dest)
            except OSError as exc:
                raise FetchError(f"Failed to fetch {uri.value}: {exc}") from None
        else:
            raise FetchError(f"Failed to fetch {uri.value}: unsupported scheme {parsed.scheme!r}")
        with open(log, "a") as f:
            f.write(f"Fetched {uri.value} to {dest}\n")
        if uri.executable:
            dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        elif uri.extract and name.lower().endswith(ARCHIVE_SUFFIXES):
            extract(dest, sandbox, name)
            with open(log, "a") as f:
                f.write(f"Extracted {dest} into {sandbox}\n")


def output_name(output_file: str) -> str:
    """A URI's ``output_file`` as a relative path inside the sandbox, or ``FetchError``."""
    parts = [p for p in output_file.split("/") if p not in ("", ".")]
    if output_file.startswith("/") or ".." in parts or not parts:
        raise FetchError(
            f"Failed to fetch: output_file {output_file!r} must be a relative path inside the "
            "sandbox"
        )
    return "/".join(parts)


def extract(archive: Path, sandbox: Path, name: str) -> None:
    """Extract ``archive`` into ``sandbox``, refusing any member that would leave it."""
    try:
        if name.lower().endswith(".zip"):
            shutil.unpack_archive(str(archive), str(sandbox), format="zip")
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(sandbox, filter="data")
    except tarfile.FilterError as exc:
        raise FetchError(f"Failed to extract {name}: refused {exc}") from None
    except (tarfile.TarError, shutil.ReadError, OSError, ValueError, EOFError) as exc:
        raise FetchError(f"Failed to extract {name}: {exc}") from None


def within(sandbox: Path, relative: str) -> Path | None:
    """``relative`` inside ``sandbox`` with every link followed, or None when it leaves it
    (``..``, an absolute path, a symlink pointing out)."""
    try:
        top = sandbox.resolve()
        real = (top / relative.lstrip("/")).resolve() if relative.strip("/") else top
    except (OSError, RuntimeError, ValueError):
        return None
    return real if real == top or top in real.parents else None


def confine(root: Path, raw: str) -> Path | None:
    """An absolute path asked for through ``/files``: it names one sandbox under ``root``
    (``<root>/<container id>/...``, as the agent's state shows it) and may not leave that
    sandbox; ``root`` itself and anything outside it are refused (None)."""
    path = os.path.normpath(raw)
    if not os.path.isabs(path):
        return None
    for base in {os.path.abspath(root), str(root.resolve())}:
        rel = os.path.relpath(path, base)
        if rel == "." or rel.startswith(".."):
            continue
        first, _, rest = rel.partition(os.sep)
        return within(Path(base) / first, rest)
    return None
