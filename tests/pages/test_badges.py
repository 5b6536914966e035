"""The order badges made in Python (webapp/web/badges.py) give the markup of the macros they
replaced, character for character, escaping included; templates import them as before."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

# The macros as they were in templates/_macros/orders.html.
MACROS = """
{%- macro status_badge(order, with_id=true) -%}
<span class="badge status-badge status-{{ order.status }}"{% if with_id %} id="order-{{ order.id }}-status"{% endif %}{#
#} data-status="{{ order.status }}">{{ order.status_label }}</span>
{%- endmacro %}
{%- macro status_label_badge(status, label) -%}
<span class="badge status-badge status-{{ status }}">{{ label }}</span>
{%- endmacro %}
{%- macro priority_badge(order) -%}
<span class="badge priority-badge priority-{{ order.priority }}">{{ order.priority_label }}</span>
{%- endmacro -%}
"""

ORDERS = [
    SimpleNamespace(id=uuid.UUID("3ab54299-4566-4894-896d-2619d3cbf2b8"), status="in_progress",
                    status_label="In progress", priority="stat", priority_label="STAT"),
    SimpleNamespace(id="<id&>", status='sched"uled', status_label="<b>A & B</b>", priority="x'y",
                    priority_label="<script>"),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("order", ORDERS)
def test_python_badges_match_the_macros(app, order):
    with app.test_request_context():
        env = app.jinja_env
        before = env.from_string(MACROS + "{{ status_badge(o) }}|{{ status_badge(o, false) }}|"
                                          "{{ status_label_badge(o.status, o.status_label) }}|{{ priority_badge(o) }}")
        after = env.from_string('{% from "_macros/orders.html" import status_badge, status_label_badge, priority_badge %}'
                                "{{ status_badge(o) }}|{{ status_badge(o, false) }}|"
                                "{{ status_label_badge(o.status, o.status_label) }}|{{ priority_badge(o) }}")
        assert after.render(o=order) == before.render(o=order)
        assert "<script>" not in after.render(o=order)
