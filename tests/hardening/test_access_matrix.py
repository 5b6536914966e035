"""The access control matrix of docs/security.md, walked cell by cell over HTTP.

The expected values are read from its three tables (pages, API operations, status
actions), so the documentation and the app cannot drift apart: any difference fails the test,
with every differing cell listed.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from webapp.auth.roles import Role

pytestmark = pytest.mark.sqlite_only

MATRIX_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
ROLES = [str(role) for role in Role]
ALLOWED, REFUSED = "✓", "—"


def matrix_tables() -> dict[str, dict[str, dict[str, bool]]]:
    """{"Pages": {"GET /dashboard": {"doctor": True, ...}}, "API operations": ..., "Status actions": ...}."""
    text = MATRIX_DOC.read_text()
    section = text.split("## Access control matrix", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, dict[str, dict[str, bool]]] = {}
    for title, body in re.findall(r"### (.+?)\n(.*?)(?=\n### |\Z)", section, flags=re.S):
        lines = [line for line in body.splitlines() if line.startswith("|")]
        header = [cell.strip() for cell in lines[0].strip("|").split("|")][1:]
        assert header == ROLES, f"{title}: columns {header} are not the roles {ROLES}"
        rows = {}
        for line in lines[2:]:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert set(cells[1:]) <= {ALLOWED, REFUSED}, line
            rows[cells[0].strip("`")] = {role: cell == ALLOWED for role, cell in zip(ROLES, cells[1:], strict=True)}
        tables[title.strip()] = rows
    assert set(tables) == {"Pages", "API operations", "Status actions"}, set(tables)
    return tables


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


class World:
    """Users of every role with a browser client and a bearer token, and records to point at."""

    def __init__(self, app, make_user, make_order, make_visit):
        self.app, self.make_order, self.make_visit = app, make_order, make_visit
        self.browsers, self.tokens = {}, {}
        for role in ROLES:
            user = make_user(role, password="password-123")
            browser = app.test_client()
            with browser.session_transaction() as session:
                session["_user_id"] = user.get_id()
            self.browsers[role] = browser
            answer = app.test_client().post("/api/v1/auth/token",
                                            json={"username": user.username, "password": "password-123"})
            assert answer.status_code == 200, answer.get_json()
            self.tokens[role] = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
        self.anonymous = app.test_client()
        self.order = make_order("scheduled")
        from webapp.dicom.stations import add_station
        from webapp.extensions import db, writing

        with app.app_context(), writing():
            self.station = add_station("MATRIX1", "XRAY", "Room 1").ae_title
            db.session.commit()
        self.visit_id, self.patient_id = self.order.visit_id, self.order.patient_id

    def fill(self, path: str) -> str:
        return (path.replace("{order}", str(self.order.id)).replace("{visit}", str(self.visit_id))
                .replace("{patient}", str(self.patient_id)).replace("{accession}", self.order.accession_number)
                .replace("{station}", self.station))

    def api(self, role: str | None, method: str, path: str, body=None):
        client = self.anonymous if role is None else self.app.test_client()
        # PUT needs If-Match (428 without it); * as roles, not concurrent edits, are tested here.
        if_match = {"If-Match": "*"} if method == "PUT" else {}
        return client.open(path, method=method, json=body, headers=self.tokens.get(role, {}) | if_match)

    def order_status(self, order_id) -> tuple[str, int]:
        answer = self.api("admin", "GET", f"/api/v1/imaging/orders/{order_id}").get_json()
        return answer["status"], answer["version"]


def _api_body(world: World, key: str) -> dict | None:
    method, path = key.split(" ", 1)
    if key == "POST /api/v1/imaging/orders":
        visit = world.make_visit()
        return {"patient_id": str(visit.patient_id), "visit_id": str(visit.id), "modality": "XRAY",
                "body_part": "CHEST", "clinical_indication": "Cough", "procedure_code": "71046"}
    if key == "PUT /api/v1/imaging/orders/{order}":
        return {"priority": "urgent"}
    if key == "DELETE /api/v1/imaging/orders/{order}":
        return {"reason": "Matrix test"}
    if key == "POST /api/v1/patients":
        return {"mrn": f"M{uuid.uuid4().hex[:10]}", "first_name": "Ida", "last_name": "Test",
                "date_of_birth": "1970-01-01", "sex": "female"}
    if key == "POST /api/v1/imaging/orders/{order}/protocol":
        return {"protocol": "Matrix protocol"}
    if key == "POST /api/v1/visits":
        return {"patient_id": str(world.patient_id), "reason": "Matrix test"}
    if key == "POST /api/v1/stations/{station}/downtime":
        return {"start": (SCHEDULE_AT + timedelta(days=3)).isoformat(),
                "end": (SCHEDULE_AT + timedelta(days=3, hours=1)).isoformat(), "reason": "Matrix test"}
    return None if method in ("GET", "HEAD") else {}


SCHEDULE_AT = datetime.now(UTC) + timedelta(days=1)
API_CHANGE = {
    "schedule": {"status": "scheduled", "scheduled_date": SCHEDULE_AT.isoformat()},
    "reschedule": {"status": "scheduled", "scheduled_date": (SCHEDULE_AT + timedelta(hours=2)).isoformat()},
    "start": {"status": "in_progress"},
    "complete": {"status": "completed", "number_of_images": 3},
    "report": {"status": "reported", "findings": "Clear lungs.", "impression": "Normal."},
    "cancel": {"status": "cancelled", "reason": "Matrix test"},
    "unbook": {"status": "ordered", "reason": "Matrix test"},
    "undo_start": {"status": "scheduled"},
}
PAGE_FORM = {
    "schedule": {"schedule-date": SCHEDULE_AT.date().isoformat(), "schedule-time": "10:30"},
    "reschedule": {"reschedule-date": SCHEDULE_AT.date().isoformat(), "reschedule-time": "11:30"},
    "start": {},
    "complete": {"complete-number_of_images": "3"},
    "report": {"report-findings": "Clear lungs.", "report-impression": "Normal."},
    "cancel": {"cancel-reason": "Matrix test"},
    "unbook": {"unbook-reason": "Matrix test"},
    "undo_start": {},
    "note": {"note-note": "Matrix test note"},
    "addendum": {"addendum-addendum": "Matrix test addendum"},
    # The order page's edit form (make_order's values, a new priority).
    "edit": {"modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
             "clinical_indication": "Suspected pneumonia", "priority": "stat"},
}


def _api_action(world: World, role: str, action: str, order_id) -> int:
    if action == "edit":
        return world.api(role, "PUT", f"/api/v1/imaging/orders/{order_id}", {"priority": "stat"}).status_code
    return world.api(role, "PATCH", f"/api/v1/imaging/orders/{order_id}/status", API_CHANGE[action]).status_code


def _page_action(world: World, role: str, action: str, order_id, version: int) -> int:
    if action == "edit":
        url, form = f"/imaging/orders/{order_id}/edit", {"version": str(version)} | PAGE_FORM[action]
    else:
        url, form = f"/imaging/orders/{order_id}/actions/{action}", {f"{action}-version": str(version)} | PAGE_FORM[action]
    # As htmx sends it (the button's form): 200 with the new state, or the refusal's own status.
    return world.browsers[role].post(url, data=form, headers={"HX-Request": "true"}).status_code


def _tablet_action(world: World, role: str, action: str, order_id, version: int) -> int:
    form = {"version": str(version)} | ({"number_of_images": "3"} if action == "complete" else {})
    return world.browsers[role].post(f"/imaging/worklist/{order_id}/{action}", data=form,
                                     headers={"HX-Request": "true"}).status_code


def test_the_whole_access_matrix_over_http(app, make_user, make_order, make_visit):
    tables = matrix_tables()
    world = World(app, make_user, make_order, make_visit)
    differences: list[str] = []

    def expect(what: str, ok: bool, detail) -> None:
        if not ok:
            differences.append(f"{what}: {detail}")

    # Pages: 200 or 403 per role; signed out, a redirect to the sign-in page.
    for key, row in tables["Pages"].items():
        method, path = key.split(" ", 1)
        path = world.fill(path)
        for role, allowed in row.items():
            status = world.browsers[role].open(path, method=method).status_code
            expect(f"page {key} as {role}", status == (200 if allowed else 403), status)
        anonymous = world.anonymous.open(path, method=method)
        expect(f"page {key} signed out", anonymous.status_code == 303
               and "/login" in anonymous.headers.get("Location", ""), anonymous.status_code)

    # API operations: success or a 403 problem per role; signed out, 401.
    for key, row in tables["API operations"].items():
        method, path = key.split(" ", 1)
        for role, allowed in row.items():
            target = path
            if "{order}" in path and method in ("PUT", "DELETE", "POST"):
                fresh = make_order("ordered")  # a write needs an order it may change
                target = path.replace("{order}", str(fresh.id))
            answer = world.api(role, method, world.fill(target), _api_body(world, key))
            ok = 200 <= answer.status_code < 300 if allowed else answer.status_code == 403
            expect(f"API {key} as {role}", ok, f"{answer.status_code} {answer.get_json()}")
        anonymous = world.api(None, method, world.fill(path), _api_body(world, key))
        expect(f"API {key} signed out", anonymous.status_code == 401, anonymous.status_code)

    # Status actions: through the API and through the order page, each on an order in that status.
    for key, row in tables["Status actions"].items():
        action, from_status = key.split(" ")
        # A note and an addendum are the order page's forms (the API's addenda: tests/reporting).
        channels = ["page"] if action in ("note", "addendum") else ["api", "page"]
        if action in ("start", "complete", "undo_start"):
            channels.append("tablet")
        for channel in channels:
            unchanged = None  # refused attempts leave the order as it was: they can share one
            for role, allowed in row.items():
                order = unchanged if (unchanged is not None and not allowed) else make_order(from_status)
                before = world.order_status(order.id)
                if channel == "api":
                    status = _api_action(world, role, action, order.id)
                    succeeded = status == 200
                else:
                    act = _page_action if channel == "page" else _tablet_action
                    status = act(world, role, action, order.id, before[1])
                    succeeded = status == 200
                after = world.order_status(order.id)
                changed = after[1] > before[1]
                if allowed:
                    expect(f"{channel} {key} as {role}", succeeded and changed, f"{status}, {before} -> {after}")
                else:
                    expect(f"{channel} {key} as {role}", status in (403, 409) and not changed,
                           f"{status}, {before} -> {after}")
                    unchanged = None if changed else order

    assert not differences, "The app differs from the access control matrix of docs/security.md:\n" + "\n".join(differences)
