"""LIST_FILES and READ_FILE of the v1 operator API (master and agent): the calls, and their
answers as ``mesos.v1.FileInfo`` and ``{size, data}`` (``data`` base64, as protobuf's bytes)."""

from __future__ import annotations

from corral.wire.base import Message, View
from corral.wire.common import TimeInfo

CALLS = ("LIST_FILES", "READ_FILE")


class ListFiles(Message, kw_only=True):
    path: str


class ReadFile(Message, kw_only=True):
    path: str
    offset: int
    length: int | None = None


class FilesCall(Message, kw_only=True):
    type: str
    list_files: ListFiles | None = None
    read_file: ReadFile | None = None


class FileInfo(View, kw_only=True):
    """``mesos.v1.FileInfo``."""

    path: str
    nlink: int
    size: int
    mtime: TimeInfo
    mode: int  # st_mode
    uid: str
    gid: str


class ListFilesResult(View, kw_only=True):
    file_infos: list[FileInfo]


class ReadFileResult(View, kw_only=True):
    size: int
    data: bytes  # base64 in JSON


class FilesResponse(Message, kw_only=True):
    type: str
    list_files: ListFilesResult | None = None
    read_file: ReadFileResult | None = None
