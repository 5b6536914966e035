"""The app as gunicorn serves it, plus one tiny JSON endpoint that only the benchmarks have.

    DATABASE_URL=... gunicorn --config gunicorn.conf.py bench.server:app

``GET /bench/hello`` is the floor of the server configuration (gunicorn, gevent, Flask, the
app's request hooks): scenario 4 compares GET one order with it.
"""

from __future__ import annotations

from webapp import create_app

app = create_app()


@app.get("/bench/hello")
def bench_hello():
    return {"hello": "world"}
