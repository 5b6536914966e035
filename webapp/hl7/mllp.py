"""MLLP framing (<VT> message <FS><CR>) and a blocking client with timeouts.

The client keeps its connection for the next message; a receiver that closed it in between
(many answer one message per connection) is noticed before sending, and a new connection is made.

The ``hl7`` package's ``hl7.client.MLLPClient`` was considered: it has no connect or answer
timeout, sends with one ``send()`` (part of a message may go) and reads the answer with one
``recv(4096)`` (an ACK split over two segments is cut). This client is tested against hl7apy's
MLLP server (``tests/hl7/peers.py``) and the ``hl7`` package's client talks to our listener.
"""

from __future__ import annotations

import select
import socket
import time

START = b"\x0b"
END = b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1024 * 1024


class MllpError(Exception):
    """The receiver could not be reached, closed the connection, or sent no proper answer in time."""


class ClosedWithoutAnswer(MllpError):
    """The receiver closed (or reset) the connection before answering: it may never have read the message."""


def frame(text: str) -> bytes:
    return START + text.encode("utf-8") + END


class FrameReader:
    """Splits the bytes of one connection into messages (text between <VT> and <FS><CR>)."""

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self.buffer = b""
        self.limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        messages = []
        while True:
            end = self.buffer.find(END)
            if end < 0:
                break
            chunk, self.buffer = self.buffer[:end], self.buffer[end + len(END):]
            start = chunk.find(START)
            if start >= 0:
                messages.append(chunk[start + 1:])
        if len(self.buffer) > self.limit:
            raise MllpError(f"A message longer than {self.limit} bytes.")
        return messages


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when the peer has closed (or reset) an idle connection: readable with nothing to read."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class MllpClient:
    """Send one message at a time to ``host:port`` and wait for its answer (an ACK)."""

    def __init__(self, destination: str, timeout: float = 10.0) -> None:
        host, _, port = destination.rpartition(":")
        self.address = (host.strip("[]"), int(port))
        self.destination = destination
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _connection(self) -> socket.socket:
        if self.sock is not None and _closed_by_peer(self.sock):
            self.close()
        if self.sock is None:
            try:
                self.sock = socket.create_connection(self.address, timeout=self.timeout)
            except OSError as exc:
                raise MllpError(f"cannot connect to {self.destination}: {exc.strerror or exc}") from None
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def send(self, text: str) -> str:
        """Send ``text``; the receiver's answer. Any failure closes the connection and raises MllpError.

        A connection that already carried a message and is closed by the receiver before any
        answer was probably closed just after its last answer (one message per connection): the
        message goes once more over a new connection (at least once, as the outbox promises). A
        receiver that took the message and did not answer in time is not sent it again here
        (that was a second copy within one attempt, and twice ``HL7_TIMEOUT``): the outbox
        retries the attempt later.
        """
        reused = self.sock is not None
        try:
            return self._exchange(text)
        except ClosedWithoutAnswer:
            if not reused:
                raise
        return self._exchange(text)

    def _exchange(self, text: str) -> str:
        sock = self._connection()
        reader = FrameReader()
        try:
            sock.settimeout(self.timeout)
            sock.sendall(frame(text))
            answer_by = time.monotonic() + self.timeout  # the whole answer, not each piece of it
            while True:
                sock.settimeout(max(answer_by - time.monotonic(), 0.001))
                data = sock.recv(65536)
                if not data:
                    raise ClosedWithoutAnswer(f"{self.destination} closed the connection without an answer")
                answers = reader.feed(data)
                if answers:
                    return answers[0].decode("utf-8", errors="replace")
        except TimeoutError:
            self.close()
            raise MllpError(f"no answer from {self.destination} within {self.timeout:g} s") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            raise ClosedWithoutAnswer(f"connection to {self.destination} failed: {exc.strerror or exc}") from None
        except OSError as exc:
            self.close()
            raise MllpError(f"connection to {self.destination} failed: {exc.strerror or exc}") from None
        except MllpError:
            self.close()
            raise

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
