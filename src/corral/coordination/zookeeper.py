"""ZooKeeper through kazoo: master election and detection the Mesos way, and durable stores.

Election: each master creates an EPHEMERAL|SEQUENTIAL ``json.info_NNNNNNNNNN`` child of the
group path holding its MasterInfo as JSON; the lowest sequence leads. This is exactly what
Mesos writes, so Mesos-aware clients (pymesos given ``zk://``) find the leader. Nothing else
lives directly under the group path except ``log_replicas`` (which pymesos skips, as Mesos
keeps its replicated log there): corral's registry and framework stores live below it.

kazoo runs its own threads; every callback is handed to the asyncio loop with
``call_soon_threadsafe``. This is the only module with threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.retry import KazooRetry

from corral.coordination.interfaces import RegistrySnapshot
from corral.coordination.url import ZkUrl, parse_zk_url

log = logging.getLogger("corral.coordination")

INFO_PREFIX = "json.info_"
STORE_CHILD = "log_replicas"


def make_client(url: ZkUrl, session_timeout: float) -> KazooClient:
    retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0)
    client = KazooClient(
        hosts=url.hosts,
        timeout=session_timeout,
        connection_retry=retry,
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
    )
    if url.auth:
        client.add_auth("digest", url.auth)
    return client


def leader_of(children: list[str]) -> str | None:
    """The leading candidate: the lowest sequence among ``json.info_`` nodes."""
    candidates = sorted(c for c in children if c.startswith(INFO_PREFIX))
    return candidates[0] if candidates else None


def address_of(data: bytes) -> str | None:
    """``ip:port`` from a MasterInfo JSON node, as pymesos reads it."""
    try:
        info = json.loads(data)
        addr = info["address"]
        return f"{addr.get('hostname') or addr['ip']}:{int(addr['port'])}"
    except (ValueError, KeyError, TypeError):
        return None


def find_leader(url: str, timeout: float = 10.0) -> str | None:
    """One look at a ``zk://`` group: the leading master's ``host:port``, or None."""
    zk = parse_zk_url(url)
    client = make_client(zk, timeout)
    client.start(timeout=timeout)
    try:
        leader = leader_of(client.get_children(zk.path))
        if leader is None:
            return None
        data, _ = client.get(f"{zk.path}/{leader}")
        return address_of(data)
    except NoNodeError:
        return None
    finally:
        close_client(client)


def find_masters(url: str, timeout: float = 10.0) -> list[str]:
    """Every master registered in a ``zk://`` group, the leader first (``host:port``)."""
    zk = parse_zk_url(url)
    client = make_client(zk, timeout)
    client.start(timeout=timeout)
    try:
        out = []
        for child in sorted(c for c in client.get_children(zk.path) if c.startswith(INFO_PREFIX)):
            with contextlib.suppress(NoNodeError):
                address = address_of(client.get(f"{zk.path}/{child}")[0])
                if address:
                    out.append(address)
        return out
    except NoNodeError:
        return []
    finally:
        close_client(client)


def close_client(client: KazooClient) -> None:
    """Stop and close a kazoo client (blocking: call from a thread)."""
    try:
        client.stop()
        client.close()
    except KazooException:
        pass


class _GroupWatcher:
    """Watch a master group and work out who leads (shared by contenders and detectors).

    Leadership only moves forward, to a higher sequence number: an evaluation that raced a
    newer one (kazoo runs watches and reconnection checks on different threads) must not
    bring back a dead leader.
    """

    def __init__(self, url: str, session_timeout: float) -> None:
        self.url = parse_zk_url(url)
        self.session_timeout = session_timeout
        self.client = make_client(self.url, session_timeout)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._latest: str | None = None

    async def start(self, timeout: float = 30.0) -> None:
        self._loop = asyncio.get_running_loop()
        self.client.add_listener(self._listener)
        await self._loop.run_in_executor(None, lambda: self.client.start(timeout=timeout))
        await self._loop.run_in_executor(None, self._join)

    def _join(self) -> None:
        self.client.ensure_path(self.url.path)
        self.client.ChildrenWatch(self.url.path, self._children)

    def _children(self, children: list[str]) -> bool:
        if self._stopped:
            return False
        self._evaluate(children)
        return True

    def _leader(self, children: list[str]) -> tuple[str | None, str | None] | None:
        """(leading node, its address), or None when this evaluation is stale."""
        leader = leader_of(children)
        with self._lock:
            if leader is not None and self._latest is not None and leader < self._latest:
                return None
            if leader is not None:
                self._latest = leader
        if leader is None:
            return None, None
        try:
            data, _ = self.client.get(f"{self.url.path}/{leader}")
            return leader, address_of(data)
        except (NoNodeError, KazooException):
            return leader, None

    def _refresh(self) -> None:
        try:
            self._evaluate(self.client.get_children(self.url.path))
        except KazooException as exc:
            log.warning("reading the master group failed: %s", exc)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._stopped:
            self._loop.call_soon_threadsafe(fn, *args)

    def _evaluate(self, children: list[str]) -> None:
        raise NotImplementedError

    def _listener(self, state: str) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        self._stopped = True
        await asyncio.get_running_loop().run_in_executor(None, close_client, self.client)


class MasterContender(_GroupWatcher):
    """Contend for leadership and watch who leads.

    ``on_change(leading, leader_address)`` runs on the asyncio loop whenever this master's
    role or the known leader changes; ``on_state(state)`` whenever the ZooKeeper connection
    changes. A leader must pause the moment the connection is SUSPENDED (its session may be
    expiring, and another master may be elected as soon as it has): it resumes if the same
    session reconnects, and gives up its state when the session is LOST.
    """

    def __init__(
        self,
        url: str,
        info: bytes,
        on_change: Callable[[bool, str | None], None],
        session_timeout: float = 10.0,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(url, session_timeout)
        self.info = info
        self.on_change = on_change
        self.on_state = on_state
        self.my_node: str | None = None
        self._state = "CONNECTED"
        self._generation = 0  # bumped by leave(): older election results are dropped

    def _stand(self) -> None:
        """Create our candidacy node (kazoo thread)."""
        path = self.client.create(
            f"{self.url.path}/{INFO_PREFIX}", self.info, ephemeral=True, sequence=True
        )
        self.my_node = path.rsplit("/", 1)[1]
        log.info("joined the master group at %s as %s", self.url.path, self.my_node)

    def _join(self) -> None:
        self.client.ensure_path(self.url.path)
        self._stand()
        self.client.ChildrenWatch(self.url.path, self._children)

    def _evaluate(self, children: list[str]) -> None:
        with self._lock:
            generation, mine = self._generation, self.my_node
        found = self._leader(children)
        if found is None:
            return
        leader, address = found
        leading = leader is not None and leader == mine and self._state == "CONNECTED"
        self._call(self._deliver, generation, leading, address)

    def _listener(self, state: str) -> None:
        prev, self._state = self._state, state
        if self.on_state is not None:
            self._call(self.on_state, str(state))
        if state in (KazooState.SUSPENDED, KazooState.LOST):
            log.warning("ZooKeeper connection %s: not acting as leader", state)
            if state == KazooState.LOST:
                # The session is gone, and with it our candidacy: certainly not the leader.
                self.my_node = None
                self._call(self.on_change, False, None)
        elif state == KazooState.CONNECTED and prev != KazooState.CONNECTED:
            self.client.handler.spawn(self._reconnected)

    def others(self) -> int:
        """How many other masters stand in the election (kazoo call: run in a thread)."""
        mine = self.my_node
        return sum(
            1 for c in self.client.get_children(self.url.path)
            if c.startswith(INFO_PREFIX) and c != mine
        )  # fmt: skip

    def leave(self) -> str | None:
        """Stop leading now, before anything is deleted (any thread, no I/O): every election
        result worked out before this point is dropped when it reaches the loop, and later
        ones do not name this master. Returns the candidacy for `rejoin`."""
        with self._lock:
            self._generation += 1
            node, self.my_node = self.my_node, None
        return node

    def rejoin(self, node: str | None) -> None:
        """Delete the candidacy `leave` returned (the next master in line leads as soon as its
        watch fires) and stand again, at the back of the line. Kazoo calls: run in a thread."""
        if node is not None:
            with contextlib.suppress(NoNodeError):
                self.client.delete(f"{self.url.path}/{node}")
        if self.my_node is None:  # (a reconnection may have stood again meanwhile)
            self._stand()

    def _deliver(self, generation: int, leading: bool, address: str | None) -> None:
        if generation == self._generation:
            self.on_change(leading, address)

    def _reconnected(self) -> None:
        if self._stopped:
            return
        try:
            if self.my_node is None:  # the session expired: stand again with a new node
                self._stand()
        except KazooException as exc:
            log.warning("re-joining the master group failed: %s", exc)
        self._refresh()


class LeaderDetector(_GroupWatcher):
    """Follow the leading master of a ``zk://`` group: ``on_leader("host:port" | None)``."""

    def __init__(
        self, url: str, on_leader: Callable[[str | None], None], session_timeout: float = 10.0
    ) -> None:
        super().__init__(url, session_timeout)
        self.on_leader = on_leader

    def _evaluate(self, children: list[str]) -> None:
        found = self._leader(children)
        if found is not None:
            self._call(self.on_leader, found[1])

    def _listener(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self.client.handler.spawn(self._refresh)


class ZkKeyValueStore:
    """Small values under ``<path>/log_replicas/<namespace>/<key>`` (keys may not contain '/')."""

    def __init__(self, client: KazooClient, path: str, namespace: str) -> None:
        self.client = client
        self.base = f"{path}/{STORE_CHILD}/{namespace}"
        self.client.ensure_path(self.base)

    def _node(self, key: str) -> str:
        if not key or "/" in key:
            raise ValueError(f"bad key {key!r}")
        return f"{self.base}/{key}"

    def get(self, key: str) -> bytes | None:
        try:
            data, _ = self.client.get(self._node(key))
            return bytes(data)
        except NoNodeError:
            return None

    def put(self, key: str, value: bytes) -> None:
        node = self._node(key)
        try:
            self.client.set(node, value)
        except NoNodeError:
            try:
                self.client.create(node, value)
            except NodeExistsError:
                self.client.set(node, value)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """One put after another (each node is written atomically; a batch is not)."""
        for key, value in items:
            self.put(key, value)

    def delete(self, key: str) -> None:
        try:
            self.client.delete(self._node(key))
        except NoNodeError:
            pass

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.client.get_children(self.base) if k.startswith(prefix))

    def close(self) -> None:
        pass


class ZkRegistry:
    """The HA master's registry in ZooKeeper, next to the election nodes."""

    def __init__(self, client: KazooClient, path: str) -> None:
        self.agents = ZkKeyValueStore(client, path, "agents")
        self.unreachable = ZkKeyValueStore(client, path, "unreachable")
        self.gone = ZkKeyValueStore(client, path, "gone")
        self.quotas = ZkKeyValueStore(client, path, "quotas")
        self.weights = ZkKeyValueStore(client, path, "weights")
        self.meta = ZkKeyValueStore(client, path, "meta")

    def load(self) -> RegistrySnapshot:
        snap = RegistrySnapshot()
        for key in self.agents.keys():  # noqa: SIM118
            value = self.agents.get(key)
            if value is not None:
                snap.agents[key] = json.loads(value)
        for key in self.unreachable.keys():  # noqa: SIM118
            value = self.unreachable.get(key)
            if value is not None:
                snap.unreachable[key] = float(value)
        for key in self.gone.keys():  # noqa: SIM118
            value = self.gone.get(key)
            if value is not None:
                snap.gone[key] = float(value)
        for key in self.quotas.keys():  # noqa: SIM118
            value = self.quotas.get(key)
            if value is not None:
                snap.quotas[key] = json.loads(value)
        for key in self.weights.keys():  # noqa: SIM118
            value = self.weights.get(key)
            if value is not None:
                snap.weights[key] = float(value)
        value = self.meta.get("maintenance")
        if value is not None:
            snap.maintenance = json.loads(value)
        return snap

    def put_quota(self, role: str, quota: dict[str, dict[str, float]] | None) -> None:
        # Role names may not hold '/' (nested roles have no quota), so each is one node.
        if quota is None:
            self.quotas.delete(role)
        else:
            self.quotas.put(role, json.dumps(quota).encode())

    def put_weights(self, weights: dict[str, float]) -> None:
        self.weights.put_many([(r, repr(float(w)).encode()) for r, w in weights.items()])

    def admit_agent(self, agent_id: str, info: dict[str, Any]) -> None:
        self.unreachable.delete(agent_id)
        self.agents.put(agent_id, json.dumps(info).encode())

    def mark_unreachable(self, agent_id: str, when: float) -> None:
        self.agents.delete(agent_id)
        self.unreachable.put(agent_id, str(when).encode())

    def remove_agent(self, agent_id: str) -> None:
        self.agents.delete(agent_id)
        self.unreachable.delete(agent_id)

    def mark_gone(self, agent_id: str, when: float) -> None:
        self.gone.put(agent_id, str(when).encode())
        self.remove_agent(agent_id)

    def save_maintenance(self, data: dict[str, Any]) -> None:
        self.meta.put("maintenance", json.dumps(data).encode())

    def close(self) -> None:
        pass


class FrameworkElection:
    """Leadership for an HA pair of framework processes: a kazoo Lock at a path of the
    framework's own (away from the masters' group). ``await campaign()`` returns once this
    process leads; ``lost`` is set if its ZooKeeper session is lost (stop acting then)."""

    def __init__(self, url: str, name: str, identifier: str, session_timeout: float = 10.0) -> None:
        self.url = parse_zk_url(url)
        self.client = make_client(self.url, session_timeout)
        self.base = f"{self.url.path}/{STORE_CHILD}/frameworks/{name}"
        self.identifier = identifier
        self.lost = asyncio.Event()
        self._lock: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Connect (the store can be used from here on); ``campaign`` calls it if needed."""
        if self._loop is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        self.client.add_listener(self._listener)
        await loop.run_in_executor(None, lambda: self.client.start(timeout=30))

    async def campaign(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        self._lock = self.client.Lock(f"{self.base}/leader", self.identifier)
        await loop.run_in_executor(None, self._lock.acquire)

    def _listener(self, state: str) -> None:
        if state in (KazooState.SUSPENDED, KazooState.LOST) and self._loop is not None:
            self._loop.call_soon_threadsafe(self.lost.set)

    def contenders(self) -> list[str]:
        lock = self._lock or self.client.Lock(f"{self.base}/leader")
        return list(lock.contenders())

    def store(self) -> ZkKeyValueStore:
        """The framework's state store, under the same ZooKeeper path."""
        return ZkKeyValueStore(
            self.client, self.url.path, f"frameworks/{self.base.rsplit('/', 1)[1]}/state"
        )

    async def stop(self) -> None:
        def close() -> None:
            if self._lock is not None:
                with contextlib.suppress(KazooException):
                    self._lock.cancel()
                with contextlib.suppress(KazooException):
                    self._lock.release()
            close_client(self.client)

        await asyncio.get_running_loop().run_in_executor(None, close)
