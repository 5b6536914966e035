"""The production answer to the browser's 6 connections per host: HTTP/2 through nginx.

Starts Debian's nginx with deploy/nginx/imaging-orders.conf (the file docs/deployment.md shows;
only its ports and certificate paths replaced) and a self-signed certificate (openssl) in front of
the app under gunicorn, then checks that pages are served over HTTP/2 (curl --http2, and Chromium
with --ignore-certificate-errors) and that /stream's events pass through unbuffered."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.events.livestack import ROOT, free_port, session_cookie, wait_until
from tests.services import require
from webapp.extensions import db
from webapp.imaging import queries, services

pytestmark = pytest.mark.sqlite_only  # about the proxy; the database does not matter
CONFIG = ROOT / "deploy/nginx/imaging-orders.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--ignore-certificate-errors"]


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def nginx_proxy(tmp_path, live_server_factory):
    """nginx on a free port, TLS + HTTP/2, in front of a gunicorn of the test's database."""
    require(os.path.exists(NGINX), "nginx")
    server = live_server_factory(workers=2, TRUSTED_PROXIES=1)
    cert, key = _certificate(tmp_path)
    port = free_port()
    site = CONFIG.read_text()
    for old, new in (("127.0.0.1:8000", f"127.0.0.1:{server.port}"), ("listen 443", f"listen 127.0.0.1:{port}"),
                     ("/etc/ssl/imaging-orders/cert.pem", str(cert)), ("/etc/ssl/imaging-orders/key.pem", str(key))):
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log {tmp_path}/access.log;\n"
        + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp_path}/site.conf;\n}}\n")
    process = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def up() -> bool:
        assert process.poll() is None, process.stdout.read().decode()
        return subprocess.run(["curl", "-sk", "-o", "/dev/null", f"https://127.0.0.1:{port}/login"],
                              timeout=10).returncode == 0

    assert wait_until(up, 20), (tmp_path / "error.log").read_text()
    yield f"https://127.0.0.1:{port}", server
    process.terminate()
    process.wait(10)


def _curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sk", "--http2", *args], capture_output=True, text=True, timeout=30)


def test_pages_load_over_http2_and_stream_events_pass_unbuffered(app, nginx_proxy, make_user, make_order):
    url, _ = nginx_proxy
    doctor = make_user("doctor")
    order = make_order("ordered", doctor=doctor)

    answer = _curl("-o", "/dev/null", "-w", "%{http_version} %{http_code}", f"{url}/login")
    assert answer.stdout == "2 200", answer

    # A stream through the proxy: its first line comes at once, and an event the moment it is published.
    cookie = session_cookie(app, doctor)
    stream = subprocess.Popen(["curl", "-skN", "--http2", "-H", f"Cookie: session={cookie}", f"{url}/stream"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.monotonic(), line)) for line in stream.stdout], daemon=True).start()
    try:
        def next_line(prefix: str, timeout: float) -> float:
            deadline = time.monotonic() + timeout
            while True:
                at, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                if line.startswith(prefix):
                    return at

        next_line(": connected", 15)
        time.sleep(0.5)
        with app.app_context():
            services.add_note(db.session.merge(doctor), queries.get_order(order.id), "Through the proxy")
            published_at = time.monotonic()
            db.session.commit()
        arrived = next_line("event:order-changed", 10) - published_at
        # Buffered, an event this small would wait for more (or for the stream's end).
        assert arrived < 2.0, arrived
    finally:
        stream.terminate()
        stream.wait(10)


def test_chromium_uses_http2_and_the_live_stream_through_the_proxy(chromium, app, nginx_proxy, make_user, make_visit,
                                                                   make_order):
    url, _ = nginx_proxy
    doctor = make_user("doctor")
    visit = make_visit()
    order = make_order("scheduled", visit=visit, doctor=doctor)
    with chromium(ARGS) as browser:
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.goto(f"{url}/login")
        page.fill("#username", doctor.username)
        page.fill("#password", "password-123")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{url}/visits/{visit.id}")
        page.wait_for_selector("body.live-up", timeout=15_000)
        assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
        with app.app_context():
            services.change_status(db.session.merge(doctor), queries.get_order(order.id), "cancelled",
                                   reason="Duplicate")
            db.session.commit()
        page.wait_for_selector(f'#order-{order.id}-status[data-status="cancelled"]', timeout=10_000)
        browser.close()
