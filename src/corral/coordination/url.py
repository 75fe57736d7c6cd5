"""``zk://host1:2181,host2:2181/path`` (or ``file:///f`` holding one) as Mesos accepts it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ZkUrl:
    hosts: str  # "h1:2181,h2:2181"
    path: str  # "/corral"
    auth: str | None = None  # "user:pass" (digest), if given


def is_zk_url(text: str) -> bool:
    return text.startswith(("zk://", "zoo://", "file://"))


def parse_zk_url(text: str) -> ZkUrl:
    """Parse a ZooKeeper URL; ValueError names what is wrong."""
    text = text.strip()
    if text.startswith("file://"):
        try:
            text = Path(text[len("file://") :]).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {text}: {exc}") from None
    for prefix in ("zk://", "zoo://"):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            break
    else:
        raise ValueError(f"{text!r} is not a zk:// URL")
    auth = None
    if "@" in rest.split("/", 1)[0]:
        auth, rest = rest.split("@", 1)
    hosts, sep, path = rest.partition("/")
    if not hosts or not sep or not path.strip("/"):
        raise ValueError(f"{text!r}: expected zk://host:port[,host:port...]/path")
    for h in hosts.split(","):
        host, colon, port = h.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"{text!r}: {h!r} is not host:port")
    return ZkUrl(hosts=hosts, path="/" + path.strip("/"), auth=auth)
