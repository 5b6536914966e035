from flask import Blueprint

bp = Blueprint("visits", __name__)
