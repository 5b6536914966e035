"""Keep the garbage collector off the app's own long-lived objects (issue 22).

A worker holds several hundred thousand long-lived objects (modules, SQLAlchemy mappers and
compiled statements, Jinja's compiled templates, the OpenAPI schemas). CPython's full
collections walk all of them, and a page that builds many objects (the tablet's 180 cards, the
wall's day of events) set off several per request: measured 10–12 ms of a 30–65 ms page
(bench/README.md). ``gc.freeze()`` moves what is alive into a permanent generation that
collections skip; cycles made later are still collected as before.

The app freezes once it is warm: after ``GC_FREEZE_AFTER_REQUESTS`` requests of a process
(templates and statements are compiled on first use), collecting first so that no garbage is kept,
and once more after ten times as many (pages opened later). The work runs after the answer has
been sent (``call_on_close``). ``0`` turns it off.
"""

from __future__ import annotations

import gc
import threading

from flask import Flask, Response


def install(app: Flask) -> None:
    first = int(app.config.get("GC_FREEZE_AFTER_REQUESTS") or 0)
    if first <= 0:
        return
    points = {first, first * 10}
    lock = threading.Lock()
    state = {"requests": 0}

    @app.after_request
    def _count(response: Response) -> Response:
        with lock:
            state["requests"] += 1
            due = state["requests"] in points
        if due:
            response.call_on_close(freeze)
        return response


def freeze() -> None:
    gc.collect()
    gc.freeze()
