"""Every operation of the API, as the CONTRACT lists them (method and OpenAPI path)."""

EXPECTED_OPERATIONS = {
    "POST /api/v1/auth/token",
    "GET /api/v1/imaging/modalities", "GET /api/v1/imaging/body-parts",
    "POST /api/v1/imaging/orders", "GET /api/v1/imaging/orders", "GET /api/v1/imaging/orders/{id}",
    "PUT /api/v1/imaging/orders/{id}", "PATCH /api/v1/imaging/orders/{id}/status", "DELETE /api/v1/imaging/orders/{id}",
    "GET /api/v1/imaging/orders/patient/{patient_id}", "GET /api/v1/imaging/orders/visit/{visit_id}",
    "GET /api/v1/imaging/orders/accession/{accession_number}",
    "POST /api/v1/patients", "GET /api/v1/patients", "GET /api/v1/patients/{id}",
    "POST /api/v1/visits", "GET /api/v1/visits", "GET /api/v1/visits/{id}",
    "GET /api/v1/pacs/unmatched", "POST /api/v1/pacs/unmatched/{id}/match",
    # Reporting and critical results (the CONTRACT's second round).
    "GET /api/v1/imaging/orders/{id}/report", "PUT /api/v1/imaging/orders/{id}/report",
    "POST /api/v1/imaging/orders/{id}/report/sign", "POST /api/v1/imaging/orders/{id}/addenda",
    "GET /api/v1/critical-results", "POST /api/v1/critical-results/{id}/acknowledge",
    "GET /api/v1/metrics/turnaround",
    # The reading room (the CONTRACT's third round).
    "POST /api/v1/imaging/orders/{id}/claim", "DELETE /api/v1/imaging/orders/{id}/claim",
    "POST /api/v1/imaging/orders/{id}/claim/take-over", "POST /api/v1/imaging/orders/{id}/report/cosign",
    "POST /api/v1/imaging/orders/{id}/peer-reviews", "GET /api/v1/peer-reviews",
    # Booking (the CONTRACT's third round).
    "POST /api/v1/stations/{ae}/downtime", "POST /api/v1/stations/{ae}/downtime/{id}/end",
    # Safety screening (the CONTRACT's third round).
    "GET /api/v1/patients/{id}/safety", "PUT /api/v1/patients/{id}/safety",
    "POST /api/v1/imaging/orders/{id}/safety/clear", "POST /api/v1/imaging/orders/{id}/protocol",
    "POST /api/v1/imaging/orders/{id}/arrival",
}
