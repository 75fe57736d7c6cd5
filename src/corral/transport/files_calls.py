"""LIST_FILES and READ_FILE of the operator API, shared by the master (its log, the paths it
serves under ``/files``) and the agent (sandboxes, with the confinement and ACLs of its
``/files`` routes): the caller resolves a path, or answers why not (404, 403)."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from corral.transport.http import error, json_response
from corral.wire import files_calls as fc
from corral.wire.codec import WireError, decode
from corral.wire.common import TimeInfo

READ_FILE_MAX = 16 << 20  # READ_FILE answers at most this many bytes at once

Resolve = Callable[[str], Path | web.Response]


def owner_names(st: os.stat_result) -> tuple[str, str]:
    """The user and group names owning a file (their ids where no name is known)."""
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return user, group


def file_info(real: Path, shown: str) -> fc.FileInfo:
    st = real.lstat()
    user, group = owner_names(st)
    return fc.FileInfo(
        path=shown,
        nlink=st.st_nlink,
        size=st.st_size,
        mtime=TimeInfo(nanoseconds=st.st_mtime_ns),
        mode=st.st_mode,
        uid=user,
        gid=group,
    )


def answer(body: bytes, kind: str, resolve: Resolve) -> web.Response:
    """The answer to a LIST_FILES or READ_FILE call (``body``: the call's JSON)."""
    try:
        call = decode(body, fc.FilesCall)
    except WireError as exc:
        return error(400, f"Failed to validate {kind}: {exc}")
    try:
        return answer_call(call, kind, resolve)
    except PermissionError:
        return error(403, "Permission denied")
    except FileNotFoundError:
        return error(404, "File not found")
    except (OSError, OverflowError) as exc:
        return error(400, f"Cannot read the file: {exc}")


def answer_call(call: fc.FilesCall, kind: str, resolve: Resolve) -> web.Response:
    if call.type == "LIST_FILES":
        lf = call.list_files
        if lf is None:
            return error(400, f"Failed to validate {kind}: Expecting 'list_files' to be present")
        real = resolve(lf.path)
        if isinstance(real, web.Response):
            return real
        if real.is_dir():
            base = lf.path.rstrip("/")
            infos = [file_info(p, f"{base}/{p.name}") for p in sorted(real.iterdir())]
        else:
            infos = [file_info(real, lf.path)]
        listed = fc.ListFilesResult(file_infos=infos)
        return json_response(fc.FilesResponse(type=call.type, list_files=listed))
    rf = call.read_file
    if rf is None:
        return error(400, f"Failed to validate {kind}: Expecting 'read_file' to be present")
    if rf.offset < 0:
        return error(400, f"Failed to validate {kind}: 'read_file.offset' must not be negative")
    if rf.length is not None and rf.length < 0:
        return error(400, f"Failed to validate {kind}: 'read_file.length' must not be negative")
    real = resolve(rf.path)
    if isinstance(real, web.Response):
        return real
    if real.is_dir():
        return error(400, f"'read_file.path': {rf.path} is a directory")
    length = READ_FILE_MAX if rf.length is None else min(rf.length, READ_FILE_MAX)
    with open(real, "rb") as f:
        size = f.seek(0, 2)
        f.seek(rf.offset)
        data = f.read(length)
    read = fc.ReadFileResult(size=size, data=data)
    return json_response(fc.FilesResponse(type=call.type, read_file=read))
