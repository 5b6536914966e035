"""Screenshots of scheduling for docs/web-pages.md (called by scripts/screenshots.py): the schedule
board with tomorrow's bookings, the schedule form's overlap warning, and page 1 and the label
sheet of a requisition (the PDF rendered to PNG with pypdfium2); booking on the board (today,
with its time line) at 1440x900 and 1024x768, the downtime page and the tablet's confirmation."""

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
                                 "station_ae": stations[order["modality"]], "allow_overlap": True,
                                 "reason": "Screenshots: the first free morning"})
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
    form.get_by_label("Scanner", exact=True).select_option("DX_ROOM1")
    page.locator("#overlap-warning" if x_ray else "#station-day-panel").wait_for()
    form.screenshot(path=str(out / "18-schedule-form-overlap.png"))
    form.get_by_label("Time").fill("19:30")
    form.get_by_label("Reason").fill("The patient asked for the evening")  # a STAT later than 4 hours
    form.get_by_role("button", name="Schedule").click()
    page.wait_for_selector("#order-main [data-status='scheduled']")
    pdf = page.request.get(f"{url}/imaging/orders/{order['id']}/requisition.pdf").body()
    _pdf_to_png(pdf, out, ("19-requisition", "20-requisition-labels"))
    context.close()


def shoot_booking(browser, url: str, out: Path) -> None:
    """The board with a waiting order chosen (its free slots offer "Book"), at a desktop and a
    small laptop; the downtime page after recording one; the tablet's confirmation after Start."""
    for viewport, name in ((DESKTOP, "22-board-booking-1440x900"), ({"width": 1024, "height": 768},
                                                                   "22-board-booking-1024x768")):
        context = browser.new_context(base_url=url, viewport=viewport)
        page = context.new_page()
        sign_in(page, url, "scheduler")
        page.goto(f"{url}/imaging/schedule")
        page.locator(".waiting-pick").first.click()
        page.wait_for_selector("#book-form")
        page.screenshot(path=str(out / f"{name}.png"), full_page=False)
        context.close()
    context = browser.new_context(base_url=url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, url, "scheduler")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    page.goto(f"{url}/imaging/schedule/downtime")
    page.locator("#downtime-station_ae").select_option("DX_ROOM1")
    for field, value in (("start_date", tomorrow), ("start_time", "08:00"), ("end_date", tomorrow),
                         ("end_time", "10:00"), ("reason", "Detector calibration (service engineer)")):
        page.locator(f"#downtime-{field}").fill(value)
    page.locator("#downtime-submit").click()
    page.wait_for_selector("#downtime-created")
    page.screenshot(path=str(out / "23-downtime-1440x900.png"), full_page=False)
    context.close()
    context = browser.new_context(base_url=url, viewport={"width": 1024, "height": 768})
    page = context.new_page()
    scheduler, doctor = _api(page, url, "scheduler"), _api(page, url, "doctor")
    visit = page.request.get(f"{url}/api/v1/visits?limit=1", headers=doctor).json()["items"][0]
    order = page.request.post(f"{url}/api/v1/imaging/orders", headers=doctor, data={
        "patient_id": visit["patient_id"], "visit_id": visit["id"], "modality": "US", "body_part": "ABDOMEN",
        "procedure_code": "76700", "clinical_indication": "Right upper quadrant pain"}).json()
    page.request.patch(f"{url}/api/v1/imaging/orders/{order['id']}/status", headers=scheduler, data={
        "status": "scheduled", "scheduled_date": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})
    sign_in(page, url, "technician")
    page.goto(f"{url}/imaging/worklist?station=")
    page.locator(f"#start-{order['id']}").click()
    page.wait_for_selector("#confirmation-undo")
    page.screenshot(path=str(out / "24-tablet-confirmation-1024x768.png"), full_page=False)
    context.close()
