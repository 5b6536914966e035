"""Correcting an order on its page: the order form pre-filled, as a dialog fragment and as a page
of its own; saved through services.update_order with the version the doctor saw."""

import re

import pytest

from tests.pages.conftest import hx

SCRIPT = "<script>alert(1)</script>"


def _url(order) -> str:
    return f"/imaging/orders/{order.id}/edit"


def _fields(order, **changes) -> dict:
    """The edit form as the browser posts it: the order's values, then ``changes``."""
    return {"version": str(order.version), "modality": order.modality, "body_part": order.body_part,
            "procedure_code": order.procedure_code or "", "laterality": order.laterality or "",
            "diagnosis_id": str(order.diagnosis_id or ""), "clinical_indication": order.clinical_indication,
            "clinical_history": order.clinical_history or "", "special_instructions": order.special_instructions or "",
            "priority": order.priority} | changes


def _stored(app, order):
    from webapp.extensions import db
    from webapp.imaging import queries

    with app.app_context():
        current = queries.get_order(order.id)
        events = [(e.event_type, e.changes) for e in queries.order_events(current)]
        db.session.expunge_all()
        return current, events


def test_edit_form_as_a_page_and_as_a_dialog_fragment_prefilled(client, auth, make_order, make_visit):
    visit = make_visit()
    order = make_order("ordered", visit=visit, clinical_history="Smoker.\nCough for 5 days.", priority="urgent",
                       diagnosis_id=visit.diagnoses[0].id)
    auth.login("doctor")
    page = client.get(_url(order))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "<title>Edit order " in html
    form = html[html.index('<form id="order-form"'):]
    assert form.startswith(f'<form id="order-form" method="post" action="{_url(order)}"')
    assert "hx-post" not in form[:form.index(">")]  # a page of its own posts and redirects (PRG)
    assert f'name="version" value="{order.version}"' in html
    for selected in ('selected value="XRAY"', 'selected value="CHEST"', 'selected value="71046"',
                     'selected value="urgent"'):
        assert f"<option {selected}>" in html, selected
    assert re.search(r'<option selected value="[0-9a-f-]+">J18.9 Pneumonia', html)  # the visit's diagnosis
    assert "Suspected pneumonia</textarea>" in html and "Smoker.\nCough for 5 days.</textarea>" in html
    assert "71046 — X-Ray Chest, 2 views" in html and "70450" not in html  # procedures of XRAY chest only
    assert "Save changes" in html and f'href="/imaging/orders/{order.id}"' in html
    assert 'name="form_token"' not in html and 'name="visit_id"' not in html

    fragment = client.get(_url(order), headers=hx("dialog-body"))
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text
    assert text.lstrip().startswith('<div id="order-form-panel">') and 'id="dialog-title"' in text
    assert f'hx-post="{_url(order)}" hx-target="#order-form-panel"' in text
    assert "HX-Request" in fragment.headers["Vary"]

    choices = client.get(_url(order) + "?modality=XRAY&body_part=EXTREMITY", headers=hx("order-choices"))
    text = choices.get_data(as_text=True)
    assert text.lstrip().startswith(f'<div id="order-choices" hx-get="{_url(order)}"')
    assert "73130 — X-Ray Hand, 3 views" in text and "71046" not in text and 'id="laterality"' in text


def test_detail_page_offers_edit_only_when_the_workflow_allows_it(client, auth, make_order):
    ordered, scheduled, started = make_order("ordered"), make_order("scheduled"), make_order("in_progress")
    auth.login("doctor")
    for order in (ordered, scheduled):
        html = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
        assert 'id="action-edit"' in html and f'hx-get="{_url(order)}" hx-target="#dialog-body"' in html
    html = client.get(f"/imaging/orders/{started.id}").get_data(as_text=True)
    assert 'id="action-edit"' not in html and 'id="action-cancel"' in html
    auth.login("admin")
    assert b'id="action-edit"' in client.get(f"/imaging/orders/{ordered.id}").data
    for role in ("scheduler", "technician", "radiologist"):
        auth.login(role)
        assert b'id="action-edit"' not in client.get(f"/imaging/orders/{ordered.id}").data, role


def test_plain_post_saves_records_the_diff_and_redirects(app, client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    saved = client.post(_url(order), data=_fields(order, body_part="ABDOMEN", procedure_code="74018"))
    assert saved.status_code == 303 and saved.headers["Location"] == f"/imaging/orders/{order.id}"
    current, events = _stored(app, order)
    assert (current.body_part, current.procedure_code, current.version) == ("ABDOMEN", "74018", order.version + 1)
    assert events[-1][0] == "updated"
    assert events[-1][1]["body_part"] == {"from": "CHEST", "to": "ABDOMEN"}
    assert events[-1][1]["procedure_code"] == {"from": "71046", "to": "74018"}
    assert set(events[-1][1]) == {"body_part", "procedure_code", "procedure_name"}  # nothing else changed

    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert f"Order {order.accession_number} is updated: body part, procedure." in page  # the flash
    assert '<dd class="col-sm-8" id="order-body-part">Abdomen</dd>' in page
    entry = page[page.index("Details changed"):]
    entry = re.sub(r"<[^>]+>", "", entry[:entry.index("</li>\n            \n")])
    assert "Body part: Chest → Abdomen" in re.sub(r"\s+", " ", entry)
    assert "Procedure: X-Ray Chest, 2 views (CPT 71046) → X-Ray Abdomen, 1 view (CPT 74018)" in \
        re.sub(r"\s+", " ", entry)


def test_htmx_post_answers_the_order_region_in_place_of_the_page(app, client, auth, make_order, make_visit):
    visit = make_visit(diagnoses=[("J18.9", "Pneumonia, unspecified organism"), ("R05", "Cough")])
    order = make_order("scheduled", visit=visit, diagnosis_id=visit.diagnoses[0].id)
    second_diagnosis = str(visit.diagnoses[1].id)
    auth.login("doctor")
    saved = client.post(_url(order), headers=hx("order-form-panel"), data=_fields(
        order, modality="XRAY", body_part="EXTREMITY", procedure_code="73130", laterality="left",
        priority="stat", diagnosis_id=second_diagnosis))
    html = saved.get_data(as_text=True)
    assert saved.status_code == 200 and "<html" not in html
    assert saved.headers["HX-Retarget"] == "#order-main" and saved.headers["HX-Reswap"] == "outerHTML"
    assert saved.headers["HX-Trigger"] == "orders-changed"
    assert html.lstrip().startswith('<div id="order-main"') and 'data-status="scheduled"' in html
    assert f'data-version="{order.version + 1}"' in html
    assert "Extremities (left)" in html and "X-Ray Hand, 3 views" in html and "priority-stat" in html
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    for line in ("Body part: Chest → Extremities", "Laterality: none → Left",
                 "Priority: Routine → STAT", "Diagnosis: J18.9 Pneumonia, unspecified organism → R05 Cough"):
        assert line in flat, line
    current, events = _stored(app, order)
    assert (current.laterality, current.priority, str(current.diagnosis_id)) == ("left", "stat", second_diagnosis)
    assert [kind for kind, _ in events].count("updated") == 1


def test_validation_errors_rerender_the_form_in_place(app, client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    # A body part this modality cannot image (no X-ray of the head): the choice is not offered.
    wrong = client.post(_url(order), headers=hx("order-form-panel"), data=_fields(
        order, body_part="HEAD", procedure_code=""))
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and html.lstrip().startswith('<div id="order-form-panel">')
    assert 'id="body_part-error"' in html and "Please correct the highlighted fields." in html
    assert 'hx-post=' in html and f'name="version" value="{order.version}"' in html
    # A paired body part without a side, and no clinical indication: all said at once.
    unpaired = client.post(_url(order), headers=hx("order-form-panel"), data=_fields(
        order, body_part="EXTREMITY", procedure_code="73130", laterality="", clinical_indication=" "))
    html = unpaired.get_data(as_text=True)
    assert unpaired.status_code == 422 and "Say which side" in html and 'id="laterality"' in html
    assert 'id="clinical_indication-error"' in html
    assert 'selected value="EXTREMITY"' in html and 'selected value="73130"' in html  # the doctor's input kept
    # Without JavaScript: the whole page, same errors.
    plain = client.post(_url(order), data=_fields(order, modality=""))
    assert plain.status_code == 422 and b"<html" in plain.data and b"Choose a modality." in plain.data
    # A side for a body part that has none: the form has no side field then, so it is dropped.
    sided = client.post(_url(order), headers=hx("order-form-panel"), data=_fields(order, laterality="left"))
    assert sided.status_code == 200 and b"Nothing was changed" in sided.data
    current, events = _stored(app, order)
    assert current.version == order.version and [kind for kind, _ in events] == ["created"]


def test_nothing_changed_saves_nothing(app, client, auth, make_order):
    order = make_order("ordered", clinical_history="Line one.\nLine two.")
    auth.login("doctor")
    # Browsers send textarea line breaks as CRLF: still the same text.
    same = _fields(order, clinical_history="Line one.\r\nLine two.", special_instructions="  ")
    for headers in (hx("order-form-panel"), {}):
        answer = client.post(_url(order), data=same, headers=headers)
        assert answer.status_code == 200 and b"Nothing was changed, so nothing was saved." in answer.data
        assert b'id="order-form"' in answer.data and "HX-Trigger" not in answer.headers
    current, events = _stored(app, order)
    assert current.version == order.version and [kind for kind, _ in events] == ["created"]


def test_a_change_in_another_tab_keeps_what_was_typed_and_says_it_was_the_same_user(app, client, auth, make_order):
    """Issue 26 #18: it said "Someone else changed order…" when it was the user's other tab, and
    the form's text was lost. Now the form comes back with what was typed, on the new version."""
    order = make_order("ordered")
    auth.login("doctor")
    form = _fields(order, priority="urgent", special_instructions="Patient uses a wheelchair")
    first = client.post(_url(order), data=_fields(order, body_part="ABDOMEN", procedure_code="74018"))
    assert first.status_code == 303
    for headers in (hx("order-form-panel"), {}):  # in the dialog (htmx) and as a page of its own
        stale = client.post(_url(order), data=form, headers=headers)
        html = stale.get_data(as_text=True)
        assert stale.status_code == 409 and "HX-Retarget" not in stale.headers
        assert f"Order {order.accession_number} was changed in another tab or window of yours" in html
        assert "Someone else" not in html and "What you entered is still below" in html
        assert "Patient uses a wheelchair" in html and '<option selected value="urgent">' in html
        assert f'name="version" value="{order.version + 1}"' in html
    current, _ = _stored(app, order)
    assert current.priority == "routine" and current.version == order.version + 1
    # Saving the kept form again applies it to the order as it now is.
    again = client.post(_url(order), data=form | {"version": str(order.version + 1), "body_part": "ABDOMEN",
                                                  "procedure_code": "74018"})
    assert again.status_code == 303
    current, _ = _stored(app, order)
    assert current.priority == "urgent" and current.body_part == "ABDOMEN"


def test_a_change_by_another_user_names_them(app, client, auth, make_order):
    from webapp.auth.models import User
    from webapp.extensions import db, writing
    from webapp.imaging import queries, services

    order = make_order("ordered")
    other = auth.login("doctor")
    auth.login("doctor")  # a second doctor edits with the first one's change unseen
    assert auth.user.id != other.id
    with app.app_context(), writing():
        services.update_order(db.session.get(User, other.id), queries.get_order(order.id), {"priority": "stat"},
                              expected_version=order.version)
        db.session.commit()
        label = queries.last_event(queries.get_order(order.id)).actor_label
    stale = client.post(_url(order), data=_fields(order, clinical_history="Typed here"), headers=hx("order-form-panel"))
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409
    assert f"{label} changed order {order.accession_number} while you were looking at it" in html
    assert "another tab" not in html and "Typed here" in html


def test_an_order_that_is_no_longer_editable(app, client, auth, make_order):
    order = make_order("in_progress")
    auth.login("doctor")
    refused = client.post(_url(order), data=_fields(order, priority="stat"), headers=hx("order-form-panel"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and refused.headers["HX-Retarget"] == "#order-main"
    assert f"Order {order.accession_number} is in progress and can no longer be edited." in html
    assert 'data-status="in_progress"' in html and 'id="action-edit"' not in html
    plain = client.post(_url(order), data=_fields(order, priority="stat"))
    assert plain.status_code == 303
    assert "can no longer be edited" in client.get(plain.headers["Location"]).get_data(as_text=True)
    opened = client.get(_url(order), headers=hx("dialog-body"))  # a page older than the scan's start
    assert opened.status_code == 409 and b"can no longer be edited" in opened.data
    assert client.get(_url(order)).status_code == 303
    current, _ = _stored(app, order)
    assert current.priority == "routine" and current.version == order.version


@pytest.mark.parametrize("role", ["scheduler", "technician", "radiologist", "display"])
def test_roles_that_do_not_edit_are_refused(app, client, auth, make_order, role):
    order = make_order("ordered")
    auth.login(role)
    assert client.get(_url(order)).status_code == 403
    assert client.get(_url(order), headers=hx("dialog-body")).status_code == 403
    assert client.post(_url(order), data=_fields(order, priority="stat")).status_code == 403
    current, _ = _stored(app, order)
    assert current.version == order.version
    auth.logout()
    assert client.get(_url(order)).status_code == 303


def test_unknown_order_is_404(client, auth):
    auth.login("doctor")
    assert client.get("/imaging/orders/00000000-0000-0000-0000-000000000000/edit").status_code == 404
    assert client.post("/imaging/orders/00000000-0000-0000-0000-000000000000/edit", data={}).status_code == 404


def test_script_in_the_clinical_indication_is_shown_escaped_after_an_edit(client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    saved = client.post(_url(order), data=_fields(order, clinical_indication=SCRIPT), headers=hx("order-form-panel"))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for html in (saved.get_data(as_text=True), client.get(f"/imaging/orders/{order.id}").get_data(as_text=True),
                 client.get(_url(order)).get_data(as_text=True)):
        assert escaped in html and SCRIPT not in html
    assert f'id="order-indication">{escaped}<' in saved.get_data(as_text=True)
    assert f"Suspected pneumonia → {escaped}" in re.sub(r"<[^>]+>", "", saved.get_data(as_text=True))
