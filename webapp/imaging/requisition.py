"""The printable requisition of an order (PDF, reportlab): page 1 is the requisition (patient
identifiers, exam, laterality, priority, indication, booking, ordering doctor, the accession as a
Code 128 barcode and a QR code); page 2 a sheet of labels for the patient's file.

Everything typed by users is escaped before it reaches reportlab's paragraph markup (with every
script's font and shaping: ``pdf_text``), and long text flows onto further pages, even within
one row (nothing is cut)."""

from __future__ import annotations

import io
from datetime import datetime

from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from webapp.db_types import clinic_zone
from webapp.imaging.models import ImagingOrder
from webapp.imaging.pdf_text import fonts, markup

LABELS_PER_SHEET = 10  # two columns of five


def barcode_values(order: ImagingOrder) -> dict[str, str]:
    """What the codes hold: the accession number (Code 128), and the accession, order number and
    MRN (QR), so a scanner at the desk finds the order either way."""
    return {"code128": order.accession_number,
            "qr": f"{order.accession_number}|{order.order_number}|{order.patient.mrn}"}


def _code128(value: str, bar_height: float, bar_width: float) -> Code128:
    """A Code 128 symbol (a flowable), its text printed below it."""
    return Code128(value, barHeight=bar_height, barWidth=bar_width, humanReadable=True, quiet=True)


def _qr(value: str, size: float) -> Drawing:
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _local(moment: datetime | None) -> str:
    return moment.astimezone(clinic_zone()).strftime("%Y-%m-%d %H:%M") if moment else "Not booked yet"


def _text(value: str | None) -> str:
    return markup(value)


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=16, leading=20, spaceAfter=4),
        "label": ParagraphStyle("label", fontName=bold, fontSize=9, leading=12),
        "value": ParagraphStyle("value", fontName=regular, fontSize=10, leading=13),
        "big": ParagraphStyle("big", fontName=bold, fontSize=12, leading=15),
        "small": ParagraphStyle("small", fontName=regular, fontSize=7.5, leading=9),
    }


def _rows(order: ImagingOrder, at: datetime) -> list[tuple[str, str]]:
    patient = order.patient
    station = order.scheduled_station
    booking = _local(order.scheduled_date) + (
        f" on {station.ae_title}" + (f" ({station.room})" if station.room else "") if station else "")
    doctor = order.ordering_doctor.display_name if order.ordering_doctor else "—"
    procedure = f"{order.procedure_name} (CPT {order.procedure_code})" if order.procedure_code else "Not specified"
    return [
        ("Patient", f"<b>{_text(patient.list_name)}</b>"),
        ("Born / age / sex", _text(f"{patient.date_of_birth.isoformat()} · {patient.age} y · {patient.sex.capitalize()}")),
        ("MRN", _text(patient.mrn)),
        ("Exam", _text(f"{order.modality_ref.name}, {order.body_part_ref.name}")),
        ("Procedure", _text(procedure)),
        ("Laterality", f"<b>{_text((order.laterality or 'none').upper())}</b>"),
        ("Priority", f"<b>{_text(order.priority_label.upper())}</b>"),
        ("Booked for", _text(booking)),
        ("Ordering doctor", _text(f"{doctor}, {_local(order.ordered_date)}")),
        ("Order number", _text(order.order_number)),
        ("Status", _text(f"{order.status_label} (printed {_local(at)})")),
        ("Clinical indication", _text(order.clinical_indication)),
        ("Clinical history", _text(order.clinical_history)),
        ("Special instructions", _text(order.special_instructions)),
        *_safety_rows(order),
    ]


def _safety_rows(order: ImagingOrder) -> list[tuple[str, str]]:
    """Contrast, protocol and the safety alerts (webapp.safety; docs/safety.md)."""
    rows = [("Contrast", f"<b>{_text(order.contrast_label.upper())}</b>")]
    if order.protocol_required or order.protocol:
        rows.append(("Protocol", _text(order.protocol or "Awaiting the radiologist's protocol")
                     + (f" · {_text(order.protocol_notes)}" if order.protocol_notes else "")))
    cleared = set(order.safety_cleared_codes or ())
    for alert in order.safety_alerts or ():
        kind = "STOP" if alert["severity"] == "stop" and alert["code"] not in cleared else (
            "CLEARED STOP" if alert["severity"] == "stop" else "WARNING")
        rows.append(("Safety", f"<b>{kind}</b> {_text(alert['message'])}"))
    return rows


def _details(order: ImagingOrder, styles, at: datetime) -> Table:
    table = Table([[Paragraph(label, styles["label"]), Paragraph(value, styles["value"])]
                   for label, value in _rows(order, at)], colWidths=[42 * mm, 128 * mm],
                  splitInRow=1)  # a row longer than a page (a long indication) continues on the next
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
        ("BACKGROUND", (0, 5), (-1, 6), colors.Color(0.95, 0.95, 0.95)),
    ]))
    return table


def _codes(order: ImagingOrder) -> Table:
    values = barcode_values(order)
    table = Table([[_code128(values["code128"], 16 * mm, 0.42 * mm), _qr(values["qr"], 30 * mm)]],
                  colWidths=[120 * mm, 50 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
    return table


def _label(order: ImagingOrder, styles) -> list:
    patient = order.patient
    return [
        Paragraph(f"<b>{_text(patient.list_name)}</b>", styles["value"]),
        Paragraph(_text(f"{patient.mrn} · born {patient.date_of_birth.isoformat()} · {patient.sex.capitalize()}"),
                  styles["small"]),
        Paragraph(_text(f"{order.accession_number} · {order.description}"), styles["small"]),
        Spacer(1, 2 * mm),
        _code128(order.accession_number, 8 * mm, 0.28 * mm),
    ]


def _label_sheet(order: ImagingOrder, styles) -> Table:
    cells = [_label(order, styles) for _ in range(LABELS_PER_SHEET)]
    rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
    table = Table(rows, colWidths=[88 * mm, 88 * mm], rowHeights=[48 * mm] * len(rows))
    table.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 0.25, colors.grey), ("INNERGRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 4 * mm),
        ("TOPPADDING", (0, 0), (-1, -1), 3 * mm),
    ]))
    return table


def requisition_pdf(order: ImagingOrder, at: datetime) -> bytes:
    """The requisition of ``order`` as printed at ``at``: PDF bytes."""
    styles = _styles()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm, bottomMargin=15 * mm,
        title=f"Requisition {order.accession_number}", author="Imaging orders",
        subject=f"Imaging requisition {order.accession_number}",
    )
    document.build([
        Paragraph(f"Imaging requisition · {_text(order.accession_number)}", styles["title"]),
        _codes(order),
        Spacer(1, 4 * mm),
        _details(order, styles, at),
        PageBreak(),
        Paragraph(f"Labels · {_text(order.patient.list_name)} · {_text(order.accession_number)}", styles["big"]),
        Spacer(1, 3 * mm),
        _label_sheet(order, styles),
    ])
    return buffer.getvalue()
