"""Which order events send which HL7 message, and the order statuses as HL7 codes.

One table decides it for every road an order changes by (pages, API, tablet, MPPS, HL7 in):
webapp.outbox.writer reads it for each new order event. Events not named here (notes, a
scanner's discontinued or refused step) send nothing.
"""

from __future__ import annotations

# event type -> (message type, ORC-1 order control for ORM / OBR-25 result status for ORU)
HL7_MESSAGES: dict[str, tuple[str, str]] = {
    "created": ("ORM^O01", "NW"),  # new order
    "updated": ("ORM^O01", "XO"),  # details changed
    "schedule": ("ORM^O01", "SC"),  # status changed (ORC-5 says to what)
    "start": ("ORM^O01", "SC"),
    "complete": ("ORM^O01", "SC"),
    # What the receiver holds must change, not (only) the status move on: XO, "change order"
    # (HL7 v2.5.1 table 0119), as IHE RAD-13 Procedure Update sends it when "procedure-related
    # information (including scheduled date/time and/or resource) has been changed". A receiver
    # reading ORC-1 SC as a status report does nothing with an SC whose ORC-5 says no new status
    # (a reschedule), nor with one that goes back (an undone start). ORC-5 says the status it is
    # now; the values the change took away go as the null value "" (webapp.hl7.messages).
    "reschedule": ("ORM^O01", "XO"),  # ORC-5 SC, OBR-27.4 and OBR-36 the new time
    "unbook": ("ORM^O01", "XO"),  # ORC-5 "", OBR-27.4 and OBR-36 "", ORC-16 the reason
    "undo_start": ("ORM^O01", "XO"),  # ORC-5 SC, OBR-7 "" (the start time), ORC-16 why
    "cancel": ("ORM^O01", "CA"),  # cancelled
    "report": ("ORU^R01", "F"),  # final report: impression and findings as OBX
    # An addendum under a signed report: the report again with every addendum as OBX, OBR-25 C
    # ("Record coming over is a correction and thus replaces a final result", HL7 v2.5.1 table 0123).
    "addendum": ("ORU^R01", "C"),
    # A trainee's preliminary report (P: "Preliminary: a verified early result is available, final
    # results not yet obtained", table 0123), then the attending's co-signature (F, final).
    "preliminary": ("ORU^R01", "P"),
    "cosign": ("ORU^R01", "F"),
}

# ORC-5 order status (HL7 table 0038). A placed order that is not booked yet has none: table 0038
# has no code for it (IP, "in process, unspecified", is read as a scan begun), so an unbooked order's
# ORC-5 is the null value "", deleting the SC the receiver holds.
ORDER_STATUS = {
    "ordered": "",
    "scheduled": "SC",
    "in_progress": "IP",
    "completed": "CM",
    "reported": "CM",
    "cancelled": "CA",
}

# OBR-27 quantity/timing, component 6 (priority): S stat, A as soon as possible, R routine.
PRIORITY_CODES = {"stat": "S", "urgent": "A", "routine": "R"}
PRIORITY_FROM_CODE = {code: priority for priority, code in PRIORITY_CODES.items()}

SEX_CODES = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
SEX_FROM_CODE = {code: sex for sex, code in SEX_CODES.items()} | {"A": "other", "N": "unknown"}

# OBX-3 of the report's text (LOINC).
IMPRESSION_CODE = ("19005-8", "Radiology Imaging study [Impression] (narrative)", "LN")
FINDINGS_CODE = ("18782-3", "Radiology Study observation (narrative)", "LN")

# OBR-24 diagnostic service section ID (HL7 v2.5.1 table 0074): our modality -> its code there.
# Table 0074 has no MR, US, MG or RF: CT is "CAT scan", NMR "nuclear magnetic resonance", RUS
# "radiology ultrasound", RX "radiograph", XRC "cineradiograph" (fluoroscopy), RAD "radiology".
DIAGNOSTIC_SECTION = {"XRAY": "RX", "CT": "CT", "MRI": "NMR", "US": "RUS", "MG": "RAD", "FL": "XRC"}
DEFAULT_DIAGNOSTIC_SECTION = "RAD"

# OBX-3 of an addendum: no LOINC code names one, so a local code (coding system L).
ADDENDUM_CODE = ("ADDENDUM", "Report addendum", "L")
# OBX-3 of the co-signature's note that the impression changed since the preliminary report.
IMPRESSION_CHANGED_CODE = ("PRELIMCHG", "Impression changed since the preliminary report", "L")

# ORC-16 order control code reason (CE, text only) of an event that takes no reason of its own.
CONTROL_REASONS = {"undo_start": "Scan start undone"}
