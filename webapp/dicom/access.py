"""Who may associate with the DICOM service.

The called AE title must be the service's own, and the calling one in DICOM_ALLOWED_AE_TITLES
when that is set; both compare without regard to case (stations are stored upper case, some
scanners send lower case). Every refused association, ours or one pynetdicom refuses by itself
(too many at once, ...), is logged with the peer's AE titles and address.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pynetdicom import evt

from webapp.dicom.values import text

log = logging.getLogger(__name__)

REJECTED_PERMANENT = 0x01
SOURCE_SERVICE_USER = 0x01
CALLING_AE_NOT_RECOGNISED = 0x03
CALLED_AE_NOT_RECOGNISED = 0x07
NO_REASON_GIVEN = 0x01
# (result source, diagnostic) of an A-ASSOCIATE-RJ (PS3.8 9.3.4), in words.
REASONS = {
    (0x01, NO_REASON_GIVEN): "no reason given",
    (0x01, 0x02): "application context not supported",
    (0x01, CALLING_AE_NOT_RECOGNISED): "calling AE title not allowed",
    (0x01, CALLED_AE_NOT_RECOGNISED): "called AE title is not this service's",
    (0x02, 0x01): "no reason given (ACSE)",
    (0x02, 0x02): "protocol version not supported",
    (0x03, 0x01): "temporary congestion",
    (0x03, 0x02): "too many associations at once",
}


def _title(value: object) -> str:
    """An AE title as compared here: no padding, upper case (and safe to log)."""
    return text(value, 16).upper()


def _peer(assoc) -> str:
    try:
        return f"{assoc.requestor.address}:{assoc.requestor.port}"
    except Exception:  # no address information: still log the refusal
        return "an unknown address"


def _titles(assoc) -> tuple[str, str]:
    request = assoc.requestor.primitive
    return _title(request.calling_ae_title), _title(request.called_ae_title)


def _log_refusal(assoc, reason: str) -> None:
    try:
        calling, called = _titles(assoc)
    except Exception:
        calling, called = "?", "?"
    log.warning("Association from AE %s at %s to AE %s refused: %s", calling, _peer(assoc), called, reason)


def diagnostic_for(calling: str, called: str, service_ae: str, allowed: set[str]) -> int | None:
    """Why an association request is refused (an A-ASSOCIATE-RJ diagnostic), or None to go on."""
    if allowed and calling not in allowed:
        return CALLING_AE_NOT_RECOGNISED
    if called != service_ae:
        return CALLED_AE_NOT_RECOGNISED
    return None


def association_checks(service_ae: str, allowed_titles: Iterable[str]) -> list:
    """Event handlers that refuse the associations the service does not take, and log every refusal."""
    own = _title(service_ae)
    allowed = {_title(title) for title in allowed_titles if _title(title)}

    def handle_requested(event) -> None:
        assoc = event.assoc
        try:
            diagnostic = diagnostic_for(*_titles(assoc), own, allowed)
        except Exception:  # a request we cannot read is refused, never let through
            log.exception("Association request from %s cannot be checked", _peer(assoc))
            diagnostic = NO_REASON_GIVEN
        if diagnostic is None:
            return
        _log_refusal(assoc, REASONS[(SOURCE_SERVICE_USER, diagnostic)])
        try:
            assoc.acse.send_reject(REJECTED_PERMANENT, SOURCE_SERVICE_USER, diagnostic)
        finally:
            assoc.is_rejected = True  # pynetdicom negotiates only requests neither rejected nor aborted
            assoc.kill()

    return [(evt.EVT_REQUESTED, handle_requested), (evt.EVT_REJECTED, handle_rejected)]


def handle_rejected(event) -> None:
    """pynetdicom refused an association by itself (after our checks): say who and why."""
    try:
        answer = event.assoc.acceptor.primitive
        key = (answer.result_source, answer.diagnostic)
        reason = REASONS.get(key, "source {}, diagnostic {}".format(*key))
    except Exception:
        reason = "reason unknown"
    _log_refusal(event.assoc, f"rejected, {reason}")
