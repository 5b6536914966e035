"""The JSON API under /api/v1: one module per resource, Pydantic schemas, problem+json errors.

``create_app`` builds the app as ``flask_openapi3.OpenAPI`` (a Flask subclass) with
``openapi_options()`` and calls ``init_app``; plain Flask blueprints register as usual.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

API_TITLE = "Imaging orders API"
API_VERSION = "1"


def openapi_options() -> dict[str, Any]:
    """Arguments for ``flask_openapi3.OpenAPI``: document info, bearer security, problem-shaped 422s."""
    from flask_openapi3 import Info

    from webapp.api.errors import validation_problem
    from webapp.api.schemas import Problem

    return {
        "info": Info(title=API_TITLE, version=API_VERSION,
                     description="Imaging orders: create, schedule, perform, report, cancel. "
                                 "Errors are application/problem+json."),
        "security_schemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        "doc_ui": False,  # our own /api/docs and /api/v1/openapi.json (webapp/api/docs.py)
        "validation_error_status": 422,
        "validation_error_model": Problem,
        "validation_error_callback": validation_problem,
    }


def init_app(app: Flask) -> None:
    from webapp.api import (
        docs,
        errors,
        orders,
        pacs,
        patients,
        reading_room,
        reference,
        reporting,
        safety,
        stations,
        tokens,
        visits,
    )
    from webapp.extensions import csrf

    modules = (tokens, orders, reference, patients, visits, pacs, stations)
    for api in (*(module.api for module in modules), *reporting.APIS, *reading_room.APIS, *safety.APIS):
        app.register_api(api)
        # Bearer calls carry no CSRF token; session calls are checked in security.authenticate.
        csrf.exempt(api)
    app.register_blueprint(docs.bp)
    errors.init_app(app)
