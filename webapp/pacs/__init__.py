"""PACS integration with Orthanc: studies that arrive are matched to orders, and orders show their images.

Off unless ``ORTHANC_URL`` is set. ``flask pacs follow`` follows Orthanc's change feed
(follower.py; `make run` starts it), matching.py matches studies to orders through the service
layer, views.py has the unmatched studies page and the thumbnails, display.py what pages and the
API show (the template globals ``order_images`` and ``patient_images``). See docs/pacs.md.
"""

from flask import Blueprint

bp = Blueprint("pacs", __name__, cli_group=None)


def _register() -> None:
    from webapp.pacs import display, views  # noqa: F401  (routes register on bp)
    from webapp.pacs.cli import pacs_group

    bp.cli.add_command(pacs_group)
    bp.add_app_template_global(display.order_images, "order_images")
    bp.add_app_template_global(display.patient_images, "patient_images")


_register()
