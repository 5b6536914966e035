"""Under gunicorn's gevent worker a slow PostgreSQL query must not block the other greenlets.

gunicorn's worker calls ``gevent.monkey.patch_all()`` before it imports the app; psycopg 3
(>= 3.1.14) then waits on its sockets through the patched ``select`` instead of in C. The
script below does the same in a fresh interpreter and times a quick query beside a slow one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()  # what gunicorn's GeventWorker.patch() does before loading wsgi:app

import json, sys, time
import gevent
import psycopg.waiting
from sqlalchemy import text
from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db

app = create_app(TestConfig(sys.argv[1]))
times = {}

def query(name, sql):
    with app.app_context():
        db.session.execute(text(sql))
        times[name] = time.monotonic() - started
        db.session.remove()

started = time.monotonic()
slow = gevent.spawn(query, "slow", "SELECT pg_sleep(1.5)")
gevent.sleep(0.2)
quick = gevent.spawn(query, "quick", "SELECT 1")
ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.05)) for _ in range(10)])
gevent.joinall([slow, quick, ticker], raise_error=True)
print(json.dumps({"times": times, "ticks": len(ticks), "wait": psycopg.waiting.wait.__name__}))
"""


def test_a_slow_query_does_not_block_other_greenlets(postgres_database):
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, postgres_database], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["wait"] != "wait_c", "psycopg chose its blocking C wait under gevent"
    assert report["times"]["slow"] >= 1.5
    # The quick query ran while the slow one was waiting on PostgreSQL.
    assert report["times"]["quick"] < 1.0, report
    assert report["ticks"] == 10
