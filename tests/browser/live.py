"""A real server for browser tests and screenshots: the app under gunicorn (gevent workers, as
`make run`) on a free port of 127.0.0.1, with a temporary SQLite database prepared by
`flask db upgrade` and `flask seed --demo`. Used by tests/browser/conftest.py and scripts/screenshots.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
# Variables of the developer's shell that must not leak into the test server.
_DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "INSTANCE_PATH", "PORT", "HOST", "FLASK_APP")


@dataclass
class LiveServer:
    url: str
    directory: Path
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.directory / "app.db"

    def query(self, sql: str, *params) -> list[tuple]:
        """Read the server's database directly (tests check what was stored)."""
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def server_env(directory: Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update({
        "INSTANCE_PATH": str(directory),
        "DATABASE_URL": f"sqlite:///{directory / 'app.db'}",
        "SECRET_KEY": "live-server-test-key-" + directory.name,
        "FLASK_APP": "wsgi",
        "HOST": "127.0.0.1",
        "PORT": "0",  # gunicorn binds a free port and logs which
        "WEB_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides or {})
    return env


def start_live_server(directory: Path, overrides: dict[str, str] | None = None, *, timeout: float = 120) -> LiveServer:
    """Prepare the database and start gunicorn; returns once the login page answers."""
    directory.mkdir(parents=True, exist_ok=True)
    env = server_env(directory, overrides)
    python = sys.executable
    for command in (["db", "upgrade"], ["seed", "--demo"]):
        subprocess.run([python, "-m", "flask", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    log_path = directory / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115  (kept open for the server's lifetime)
    gunicorn = str(Path(python).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, "--config", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        match = _LISTENING.search(log_path.read_text(errors="replace"))
        if match and url is None:
            url = f"http://127.0.0.1:{match.group(1)}"
        if url:
            try:
                with urllib.request.urlopen(f"{url}/login", timeout=5) as response:
                    if response.status == 200:
                        return LiveServer(url=url, directory=directory, env=env, process=process, log_path=log_path)
            except OSError:
                pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the live server did not start in {timeout} s:\n{log_path.read_text(errors='replace')}")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def sign_in(page, base_url: str, username: str, password: str | None = None) -> None:
    """Sign in through the login page as a demo user (password `<username>-demo-2026`)."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or f"{username}-demo-2026")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(dashboard|imaging|patients|visits).*"))


def settled(page, timeout: float = 15_000) -> None:
    """Wait until htmx is done: no request in flight, nothing swapping or settling. htmx wires what
    it swapped in only when it settles (20 ms after the swap), so a change or event on a region just
    replaced (faster than any person acts) would reach an element htmx does not listen on yet."""
    page.wait_for_function("""() => !document.querySelector(
        ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")""", timeout=timeout)


def open_menu(page) -> None:
    """Below 1200 px the navigation sits behind the Menu button: open it (no-op on a desktop)."""
    button = page.locator("#app-menu-button")
    if button.is_visible() and button.get_attribute("aria-expanded") != "true":
        button.click()


def nav_to(page, name: str) -> None:
    """Follow a link of the main navigation, at any width."""
    open_menu(page)
    page.locator("#app-sidebar").get_by_role("link", name=name, exact=True).click()
    # The page's scripts are deferred: htmx wires the forms at DOMContentLoaded. A test that acts
    # as soon as the HTML is there (faster than any person) would change a filter htmx never saw.
    page.wait_for_load_state("load")


def sign_out(page) -> None:
    open_menu(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login.*"))


# ---------------------------------------------------------------------------- orders through the API


def api_call(live_server, username: str, method: str, path: str, body: dict | None = None) -> dict:
    token_request = urllib.request.Request(
        f"{live_server.url}/api/v1/auth/token", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"username": username, "password": f"{username}-demo-2026"}).encode())
    with urllib.request.urlopen(token_request, timeout=30) as answer:
        token = json.loads(answer.read())["access_token"]
    request = urllib.request.Request(f"{live_server.url}{path}", method=method, data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def completed_order(live_server) -> str:
    """A new completed chest X-ray of a demo patient, placed and scanned through the API."""
    patient_id, visit_id = live_server.query("SELECT patient_id, id FROM visits ORDER BY visit_date DESC LIMIT 1")[0]
    ids = {"patient_id": uuid_text(patient_id), "visit_id": uuid_text(visit_id)}
    order = api_call(live_server, "doctor", "POST", "/api/v1/imaging/orders",
                     ids | {"modality": "XRAY", "body_part": "CHEST", "clinical_indication": "Cough for three weeks"})
    path = f"/api/v1/imaging/orders/{order['id']}/status"
    when = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    api_call(live_server, "scheduler", "PATCH", path, {"status": "scheduled", "scheduled_date": when})
    api_call(live_server, "technician", "PATCH", path, {"status": "in_progress"})
    api_call(live_server, "technician", "PATCH", path, {"status": "completed"})
    return order["id"]


def uuid_text(raw) -> str:
    text = raw if isinstance(raw, str) else raw.hex()
    text = text.replace("-", "")
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def create_user(live_server, username: str, role: str, *extra: str) -> str:
    """A user on the live server (password ``<username>-demo-2026``), e.g. ``"--trainee"``."""
    subprocess.run([sys.executable, "-m", "flask", "users", "create", username, "--role", role,
                    "--password", f"{username}-demo-2026", *extra], cwd=ROOT, env=live_server.env, check=True,
                   capture_output=True, timeout=120)
    return username
