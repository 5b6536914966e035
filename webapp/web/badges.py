"""The order badges every list repeats per row (templates/_macros/orders.html exports these under
the macros' old names): Python, because a Jinja macro call costs more than the badge itself
(about 10 µs a call; the tablet's 180 cards made 360 of them a render). The markup is the
macros' own, character for character (tests/pages/test_badges.py)."""

from __future__ import annotations

from markupsafe import Markup

_STATUS = Markup('<span class="badge status-badge status-{0}"{1} data-status="{0}">{2}</span>')
_STATUS_ID = Markup(' id="order-{0}-status"')
_STATUS_LABEL = Markup('<span class="badge status-badge status-{0}">{1}</span>')
_PRIORITY = Markup('<span class="badge priority-badge priority-{0}">{1}</span>')


def status_badge(order, with_id: bool = True) -> Markup:
    return _STATUS.format(order.status, _STATUS_ID.format(order.id) if with_id else "", order.status_label)


def status_label_badge(status, label) -> Markup:
    return _STATUS_LABEL.format(status, label)


def priority_badge(order) -> Markup:
    return _PRIORITY.format(order.priority, order.priority_label)


GLOBALS = {"order_status_badge": status_badge, "order_status_label_badge": status_label_badge,
           "order_priority_badge": priority_badge}
