"""Report text, addenda and critical results are held to the audit chain (issue 26, item 12).

``UPDATE … SET impression=…`` and ``DELETE FROM report_addenda`` used to pass ``audit verify``
while the API showed the altered report. Now addenda are append-only by trigger, and ``audit
verify`` compares every report, addendum and critical result with what the order's events
recorded, naming the order and what differs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.api.conftest import bearer  # noqa: F401  (the API's token fixture)
from webapp.audit.guards import drop_guards, install_guards
from webapp.extensions import db, writing


@pytest.fixture
def reported(app, client, make_order, bearer):  # noqa: F811
    order = make_order("reported")
    radiologist = bearer("radiologist")
    for body in ({"text": "Also a rib fracture."}, {"text": "Missed bleed.", "critical": True, "critical_note": "Subdural"}):
        assert client.post(f"/api/v1/imaging/orders/{order.id}/addenda", json=body, headers=radiologist).status_code == 201
    return order


def _verify(runner):
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def _tamper(app, *statements):
    with app.app_context(), writing():
        drop_guards(db.session.connection())  # what someone with the owner's rights could do
        for statement, values in statements:
            db.session.execute(text(statement), values)
        install_guards(db.session.connection())
        db.session.commit()


def test_an_untouched_result_verifies(reported, runner):
    code, output = _verify(runner)
    assert code == 0 and "results as recorded" in output, output


def test_a_changed_impression_is_reported(app, reported, runner):
    _tamper(app, ("UPDATE imaging_orders SET impression = 'No fracture.' WHERE accession_number = :number",
                  {"number": reported.accession_number}))
    code, output = _verify(runner)
    assert code == 1 and f"order {reported.accession_number}: the report's impression" in output, output


def test_addenda_cannot_be_deleted_and_a_deleted_one_is_reported(app, reported, runner):
    with app.app_context(), writing():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM report_addenda"))
        db.session.rollback()
    _tamper(app, ("DELETE FROM report_addenda WHERE text = 'Also a rib fracture.'", {}))
    code, output = _verify(runner)
    assert code == 1 and "its addenda (1 stored, 2 recorded)" in output, output


def test_a_changed_critical_note_or_acknowledgement_is_reported(app, reported, runner):
    _tamper(app, ("UPDATE critical_results SET note = 'Nothing urgent'", {}))
    code, output = _verify(runner)
    assert code == 1 and "its critical results" in output, output
    _tamper(app, ("UPDATE critical_results SET note = 'Subdural'", {}))
    assert _verify(runner)[0] == 0
    _tamper(app, ("UPDATE critical_results SET acknowledged_at = CURRENT_TIMESTAMP, acknowledged_by_label = 'x'", {}))
    code, output = _verify(runner)
    assert code == 1 and "which critical results are acknowledged" in output, output


def test_a_co_signed_trainee_report_verifies_and_a_changed_one_is_reported(app, client, make_order, make_user,
                                                                          runner, bearer):  # noqa: F811
    """A trainee's preliminary report and its co-signature with edits are recorded too (the
    ``preliminary`` and ``cosign`` events): what the doctor reads matches, and a change does not."""
    from tests.reporting.test_api import draft, report_url

    order = make_order("completed")
    trainee = bearer(make_user("radiologist", is_trainee=True))
    draft(client, trainee, order, findings="Opacity right lower lobe.", impression="Pneumonia.")
    version = client.get(report_url(order), headers=trainee).json["draft_version"]
    assert client.post(f"{report_url(order)}/sign", json={"draft_version": version}, headers=trainee).status_code == 200
    assert _verify(runner)[0] == 0
    attending = bearer("radiologist")
    assert client.post(f"{report_url(order)}/cosign", json={"impression": "Lung abscess."},
                       headers=attending).status_code == 200
    code, output = _verify(runner)
    assert code == 0, output
    _tamper(app, ("UPDATE imaging_orders SET findings = 'Clear lungs.' WHERE accession_number = :number",
                  {"number": order.accession_number}))
    code, output = _verify(runner)
    assert code == 1 and "the report's findings" in output, output
