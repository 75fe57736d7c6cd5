"""Mesos's ``/files/read`` answer for one file: ``offset=-1`` asks for the size, otherwise
up to ``length`` bytes (at most ``limit``) from ``offset``, as text; errors name the field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from corral.transport.http import error, json_response
from corral.wire import state_views as sv

FILE_READ_MAX = 64 * 1024


def read_response(path: Path, query: Mapping[str, str], limit: int = FILE_READ_MAX) -> web.Response:
    if path.is_dir():
        return error(400, "Cannot read a directory")
    try:
        offset = int(query.get("offset", "-1"))
        length = int(query.get("length", "-1"))
    except ValueError:
        return error(400, "'offset' and 'length' must be integers")
    if offset < -1 or length < -1:
        return error(400, "'offset' and 'length' must not be negative")
    size = path.stat().st_size
    if offset == -1:
        return json_response(sv.FileData(data="", offset=size))
    if length == -1 or length > limit:
        length = limit
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    return json_response(sv.FileData(data=data.decode("utf-8", "replace"), offset=offset))
