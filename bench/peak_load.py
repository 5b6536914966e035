"""The department-at-peak load (Locust, as a library): desk staff, tablets and wall displays.

    .venv/bin/python -m bench.peak_load CONFIG.json RESULT.json

Run as its own process by ``bench/peak.py`` (importing Locust patches the standard library
with gevent; this module uses the patched ``socket`` and ``time`` through their modules).
CONFIG names the hosts (two or more: round robin per request), the counts, the seconds, and the
credentials ``bench/peak.py`` minted for every account (a bearer token for the API, a signed
session cookie with its CSRF secret for pages), so no sign-in runs during the load. RESULT holds
every request's time by request type, the errors, and, for every open ``/stream``, when each
event id arrived.

Who does what (think time 5-15 s for desk staff):

- doctors browse the order list with filters, open orders and patients, look at the dashboard,
  and place orders through the API (about one a second in all at 60 desk users);
- schedulers list ordered orders (API) and schedule one for the next minutes (PATCH with
  If-Match), and browse; radiologists list completed orders and report one; admins browse;
- tablets (technicians) keep ``/imaging/worklist`` of their modality open and start, then complete
  scans with the page's own form posts (CSRF token and version from the page);
- wall displays keep ``/dashboard/wall`` open.

Every page that has a live region holds ``/stream`` open and, like ``static/live.js``,
re-fetches its region 50-250 ms (random) after an event that concerns it (the order page only
for its order, the patient page only for its patient, a filtered order list only for events of
its status, modality or priority, before or after, the tablet only for orders that are or were
scheduled or in progress), one re-fetch in flight per region and then a quiet time (0.4 s,
the wall 1.5 s) during which further events wait for one more re-fetch, with ``HX-Request``
and ``X-Live-Refresh``; the wall also every 30 s.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import socket
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import gevent
from locust import FastHttpUser, between, events, task
from locust.env import Environment

CONFIG: dict = {}
SAMPLES: dict[str, list[float]] = defaultdict(list)
ERRORS: dict[str, list[str]] = defaultdict(list)
STREAMS: list[dict] = []
CLAIMED: set[str] = set()
MEASURING = [False]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# static/live.js re-fetches a region a random 50 ms to the event's spread_ms after it (250 ms to
# 1.5 s, set by the server from the open streams; 250 when an event does not say);
# BENCH_PEAK_JITTER="0.05,1.0" tries another spread (seconds) without changing the app.
JITTER = tuple(float(x) for x in os.environ["BENCH_PEAK_JITTER"].split(",")) if os.environ.get(
    "BENCH_PEAK_JITTER") else None
SPREAD_MS = (250, 1500)
# What a shared live region carries instead of the viewer's token (webapp.web.live_cache.CSRF_HOLE,
# named by the answer's X-CSRF-Hole header); static/live.js puts the page's own token there, and
# so does the tablet here. Not imported: the load tool runs without the app.
CSRF_HOLE = "LIVECSRFHOLE0x7e3a"
CARD = re.compile(r'id="worklist-order-([0-9a-f-]{36})"\s+data-status="(\w+)" data-version="(\d+)"')
ORDER_LINK = re.compile(r'href="/imaging/orders/([0-9a-f-]{36})"')
PATIENT_LINK = re.compile(r'href="/patients/([0-9a-f-]{36})')
LIST_FILTERS = (
    {"status": "scheduled"}, {"modality": "CT"}, {"status": "reported", "modality": "XRAY"},
    {"priority": "stat"}, {"q": "Garcia"}, {"status": "completed"}, {},
)


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **kwargs):
    if not MEASURING[0]:
        return
    SAMPLES[name].append(response_time)
    if exception is not None:
        ERRORS[name].append(str(exception)[:200])


TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def failure_text(response) -> str:
    """The status and what the answer says: a problem's detail, an HTML page's title."""
    body = response.text or ""
    try:
        detail = json.loads(body).get("detail") or body
    except (ValueError, AttributeError):
        title = TITLE.search(body)
        detail = title.group(1).strip() if title else body
    return f"{response.status_code}: {' '.join(str(detail).split())[:160]}"


class RoundRobin:
    """Each request goes to the next host (two gunicorn instances stand for two hosts)."""

    def __init__(self, hosts: list[str], start: int) -> None:
        self.hosts = hosts
        self.counter = itertools.count(start)

    def url(self, path: str) -> str:
        return self.hosts[next(self.counter) % len(self.hosts)] + path


class Stream:
    """One open /stream (a raw socket read by a greenlet), as an EventSource would hold it."""

    def __init__(self, host: str, cookie: str, label: str, on_event) -> None:
        self.host, self.cookie, self.on_event = host, cookie, on_event
        self.record = {"host": host, "label": label, "opened": None, "events": {}, "error": None}
        STREAMS.append(self.record)
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        parsed = urlparse(self.host)
        start = time.perf_counter()
        try:
            sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
            sock.sendall((f"GET /stream HTTP/1.1\r\nHost: {parsed.netloc}\r\nAccept: text/event-stream\r\n"
                          f"Cookie: session={self.cookie}\r\n\r\n").encode())
            sock.settimeout(None)
            reader = sock.makefile("rb")
            status = reader.readline()
            _record("GET", "stream: open", (time.perf_counter() - start) * 1000, 0,
                    None if b" 200 " in status else RuntimeError(status.decode(errors="replace").strip()))
            if b" 200 " not in status:
                self.record["error"] = status.decode(errors="replace").strip()
                return
            self.record["opened"] = time.time()
            event_id, data = None, None
            for line in reader:
                if line.startswith(b"id:"):
                    event_id = int(line[3:].strip())
                elif line.startswith(b"data:"):
                    data = line[5:].strip()
                elif line in (b"\n", b"\r\n") and event_id is not None:
                    self.record["events"][event_id] = time.time()
                    try:
                        payload = json.loads(data) if data else {}
                    except ValueError:
                        payload = {}
                    self.on_event(payload)
                    event_id, data = None, None
            self.record["error"] = "closed by the server"
        except (OSError, gevent.GreenletExit) as exc:
            self.record["error"] = self.record["error"] or repr(exc)


def live_filter(args: dict) -> dict[str, set[str]]:
    """The order list's ``data-live-filter`` (templates/imaging/order_list.html) for its filters."""
    return {name: {args[name]} for name in ("status", "modality", "priority") if args.get(name)}


def concerns(payload: dict, match: tuple[str, str] | None, clauses: dict[str, set[str]]) -> bool:
    """live.js ``concerns``: the match, then every clause (the field before or after the event)."""
    if match and str(payload.get(match[0])) != match[1]:
        return False
    for name, values in clauses.items():
        seen = [payload[key] for key in (name, f"from_{name}") if key in payload]
        if seen and not any(value is not None and str(value) in values for value in seen):
            return False
    return True


class LivePage:
    """What live.js does for the page being shown: filtered, jittered, coalesced re-fetches."""

    def __init__(self, user) -> None:
        self.user = user
        self.path: str | None = None
        self.target = ""
        self.match: tuple[str, str] | None = None
        self.clauses: dict[str, set[str]] = {}
        self.quiet = 0.4
        self.timer = None
        self.label = ""
        self.busy = self.dirty = False
        self.done_at = 0.0

    def show(self, path: str, target: str, label: str, match: tuple[str, str] | None = None,
             clauses: dict[str, set[str]] | None = None, quiet: float = 0.4) -> None:
        self.path, self.target, self.label, self.match = path, target, label, match
        self.clauses, self.quiet = clauses or {}, quiet

    def on_event(self, payload: dict) -> None:
        if self.path is None or not concerns(payload, self.match, self.clauses):
            return
        spread = payload.get("spread_ms") if isinstance(payload.get("spread_ms"), (int, float)) else SPREAD_MS[0]
        self.schedule(min(SPREAD_MS[1], max(SPREAD_MS[0], spread)) / 1000)

    def schedule(self, spread: float = SPREAD_MS[0] / 1000) -> None:
        if self.timer is not None:
            return
        if self.busy:
            self.dirty = True
            return
        jitter = random.uniform(*JITTER) if JITTER else random.uniform(0.05, spread)
        wait = max(jitter, self.done_at + self.quiet - time.monotonic())
        self.timer = gevent.spawn_later(wait, self.refresh)

    def refresh(self) -> None:
        """One request in flight per region; events meanwhile mark it for one more after it."""
        self.timer = None
        if self.busy:
            self.dirty = True
            return
        self.busy, self.dirty = True, False
        try:
            self.user.page(self.path, f"{self.label} (live)",
                           headers={"HX-Request": "true", "HX-Target": self.target, "X-Live-Refresh": "1"})
        finally:
            self.busy, self.done_at = False, time.monotonic()
        if self.dirty:
            self.dirty = False
            self.schedule()


class Staff(FastHttpUser):
    abstract = True
    host = "http://127.0.0.1"
    wait_time = between(5, 15)
    role = "doctor"
    instances = itertools.count()

    def on_start(self) -> None:
        index = next(Staff.instances)
        self.rng = random.Random(index)
        accounts = CONFIG["accounts"][self.role]
        self.account = accounts[index % len(accounts)]
        self.hosts = RoundRobin(CONFIG["hosts"], index)
        self.cookie = f"session={self.account['cookie']}"
        self.api_headers = {"Authorization": f"Bearer {self.account['token']}"}
        self.live_page = LivePage(self)
        self.etags: dict[str, tuple[str, str]] = {}
        self.orders: list[str] = []
        self.patients: list[str] = []
        if self.role in ("technician", "display") or CONFIG.get("desk_streams", True):
            Stream(CONFIG["hosts"][index % len(CONFIG["hosts"])], self.account["cookie"],
                   f"{self.role}-{index}", self.live_page.on_event)

    # -------------------------------------------------------------- requests

    def page(self, path: str, name: str, headers: dict | None = None, cookie: str = "") -> str:
        """A page or region; a live re-fetch sends the ETag it holds, as the browser's cache does,
        and a 304 answers the text it already has."""
        headers = dict(headers or {})
        held = self.etags.get(path) if "X-Live-Refresh" in headers else None
        if held:
            headers["If-None-Match"] = held[0]
        with self.client.get(self.hosts.url(path), name=f"page: {name}", catch_response=True,
                             headers={"Cookie": self.cookie + cookie} | headers) as response:
            if response.status_code == 304 and held:
                return held[1]
            if response.status_code != 200:
                response.failure(failure_text(response))
                return ""
            text = response.text or ""
            etag = response.headers.get("ETag")
            if etag and "X-Live-Refresh" in headers:
                self.etags[path] = (etag, text)
            return text

    def api(self, method: str, path: str, name: str, body=None, headers=None, ok=(200, 201)):
        with self.client.request(method, self.hosts.url(path), name=f"api: {name}", catch_response=True,
                                 json=body, headers=self.api_headers | (headers or {})) as response:
            if response.status_code not in ok:
                response.failure(failure_text(response))
                return None
            return response.json()

    def remember(self, html: str) -> None:
        self.orders = list(dict.fromkeys(ORDER_LINK.findall(html)))[:25] or self.orders
        self.patients = list(dict.fromkeys(PATIENT_LINK.findall(html)))[:25] or self.patients

    # -------------------------------------------------------------- browsing (every desk role)

    def browse_list(self) -> None:
        args = self.rng.choice(LIST_FILTERS)
        query = "&".join(f"{k}={v}" for k, v in args.items())
        path = f"/imaging/orders?{query}" if query else "/imaging/orders"
        self.remember(self.page(path, "order list"))
        self.live_page.show(path, "order-results", "order list", clauses=live_filter(args))

    def open_order(self) -> None:
        if not self.orders:
            return self.browse_list()
        order_id = self.rng.choice(self.orders)
        path = f"/imaging/orders/{order_id}"
        self.remember(self.page(path, "order page"))
        self.live_page.show(path, "order-main", "order page", ("id", order_id))

    def open_patient(self) -> None:
        patient_id = self.rng.choice(self.patients or CONFIG["patients"])
        path = f"/patients/{patient_id}?tab=imaging"
        self.remember(self.page(path, "patient history"))
        self.live_page.show(path, "patient-tab-region", "patient history", ("patient_id", patient_id))

    def dashboard(self) -> None:
        self.page("/dashboard", "dashboard")
        self.live_page.show("/dashboard", "dashboard", "dashboard")


class Doctor(Staff):
    abstract = True
    role = "doctor"

    @task(4)
    def browse(self) -> None:
        self.rng.choice((self.browse_list, self.open_order, self.open_patient, self.dashboard))()

    @task(2)
    def place_order(self) -> None:
        patient_id, visit_id = self.rng.choice(CONFIG["visits"])
        body = dict(self.rng.choice(CONFIG["order_bodies"])) | {"patient_id": patient_id, "visit_id": visit_id}
        self.api("POST", "/api/v1/imaging/orders", "place order", body, {"Idempotency-Key": str(uuid.uuid4())})


class Worker(Staff):
    """Schedulers and radiologists: take the next order of a status (API) and act on it."""

    abstract = True
    status = "ordered"

    @task(1)
    def browse(self) -> None:
        self.rng.choice((self.browse_list, self.open_order, self.dashboard))()

    @task(1)
    def act(self) -> None:
        found = self.api("GET", f"/api/v1/imaging/orders?status={self.status}&limit=20", f"list {self.status}")
        for item in (found or {}).get("items", []):
            if item["id"] in CLAIMED:
                continue
            CLAIMED.add(item["id"])
            self.api("PATCH", f"/api/v1/imaging/orders/{item['id']}/status", self.action_name,
                     self.action_body(item), {"If-Match": f'"{item["version"]}"'})
            return


class Scheduler(Worker):
    abstract = True
    role, status, action_name = "scheduler", "ordered", "schedule"

    def action_body(self, item) -> dict:
        start = datetime.now(UTC) + timedelta(minutes=self.rng.randint(2, 30))
        return {"status": "scheduled", "scheduled_date": start.isoformat()}


class Radiologist(Worker):
    abstract = True
    role, status, action_name = "radiologist", "completed", "report"

    def action_body(self, item) -> dict:
        return {"status": "reported", "findings": "No acute abnormality (peak benchmark).",
                "impression": "Normal study."}


class Admin(Staff):
    abstract = True
    role = "admin"

    @task
    def browse(self) -> None:
        self.rng.choice((self.browse_list, self.open_order, self.open_patient, self.dashboard, self.dashboard))()


class Tablet(Staff):
    """A technician's tablet on /imaging/worklist of one modality: start, then complete scans."""

    abstract = True
    role = "technician"
    wait_time = between(10, 30)

    def on_start(self) -> None:
        super().on_start()
        modalities = CONFIG["tablet_modalities"]
        self.modality = modalities[self.rng.randrange(len(modalities))]
        self.worklist_cookie = f"; worklist_modality={self.modality}"
        self.mine: list[str] = []
        self.token: str | None = None  # the page's own CSRF token, as live.js keeps it
        self.html = self.page(f"/imaging/worklist?modality={self.modality}", "worklist")
        self.live_page.show("/imaging/worklist", "worklist", "worklist",
                            clauses={"status": {"scheduled", "in_progress"}})

    def page(self, path, name, headers=None, cookie=""):
        html = super().page(path, name, headers, cookie or getattr(self, "worklist_cookie", ""))
        if "worklist" in name and html:
            self.html = html
            found = CSRF.search(html)
            if found and found.group(1) != CSRF_HOLE:
                self.token = found.group(1)
        return html

    @task
    def scan(self) -> None:
        cards = {order_id: (status, int(version)) for order_id, status, version in CARD.findall(self.html)}
        token = self.token
        if not token:
            self.html = self.page("/imaging/worklist", "worklist")
            return
        for order_id in list(self.mine):
            if cards.get(order_id, ("", 0))[0] == "in_progress":
                self.mine.remove(order_id)
                return self.post(order_id, "complete", cards[order_id][1], token,
                                 {"number_of_images": str(self.rng.randint(1, 40))})
        for order_id, (status, version) in cards.items():
            if status == "scheduled" and order_id not in CLAIMED:
                CLAIMED.add(order_id)
                self.mine.append(order_id)
                return self.post(order_id, "start", version, token, {})

    def post(self, order_id: str, action: str, version: int, token: str, extra: dict) -> None:
        with self.client.post(self.hosts.url(f"/imaging/worklist/{order_id}/{action}"), name=f"page: worklist {action}",
                              catch_response=True, data={"csrf_token": token, "version": str(version)} | extra,
                              headers={"Cookie": self.cookie + self.worklist_cookie, "HX-Request": "true",
                                       "HX-Target": "worklist"}) as response:
            if response.status_code != 200:
                response.failure(failure_text(response))
                return
            self.html = response.text or self.html


class Wall(Staff):
    """The wall display: its page, its stream, and a refresh every 30 s."""

    abstract = True
    role = "display"
    wait_time = between(30, 30)

    def on_start(self) -> None:
        super().on_start()
        self.page("/dashboard/wall", "wall")
        self.live_page.show("/dashboard/wall", "wall", "wall", quiet=1.5)

    @task
    def every_30s(self) -> None:
        self.live_page.refresh()


# The department model (bench/README.md, "Two load models"): how often each person acts in a large
# department's peak hour, derived from published volumes; the stress model keeps the classes' own
# think times (5-15 s desk staff, 10-30 s tablets).
DEPARTMENT = {
    # a clinician looks at the app every 1-3 minutes and orders 3-4 exams an hour
    "doctor": (between(60, 180), {Doctor.browse: 8, Doctor.place_order: 1}),
    # about 9 bookings an hour each: ~105 bookings an hour over 12 schedulers
    "scheduler": (between(150, 250), None),
    # about 8 reports an hour each (one every 7.5 minutes): act and browse alternate
    "radiologist": (between(150, 300), None),
    "admin": (between(60, 180), None),
    # a scan every 5-15 minutes, two taps each (start, complete): a tap every 2.5-7.5 minutes
    "tablet": (between(150, 450), None),
    "wall": (between(30, 30), None),
}


def user_classes(counts: dict[str, int], model: str = "stress") -> list[type]:
    """One concrete class per role with its fixed count (Locust spawns exactly that many)."""
    bases = {"doctor": Doctor, "scheduler": Scheduler, "radiologist": Radiologist, "admin": Admin,
             "tablet": Tablet, "wall": Wall}
    classes = []
    for name, count in counts.items():
        if not count:
            continue
        body = {"abstract": False, "fixed_count": count}
        if model == "department":
            wait, tasks = DEPARTMENT[name]
            body["wait_time"] = wait
            if tasks:
                body["tasks"] = tasks
        classes.append(type(f"{name.title()}User", (bases[name],), body))
    return classes


def run(config: dict) -> dict:
    CONFIG.clear()
    CONFIG.update(config)
    classes = user_classes(config["counts"], config.get("model", "stress"))
    env = Environment(user_classes=classes, events=events)
    runner = env.create_local_runner()
    total = sum(config["counts"].values())
    runner.start(total, spawn_rate=max(1.0, total / max(1.0, config["ramp_seconds"])))
    gevent.sleep(config["ramp_seconds"] + config["warmup_seconds"])
    MEASURING[0] = True
    started = time.time()
    gevent.sleep(config["seconds"])
    MEASURING[0] = False
    finished = time.time()
    gevent.sleep(config.get("drain_seconds", 2.0))  # events committed at the end still arrive
    runner.quit()
    for record in STREAMS:
        if record["opened"] is None and record["error"] is None:
            record["error"] = "GET /stream not answered by the end of the run"
    return {"started": started, "finished": finished, "samples": dict(SAMPLES), "errors": dict(ERRORS),
            "streams": [s | {"events": {str(k): v for k, v in s["events"].items()}} for s in STREAMS],
            "users": total, "claimed": len(CLAIMED)}


def main(argv: list[str]) -> int:
    config = json.loads(open(argv[0]).read())
    result = run(config)
    with open(argv[1], "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
