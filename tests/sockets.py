"""A raw-socket helper of the tests that check a server ends connections it should not keep."""

from __future__ import annotations

import socket


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closed (or reset) ``sock`` within ``seconds``; False when it stays open."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True
