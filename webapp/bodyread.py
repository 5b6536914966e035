"""Reading a request's body before the app runs, within a deadline (see ``BodyReadFirst``).

A client that sends its body slowly (a byte every few seconds) would otherwise hold one of the
worker's ``worker_connections`` for as long as it likes: a couple of thousand such sockets, none
signed in, left no connection for anyone else. Under gunicorn's gevent worker the whole body
must now arrive within ``BODY_READ_TIMEOUT`` seconds of the headers; a client that is slower is
answered 408 and its connection is closed. gunicorn already bounds the headers themselves (its
gevent worker waits ``keepalive`` seconds for each request's head).
"""

from __future__ import annotations

import contextlib
import io
import sys

from webapp.errors import PROBLEM_JSON, problem_bytes


class BodyTimeout(Exception):
    """The body did not arrive within the deadline."""


def _cooperative() -> bool:
    """True in a gevent-patched process (gunicorn's gevent worker): a gevent.Timeout can cut a read."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    return gevent_monkey is not None and gevent_monkey.is_module_patched("socket")


def _deadline(seconds: float | None):
    if not seconds or seconds <= 0 or not _cooperative():
        return contextlib.nullcontext()
    import gevent

    return gevent.Timeout(seconds, BodyTimeout)


def _is_chunked(environ) -> bool:
    encoding = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    # Only when the server ends the stream at the body's end (gunicorn does): reading to EOF is safe.
    return "chunked" in encoding and bool(environ.get("wsgi.input_terminated"))


def buffer_body(environ, limit: int | None, seconds: float | None) -> None:
    """Replace ``wsgi.input`` with the body read in full; raises BodyTimeout past the deadline.

    A Content-Length over ``limit`` is left to the app (it answers 413 without reading). A
    chunked body is read up to one byte over ``limit``: the app then answers 413 as before.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if 0 < length and (not limit or length <= limit):
        with _deadline(seconds):
            body = stream.read(length)
        environ["CONTENT_LENGTH"] = str(len(body))
    elif not environ.get("CONTENT_LENGTH") and _is_chunked(environ):
        with _deadline(seconds):
            body = stream.read(limit + 1) if limit else stream.read()
    else:
        return
    environ["wsgi.input"] = io.BytesIO(body)


def timeout_response(environ, start_response, seconds: float):
    """408, and the connection is not reused: the rest of the slow body is never waited for."""
    body = getattr(environ.get("wsgi.input"), "failed", None)
    if body is not None:
        # gunicorn closes a connection whose body failed to read instead of draining it.
        environ["wsgi.input"].failed = True
    payload = problem_bytes(408, "Request Timeout", f"The request body did not arrive within {seconds:g} seconds.")
    start_response("408 Request Timeout", [
        ("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(payload))),
    ])
    return [payload]
