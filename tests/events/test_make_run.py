"""`make run` with no REDIS_URL: the embedded Redis carries events between gunicorn workers."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import psutil
import pytest
import requests

from webapp.auth.models import User

PASSWORD = "password-123"


def _signed_in(server, user) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{server.url}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = browser.post(f"{server.url}/login", data={"csrf_token": token, "username": user.username,
                                                         "password": PASSWORD})
    assert response.ok and "/login" not in response.url
    return browser


@pytest.mark.sqlite_only
def test_embedded_redis_carries_events_across_workers(app, live_server_factory, sse_clients, make_user, make_order):
    technician, doctor = make_user("technician"), make_user("doctor")
    orders = [make_order("scheduled") for _ in range(10)]
    server = live_server_factory(workers=2, redis_url=None)
    socket_path = re.search(r"embedded Redis at unix://(\S+)", server.log()).group(1)
    redis_server = next(p for p in psutil.process_iter(["cmdline"]) if socket_path in " ".join(p.info["cmdline"] or []))

    clients = [sse_clients(app, server, doctor) for _ in range(8)]
    assert all(c.connected.wait(15) for c in clients), ([c.status for c in clients], server.log())
    workers = psutil.Process(server.process.pid).children()
    holding = {w.pid for w in workers
               if any(c.laddr.port == server.port and c.status == "ESTABLISHED" for c in w.net_connections())}
    assert holding, "the streams sit on the workers"
    tablet = _signed_in(server, technician)
    tablet.headers["Connection"] = "close"  # a new connection each time: any worker may take it
    published, post_pids = [], set()
    for order in orders:
        page = tablet.get(f"{server.url}/imaging/worklist").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = tablet.post(f"{server.url}/imaging/worklist/{order.id}/start",
                               data={"csrf_token": token, "version": order.version}, allow_redirects=False)
        assert response.status_code == 303
        published.append(order)
        post_pids = {int(p) for p in re.findall(r"^<(\d+)> POST /imaging/worklist/\S+/start 303", server.log(), re.M)}
        if any(s != p for s in holding for p in post_pids):
            break
    # Some change was made on another worker than some stream's, and every stream got every change.
    assert any(s != p for s in holding for p in post_pids), (holding, post_pids, server.log())
    for client in clients:
        received = client.collect(len(published), timeout=5)
        assert sorted(e.json()["accession_number"] for e in received) == sorted(o.accession_number for o in published)
        client.close()

    # Ctrl-C: everything stops, the embedded Redis too.
    server.stop(signal.SIGINT)
    log = server.log()
    assert "embedded Redis stopped" in log
    assert not redis_server.is_running() or redis_server.status() == psutil.STATUS_ZOMBIE


@pytest.mark.sqlite_only
def test_other_processes_find_the_embedded_redis(app, live_server_factory, sse_clients, make_user, make_order,
                                                 monkeypatch):
    """`flask worklist serve` next to `make run` (no REDIS_URL): its changes show live too."""
    from webapp import create_app
    from webapp.config import Config
    from webapp.events.embedded import ADVERTISE_NAME
    from webapp.extensions import db, writing
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    technician, doctor = make_user("technician"), make_user("doctor")
    order = make_order("scheduled")
    server = live_server_factory(workers=1, redis_url=None)
    advertised = Path(server.env["INSTANCE_PATH"]) / ADVERTISE_NAME
    url = advertised.read_text().strip()
    assert re.search(r"embedded Redis at (\S+)", server.log()).group(1) == url
    assert advertised.stat().st_mode & 0o077 == 0

    # Another process of the installation (here: an app made like the CLI makes it).
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", server.env["INSTANCE_PATH"])
    monkeypatch.setenv("DATABASE_URL", server.env["DATABASE_URL"])
    monkeypatch.setenv("SECRET_KEY", server.env["SECRET_KEY"])
    monkeypatch.setenv("SSE_CHANNEL", server.env["SSE_CHANNEL"])
    other = create_app(Config())
    assert other.config["REDIS_URL"] == url
    client = sse_clients(app, server, doctor)
    assert client.connected.wait(15), (client.status, server.log())
    with other.app_context(), writing():
        services.change_status(db.session.get(User, technician.id), db.session.get(ImagingOrder, order.id),
                               "in_progress")
        db.session.commit()
    received = client.collect(1, timeout=5)
    assert [e.json()["accession_number"] for e in received] == [order.accession_number]

    server.stop(signal.SIGINT)
    assert not advertised.exists()
    assert Config().REDIS_URL is None


@pytest.mark.sqlite_only
def test_ctrl_c_stops_everything_without_tracebacks(app, tmp_path):
    """Ctrl-C in the terminal of `make run` signals the whole process group."""
    import os
    import subprocess
    import time

    from tests.events.livestack import ROOT, free_port, wait_until

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / "instance"), "HOST": "127.0.0.1", "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        # A process group of its own, like the terminal's foreground job.
        process = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py",
                                    "--access-logformat", "served-by %(p)s", "wsgi:app"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def both_workers_serving() -> bool:  # a worker serves only once its start-up (and signal set-up) is done
        try:
            requests.get(f"http://127.0.0.1:{port}/login", timeout=2, headers={"Connection": "close"})
        except requests.RequestException:
            return False
        return len(set(re.findall(r"served-by <(\d+)>", log_path.read_text()))) == 2

    try:
        assert wait_until(both_workers_serving, 30), log_path.read_text()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    time.sleep(0.2)
    output = log_path.read_text()
    assert "embedded Redis stopped" in output
    assert "Traceback" not in output, output
    assert not (tmp_path / "instance" / "embedded-redis.url").exists()
