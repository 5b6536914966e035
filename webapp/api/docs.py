"""The OpenAPI document (/api/v1/openapi.json) and Swagger UI (/api/docs).

Swagger UI's files come from the installed flask-openapi3-swagger package (no CDN); the page
and its start-up script are ours, so the page loads with no inline script.
"""

from __future__ import annotations

import os

import flask_openapi3_swagger
from flask import Blueprint, current_app, jsonify, render_template

SWAGGER_ASSETS = os.path.join(os.path.dirname(flask_openapi3_swagger.__file__), "templates", "swagger")
SPEC_URL = "/api/v1/openapi.json"

bp = Blueprint("api_docs", __name__, static_folder=SWAGGER_ASSETS, static_url_path="/api/docs/assets")


@bp.get(SPEC_URL)
def openapi_document():
    return jsonify(current_app.api_doc)


@bp.get("/api/docs")
def swagger_ui():
    return render_template("api/docs.html", spec_url=SPEC_URL)
