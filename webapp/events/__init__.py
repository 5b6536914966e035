"""Live events: after-commit publishing of order events and the ``/stream`` endpoint (flask-sse)."""

import hashlib
import hmac

from flask import current_app, session
from flask_login import current_user

from webapp.events.stream import LiveEventsBlueprint

bp = LiveEventsBlueprint("events", __name__)
bp.add_url_rule("/stream", endpoint="stream", view_func=bp.stream)


def live_scope() -> str:
    """Which tabs of a browser share one ``/stream`` connection (static/live-share.js): those of one
    signed-in session. A new sign-in (another user, or the same one again) gets a connection of its
    own, so a tab never hears events through a stream opened for someone else. An opaque name: a
    keyed hash of the user, the sign-in moment and the account's session generation."""
    if not current_user.is_authenticated:
        return ""
    from webapp.auth.views import LOGIN_AT

    identity = f"{current_user.get_id()}:{session.get(LOGIN_AT, '')}:{getattr(current_user, 'session_generation', 0)}"
    key = str(current_app.secret_key or "").encode()
    return hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()[:24]


def init_app(app) -> None:
    from webapp.events.embedded import advertised_url
    from webapp.events.publishing import latest_event_id, register_session_listeners

    if not app.config.get("REDIS_URL"):
        # `make run`'s embedded Redis, advertised in the instance folder while the server runs:
        # the CLI and DICOM service of the same installation publish through it.
        app.config["REDIS_URL"] = advertised_url(app.instance_path)

    register_session_listeners()
    app.add_template_global(latest_event_id, "live_event_cursor")
    app.add_template_global(live_scope, "live_scope")
