from flask import Blueprint

bp = Blueprint("visits", __name__)

from webapp.visits import views  # noqa: E402,F401  (routes register on bp)
