"""Searches answer searchset Bundles (total, self and next links, opaque cursors) that parse with
fhir.resources, and find exactly the orders their parameters name."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle

from webapp.fhir.studies import StudyRecord, register_study_source

ACCESSION_SYSTEM = "https://imaging-orders.example.org/fhir/sid/accession-number"  # FHIR_ACCESSION_SYSTEM
ORDER_NUMBER_SYSTEM = "https://imaging-orders.example.org/fhir/sid/order-number"  # FHIR_ORDER_SYSTEM


def _ids(bundle: Bundle) -> list[str]:
    return [entry.resource.id for entry in bundle.entry or []]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_identifier_finds_the_order_by_accession_or_order_number(fhir_get, make_order):
    order, other = make_order(), make_order()
    for query in (order.accession_number, f"{ACCESSION_SYSTEM}|{order.accession_number}",
                  order.accession_number.lower(), f"{ORDER_NUMBER_SYSTEM}|{order.order_number}", order.order_number):
        bundle = fhir_get("/fhir/R4/ServiceRequest", query_string={"identifier": query})
        assert isinstance(bundle, Bundle) and bundle.type == "searchset"
        assert (_ids(bundle), bundle.total) == ([str(order.id)], 1), query
        assert bundle.entry[0].fullUrl.endswith(f"/fhir/R4/ServiceRequest/{order.id}")
        assert bundle.entry[0].search.mode == "match"
        assert [link.relation for link in bundle.link] == ["self"]
    # Another system's number, or the order number given as an accession: nothing.
    for query in (f"urn:other|{order.accession_number}", f"{ACCESSION_SYSTEM}|{order.order_number}", "ACC-1900-00001"):
        bundle = fhir_get("/fhir/R4/ServiceRequest", query_string={"identifier": query})
        assert (bundle.total, bundle.entry) == (0, None), query
    both = fhir_get("/fhir/R4/ServiceRequest",
                    query_string={"identifier": f"{order.accession_number},{other.accession_number}"})
    assert set(_ids(both)) == {str(order.id), str(other.id)}


def test_patient_and_status(fhir_get, make_order, make_visit, make_patient):
    visit = make_visit()
    ordered, reported, cancelled = (make_order(s, visit=visit) for s in ("ordered", "reported", "cancelled"))
    make_order("ordered")  # someone else's
    for value in (f"Patient/{visit.patient_id}", str(visit.patient_id)):
        bundle = fhir_get("/fhir/R4/ServiceRequest", query_string={"patient": value})
        assert set(_ids(bundle)) == {str(o.id) for o in (ordered, reported, cancelled)}
    by_status = {status: fhir_get("/fhir/R4/ServiceRequest",
                                  query_string={"patient": str(visit.patient_id), "status": status})
                 for status in ("active", "completed", "revoked", "draft", "active,revoked")}
    assert _ids(by_status["active"]) == [str(ordered.id)]
    assert _ids(by_status["completed"]) == [str(reported.id)]
    assert _ids(by_status["revoked"]) == [str(cancelled.id)]
    assert _ids(by_status["draft"]) == []
    assert set(_ids(by_status["active,revoked"])) == {str(ordered.id), str(cancelled.id)}
    nobody = fhir_get("/fhir/R4/ServiceRequest", query_string={"patient": str(make_patient().id)})
    assert (nobody.total, nobody.entry) == (0, None)
    assert fhir_get("/fhir/R4/ServiceRequest", query_string={"patient": "not-a-uuid"}).total == 0


def test_last_updated_prefixes(app, fhir_get, make_order):
    from webapp.extensions import db, writing
    from webapp.imaging.models import ImagingOrder

    old, new = make_order(), make_order()
    with app.app_context(), writing():  # set the moments directly (the service sets them to now)
        db.session.execute(db.update(ImagingOrder).where(ImagingOrder.id == old.id)
                           .values(updated_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC)))
        db.session.commit()

    def found(value):
        return set(_ids(fhir_get("/fhir/R4/ServiceRequest", query_string={"_lastUpdated": value})))

    today = datetime.now(UTC).date().isoformat()
    assert found("lt2024-03-02") == {str(old.id)}
    assert found("2024-03-01T12:00:00Z") == found("2024-03") == found("2024") == {str(old.id)}
    assert found("gt2024-03-01T12:00:00Z") == {str(new.id)}
    assert found("ge2024-03-01T12:00:00+00:00") == {str(old.id), str(new.id)}
    assert found("le2024-03-01T11:59:59Z") == set()
    assert found(f"ge{(datetime.now(UTC) - timedelta(days=2)).date().isoformat()}") == {str(new.id)}
    both = fhir_get("/fhir/R4/ServiceRequest", query_string=[("_lastUpdated", "ge2024-01-01"),
                                                             ("_lastUpdated", f"lt{today}")])
    assert _ids(both) == [str(old.id)]


def test_paging_follows_next_links_to_the_end(fhir_get, make_order, make_visit):
    visit = make_visit()
    orders = [make_order(visit=visit) for _ in range(5)]
    path, seen, pages = f"/fhir/R4/ServiceRequest?patient={visit.patient_id}&_count=2", [], 0
    while path:
        bundle = fhir_get(path)
        pages += 1
        assert bundle.total == 5
        seen += _ids(bundle)
        links = {link.relation: link.url for link in bundle.link}
        assert links["self"].endswith(path.split("/fhir/R4", 1)[1])
        path = _path(links["next"]) if "next" in links else None
        if path:
            query = parse_qs(urlsplit(path).query)
            assert query["patient"] == [str(visit.patient_id)] and query["_count"] == ["2"] and query["_cursor"]
    assert pages == 3
    assert sorted(seen) == sorted(str(o.id) for o in orders) and len(set(seen)) == 5
    counted = fhir_get(f"/fhir/R4/ServiceRequest?patient={visit.patient_id}&_count=0")
    assert (counted.total, counted.entry) == (5, None)


def test_diagnostic_report_search(fhir_get, make_order, make_visit):
    visit = make_visit()
    reported, completed = make_order("reported", visit=visit), make_order("completed", visit=visit)
    other = make_order("reported")
    by_order = fhir_get("/fhir/R4/DiagnosticReport", query_string={"based-on": f"ServiceRequest/{reported.id}"})
    assert _ids(by_order) == [str(reported.id)]
    assert by_order.entry[0].resource.basedOn[0].reference == f"ServiceRequest/{reported.id}"
    assert fhir_get("/fhir/R4/DiagnosticReport", query_string={"based-on": str(completed.id)}).total == 0
    by_patient = fhir_get("/fhir/R4/DiagnosticReport", query_string={"patient": f"Patient/{visit.patient_id}"})
    assert _ids(by_patient) == [str(reported.id)]
    assert set(_ids(fhir_get("/fhir/R4/DiagnosticReport"))) == {str(reported.id), str(other.id)}


@pytest.mark.sqlite_only
def test_imaging_study_without_a_pacs_is_an_empty_searchset(fhir_get, make_order):
    order = make_order("completed")
    bundle = fhir_get("/fhir/R4/ImagingStudy", query_string={"basedon": f"ServiceRequest/{order.id}"})
    assert (bundle.type, bundle.total, bundle.entry) == ("searchset", 0, None)
    assert fhir_get.response.get_json().get("entry") is None


class FakePacs:
    """A PACS integration's study source, as webapp.fhir.studies describes it."""

    def __init__(self, studies):
        self.studies = studies

    def find(self, order_ids, patient_ids):
        return [s for s in self.studies if (order_ids is None or s.order_id in order_ids)
                and (patient_ids is None or s.patient_id in patient_ids)]


@pytest.mark.sqlite_only
def test_imaging_study_from_a_registered_pacs_source(app, fhir_get, make_order, make_visit):
    visit = make_visit()
    orders = [make_order("completed", visit=visit) for _ in range(3)]
    now = datetime.now(UTC)
    studies = [StudyRecord(id=uuid.uuid4(), study_instance_uid=f"1.2.826.0.1.{n}", order_id=o.id,
                           patient_id=visit.patient_id, accession_number=o.accession_number,
                           received_at=now, started=now - timedelta(hours=n), modalities=("CR",),
                           description="Chest", series=2, instances=3) for n, o in enumerate(orders)]
    register_study_source(app, FakePacs(studies))
    one = fhir_get("/fhir/R4/ImagingStudy", query_string={"basedon": f"ServiceRequest/{orders[1].id}"})
    [entry] = one.entry
    study = entry.resource
    assert study.basedOn[0].reference == f"ServiceRequest/{orders[1].id}"
    assert study.identifier[0].value == "urn:oid:1.2.826.0.1.1"
    assert (study.numberOfSeries, study.numberOfInstances, study.modality[0].code) == (2, 3, "CR")
    first = fhir_get("/fhir/R4/ImagingStudy", query_string={"patient": str(visit.patient_id), "_count": "2"})
    assert first.total == 3 and len(first.entry) == 2
    next_url = next(link.url for link in first.link if link.relation == "next")
    second = fhir_get(_path(next_url))
    assert [e.resource.id for e in first.entry + second.entry] == [str(s.id) for s in studies]
