"""Template filters for the department's lists: ``duration`` (minutes as "3 h 20 min") and
``age`` (a date of birth as whole years, on the clinic's today)."""

from __future__ import annotations

from datetime import date

from webapp.dashboard import bp
from webapp.db_types import clinic_today

MINUTES_PER_DAY = 24 * 60


def duration_text(minutes: int | None) -> str:
    """'45 min', '3 h 20 min', '3 h', '9 d 12 h': short enough for one line of the wall."""
    minutes = max(0, int(minutes or 0))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < MINUTES_PER_DAY:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours = rest // 60
    return f"{days} d {hours} h" if hours else f"{days} d"


def age_years(born: date | None, today: date | None = None) -> int | None:
    if born is None:
        return None
    today = today or clinic_today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@bp.app_template_filter("duration")
def _duration_filter(minutes) -> str:
    return duration_text(minutes)


@bp.app_template_filter("age")
def _age_filter(born) -> str:
    years = age_years(born)
    return "" if years is None else f"{years} y"
