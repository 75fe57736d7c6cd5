"""Coordination: leader election, leader detection and durable stores.

Two flavours behind the same small interfaces: embedded (one master, SQLite under the work
dir, no ZooKeeper) and ZooKeeper (kazoo), for masters in HA and for frameworks run as HA pairs.
"""

from corral.coordination.interfaces import KeyValueStore, Registry, RegistrySnapshot
from corral.coordination.url import ZkUrl, is_zk_url, parse_zk_url

__all__ = ["KeyValueStore", "Registry", "RegistrySnapshot", "ZkUrl", "is_zk_url", "parse_zk_url"]
