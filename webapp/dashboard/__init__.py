from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from webapp.dashboard import views, wall  # noqa: E402,F401  (routes register on bp)
