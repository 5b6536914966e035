"""HL7 v2.5.1 over MLLP: ORM^O01/ORU^R01 out (through the outbox), ORM^O01 and ADT in (``flask hl7 listen``).

No web pages: the blueprint only carries the ``hl7`` commands.
"""

from flask import Blueprint

bp = Blueprint("hl7", __name__, cli_group=None)

VERSION = "2.5.1"
DEFAULT_LISTEN_HOST = "127.0.0.1"


def _register_commands() -> None:
    from webapp.hl7.cli import hl7_group

    bp.cli.add_command(hl7_group)


_register_commands()
