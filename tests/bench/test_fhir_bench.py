"""The FHIR benchmark step runs on generated data, and every generated order (each status, with
and without procedure codes and diagnoses) is served as a ServiceRequest that parses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle

from bench import fhir
from bench.common import make_app
from bench.generate import generate
from webapp.extensions import db

pytestmark = pytest.mark.sqlite_only


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.db'}"
    generate(url, orders=400, years=2, seed=5, now=datetime(2026, 6, 15, 12, 0, tzinfo=UTC), progress=False)
    app = make_app(url)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_fhir_step_measures_both_lookups(generated):
    [row] = fhir.scenario_fhir(generated, "sqlite", repeat=5)
    assert row.result in ("pass", "FAIL") and row.data["fhir"]["n"] == row.data["api"]["n"] == 5
    assert "p90" in row.measured and row.ratio > 0


def test_every_generated_order_is_a_valid_service_request(generated):
    from bench.scenarios import api_token

    client = generated.test_client()
    headers = {"Authorization": f"Bearer {api_token(client, 'doctor-001')}"}
    path, seen, statuses = "/fhir/R4/ServiceRequest?_count=200", 0, set()
    while path:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.data[:500]
        bundle = Bundle.model_validate(response.get_json())
        seen += len(bundle.entry)
        statuses |= {entry.resource.status for entry in bundle.entry}
        nxt = [link.url for link in bundle.link if link.relation == "next"]
        path = nxt and "/fhir/R4/" + nxt[0].split("/fhir/R4/", 1)[1]
    assert seen == 400 and statuses == {"active", "completed", "revoked"}
    reports = client.get("/fhir/R4/DiagnosticReport?_count=200", headers=headers)
    assert reports.status_code == 200 and Bundle.model_validate(reports.get_json()).total > 0
