"""Notifications through the outbox: a critical result's escalation as a webhook call and an e-mail.

Written like the HL7 messages (one ``outbox_messages`` row per receiver, in the transaction that
escalates, webapp.reporting.escalation) and delivered by the same dispatcher, so they are retried
with the same doubling wait, dead-lettered after OUTBOX_MAX_ATTEMPTS and shown on /admin/outbox.

* ``webhook``: a JSON POST to CRITICAL_WEBHOOK_URL; any 2xx answer is delivery. The header
  ``Idempotency-Key: outbox-<id>`` names the message: delivery is at least once, so a receiver
  that saw the key already can drop the repeat.
* ``email``: one message to every CRITICAL_NOTIFY_EMAIL address through SMTP_URL
  (``smtp://host:port`` with STARTTLS when the server offers it, ``smtps://host:port`` for TLS
  from the start; ``user:pass@`` signs in). The SMTP password is read from the configuration when
  sending, never stored in the row.

The rows hold the payload (the JSON body); the destination column shows where it goes without
secrets (no user, password or query string).
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app

from webapp.db_types import utcnow
from webapp.outbox.models import OutboxMessage

WEBHOOK, EMAIL = "webhook", "email"
CHANNELS = (WEBHOOK, EMAIL)
KINDS = {WEBHOOK: "critical webhook", EMAIL: "critical e-mail"}
EVENT_NAME = "critical-result-escalated"


class DeliveryError(Exception):
    """The receiver could not be reached or refused the message (tried again later)."""


def _shown(url: str) -> str:
    """The URL without user, password or query (the outbox page shows it)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"[:255]


def configured_channels(config) -> list[str]:
    """Where an escalation goes with this configuration."""
    channels = [WEBHOOK] if config.get("CRITICAL_WEBHOOK_URL") else []
    if config.get("SMTP_URL") and config.get("CRITICAL_NOTIFY_EMAIL"):
        channels.append(EMAIL)
    return channels


def escalation_rows(order, body: dict[str, Any], event) -> list[OutboxMessage]:
    """The outbox rows of one escalation (none when nothing is configured)."""
    config = current_app.config
    written = utcnow()  # due now, whatever the escalation's clock said (tests move that one)
    common = dict(order_id=order.id, event_type=event.event_type, order_version=event.order_version,
                  state="pending", attempts=0, next_attempt_at=written, created_at=written)
    rows = []
    for channel in configured_channels(config):
        if channel == WEBHOOK:
            url = config["CRITICAL_WEBHOOK_URL"]
            rows.append(OutboxMessage(channel=WEBHOOK, destination=_shown(url), kind=KINDS[WEBHOOK],
                                      payload={"url": url, "body": body}, **common))
        else:
            to = list(config["CRITICAL_NOTIFY_EMAIL"])
            rows.append(OutboxMessage(channel=EMAIL, destination=", ".join(to)[:255], kind=KINDS[EMAIL],
                                      payload={"to": to, "body": body}, **common))
    return rows


# ---------------------------------------------------------------------------- building


def build(channel: str, payload: dict, message_id: int, sender: str) -> str:
    """The text sent: the JSON body, or the e-mail as RFC 5322 text."""
    body = payload["body"]
    if channel == WEBHOOK:
        return json.dumps(body, ensure_ascii=False, sort_keys=True)
    return _email(body, payload["to"], message_id, sender).as_string()


def _email(body: dict, to: list[str], message_id: int, sender: str) -> EmailMessage:
    patient, doctor = body.get("patient") or {}, body.get("ordering_doctor") or {}
    message = EmailMessage()
    message["Subject"] = f"Critical result not acknowledged: {body['accession_number']}"
    message["From"], message["To"] = sender, ", ".join(to)
    message["Message-ID"] = make_msgid(f"outbox-{message_id}")
    message.set_content("\n".join([
        f"A critical result was not acknowledged within {body['ack_minutes']:g} minutes.",
        "",
        f"Accession number: {body['accession_number']}",
        f"Procedure: {body.get('procedure') or ''}",
        f"Patient: {patient.get('name', '')} (MRN {patient.get('mrn', '')})",
        f"Ordering doctor: {doctor.get('name') or 'unknown'}",
        f"Critical finding: {body['note']}",
        f"Raised at: {body['raised_at']} by {body.get('raised_by') or ''}",
        f"Escalated at: {body['escalated_at']}",
    ]) + "\n")
    return message


# ---------------------------------------------------------------------------- sending


def send(channel: str, payload: dict, text: str, message_id: int, timeout: float) -> None:
    """Deliver one built message; DeliveryError when it did not arrive."""
    if channel == WEBHOOK:
        _post(payload["url"], text, message_id, timeout)
    elif channel == EMAIL:
        _mail(current_app.config["SMTP_URL"], current_app.config["SMTP_FROM"], payload["to"], text, timeout)
    else:
        raise DeliveryError(f"no sender for channel {channel!r}")


def _post(url: str, text: str, message_id: int, timeout: float) -> None:
    request = urllib.request.Request(url, data=text.encode(), method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": f"outbox-{message_id}",
        "User-Agent": "imaging-orders-outbox",
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{_shown(url)} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {_shown(url)}: {reason}") from None


def _mail(smtp_url: str, sender: str, to: list[str], text: str, timeout: float) -> None:
    if not smtp_url:
        raise DeliveryError("SMTP_URL is not configured any more")
    parts = urlsplit(smtp_url)
    secure = parts.scheme == "smtps"
    host, port = parts.hostname, parts.port or (465 if secure else 25)
    try:
        if secure:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if not secure and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            refused = client.sendmail(sender, to, text.encode())
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise DeliveryError(f"SMTP {host}:{port} refused {', '.join(sorted(refused))}")
