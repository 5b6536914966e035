"""Structured templates (issue 24 item 5): `flask templates import FILE` reads an IHE MRRT
template (HTML5, as RSNA RadReport publishes them); coded answers reach FHIR (DiagnosticReport.result
Observations, contained) and HL7 (OBX-2 CWE). The fixture is written for the tests after the MRRT
profile's structure."""

from __future__ import annotations

from pathlib import Path

from tests.reporting.test_api import draft, report_url
from webapp.extensions import db
from webapp.outbox.models import OutboxMessage

FIXTURE = Path(__file__).with_name("fixtures") / "chest_xray_mrrt.html"


def test_parse_reads_title_identifier_sections_fields_and_radlex_codes():
    from webapp.reporting import mrrt

    structure = mrrt.parse(FIXTURE.read_text())
    assert (structure["title"], structure["identifier"]) == ("Chest radiograph, two views",
                                                            "urn:example:mrrt:chest-xray-2v:1.0")
    assert [s["title"] for s in structure["sections"]] == ["Findings", "Impression"]
    fields = mrrt.fields_of(structure)
    assert [(f["id"], f["kind"], f["label"]) for f in fields] == [
        ("lungs", "text", "Lungs"), ("pneumothorax", "select", "Pneumothorax"), ("summary", "text", "Summary")]
    assert fields[1]["code"] == {"code": "RID5352", "meaning": "pneumothorax", "scheme": "RADLEX"}
    assert [(o["value"], o["code"]["code"]) for o in fields[1]["options"]] == [("absent", "RID28473"),
                                                                              ("present", "RID28472")]
    for bad in ("<html><body><section><input id='x'></section></body></html>",
                "<html><head><title>T</title></head><body><input id='x'></body></html>"):
        try:
            mrrt.parse(bad)
        except mrrt.MrrtError:
            pass
        else:
            raise AssertionError("a template without title or identifier is refused")


def test_import_refuses_a_duplicate_identifier(app, runner):
    # As the contract writes it: the modality from the title ("Chest radiograph": XRAY).
    first = runner.invoke(args=["templates", "import", str(FIXTURE)])
    assert first.exit_code == 0, first.output
    assert "imported" in first.output
    with app.app_context():
        from webapp.reporting.models import ReportTemplate

        template = db.session.query(ReportTemplate).filter_by(identifier="urn:example:mrrt:chest-xray-2v:1.0").one()
        assert (template.modality, template.name) == ("XRAY", "Chest radiograph, two views")
    again = runner.invoke(args=["templates", "import", str(FIXTURE), "--modality", "XRAY", "--code", "OTHER"])
    assert again.exit_code != 0 and "imported already" in again.output


def test_coded_answers_reach_fhir_and_hl7(app, client, runner, make_order, people, token):
    result = runner.invoke(args=["templates", "import", str(FIXTURE), "--modality", "XRAY", "--code", "MRRT-CXR"])
    assert result.exit_code == 0, result.output
    app.config["HL7_OUTBOUND"] = ["127.0.0.1:1"]
    try:
        doctor = people("doctor")
        order = make_order("completed", doctor=doctor)
        radiologist = token(people("radiologist"))
        assert draft(client, radiologist, order, template_code="MRRT-CXR").status_code == 200
        bad = draft(client, radiologist, order, fields={"pneumothorax": "maybe"})
        assert bad.status_code == 422 and "fields.pneumothorax" in bad.json["errors"]
        saved = draft(client, radiologist, order, findings="Left apical pneumothorax.", impression="Pneumothorax.",
                      fields={"pneumothorax": "present", "lungs": "Otherwise clear."})
        assert saved.json["fields"] == {"pneumothorax": "present", "lungs": "Otherwise clear."}
        version = saved.json["draft_version"]
        assert client.post(f"{report_url(order)}/sign", json={"draft_version": version},
                           headers=radiologist).status_code == 200
        report = client.get(f"/fhir/R4/DiagnosticReport/{order.id}", headers=token(doctor)).json
        assert report["result"] == [{"reference": "#answer-1"}]
        observation = report["contained"][0]
        assert observation["code"]["coding"][0] == {"system": "http://radlex.org", "code": "RID5352",
                                                    "display": "pneumothorax"}
        assert observation["valueCodeableConcept"]["coding"][0]["code"] == "RID28472"
        from fhir.resources.R4B.diagnosticreport import DiagnosticReport

        DiagnosticReport.model_validate(report)  # the official model accepts it
        with app.app_context():
            from webapp.hl7.messages import Header, build_message

            row = db.session.query(OutboxMessage).filter_by(order_id=order.id, kind="ORU^R01 F").one()
            text = build_message(row.kind, row.payload, "1", Header())
        obx = [line.split("|") for line in text.split("\r") if line.startswith("OBX|")]
        assert obx[-1][2] == "CWE" and obx[-1][3] == "RID5352^Pneumothorax^RADLEX"
        assert obx[-1][5] == "RID28472^present^RADLEX"
    finally:
        app.config["HL7_OUTBOUND"] = []
