"""Registering a patient and opening a visit in Chromium (issue 21, defect 7), with htmx: the
duplicate warning swaps into the form, the confirmation registers, the visit page follows.
Screenshots at 1440x900 and 768x1024 (tmp_path; docs/screenshots/22-*, 23-* are copies)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

VIEWPORTS = ({"width": 1440, "height": 900}, {"width": 768, "height": 1024})


def _size(viewport: dict) -> str:
    return f"{viewport['width']}x{viewport['height']}"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=_size)
def test_register_warns_of_the_same_person_then_opens_a_visit(new_page, sign_in, tmp_path, viewport):
    page = new_page(viewport)
    sign_in(page, "scheduler")
    size = _size(viewport)

    def register(mrn: str, family: str, given: str) -> None:
        page.goto("/patients")
        page.get_by_role("link", name="Register a patient").click()
        expect(page).to_have_url(re.compile(r"/patients/new$"))
        page.get_by_label("MRN").fill(mrn)
        page.get_by_label("Date of birth").fill("1975-04-02")
        page.get_by_label("Family name").fill(family)
        page.get_by_label("Given name").fill(given)
        page.get_by_label("Sex").select_option("female")
        page.get_by_role("button", name="Register patient").click()

    register(f"REG-A-{size}", f"Ångström {size}", "Zoë")
    expect(page).to_have_url(re.compile(r"/patients/[0-9a-f-]{36}$"))
    # The same person typed without accents, in capitals: warned before a second record.
    mrn = f"REG-B-{size}"
    register(mrn, f"ANGSTROM {size}", "ZOE")
    warning = page.locator("#possible-duplicates")
    expect(warning).to_contain_text("with this name and birth date")
    expect(page).to_have_url(re.compile(r"/patients/new$"))  # swapped in place by htmx
    expect(warning).to_contain_text(f"REG-A-{size}")
    page.screenshot(path=str(tmp_path / f"register-duplicate-{size}.png"), full_page=True)

    page.get_by_label(re.compile("This is another person")).check()
    page.get_by_role("button", name="Register patient").click()
    expect(page).to_have_url(re.compile(r"/patients/[0-9a-f-]{36}$"))
    expect(page.locator("#flashes")).to_contain_text(f"(MRN {mrn})")
    # A scheduler registers but opens no visits (POST /api/v1/visits is doctors' and admins').
    expect(page.get_by_role("link", name="New visit")).to_have_count(0)
    patient_url = page.url

    doctor = new_page(viewport)
    sign_in(doctor, "doctor")
    doctor.goto(patient_url)
    doctor.get_by_role("link", name="New visit").click()
    doctor.get_by_label("Reason for the visit").fill("Cough and fever")
    doctor.get_by_label("Code 1").fill("J18.9")
    doctor.get_by_label("Description 1").fill("Pneumonia, unspecified organism")
    doctor.get_by_label("Code 2").fill("R50.9")
    doctor.screenshot(path=str(tmp_path / f"new-visit-{_size(viewport)}.png"), full_page=True)
    doctor.get_by_role("button", name="Open visit").click()
    expect(doctor.locator("#field-reason-error")).to_have_count(0)
    expect(doctor.locator("#diagnosis-description-1-error")).to_have_text("Required.")
    doctor.get_by_label("Description 2").fill("Fever, unspecified")
    doctor.get_by_role("button", name="Open visit").click()
    expect(doctor).to_have_url(re.compile(r"/visits/[0-9a-f-]{36}$"))
    expect(doctor.locator("#visit-diagnoses")).to_contain_text("J18.9")
    expect(doctor.locator("#visit-diagnoses li").first).to_contain_text("primary")
    expect(doctor.get_by_role("link", name="Order Imaging")).to_be_visible()
