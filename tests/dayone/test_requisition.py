"""The printable requisition (issue 14, item 7): GET /imaging/orders/{id}/requisition.pdf, read
back with pypdf: identifiers, exam, side, priority, indication, booking, doctor, the accession
as a Code 128 barcode (decoded from the drawn bars) and a QR code, and the label sheet."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.graphics.barcode import code128

from tests.access_log import last_id, reads

pytestmark = pytest.mark.sqlite_only
INDICATION = "Pain after a fall <b>& swelling</b>\nsecond line"


def _rects(page) -> list[tuple[float, float, float, float]]:
    """The filled rectangles of a page (x, y, width, height) in page coordinates (q/Q/cm followed)."""
    content = ContentStream(page.get_contents(), page.pdf)
    matrix, stack, found = [1.0, 0, 0, 1.0, 0.0, 0.0], [], []
    for operands, operator in content.operations:
        if operator == b"q":
            stack.append(list(matrix))
        elif operator == b"Q":
            matrix = stack.pop()
        elif operator == b"cm":
            a, b, c, d, e, f = (float(v) for v in operands)
            m = matrix
            matrix = [a * m[0] + b * m[2], a * m[1] + b * m[3], c * m[0] + d * m[2], c * m[1] + d * m[3],
                      e * m[0] + f * m[2] + m[4], e * m[1] + f * m[3] + m[5]]
        elif operator == b"re":
            x, y, w, h = (float(v) for v in operands)
            found.append((matrix[0] * x + matrix[4], matrix[3] * y + matrix[5], matrix[0] * w, matrix[3] * h))
    return found


def _decode_code128(bars: list[tuple[float, float, float, float]]) -> str:
    """Read a Code 128 symbol back from its bars: widths in modules -> patterns -> code set B/C."""
    bars = sorted(bars)
    module = min(w for _, _, w, _ in bars)
    elements = []
    for index, (x, _, w, _) in enumerate(bars):
        elements.append("ABCD"[round(w / module) - 1])
        if index + 1 < len(bars):
            elements.append("abcd"[round((bars[index + 1][0] - x - w) / module) - 1])
    pattern = "".join(elements)
    by_pattern = {p: value for value, p in code128._patterns.items()}
    values = [by_pattern[pattern[i:i + 6]] for i in range(0, len(pattern) - 7, 6)]
    assert pattern[-7:] == code128._patterns[code128.stop]
    start, *data, check = values
    assert (start + sum(i * v for i, v in enumerate(data, 1))) % 103 == check  # the symbol's own check
    names_b = {v: k for k, v in code128.setb.items()}
    text, current = "", {code128.startb: "B", code128.startc: "C"}[start]
    for value in data:
        if current == "C":
            if value == 100:
                current = "B"
            else:
                text += f"{value:02d}"
        elif value == 99:
            current = "C"
        else:
            text += names_b[value]
    return text


def _barcodes(page) -> list[list]:
    """Runs of same-height rectangles on one baseline, 20 bars or more, apart by less than 15
    narrowest bars: each is a barcode (two labels side by side are two)."""
    rows: dict[tuple[float, float], list] = {}
    for rect in _rects(page):
        rows.setdefault((round(rect[1], 1), round(rect[3], 1)), []).append(rect)
    symbols = []
    for bars in rows.values():
        bars.sort()
        module = min(w for _, _, w, _ in bars)
        run = [bars[0]]
        for previous, bar in zip(bars, bars[1:], strict=False):
            if bar[0] - previous[0] - previous[2] > 15 * module:
                symbols.append(run)
                run = []
            run.append(bar)
        symbols.append(run)
    return [run for run in symbols if len(run) >= 20]


@pytest.fixture
def printed(make_order, make_patient, make_visit, app):
    from tests.conftest import writing
    from webapp.auth.models import User
    from webapp.dicom.stations import add_station
    from webapp.extensions import db
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    patient = make_patient(first_name="Łucja", last_name="Wróbel", sex="female")
    order = make_order("ordered", visit=make_visit(patient=patient), body_part="EXTREMITY", procedure_code="73130",
                       laterality="left", priority="stat", clinical_indication=INDICATION)
    with app.app_context(), writing():
        add_station("DX1", "XRAY", "Room 3")
        current = db.session.get(ImagingOrder, order.id)
        when = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=30, second=0, microsecond=0)
        services.schedule_order(db.session.get(User, make_order.person("scheduler").id), current, when,
                                station_ae="DX1", reason="Orthopaedic clinic tomorrow")  # STAT after 4 h: issue 25
        db.session.commit()
    return order, patient


def test_requisition_pdf_holds_the_order_and_its_codes(client, auth, printed, app):
    order, patient = printed
    auth.login("scheduler")
    before = last_id(app)
    response = client.get(f"/imaging/orders/{order.id}/requisition.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert f'filename="requisition-{order.accession_number}.pdf"' in response.headers["Content-Disposition"]
    pdf = PdfReader(io.BytesIO(response.data))
    assert len(pdf.pages) == 2 and pdf.metadata.title == f"Requisition {order.accession_number}"
    text = pdf.pages[0].extract_text()
    flat = re.sub(r"\s+", " ", text)
    for expected in ("Wróbel, Łucja", patient.mrn, patient.date_of_birth.isoformat(), "Female",
                     "X-Ray Hand, 3 views (CPT 73130)", "LEFT", "STAT", "on DX1 (Room 3)",
                     order.order_number, "Pain after a fall <b>& swelling</b>", "second line"):
        assert expected in flat, expected
    assert [_decode_code128(bars) for bars in _barcodes(pdf.pages[0])] == [order.accession_number]
    qr_squares = [r for r in _rects(pdf.pages[0]) if abs(r[2] - r[3]) < 0.01 and r[2] < 3]
    assert len(qr_squares) > 100  # the QR code's dark modules (runs of them are wider rectangles)
    labels = pdf.pages[1].extract_text()
    assert labels.count(order.accession_number) >= 10 and labels.count("Wróbel, Łucja") >= 10
    labelled = [_decode_code128(bars) for bars in _barcodes(pdf.pages[1])]
    assert labelled == [order.accession_number] * 10
    read = reads(app, before)
    assert [(r.what, r.patients) for r in read] == [
        (f"requisition of order {order.accession_number}", frozenset({patient.id}))]


def test_qr_holds_accession_order_number_and_mrn(app, printed):
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder
    from webapp.imaging.requisition import barcode_values

    order, patient = printed
    with app.app_context():
        values = barcode_values(db.session.get(ImagingOrder, order.id))
    assert values == {"code128": order.accession_number,
                      "qr": f"{order.accession_number}|{order.order_number}|{patient.mrn}"}


def test_print_button_for_schedulers_and_technicians_only(client, auth, printed):
    order, _ = printed
    url = f"/imaging/orders/{order.id}"
    for role, shown in (("scheduler", True), ("technician", True), ("doctor", False), ("radiologist", False)):
        auth.login(role)
        html = client.get(url).get_data(as_text=True)
        assert ('id="print-requisition"' in html) is shown, role
        if shown:
            assert f'href="/imaging/orders/{order.id}/requisition.pdf"' in html


def test_requisition_unknown_order_and_display_role(client, auth, printed):
    order, _ = printed
    auth.login("scheduler")
    assert client.get("/imaging/orders/00000000-0000-0000-0000-000000000000/requisition.pdf").status_code == 404
    auth.login("display")
    assert client.get(f"/imaging/orders/{order.id}/requisition.pdf").status_code == 403


def _fonts_used(pdf: PdfReader) -> set[str]:
    names = set()
    for page in pdf.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


def test_an_indication_longer_than_a_page_flows_on(client, auth, make_order):
    """Issue 26, item 8: 60 short lines (1,969 characters) in one table row raised LayoutError (500)."""
    indication = "\n".join(f"Line {n:02d}: pain, left wrist." for n in range(60))  # 1,619 characters
    order = make_order("ordered", clinical_indication=indication)
    auth.login("scheduler")
    response = client.get(f"/imaging/orders/{order.id}/requisition.pdf")
    assert response.status_code == 200, response.status_code
    pdf = PdfReader(io.BytesIO(response.data))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert len(pdf.pages) >= 3 and "Line 00:" in text and "Line 59:" in text


def test_chinese_and_arabic_names_print_in_their_own_letters(client, auth, make_order, make_patient, make_visit):
    """Issue 26, item 16: CJK in an embedded CJK font (not boxes), Arabic shaped and right to left."""
    from webapp.imaging.pdf_text import has_cjk_font, visual_line

    if not has_cjk_font():
        pytest.fail("fonts-wqy-zenhei is not installed (.ci/run installs it)")
    patient = make_patient(first_name="محمد", last_name="王小明")
    order = make_order("ordered", visit=make_visit(patient=patient), clinical_indication="ألم في الصدر")
    auth.login("scheduler")
    pdf = PdfReader(io.BytesIO(client.get(f"/imaging/orders/{order.id}/requisition.pdf").data))
    assert any("+WenQuanYiZenHei" in name for name in _fonts_used(pdf)), _fonts_used(pdf)
    text = pdf.pages[0].extract_text()
    assert "王小明" in text
    shaped = visual_line("ألم في الصدر")
    # Joined letter forms (Arabic Presentation Forms-B), drawn in visual (right-to-left) order.
    assert all("\ufe70" <= char <= "\ufefc" or char == " " for char in shaped)
    # pypdf puts right-to-left runs back in reading order when it extracts them: either way the
    # letters are the joined forms, never the unshaped ones that print as separate letters.
    assert (shaped in text or shaped[::-1] in text) and "ألم في الصدر" not in text
