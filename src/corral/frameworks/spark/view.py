"""What the Spark standalone master says about itself: its ``/json/`` page, typed.

The master's web UI serves ``GET /json/`` (Spark 4.x field names): ``url`` (the
``spark://`` URL), ``status`` (``ALIVE`` once it leads, ``STANDBY`` before), ``workers``
(each with ``host``, ``port``, ``state``, ``cores``, ``coresused``, ``coresfree``,
``memory``, ``memoryfree`` in MB) and ``activeapps`` (each with ``id``, ``name``,
``state`` — ``WAITING`` while it has no executor, ``RUNNING`` once it has — ``cores``
granted and ``memoryperexecutor`` in MB). Unknown fields are ignored; missing ones take
the defaults below, so a field Spark drops one day reads as empty rather than failing.
"""

from __future__ import annotations

import msgspec


class SparkWorker(msgspec.Struct, kw_only=True):
    id: str = ""
    host: str = ""
    port: int = 0
    state: str = ""  # ALIVE, DEAD, DECOMMISSIONED, UNKNOWN
    cores: int = 0
    coresused: int = 0
    coresfree: int = 0
    memory: int = 0
    memoryused: int = 0
    memoryfree: int = 0

    @property
    def alive(self) -> bool:
        return self.state == "ALIVE"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


class SparkApp(msgspec.Struct, kw_only=True):
    id: str = ""
    name: str = ""
    state: str = ""  # WAITING, RUNNING, FINISHED, ...
    cores: int = 0  # granted
    memoryperexecutor: int = 0  # MB

    @property
    def waiting(self) -> bool:
        """No executor yet: the app waits for a worker with room for one."""
        return self.state == "WAITING"


class MasterView(msgspec.Struct, kw_only=True):
    url: str = ""
    status: str = ""
    workers: list[SparkWorker] = []
    aliveworkers: int = 0
    cores: int = 0
    coresused: int = 0
    activeapps: list[SparkApp] = []

    @property
    def alive(self) -> bool:
        return self.status == "ALIVE"

    def alive_worker(self, host: str, port: int) -> SparkWorker | None:
        """The live registration of the worker at ``host:port`` (an older, dead one of the
        same address may still be listed)."""
        for w in self.workers:
            if w.alive and w.port == port and w.host == host:
                return w
        return None


def parse_view(data: bytes) -> MasterView:
    """The master's ``/json/`` body; ``msgspec.DecodeError`` (a ``ValueError``) if it is not
    that JSON."""
    return msgspec.json.decode(data, type=MasterView)


__all__ = ["MasterView", "SparkApp", "SparkWorker", "parse_view"]
