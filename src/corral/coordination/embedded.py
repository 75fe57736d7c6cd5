"""Single-master defaults: the registry and framework stores in SQLite under the work dir."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from corral.coordination.interfaces import RegistrySnapshot


class SqliteKeyValueStore:
    def __init__(self, path: Path, table: str = "kv") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not table.isidentifier():
            raise ValueError(f"bad table name {table!r}")
        self._table = table
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process crashing (not a power cut) without an
        # fsync per write; 10,000 agents registering at once would otherwise wait on the disk.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v BLOB)")

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(f"SELECT v FROM {self._table} WHERE k = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT INTO {self._table} (k, v) VALUES (?, ?) "
                "ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                (key, value),
            )

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Put every (key, value) in one transaction: one commit for a batch of launches."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT INTO {self._table} (k, v) VALUES (?, ?) "
                    "ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                    items,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute(f"DELETE FROM {self._table} WHERE k = ?", (key,))

    def replace(self, delete: str, key: str, value: bytes) -> None:
        """Delete one key and put another, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(f"DELETE FROM {self._table} WHERE k = ?", (delete,))
                self._db.execute(
                    f"INSERT INTO {self._table} (k, v) VALUES (?, ?) "
                    "ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                    (key, value),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT k FROM {self._table} WHERE substr(k, 1, ?) = ? ORDER BY k",
                (len(prefix), prefix),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SqliteRegistry:
    """The embedded master's registry: admitted and unreachable agents."""

    def __init__(self, path: Path) -> None:
        self._kv = SqliteKeyValueStore(path, "registry")

    def load(self) -> RegistrySnapshot:
        snap = RegistrySnapshot()
        for key in self._kv.keys("agent/"):
            value = self._kv.get(key)
            if value is not None:
                snap.agents[key[len("agent/") :]] = json.loads(value)
        for key in self._kv.keys("unreachable/"):
            value = self._kv.get(key)
            if value is not None:
                snap.unreachable[key[len("unreachable/") :]] = float(value)
        for key in self._kv.keys("gone/"):
            value = self._kv.get(key)
            if value is not None:
                snap.gone[key[len("gone/") :]] = float(value)
        for key in self._kv.keys("quota/"):
            value = self._kv.get(key)
            if value is not None:
                snap.quotas[key[len("quota/") :]] = json.loads(value)
        for key in self._kv.keys("weight/"):
            value = self._kv.get(key)
            if value is not None:
                snap.weights[key[len("weight/") :]] = float(value)
        value = self._kv.get("maintenance")
        if value is not None:
            snap.maintenance = json.loads(value)
        return snap

    def put_quota(self, role: str, quota: dict[str, dict[str, float]] | None) -> None:
        if quota is None:
            self._kv.delete(f"quota/{role}")
        else:
            self._kv.put(f"quota/{role}", json.dumps(quota).encode())

    def put_weights(self, weights: dict[str, float]) -> None:
        self._kv.put_many([(f"weight/{r}", repr(float(w)).encode()) for r, w in weights.items()])

    def admit_agent(self, agent_id: str, info: dict[str, Any]) -> None:
        self._kv.replace(f"unreachable/{agent_id}", f"agent/{agent_id}", json.dumps(info).encode())

    def mark_unreachable(self, agent_id: str, when: float) -> None:
        self._kv.replace(f"agent/{agent_id}", f"unreachable/{agent_id}", str(when).encode())

    def remove_agent(self, agent_id: str) -> None:
        self._kv.delete(f"agent/{agent_id}")
        self._kv.delete(f"unreachable/{agent_id}")

    def mark_gone(self, agent_id: str, when: float) -> None:
        self._kv.put(f"gone/{agent_id}", str(when).encode())
        self.remove_agent(agent_id)

    def save_maintenance(self, data: dict[str, Any]) -> None:
        self._kv.put("maintenance", json.dumps(data).encode())

    def close(self) -> None:
        self._kv.close()
