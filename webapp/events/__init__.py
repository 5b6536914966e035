"""Live events: after-commit publishing of order events and the ``/stream`` endpoint (flask-sse)."""

from webapp.events.stream import LiveEventsBlueprint

bp = LiveEventsBlueprint("events", __name__)
bp.add_url_rule("/stream", endpoint="stream", view_func=bp.stream)


def init_app(app) -> None:
    from webapp.events.publishing import latest_event_id, register_session_listeners

    register_session_listeners()
    app.add_template_global(latest_event_id, "live_event_cursor")
