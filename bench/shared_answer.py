"""What one viewer's shared live answer costs a worker, beside a page that touches no database.

    .venv/bin/python -m bench.shared_answer          # on the database of bench/live_render.py (run that first)

One gunicorn worker (gunicorn.conf.py, gevent), the render cache on, one technician session on
one keep-alive connection asking for the tablet's worklist region as static/live.js does, again
and again: after the first, every answer is the shared render (``X-Live-Render: shared``). Then
the same with the ``ETag`` it holds (``304``), and ``GET /login`` (a template, the session, no
database): the worker's CPU (``/proc`` ticks) per request for each, ``BENCH_SHARED_REQUESTS``
(400) requests each, after 300 unmeasured ones (the workers' gc.freeze points passed). The
sequential requests show the per-viewer floor without a burst's concurrency
(bench/live_render.py measures the bursts).
"""

from __future__ import annotations

import http.client
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import peak_report  # noqa: E402
from bench.common import make_app  # noqa: E402
from bench.live_events import _worker_pids  # noqa: E402
from bench.live_render import ready, technicians  # noqa: E402
from bench.peak import gunicorn  # noqa: E402
from bench.profile_page import database_url  # noqa: E402
from bench.run import redis_url  # noqa: E402


def main() -> int:
    url = database_url()
    count = int(os.environ.get("BENCH_SHARED_REQUESTS", "400"))
    app = make_app(url)
    cookie = technicians(app, 1)[0]
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url(), "SECRET_KEY": app.config["SECRET_KEY"],
           "SSE_CHANNEL": f"imaging-orders:shared-answer:{os.getpid()}", "LIVE_RENDER_CACHE_SECONDS": "30"}
    port, server = gunicorn(env, 1, "shared-answer")
    region = {"Cookie": f"session={cookie}", "HX-Request": "true", "HX-Target": "worklist", "X-Live-Refresh": "1",
              "Accept-Encoding": "gzip, deflate, br"}
    with server as process:
        ready(port)
        workers = _worker_pids(process.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def ask(path: str, headers: dict, n: int):
            for _ in range(n):
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                answer.read()
            return answer

        etag = ask("/imaging/worklist", region, 300).getheader("ETag")
        ask("/login", {}, 300)
        print(f"worker CPU per request, {count} requests each; load average {os.getloadavg()[0]:.2f}")
        for label, path, headers in (("shared answer (200)", "/imaging/worklist", region),
                                     ("shared answer (304)", "/imaging/worklist", region | {"If-None-Match": etag}),
                                     ("GET /login (no database)", "/login", {}),
                                     ("shared answer (200)", "/imaging/worklist", region)):
            meter = peak_report.CpuMeter({"worker": lambda: workers})
            meter.start()
            began = time.monotonic()
            answer = ask(path, headers, count)
            cpu = meter.stop()["worker"] * (time.monotonic() - began)
            print(f"  {label:26} {answer.status} {answer.getheader('X-Live-Render') or '':8} "
                  f"{cpu * 1000 / count:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
