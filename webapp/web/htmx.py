"""htmx helpers: one template serves the full page and its fragments (jinja2-fragments)."""

from __future__ import annotations

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """An htmx request that swaps part of a page (a history restore wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def htmx_target() -> str | None:
    return request.headers.get("HX-Target") if is_htmx() else None


def render_page(template: str, block: str | None = None, *, status: int = 200, oob: tuple = (), **context):
    """The whole page, or only ``block`` of it for htmx; ``oob`` adds (template, block) fragments
    rendered with ``oob=True`` for out-of-band swaps. Always answers ``Vary: HX-Request``."""
    response = make_response(render_body(template, block, oob=oob, **context), status)
    response.vary.add("HX-Request")
    return response


def render_body(template: str, block: str | None = None, *, oob: tuple = (), **context) -> str:
    """What :func:`render_page` answers, as text."""
    if block and is_htmx():
        body = render_block(template, block, **context)
        for oob_template, oob_block in oob:
            body += render_block(oob_template, oob_block, **(context | {"oob": True}))
        return body
    return render_template(template, **context)


def is_live_region_get() -> bool:
    """A GET of a region (htmx, not a history restore): what the live render cache serves."""
    return request.method == "GET" and is_htmx() and bool(request.headers.get("HX-Target"))


def render_page_text(shown) -> Response:
    """A rendered region or page (``live_cache.Shown``) as :func:`render_page` answers it."""
    response = make_response(shown.html, shown.status)
    response.vary.add("HX-Request")
    return response
