"""Wire types: the Mesos v1 JSON contract and corral's agent protocol, defined once."""

from corral.wire.base import ID, Message
from corral.wire.codec import WireError, decode, encode

__all__ = ["ID", "Message", "WireError", "decode", "encode"]
