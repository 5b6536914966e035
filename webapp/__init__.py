"""The imaging order system: create_app() wires configuration, extensions and feature packages."""

from __future__ import annotations

import uuid

from flask import Flask
from flask_openapi3 import OpenAPI
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import ROOT, Config
from webapp.extensions import BodyReadFirst, configure_sqlite, csrf, db, login_manager, migrate


def create_app(config: Config | None = None) -> Flask:
    from webapp import api

    config = config or Config()
    # OpenAPI is a Flask subclass that also collects the API's schemas (webapp/api).
    app = OpenAPI(
        __name__,
        **api.openapi_options(),
        instance_path=config.INSTANCE_PATH,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config)

    from webapp import models  # noqa: F401  (the whole schema, for Alembic)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql":
            from webapp import db_timeouts

            db_timeouts.configure_postgresql(db.engine, app.config)
            db_timeouts.ping_when_idle(db.engine, float(app.config.get("DATABASE_PING_IDLE_SECONDS", 0) or 0))
            db_timeouts.init_app(app)

    from webapp.paging import DbIdConverter

    app.url_map.converters["id"] = DbIdConverter
    _register_blueprints(app)
    api.init_app(app)
    from webapp import fhir

    fhir.init_app(app)
    if app.config.get("ORTHANC_URL"):
        from webapp.fhir.studies import register_study_source
        from webapp.pacs.fhir_source import PacsStudySource

        register_study_source(app, PacsStudySource())
    _register_cli(app)
    from webapp.audit.access import init_app as init_access_log
    from webapp.faults import register_fault_handlers

    init_access_log(app)

    register_fault_handlers(app)
    from webapp import gc_freeze

    gc_freeze.install(app)
    from webapp import db_retry

    db_retry.install(app)
    app.wsgi_app = BodyReadFirst(
        app.wsgi_app, app.config.get("MAX_CONTENT_LENGTH"), app.config.get("BODY_READ_TIMEOUT")
    )
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # The client's address (sign-in throttling), scheme (Secure cookies, HSTS) and host as
        # the trusted proxies saw them; with 0, forwarded headers are ignored (anyone can send them).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    return app


def _register_blueprints(app: Flask) -> None:
    from webapp import auth, dashboard, dicom, events, hl7, imaging, outbox, pacs, patients, visits, web

    for package in (web, auth, dashboard, patients, visits, imaging, dicom, pacs, events, hl7, outbox):
        app.register_blueprint(package.bp)
    events.init_app(app)
    from webapp.safety.views import bp as safety_bp

    app.register_blueprint(safety_bp)
    from webapp.reporting import web as reporting_web

    reporting_web.init_app(app)


def _register_cli(app: Flask) -> None:
    from webapp.audit.cli import register as register_audit
    from webapp.auth.accounts import register_cli as register_accounts
    from webapp.cli import register

    register(app)
    register_audit(app)
    register_accounts(app)


@login_manager.user_loader
def _load_user(user_key: str):
    """Session ids carry the user's session generation: logging out everywhere bumps it."""
    from webapp.auth.models import User

    user_id, _, generation = user_key.partition(":")
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or not user.is_enabled or str(user.session_generation) != generation:
        return None
    return user
