"""The CapabilityStatement (``GET /fhir/R4/metadata``), written from the same tables the views and
searches use, so that it lists exactly what is served."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.fhir import codes
from webapp.fhir.resources import validated


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # search-param-type: token, reference, date, number, string
    documentation: str
    parser: object = None  # search.<parser>(search, name, value); None for the common ones


@dataclass(frozen=True)
class ResourceSpec:
    type: str
    profile: str
    read: bool
    searches: tuple[Param, ...] = ()
    documentation: str = ""


COMMON_PARAMS = (
    Param("_count", "number", "Entries per page, 0 to 200 (default 50; 0 answers the total alone)."),
    Param("_cursor", "string", "Opaque: the page a Bundle's next link points at."),
)


def capability_statement(resources: tuple[ResourceSpec, ...], base_url: str):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    rest_resources = []
    for spec in resources:
        interactions = ([{"code": "read"}] if spec.read else []) + ([{"code": "search-type"}] if spec.searches else [])
        entry = {
            "type": spec.type, "profile": spec.profile, "interaction": interactions,
            "versioning": "versioned", "readHistory": False, "updateCreate": False,
            "conditionalRead": "full-support" if spec.read else "not-supported",
            "documentation": spec.documentation,
        }
        if spec.searches:
            entry["searchParam"] = [
                {"name": p.name, "type": p.type, "documentation": p.documentation}
                for p in (*spec.searches, *COMMON_PARAMS)
            ]
        rest_resources.append(entry)
    return validated(CapabilityStatement, {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "publisher": "Imaging orders",
        "kind": "instance",
        "software": {"name": "Imaging orders"},
        "implementation": {"description": "Imaging orders: read-only FHIR R4 API", "url": base_url},
        "fhirVersion": codes.FHIR_VERSION,
        "format": ["json", codes.FHIR_JSON],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only: no create, update, delete, history or transactions (405). "
                             "Unknown search parameters are refused (400).",
            "security": {
                "cors": False,
                "description": "Authorization: Bearer <token> from POST /api/v1/auth/token "
                               "(the JSON API's tokens); staff roles only, not the wall display. "
                               "This statement needs no token.",
            },
            "resource": rest_resources,
        }],
    })
