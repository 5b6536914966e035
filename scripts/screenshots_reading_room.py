"""Screenshots of the reading room (docs/reporting.md): the editor with its claim, two tabs'
conflict, the queue with its readers, the co-signature, peer review and its QA page."""

from __future__ import annotations

from pathlib import Path

from tests.browser.live import completed_order, create_user, sign_in

DESKTOP = {"width": 1440, "height": 900}
LAPTOP = {"width": 1280, "height": 720}


def shoot_reading_room(browser, server, out: Path) -> None:
    url = server.url

    def page_as(username: str, viewport: dict):
        context = browser.new_context(base_url=url, viewport=viewport)
        page = context.new_page()
        sign_in(page, url, username)
        return page

    def save(page, name: str, full_page: bool = False) -> None:
        page.screenshot(path=str(out / f"{name}.png"), full_page=full_page)

    create_user(server, "rr-second", "radiologist", "--full-name", "Dr Second Reader")
    create_user(server, "rr-trainee", "radiologist", "--trainee", "--full-name", "Dr Tess Trainee")
    held, conflicted, preliminary = completed_order(server), completed_order(server), completed_order(server)

    # The editor, claimed; the queue shows who reads what.
    first = page_as("radiologist", DESKTOP)
    first.goto(f"/imaging/orders/{held}/report")
    first.get_by_label("Findings").fill("Heart size normal. Lungs clear.")
    first.locator("#save-draft").click()
    save(first, "22-report-editor-claimed-1440x900")
    second = page_as("rr-second", LAPTOP)
    second.goto("/dashboard/to-report")
    save(second, "23-to-report-being-read-1280x720")
    second.goto(f"/imaging/orders/{held}/report")
    save(second, "24-report-editor-held-by-another-1280x720")

    # Two tabs on one draft: the second save shows both texts.
    tab_one = first
    tab_two = first.context.new_page()
    for tab in (tab_one, tab_two):
        tab.goto(f"/imaging/orders/{conflicted}/report")
    tab_one.get_by_label("Findings").fill("Tab one: no pneumothorax.")
    tab_one.locator("#save-draft").click()
    tab_two.set_viewport_size(DESKTOP)
    tab_two.get_by_label("Findings").fill("Tab two: small left pneumothorax.")
    tab_two.locator("#save-draft").click()
    tab_two.wait_for_selector("#draft-conflict")
    save(tab_two, "25-draft-conflict-both-texts-1440x900")

    # A trainee's preliminary report, as the ordering doctor sees it, then the co-signature.
    trainee = page_as("rr-trainee", DESKTOP)
    trainee.goto(f"/imaging/orders/{preliminary}/report")
    trainee.get_by_label("Findings").fill("Patchy opacity in the right lower lobe.")
    trainee.get_by_label("Impression").fill("Right lower lobe pneumonia.")
    trainee.locator("#sign-report").click()
    doctor = page_as("doctor", DESKTOP)
    doctor.goto(f"/imaging/orders/{preliminary}")
    doctor.locator("#report-heading").scroll_into_view_if_needed()
    save(doctor, "26-preliminary-report-for-the-doctor-1440x900", full_page=True)
    first.goto(f"/imaging/orders/{preliminary}/report")
    save(first, "27-cosign-1440x900")
    first.get_by_label("Impression").fill("Right lower lobe pneumonia with a small effusion.")
    first.locator("#cosign-report").click()
    doctor.reload()
    doctor.locator("#report-heading").scroll_into_view_if_needed()
    save(doctor, "28-impression-changed-for-the-doctor-1440x900", full_page=True)

    # Peer review: the radiologist's queue and the admin's QA page.
    second.goto("/peer-review")
    save(second, "29-peer-review-queue-1280x720")
    reviews = second.locator("#peer-review-queue form")
    if reviews.count():
        form = reviews.first
        form.locator("select").select_option("3a")
        form.locator("textarea").fill("Missed a 9 mm nodule in the left upper lobe.")
        form.get_by_role("button").click()
    admin = page_as("admin", DESKTOP)
    admin.goto("/admin/peer-review")
    save(admin, "30-peer-review-qa-1440x900", full_page=True)
    admin.goto("/admin/radiologists")
    save(admin, "31-radiologists-1440x900")
