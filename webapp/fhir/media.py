"""What a client may ask for: FHIR JSON, by ``Accept`` or ``_format``, with media-type parameters.

FHIR R4 (http.html#mime-type, #version-parameter) serves ``application/fhir+json`` and lets a
client add ``charset`` (UTF-8 is the only one FHIR allows, http.html#charset) and ``fhirVersion``
(the FHIR version as major.minor: ``4.0`` is R4). ``_format`` takes the same types, ``json``
and their parameters. An Accept header is honoured when one of its ranges (q > 0) is a JSON
type we serve with parameters we can meet; otherwise 406, saying why.
"""

from __future__ import annotations

from webapp.fhir.errors import FhirError

JSON_TYPES = ("application/fhir+json", "application/json")
ANY = ("*/*", "application/*")
FORMAT_SHORT = ("json",)
FHIR_VERSIONS = ("4.0", "4.0.1")  # R4; the version parameter is major.minor, 4.0.1 read as the same


def _split(media: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=b; c="d"`` → ("type/subtype", {"a": "b", "c": "d"}) (names lower case)."""
    kind, *rest = media.split(";")
    # In a URL query a "+" turns into a space: "application/fhir json" is "application/fhir+json".
    kind = "+".join(kind.strip().lower().split())
    params = {}
    for item in rest:
        name, _, value = item.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return kind, params


def _problem(params: dict[str, str]) -> str | None:
    """Why these parameters cannot be met (None when they can)."""
    charset = params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        return f"charset {charset} (only UTF-8 is served)"
    version = params.get("fhirversion")
    if version is not None and version not in FHIR_VERSIONS:
        return f"fhirVersion {version} (this server is FHIR R4: fhirVersion=4.0)"
    return None


def check_accept(header: str | None) -> None:
    """406 unless the Accept header allows FHIR JSON as served here (no header allows it)."""
    if not header or not header.strip():
        return
    reasons = []
    for media in header.split(","):
        if not media.strip():
            continue
        kind, params = _split(media)
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        if quality <= 0 or (kind not in JSON_TYPES and kind not in ANY):
            continue
        why = _problem(params)
        if why is None:
            return
        reasons.append(why)
    detail = f"; asked for {', '.join(reasons)}" if reasons else ""
    raise FhirError(406, f"Only FHIR R4 JSON is served ({JSON_TYPES[0]}, charset UTF-8, fhirVersion 4.0){detail}.")


def check_format(values: list[str]) -> None:
    """``_format``: json, application/json or application/fhir+json, with parameters we can meet."""
    for value in values:
        kind, params = _split(value)
        params.pop("q", None)
        why = None if kind in JSON_TYPES + FORMAT_SHORT else f"{kind or 'nothing'}"
        why = why or _problem(params)
        if why:
            raise FhirError(406, f"_format: only JSON is served (json, application/json, application/fhir+json, "
                                 f"charset UTF-8, fhirVersion 4.0), not {why}.", expression="_format")
