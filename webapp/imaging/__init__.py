from flask import Blueprint

bp = Blueprint("imaging", __name__)

from webapp.imaging import views  # noqa: E402,F401  (routes register on bp)
