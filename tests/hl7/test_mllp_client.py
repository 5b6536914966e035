"""The MLLP client of the outbox (issue 26, items 2 and 21): one copy per attempt.

After a timeout on a reused connection the message used to go again at once over a new one:
three copies in two attempts, and an attempt that took twice ``HL7_TIMEOUT``. The receiver here
is a plain socket that reads frames and answers the first message only, as a hung HL7 engine
would; a receiver that closes the connection between messages still gets its message once.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from webapp.hl7.mllp import FrameReader, MllpClient, MllpError, frame

pytestmark = pytest.mark.sqlite_only
ACK = "MSH|^~\\&|R|T|||20260101000000||ACK|1|P|2.5.1\rMSA|AA|1\r"


class Peer:
    """Answers the first ``answer`` messages of each connection; records every message read."""

    def __init__(self, answer: int, close_after_answer: bool = False) -> None:
        self.answer, self.close_after_answer = answer, close_after_answer
        self.received: list[bytes] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        reader, answered = FrameReader(), 0
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                for message in reader.feed(data):
                    self.received.append(message)
                    if answered < self.answer:
                        conn.sendall(frame(ACK))
                        answered += 1
                        if self.close_after_answer:
                            return


def test_a_timeout_on_a_reused_connection_sends_no_second_copy():
    peer = Peer(answer=1)
    client = MllpClient(f"127.0.0.1:{peer.port}", timeout=1.0)
    assert "MSA|AA" in client.send("MSH|first")
    started = time.monotonic()
    with pytest.raises(MllpError, match="no answer"):
        client.send("MSH|second")
    took = time.monotonic() - started
    time.sleep(0.3)
    assert [m for m in peer.received if m == b"MSH|second"] == [b"MSH|second"]  # once, not twice
    assert took < 1.9, took  # one HL7_TIMEOUT, not two
    client.close()


def test_a_receiver_that_closes_between_messages_gets_each_once():
    peer = Peer(answer=1, close_after_answer=True)
    client = MllpClient(f"127.0.0.1:{peer.port}", timeout=2.0)
    for text in ("MSH|one", "MSH|two", "MSH|three"):
        assert "MSA|AA" in client.send(text)
    time.sleep(0.2)
    assert peer.received == [b"MSH|one", b"MSH|two", b"MSH|three"]
    client.close()
