"""Real HL7 peers for the tests: an MLLP receiver from hl7apy (hl7apy.mllp.MLLPServer)."""

from __future__ import annotations

import socket
import threading
import time

from hl7apy.mllp import AbstractErrorHandler, AbstractHandler, MLLPServer
from hl7apy.parser import parse_message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """Records every message it is sent (parsed by hl7apy) and answers AA, or AE when told to.

    ``refuse(n)`` answers AE to the next ``n`` messages; ``drop_answers(n)`` takes the next ``n``
    and closes the connection without answering (an ACK lost on the way); ``hold()`` keeps the
    next one's answer back until ``release.set()`` (``holding`` is set once it arrived: a slow
    send in flight); ``stop()`` and ``start()`` take it down and bring it back on the same port.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[str] = []
        self.refused: list[str] = []
        self.to_refuse = 0
        self.to_drop = 0
        self.to_hold = 0
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server: MLLPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def destination(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _handler(receiver):  # noqa: N805  (the handler class closes over the receiver)
        class Handler(AbstractHandler):
            def reply(self):
                message = parse_message(self.incoming_message, find_groups=False)
                control_id = message.msh.msh_10.to_er7()
                with receiver.lock:
                    refuse = receiver.to_refuse > 0
                    if refuse:
                        receiver.to_refuse -= 1
                        receiver.refused.append(self.incoming_message)
                    else:
                        receiver.received.append(self.incoming_message)
                    drop, hold = receiver.to_drop > 0, receiver.to_hold > 0
                    receiver.to_drop -= drop
                    receiver.to_hold -= hold and not drop
                if drop:
                    return ""  # taken, and the connection closes with no answer
                if hold:
                    receiver.holding.set()
                    receiver.release.wait(30)
                code = "AE" if refuse else "AA"
                text = "Test receiver refuses this one" if refuse else ""
                ack = (f"MSH|^~\\&|RECEIVER|TEST|||20260101000000||ACK^O01^ACK|A{control_id}|P|2.5.1\r"
                       f"MSA|{code}|{control_id}|{text}\r")
                return f"\x0b{ack}\x1c\r"
        return Handler

    def start(self) -> Receiver:
        handler = self._handler()

        class Errors(AbstractErrorHandler):
            def reply(self):
                return "\x0bMSH|^~\\&|RECEIVER|TEST|||20260101000000||ACK|X|P|2.5.1\rMSA|AR|\r\x1c\r"

        handlers = {"ORM^O01^ORM_O01": (handler,), "ORU^R01^ORU_R01": (handler,), "ERR": (Errors,)}
        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = MLLPServer("127.0.0.1", self.port, handlers, timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            self.server = None

    def refuse(self, count: int = 1) -> None:
        with self.lock:
            self.to_refuse += count

    def drop_answers(self, count: int = 1) -> None:
        with self.lock:
            self.to_drop += count

    def hold(self) -> None:
        with self.lock:
            self.to_hold += 1
            self.holding.clear()
            self.release.clear()

    def wait_for(self, count: int, timeout: float = 15) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


def field(message: str, segment: str, number: int) -> str:
    """Field ``number`` of the first ``segment`` of an ER7 message (MSH counts its separator as 1)."""
    for line in message.replace("\n", "\r").split("\r"):
        parts = line.split("|")
        if parts[0] == segment:
            index = number - 1 if segment == "MSH" else number
            return parts[index] if index < len(parts) else ""
    return ""
