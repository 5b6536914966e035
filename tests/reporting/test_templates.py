"""Report templates: a seeded set covering every procedure of the catalogue, `flask templates
list|add|disable`, and the queue's "Report draft"."""

from __future__ import annotations

import re

from sqlalchemy import select

from webapp.extensions import db
from webapp.imaging.models import Procedure
from webapp.reporting.models import ReportTemplate


def test_the_seeded_templates_cover_every_procedure(app):
    with app.app_context():
        templates = {(t.modality, t.body_part) for t in db.session.scalars(select(ReportTemplate))}
        procedures = db.session.scalars(select(Procedure)).all()
        assert procedures and all((p.modality, p.body_part) in templates for p in procedures)


def test_templates_list_add_disable(app, runner):
    listed = runner.invoke(args=["templates", "list"])
    assert listed.exit_code == 0 and re.search(r"^CT-HEAD\s+CT\s+HEAD\s+CT Scan Head/Brain$", listed.output, re.M)
    added = runner.invoke(args=["templates", "add", "ct-head-trauma", "--modality", "CT", "--body-part", "HEAD",
                                "--name", "CT head trauma", "--findings", "No intracranial haemorrhage."])
    assert added.exit_code == 0, added.output
    assert "CT-HEAD-TRAUMA" in runner.invoke(args=["templates", "list"]).output
    assert runner.invoke(args=["templates", "add", "X", "--modality", "PET", "--name", "x"]).exit_code != 0
    disabled = runner.invoke(args=["templates", "disable", "CT-HEAD-TRAUMA"])
    assert disabled.exit_code == 0
    assert "CT-HEAD-TRAUMA" not in runner.invoke(args=["templates", "list"]).output
    assert "(disabled)" in runner.invoke(args=["templates", "list", "--all"]).output
    assert runner.invoke(args=["templates", "disable", "NOPE"]).exit_code != 0
    with app.app_context():
        assert db.session.get(ReportTemplate, "CT-HEAD-TRAUMA").is_active is False


def test_seed_loads_the_templates_and_is_safe_twice(app, runner):
    with app.app_context():
        db.session.execute(ReportTemplate.__table__.delete())
        db.session.commit()
    for _ in range(2):
        assert runner.invoke(args=["seed"]).exit_code == 0
    with app.app_context():
        assert db.session.get(ReportTemplate, "XRAY-CHEST") is not None


def test_the_queue_shows_report_drafts_to_radiologists(client, auth, make_order):
    drafted, plain = make_order("completed"), make_order("completed")
    radiologist = make_order.person("radiologist")
    auth.login(radiologist)
    response = client.post("/api/v1/auth/token", json={"username": radiologist.username, "password": "password-123"})
    headers = {"Authorization": f"Bearer {response.json['access_token']}"}
    assert client.put(f"/api/v1/imaging/orders/{drafted.id}/report", json={"findings": "x"},
                      headers=headers).status_code == 200
    text = client.get("/imaging/orders?status=completed").get_data(as_text=True)
    row = text.split(f'id="order-row-{drafted.id}"', 1)[1].split("</tr>", 1)[0]
    other = text.split(f'id="order-row-{plain.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Report draft" in row and "Report draft" not in other
    auth.login("technician")
    assert "Report draft" not in client.get("/imaging/orders?status=completed").get_data(as_text=True)
