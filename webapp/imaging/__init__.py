from flask import Blueprint

bp = Blueprint("imaging", __name__)
