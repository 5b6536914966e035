"""Scenario 6: the HL7 outbox. Delivery latency (commit → receiver) and throughput of the
dispatcher, beside a raw MLLP send of the same messages to the same receiver in the same run.

The receiver is python-hl7's asyncio MLLP server (persistent connections, ACK per message),
in a thread of this process; it notes when each message arrives.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time

from sqlalchemy import delete, select

from bench.common import summarise
from bench.scenarios import ORDER_BODY, Row, _visits_sample, verdict

LATENCY_TARGET_MS = 1000.0  # "within a second of the commit"
THROUGHPUT_TARGET = 10.0  # messages a second; a department at its peak sends about one


class Receiver:
    """python-hl7's MLLP server: records (arrival time, ORC-3) per message and answers AA."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import hl7.mllp

        async def on_connection(reader, writer):
            try:
                while not writer.is_closing():
                    message = await reader.readmessage()
                    arrived = time.perf_counter()
                    accession = str(message.segment("ORC")(3))
                    with self.lock:
                        self.arrivals.setdefault(accession, arrived)
                        self.count += 1
                    writer.writemessage(message.create_ack())
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            except Exception as exc:  # noqa: BLE001  (shown, so a broken message is not a silent hang)
                self.errors.append(repr(exc))
            finally:
                writer.close()

        async def serve():
            server = await hl7.mllp.start_hl7_server(on_connection, "127.0.0.1", 0, encoding="utf-8")
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            async with server:
                await server.serve_forever()

        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(serve())
        except (asyncio.CancelledError, RuntimeError):
            pass

    def start(self) -> Receiver:
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            self.loop.call_soon_threadsafe(task.cancel)
        self.thread.join(5)

    def wait_for(self, accessions, timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        wanted = set(accessions)
        while time.perf_counter() < deadline:
            with self.lock:
                if wanted <= set(self.arrivals):
                    return True
            time.sleep(0.002)
        return False


def _raw_sends(port: int, texts: list[str]) -> tuple[list[float], float]:
    """Each message over one MLLP connection, waiting for its ACK: round-trip times, and the total."""
    from webapp.hl7.mllp import FrameReader, frame

    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for text in texts:
            t0 = time.perf_counter()
            sock.sendall(frame(text))
            reader = FrameReader()
            while True:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("the receiver closed the connection")
                if reader.feed(data):
                    break
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
    return times, total


def scenario_outbox(app, backend: str, *, latency_orders: int, throughput_orders: int) -> list[Row]:
    from webapp.auth.models import User
    from webapp.extensions import db, writing
    from webapp.hl7.listener import header_of
    from webapp.hl7.messages import build_message
    from webapp.imaging import services
    from webapp.outbox.dispatcher import Dispatcher
    from webapp.outbox.models import OutboxMessage

    receiver = Receiver().start()
    destination = f"127.0.0.1:{receiver.port}"
    app.config["HL7_OUTBOUND"] = [destination]
    visits = _visits_sample(app)
    rng = random.Random(11)
    with app.app_context():
        doctor_id = db.session.scalar(select(User.id).where(User.username == "doctor-001"))
        db.session.remove()

    def create_one() -> tuple[str, float]:
        patient_id, visit_id = rng.choice(visits)
        with app.app_context(), writing():
            order = services.create_order(db.session.get(User, doctor_id), patient_id=patient_id,
                                          visit_id=visit_id, **ORDER_BODY)
            accession = order.accession_number
            db.session.info.pop(services.PENDING_EVENTS_KEY, None)  # live events: scenario 5's business
            db.session.commit()
            committed = time.perf_counter()
            db.session.remove()
        return accession, committed

    try:
        # Throughput: messages queued first (dispatcher stopped), then delivered by one dispatcher.
        queued = [create_one()[0] for _ in range(throughput_orders)]
        dispatcher, stop = Dispatcher(app, name="bench"), threading.Event()
        started = time.perf_counter()
        thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        thread.start()
        delivered = receiver.wait_for(queued, timeout=600)
        outbox_seconds = time.perf_counter() - started
        outbox_rate = len(queued) / outbox_seconds if delivered else 0.0

        # Latency: one order at a time while the dispatcher polls (OUTBOX_POLL_SECONDS).
        latencies = []
        for _ in range(latency_orders):
            accession, committed = create_one()
            if receiver.wait_for([accession], timeout=30):
                latencies.append(receiver.arrivals[accession] - committed)
            time.sleep(rng.uniform(0.0, 0.1))
        stop.set()
        thread.join(30)

        # The raw baseline: the same messages, prebuilt, sent straight over one MLLP connection.
        with app.app_context():
            rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.destination == destination)
                                      .order_by(OutboxMessage.id).limit(throughput_orders)).all()
            header = header_of(app)
            texts = [build_message(row.kind, row.payload, f"raw{row.id}", header) for row in rows]
            db.session.remove()
        raw_times, raw_total = _raw_sends(receiver.port, texts)
        raw_rate = len(texts) / raw_total
    finally:
        receiver.stop()
        with app.app_context(), writing():
            db.session.execute(delete(OutboxMessage).where(OutboxMessage.destination == destination))
            db.session.commit()
            db.session.remove()
        app.config["HL7_OUTBOUND"] = []

    latency = summarise(latencies)
    raw = summarise(raw_times)
    return [
        Row("6. HL7 outbox: delivery latency, commit → receiver (dispatcher polling "
            f"every {app.config['OUTBOX_POLL_SECONDS']:g} s)", backend,
            f"p50 {latency['p50']:.0f} / p95 {latency['p95']:.0f} ms (n={latency['n']})",
            f"raw MLLP round trip p50 {raw['p50']:.2f} / p95 {raw['p95']:.2f} ms",
            latency["p95"] / raw["p95"] if raw["p95"] else None, f"p95 ≤ {LATENCY_TARGET_MS:.0f} ms",
            verdict(latency["n"] == latency_orders and latency["p95"] <= LATENCY_TARGET_MS),
            {"latency": latency, "raw": raw}),
        Row("6. HL7 outbox: throughput of one dispatcher (claim, build with hl7apy, send, record)", backend,
            f"{outbox_rate:.0f} messages/s ({len(queued)} in {outbox_seconds:.1f} s)",
            f"raw MLLP send of the prebuilt messages {raw_rate:.0f} messages/s",
            raw_rate / outbox_rate if outbox_rate else None, f"≥ {THROUGHPUT_TARGET:.0f} messages/s",
            verdict(delivered and outbox_rate >= THROUGHPUT_TARGET),
            {"outbox_rate": outbox_rate, "raw_rate": raw_rate, "messages": len(queued)}),
    ]
