"""The reporting pages: the editor (drafts survive a reload, templates, sign and next), the order
page's report with addenda, the critical-result banner and its acknowledgement, the access log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.access_log import last_id, reads
from webapp.extensions import db, writing
from webapp.imaging import queries

HX = {"HX-Request": "true"}


def csrf(client, url):
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', client.get(url).get_data(as_text=True))
    return match.group(1) if match else ""


def editor(order):
    return f"/imaging/orders/{order.id}/report"


def test_a_draft_survives_a_reload_and_only_radiologists_see_it(app, client, auth, make_order, people):
    order = make_order("completed", clinical_indication="Fever and crackles")
    auth.login(people("radiologist"))
    page = client.get(editor(order))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Fever and crackles" in text and 'id="choose-template"' in text and "Not saved yet." in text
    token = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', text).group(1)
    saved = client.post(f"{editor(order)}/draft", headers=HX, data={
        "csrf_token": token, "findings": "Patchy consolidation right base.", "impression": "", "technique": "PA."})
    assert saved.status_code == 200 and "Draft saved at" in saved.get_data(as_text=True)
    reloaded = client.get(editor(order)).get_data(as_text=True)
    assert "Patchy consolidation right base." in reloaded and 'id="draft-badge"' in reloaded
    # The order did not change (no version, no event): its page still shows version 4.
    with app.app_context():
        assert queries.get_order(order.id).version == order.version
    # Other roles get the readable page, without the draft.
    for role in ("technician", "doctor"):
        auth.login(role)
        other = client.get(editor(order)).get_data(as_text=True)
        assert 'id="no-report"' in other and "Patchy consolidation" not in other, role
        assert client.post(f"{editor(order)}/draft", data={"findings": "x"}).status_code in (400, 403)
    auth.login("display")
    assert client.get(editor(order)).status_code == 403


def test_a_template_fills_the_empty_sections(client, auth, make_order, people):
    order = make_order("completed", modality="CT", body_part="HEAD", procedure_code="70450")
    auth.login(people("radiologist"))
    text = client.get(editor(order)).get_data(as_text=True)
    assert '<option value="CT-HEAD"' in text
    token = csrf(client, editor(order))
    response = client.post(f"{editor(order)}/template", data={
        "csrf_token": token, "findings": "My own findings.", "choose_template": "CT-HEAD"})
    assert response.status_code == 303
    page = client.get(editor(order)).get_data(as_text=True)
    assert "My own findings." in page and "Axial CT of the head/brain" in page and "No acute abnormality." in page


def _complete(make_order, priority, minutes_ago, app):
    order = make_order("completed", priority=priority)
    with app.app_context(), writing():
        current = queries.get_order(order.id)
        current.ordered_date = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        db.session.commit()
    return order


def test_sign_moves_on_to_the_next_order_to_report(app, client, auth, make_order, people):
    routine_old = _complete(make_order, "routine", 300, app)
    urgent = _complete(make_order, "urgent", 10, app)
    stat_new = _complete(make_order, "stat", 5, app)
    stat_old = _complete(make_order, "stat", 50, app)
    auth.login(people("radiologist"))
    order, seen = stat_new, []
    for _ in range(4):
        token = csrf(client, editor(order))
        response = client.post(f"{editor(order)}/sign", data={
            "csrf_token": token, "findings": "Clear.", "impression": "Normal.", "version": ""})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        seen.append(response.headers["Location"])
        match = re.search(r"/imaging/orders/([0-9a-f-]+)/report$", response.headers["Location"])
        if not match:
            break
        order = next(o for o in (routine_old, urgent, stat_old, stat_new) if str(o.id) == match.group(1))
    assert seen == [editor(stat_old), editor(urgent), editor(routine_old), f"/imaging/orders/{routine_old.id}"]
    with app.app_context():
        assert {queries.get_order(o.id).status for o in (routine_old, urgent, stat_new, stat_old)} == {"reported"}


def test_sign_refuses_without_impression_and_keeps_the_text(client, auth, make_order, people):
    order = make_order("completed")
    auth.login(people("radiologist"))
    token = csrf(client, editor(order))
    response = client.post(f"{editor(order)}/sign", data={"csrf_token": token, "findings": "Kept text."})
    assert response.status_code == 422
    assert "Kept text." in response.get_data(as_text=True)
    assert "Kept text." in client.get(editor(order)).get_data(as_text=True)  # saved as the draft


def test_signing_an_empty_report_says_once_which_sections_are_missing(client, auth, make_order, people):
    """Issue 26 #18: it said "This field is required.; This field is required."."""
    order = make_order("completed")
    auth.login(people("radiologist"))
    token = csrf(client, editor(order))
    response = client.post(f"{editor(order)}/sign", data={"csrf_token": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter the findings and the impression before signing." in body
    assert "required.;" not in body


def test_addendum_on_the_order_page_shows_under_the_report_and_in_the_timeline(client, auth, make_order, people):
    order = make_order("reported")
    auth.login(people("radiologist"))
    url = f"/imaging/orders/{order.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="action-addendum"' in page and "Printable report" in page
    token = csrf(client, url)
    response = client.post(f"{url}/actions/addendum", headers=HX, data={
        "csrf_token": token, "addendum-version": order.version, "addendum-addendum": "Also a rib fracture."})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'id="report-addenda"' in text and text.count("Also a rib fracture.") == 2  # report and timeline
    assert "<strong>Addendum</strong>" in text and 'data-status="reported"' in text
    auth.login("technician")
    assert "Also a rib fracture." in client.get(f"{url}/report").get_data(as_text=True)


def _critical_order(client, auth, make_order, people, doctor):
    order = make_order("completed", doctor=doctor)
    auth.login(people("radiologist"))
    token = csrf(client, editor(order))
    response = client.post(f"{editor(order)}/sign", data={
        "csrf_token": token, "findings": "Free air.", "impression": "Perforation.", "critical": "y",
        "critical_note": "Free air under the diaphragm"})
    assert response.status_code == 303
    return order


def test_banner_on_every_page_until_acknowledged(app, client, auth, make_order, people, make_user):
    doctor = people("doctor")
    order = _critical_order(client, auth, make_order, people, doctor)
    auth.login(doctor)
    before = last_id(app)
    for path in ("/dashboard", "/imaging/orders", f"/visits/{order.visit_id}"):
        text = client.get(path).get_data(as_text=True)
        assert 'id="critical-banner"' in text and "Free air under the diaphragm" in text, path
    assert any(r.what.endswith("critical results") or "critical results" in r.what for r in reads(app, before))
    assert order.patient_id in set().union(*(r.patients for r in reads(app, before)))
    # Other doctors do not get it in their banner; the wall never has a banner.
    auth.login(make_user("doctor"))
    assert "Free air under the diaphragm" not in client.get("/dashboard").get_data(as_text=True)
    # The ordering doctor acknowledges with one click (htmx: the banner comes back empty).
    auth.login(doctor)
    fragment = client.get("/critical-results/banner", headers=HX).get_data(as_text=True)
    critical_id = re.search(r'id="acknowledge-(\d+)"', fragment).group(1)
    token = csrf(client, "/dashboard")
    done = client.post(f"/critical-results/{critical_id}/acknowledge", headers=HX, data={"csrf_token": token})
    assert done.status_code == 200 and "Free air under the diaphragm" not in done.get_data(as_text=True)
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "Critical result acknowledged" in page and 'id="acknowledge-' not in page
    again = client.post(f"/critical-results/{critical_id}/acknowledge", data={"csrf_token": token})
    assert again.status_code == 303  # back to the order, saying it was already acknowledged
    auth.login("radiologist")
    assert client.post(f"/critical-results/{critical_id}/acknowledge", data={"csrf_token": token}).status_code == 403
    auth.login(doctor)  # not through the order page's generic action route
    assert client.post(f"/imaging/orders/{order.id}/actions/acknowledge", data={"csrf_token": token}).status_code == 404


def test_admin_acknowledges_on_behalf_and_sees_overdue_ones(app, client, auth, make_order, people):
    doctor = people("doctor")
    order = _critical_order(client, auth, make_order, people, doctor)
    auth.login("admin")
    assert 'id="overdue-critical"' not in client.get("/dashboard").get_data(as_text=True)  # not overdue yet
    from webapp.reporting.models import CriticalResult

    with app.app_context(), writing():
        result = db.session.query(CriticalResult).filter_by(order_id=order.id).one()
        result.raised_at = datetime.now(UTC) - timedelta(minutes=40)
        critical_id = result.id
        db.session.commit()
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert f'id="overdue-critical-{critical_id}"' in dashboard and re.search(r"overdue-age\">(40|41) min", dashboard)
    auth.login("display")
    wall = client.get("/dashboard/wall").get_data(as_text=True)
    assert 'id="wall-critical-overdue"' in wall and "Free air" not in wall and order.accession_number not in wall
    auth.login("admin")
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert f"on behalf of {doctor.display_name}" in page
    token = csrf(client, f"/imaging/orders/{order.id}")
    assert client.post(f"/critical-results/{critical_id}/acknowledge", data={"csrf_token": token}).status_code == 303
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "Critical result acknowledged" in page and f"On behalf of {doctor.display_name}" in page
    assert 'id="overdue-critical"' not in client.get("/dashboard").get_data(as_text=True)
    # The metrics page shows the acknowledgement time.
    metrics = client.get("/dashboard/metrics").get_data(as_text=True)
    section = metrics.split('id="metric-critical_to_acknowledged"', 1)[1].split("</section>", 1)[0]
    assert re.search(r'class="metric-p50">(40|41) min', section)


def test_priors_list_the_same_body_part_first(client, auth, make_order, make_visit, people):
    visit = make_visit()
    head = make_order("reported", visit=visit, modality="CT", body_part="HEAD", procedure_code="70450")
    chest = make_order("reported", visit=visit)
    current = make_order("completed", visit=visit)
    auth.login(people("radiologist"))
    text = client.get(editor(current)).get_data(as_text=True)
    assert text.index(f'id="prior-{chest.id}"') < text.index(f'id="prior-{head.id}"')
    assert "same body part" in text and "Normal." in text  # the prior's impression
    assert f'id="prior-{current.id}"' not in text
    order_page = client.get(f"/imaging/orders/{current.id}").get_data(as_text=True)
    assert f'id="prior-{chest.id}"' in order_page and 'id="open-report-editor"' in order_page


def test_printable_report_headings_follow_in_order_and_the_mrn_shows_once(client, auth, make_order):
    """Issue 26 #18 (axe heading-order): the printed report went from its h1 straight to h3."""
    order = make_order("reported")
    auth.login("doctor")
    page = client.get(editor(order)).get_data(as_text=True)
    article = page.split('id="printable-report"')[1].split("</article>")[0]
    levels = [int(level) for level in re.findall(r"<h([1-6])\b", article)]
    assert levels[0] == 1 and len(levels) > 2
    assert all(later <= earlier + 1 for earlier, later in zip(levels, levels[1:], strict=False)), levels
    assert order.patient.mrn.startswith("MRN") and "MRN MRN" not in page
