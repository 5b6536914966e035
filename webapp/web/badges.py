"""The order badges every list repeats per row (templates/_macros/orders.html exports these under
the macros' old names): Python, because a Jinja macro call costs more than the badge itself
(about 10 µs a call; the tablet's 180 cards made 360 of them a render). The markup is the
macros' own, character for character (tests/pages/test_badges.py)."""

from __future__ import annotations

from markupsafe import Markup, escape

# Plain f-strings of escaped values: Markup.format goes through string.Formatter, which costs as
# much as the macro call it replaces.


def status_badge(order, with_id: bool = True) -> Markup:
    status = escape(order.status)
    ident = f' id="order-{escape(order.id)}-status"' if with_id else ""
    return Markup(f'<span class="badge status-badge status-{status}"{ident} data-status="{status}">'
                  f"{escape(order.status_label)}</span>")


def status_label_badge(status, label) -> Markup:
    return Markup(f'<span class="badge status-badge status-{escape(status)}">{escape(label)}</span>')


def priority_badge(order) -> Markup:
    return Markup(f'<span class="badge priority-badge priority-{escape(order.priority)}">'
                  f"{escape(order.priority_label)}</span>")


GLOBALS = {"order_status_badge": status_badge, "order_status_label_badge": status_label_badge,
           "order_priority_badge": priority_badge}
