from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from webapp.dashboard import formatting, queues, views, wall  # noqa: E402,F401  (routes and filters register on bp)
