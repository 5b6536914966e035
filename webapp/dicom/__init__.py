"""DICOM integration: Modality Worklist and MPPS served from the order database.

No web pages: the blueprint only carries the ``worklist`` and ``stations`` commands.
"""

from flask import Blueprint

bp = Blueprint("dicom", __name__, cli_group=None)

# `worklist serve` defaults (CONTRACT).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11112
DEFAULT_AE_TITLE = "IMAGINGORDERS"


def _register_commands() -> None:
    from webapp.dicom.cli import stations_group, worklist_group

    bp.cli.add_command(worklist_group)
    bp.cli.add_command(stations_group)


_register_commands()
