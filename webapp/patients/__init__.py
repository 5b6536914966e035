from flask import Blueprint

bp = Blueprint("patients", __name__)

from webapp.patients import registration_views, views  # noqa: E402,F401  (routes register on bp)
