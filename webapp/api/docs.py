"""The OpenAPI document (/api/v1/openapi.json) and Swagger UI (/api/docs).

Swagger UI's files come from the installed flask-openapi3-swagger package (no CDN); the page
and its start-up script are ours, so the page loads with no inline script.
"""

from __future__ import annotations

import os

import flask_openapi3_swagger
from flask import Blueprint, current_app, jsonify, make_response, render_template

SWAGGER_ASSETS = os.path.join(os.path.dirname(flask_openapi3_swagger.__file__), "templates", "swagger")
SPEC_URL = "/api/v1/openapi.json"
# Swagger UI sets style attributes from its script: the one relaxation of the pages' policy.
DOCS_CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
])

bp = Blueprint("api_docs", __name__, static_folder=SWAGGER_ASSETS, static_url_path="/api/docs/assets")


@bp.get(SPEC_URL)
def openapi_document():
    return jsonify(current_app.api_doc)


@bp.get("/api/docs")
def swagger_ui():
    response = make_response(render_template("api/docs.html", spec_url=SPEC_URL))
    response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return response
