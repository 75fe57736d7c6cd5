"""Task sandboxes: directory layout, environment, and the URI fetcher."""

from __future__ import annotations

import os
import shutil
import stat
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
        name = uri.output_file or os.path.basename(parsed.path) or "download"
        dest = sandbox / name
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
            try:
                shutil.unpack_archive(str(dest), str(sandbox))
            except (shutil.ReadError, OSError, ValueError) as exc:
                raise FetchError(f"Failed to extract {name}: {exc}") from None
            with open(log, "a") as f:
                f.write(f"Extracted {dest} into {sandbox}\n")
