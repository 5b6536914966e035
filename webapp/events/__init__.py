"""Live events: after-commit publishing of order events and the ``/stream`` endpoint (flask-sse)."""

from webapp.events.stream import LiveEventsBlueprint

bp = LiveEventsBlueprint("events", __name__)
bp.add_url_rule("/stream", endpoint="stream", view_func=bp.stream)


def init_app(app) -> None:
    from webapp.events.embedded import advertised_url
    from webapp.events.publishing import latest_event_id, register_session_listeners

    if not app.config.get("REDIS_URL"):
        # `make run`'s embedded Redis, advertised in the instance folder while the server runs:
        # the CLI and DICOM service of the same installation publish through it.
        app.config["REDIS_URL"] = advertised_url(app.instance_path)

    register_session_listeners()
    app.add_template_global(latest_event_id, "live_event_cursor")
