"""A small client for Orthanc's REST API: every call has a timeout, and every way of not getting an
answer (refused, timed out, HTTP 5xx, not JSON) is one exception, :class:`OrthancUnavailable`.

Only what the app uses: the change feed (``/changes``), a study and its series and instances,
``/tools/find`` for a rescan by date, and an instance's preview image.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class OrthancUnavailable(Exception):
    """Orthanc did not answer (down, unreachable, too slow, or an error of its own)."""


class OrthancNotFound(Exception):
    """Orthanc answered 404: the resource is not (or no longer) there."""


@dataclass
class OrthancClient:
    url: str
    username: str | None = None
    password: str | None = None
    timeout: float = 5.0

    @classmethod
    def from_config(cls, config) -> OrthancClient:
        if not config.get("ORTHANC_URL"):
            raise ValueError("ORTHANC_URL is not set: the PACS integration is off.")
        return cls(config["ORTHANC_URL"].rstrip("/"), config.get("ORTHANC_USERNAME"),
                   config.get("ORTHANC_PASSWORD"), float(config.get("ORTHANC_TIMEOUT") or 5))

    # ------------------------------------------------------------------ transport

    def _request(self, path: str, body: Any = None) -> tuple[bytes, str]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise OrthancNotFound(path) from None
            raise OrthancUnavailable(f"HTTP {exc.code} from {self.url}{path}") from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            raise OrthancUnavailable(f"{self.url}: {getattr(exc, 'reason', None) or exc}") from None

    def get_json(self, path: str, body: Any = None) -> Any:
        raw, _ = self._request(path, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise OrthancUnavailable(f"{self.url}{path} did not answer JSON") from None

    # ------------------------------------------------------------------ resources

    def changes(self, since: int, limit: int = 100) -> dict:
        """``{"Changes": [{"ChangeType", "ID", "ResourceType", "Seq", …}], "Done", "Last"}``."""
        return self.get_json(f"/changes?since={int(since)}&limit={int(limit)}")

    def study(self, orthanc_id: str) -> dict:
        return self.get_json(f"/studies/{_id(orthanc_id)}")

    def study_series(self, orthanc_id: str) -> list[dict]:
        return self.get_json(f"/studies/{_id(orthanc_id)}/series")

    def series_instances(self, orthanc_id: str) -> list[dict]:
        return self.get_json(f"/series/{_id(orthanc_id)}/instances")

    def find_studies(self, query: dict[str, str]) -> list[str]:
        """Orthanc ids of the studies whose main tags match (``/tools/find``)."""
        return self.get_json("/tools/find", {"Level": "Study", "Query": query})

    def preview(self, instance_id: str) -> tuple[bytes, str]:
        """An instance rendered as an image (PNG): its bytes and content type."""
        return self._request(f"/instances/{_id(instance_id)}/preview")


def _id(orthanc_id: str) -> str:
    """Orthanc ids are hex groups and dashes; anything else never reaches its URL."""
    text = str(orthanc_id)
    if not text or len(text) > 64 or any(ch not in "0123456789abcdef-" for ch in text):
        raise OrthancNotFound(text)
    return text
