"""FHIR R4 read API under /fhir/R4: metadata, ServiceRequest, Patient, Encounter, DiagnosticReport
and ImagingStudy, as ``application/fhir+json``, errors as ``OperationOutcome``.

Read-only, with the JSON API's bearer tokens (webapp.api.security) for the roles that may view
orders; every answer that shows a patient's data is written to the access log.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from webapp.extensions import csrf
    from webapp.fhir import errors, views

    app.register_blueprint(views.bp)
    csrf.exempt(views.bp)  # GET only; a bearer token is no cookie a page could borrow
    errors.init_app(app)
