"""`corral up`'s port check: a port held by a listener is in use; one left in TIME-WAIT by a
cluster stopped a moment ago is not (servers bind with SO_REUSEADDR)."""

from __future__ import annotations

import socket

from corral.cli.common import port_in_use


def test_a_listening_port_is_in_use_and_a_time_wait_one_is_not() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert port_in_use(port)
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server side closes first: its end of the connection waits in TIME-WAIT
    client.recv(1)
    client.close()
    server.close()
    with socket.socket() as plain:  # without SO_REUSEADDR, as the old check bound
        try:
            plain.bind(("127.0.0.1", port))
            time_wait = False
        except OSError:
            time_wait = True
    assert time_wait, "the connection did not leave TIME-WAIT behind"
    assert not port_in_use(port)
