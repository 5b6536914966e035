"""Errors of the imaging service layer. Each maps to one HTTP status and one message on a page."""

from __future__ import annotations


class ImagingError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class NotFound(ImagingError):
    status = 404
    title = "Not found"


class PermissionDenied(ImagingError):
    status = 403
    title = "Not allowed for your role"


class TransitionNotAllowed(ImagingError):
    status = 409
    title = "Status change not allowed"


class StaleVersion(ImagingError):
    """Someone else changed the order first."""

    status = 412
    title = "The order was changed by someone else"

    def __init__(self, detail: str, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version


class ValidationFailed(ImagingError):
    status = 422
    title = "Invalid field values"

    def __init__(self, errors: dict[str, str], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
