"""The transactional outbox: messages to other systems written with the order change, then delivered.

``writer`` adds the rows in the change's own flush (every road an order changes by goes through
an OrderEvent row), ``notify`` those of an escalated critical result; ``dispatcher`` delivers
them (``flask outbox run``); ``views`` is the admins'
page ``/admin/outbox``.
"""

from flask import Blueprint

bp = Blueprint("outbox", __name__, cli_group=None)


def _register() -> None:
    from webapp.outbox import views, writer  # noqa: F401  (routes on bp; the session listener)
    from webapp.outbox.cli import outbox_group

    bp.cli.add_command(outbox_group)


_register()
