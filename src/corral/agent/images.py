"""Container images for MESOS containers: root filesystems from the agent's ``--images-dir``.

A task asks for an image the way Mesos's unified containerizer is asked::

    "container": {"type": "MESOS",
                  "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox"}}}}

(``"type": "APPC", "appc": {"name": ...}`` works the same). corral has no registry client: the
name is looked up in the agent's ``--images-dir`` as a root filesystem, either a directory
``DIR/<name>/`` or a tarball of one, ``DIR/<name>.tar`` (``.tar.gz``, ``.tgz``); a ``:latest``
tag may be left off the file name. A tarball is unpacked once into ``<work_dir>/images/``
(again when the file changes). The linux containerizer has the launcher run the task with
that tree as its root (see ``namespaces.enter_rootfs``).
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from corral.wire.tasks import ContainerInfo

SUFFIXES = ("", ".tar", ".tar.gz", ".tgz")


class ImageError(Exception):
    """The task's image cannot be used; the message says why (naming the field or flag)."""


def image_name(container: ContainerInfo | None) -> str | None:
    """The image a MESOS ContainerInfo asks for; None when it runs on the host's filesystem."""
    if container is None or container.kind != "MESOS":
        return None
    image = container.mesos.image if container.mesos is not None else None
    if image is None:
        return None
    kind = image.type or "DOCKER"
    if kind not in ("DOCKER", "APPC"):
        raise ImageError(f"container.mesos.image.type: {kind!r} is not DOCKER or APPC")
    spec = image.docker if kind == "DOCKER" else image.appc
    name = spec.name if spec is not None else None
    if not name:
        raise ImageError(f"container.mesos.image.{kind.lower()}.name is required")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        field = f"container.mesos.image.{kind.lower()}.name"
        raise ImageError(f"{field}: {name!r} is not an image name")
    return name


def find_image(images_dir: Path, name: str) -> Path:
    names = [name]
    if name.endswith(":latest"):
        names.append(name.removesuffix(":latest"))
    tried = []
    for n in names:
        for suffix in SUFFIXES:
            path = images_dir / f"{n}{suffix}"
            tried.append(path.name)
            if path.is_dir() if not suffix else path.is_file():
                return path
    raise ImageError(
        f"image {name!r} not found in --images-dir {images_dir} (looked for {', '.join(tried)})"
    )


def provision(images_dir: Path, cache_dir: Path, name: str) -> Path:
    """The root filesystem directory of image ``name`` (unpacked into ``cache_dir`` if needed)."""
    source = find_image(images_dir, name)
    if source.is_dir():
        return source
    st = source.stat()
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)  # overlay-safe
    target = cache_dir / f"{safe}-{st.st_size}-{st.st_mtime_ns}"
    with _unpacking(target):  # one unpack per image at a time; the others wait and reuse it
        if target.is_dir():
            return target
        tmp: Path | None = None
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_dir))
            with tarfile.open(source) as tar:
                tar.extractall(tmp, filter="tar")  # no absolute paths or '..' out of the tree
            tmp.replace(target)
        except (OSError, tarfile.TarError) as exc:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise ImageError(f"cannot unpack image {name!r} from {source}: {exc}") from exc
    return target


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def _unpacking(target: Path) -> Iterator[None]:
    with _locks_guard:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:
        yield
