"""Screenshots of scheduling for docs/web-pages.md (called by scripts/screenshots.py): the schedule
board with tomorrow's bookings, the schedule form's overlap warning, and page 1 and the label
sheet of a requisition (the PDF rendered to PNG with pypdfium2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.browser.live import sign_in

DESKTOP = {"width": 1440, "height": 900}


def _api(page, url: str, username: str) -> dict[str, str]:
    answer = page.request.post(f"{url}/api/v1/auth/token",
                               data={"username": username, "password": f"{username}-demo-2026"})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _book_tomorrow(page, url: str) -> list[tuple[dict, datetime]]:
    """A few of the demo's open orders booked for tomorrow morning (two of them overlapping)."""
    scheduler = _api(page, url, "scheduler")
    ordered = page.request.get(f"{url}/api/v1/imaging/orders?status=ordered&limit=50", headers=scheduler).json()
    stations = {"XRAY": "DX_ROOM1", "CT": "CT_MAIN", "MRI": "MR_1", "US": "US_1", "MG": "MG_1", "FL": "RF_1"}
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    booked = []
    for index, order in enumerate(ordered["items"][:8]):
        when = start + timedelta(minutes=25 * index + (5 if index == 3 else 0))
        page.request.patch(f"{url}/api/v1/imaging/orders/{order['id']}/status", headers=scheduler,
                           data={"status": "scheduled", "scheduled_date": when.isoformat(),
                                 "station_ae": stations[order["modality"]]})
        booked.append((order, when))
    return booked


def _pdf_to_png(pdf: bytes, out: Path, names: tuple[str, ...]) -> None:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    for index, name in enumerate(names):
        document[index].render(scale=1.6).to_pil().save(out / f"{name}.png")


def shoot_schedule(browser, url: str, out: Path) -> None:
    context = browser.new_context(base_url=url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, url, "scheduler")
    booked = _book_tomorrow(page, url)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    page.goto(f"{url}/imaging/schedule?day={tomorrow}")
    page.wait_for_selector("#schedule-board")
    page.screenshot(path=str(out / "17-schedule-board-1440x900.png"), full_page=False)

    doctor = _api(page, url, "doctor")
    visit = page.request.get(f"{url}/api/v1/visits?limit=1", headers=doctor).json()["items"][0]
    order = page.request.post(f"{url}/api/v1/imaging/orders", headers=doctor, data={
        "patient_id": visit["patient_id"], "visit_id": visit["id"], "modality": "XRAY", "body_part": "EXTREMITY",
        "procedure_code": "73130", "laterality": "left", "priority": "stat",
        "clinical_indication": f"Fall on outstretched hand, swelling ({uuid.uuid4().hex[:4]})"}).json()
    page.goto(f"{url}/imaging/orders/{order['id']}")
    form = page.locator("#action-schedule")
    x_ray = next((when for o, when in booked if o["modality"] == "XRAY"), None)
    form.get_by_label("Date").fill(tomorrow)
    form.get_by_label("Time").fill((x_ray + timedelta(minutes=5)).strftime("%H:%M") if x_ray else "08:05")
    form.get_by_label("Scanner").select_option("DX_ROOM1")
    page.locator("#overlap-warning" if x_ray else "#station-day-panel").wait_for()
    form.screenshot(path=str(out / "18-schedule-form-overlap.png"))
    form.get_by_label("Time").fill("19:30")
    form.get_by_role("button", name="Schedule").click()
    page.wait_for_selector("#order-main [data-status='scheduled']")
    pdf = page.request.get(f"{url}/imaging/orders/{order['id']}/requisition.pdf").body()
    _pdf_to_png(pdf, out, ("19-requisition", "20-requisition-labels"))
    context.close()
