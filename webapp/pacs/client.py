"""A small client for Orthanc's REST API: every call has a timeout, and every way of not getting an
answer (refused, timed out, HTTP 5xx, not JSON) is one exception, :class:`OrthancUnavailable`.

Only what the app uses: the change feed (``/changes``), a study and its series and instances,
``/tools/find`` for a rescan by date, an instance's preview image, and correcting a study's
patient (``/studies/{id}/modify``, then deleting the wrong copy: webapp.pacs.reconcile).
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


class OrthancRejected(OrthancUnavailable):
    """Orthanc answered 400: it will not do what was asked (e.g. an older Orthanc's limits)."""


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

    def _request(self, path: str, body: Any = None, *, method: str | None = None,
                 timeout: float | None = None) -> tuple[bytes, str]:
        raw = isinstance(body, bytes)
        data = None if body is None else body if raw else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method or ("GET" if data is None else "POST"))
        if data is not None:
            request.add_header("Content-Type", "application/dicom" if raw else "application/json")
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise OrthancNotFound(path) from None
            if exc.code == 400:
                raise OrthancRejected(f"HTTP 400 from {self.url}{path}") from None
            raise OrthancUnavailable(f"HTTP {exc.code} from {self.url}{path}") from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            raise OrthancUnavailable(f"{self.url}: {getattr(exc, 'reason', None) or exc}") from None

    def get_json(self, path: str, body: Any = None, *, timeout: float | None = None) -> Any:
        raw, _ = self._request(path, body, timeout=timeout)
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

    def find_studies_expanded(self, query: dict[str, str]) -> list[dict]:
        """The same studies, each as ``/studies/{id}`` describes it (``ID``, ``IsStable``, tags)."""
        found = self.get_json("/tools/find", {"Level": "Study", "Query": query, "Expand": True})
        return [item for item in found if isinstance(item, dict) and item.get("ID")] if isinstance(found, list) else []

    def modify_study(self, orthanc_id: str, replace: dict[str, str]) -> str:
        """Rewrite the tags in ``replace`` in every image of the study, keeping its UIDs, and delete
        the source: the Orthanc id of the study as it now is.

        ``POST /studies/{id}/modify`` with ``Force`` (Orthanc asks for it before it changes
        PatientID or keeps UIDs) and ``KeepSource: false`` does it in one call on Orthanc 1.11.2
        and later. Earlier versions (Debian's 1.10) refuse PatientID at study level (400): then
        each instance is modified (``/instances/{id}/modify``, same options), stored again
        (``POST /instances``), and the source study is deleted once all are stored. Rewriting
        every image takes longer than one read: up to 12 times ``ORTHANC_TIMEOUT`` per call.
        """
        options = {"Replace": replace, "Keep": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
                   "Force": True}
        slow = max(self.timeout * 12, 30)
        try:
            answer = self.get_json(f"/studies/{_id(orthanc_id)}/modify", options | {"KeepSource": False}, timeout=slow)
        except OrthancRejected:
            return self._modify_instance_by_instance(orthanc_id, options, slow)
        if not isinstance(answer, dict) or not answer.get("ID"):
            raise OrthancUnavailable(f"{self.url}: /studies/{orthanc_id}/modify gave no study id")
        return str(answer["ID"])

    def _modify_instance_by_instance(self, orthanc_id: str, options: dict, timeout: float) -> str:
        new_study = None
        for instance in self.get_json(f"/studies/{_id(orthanc_id)}/instances"):
            modified, _ = self._request(f"/instances/{_id(instance['ID'])}/modify", options, timeout=timeout)
            stored = json.loads(self._request("/instances", modified, timeout=timeout)[0])
            new_study = stored.get("ParentStudy") if isinstance(stored, dict) else None
            if not new_study:
                raise OrthancUnavailable(f"{self.url}: a modified instance of {orthanc_id} was not stored")
        if new_study is None:
            raise OrthancNotFound(orthanc_id)
        if new_study != orthanc_id:
            self.delete_study(orthanc_id)
        return str(new_study)

    def delete_study(self, orthanc_id: str) -> bool:
        """Delete a study; False when it was not there."""
        try:
            self._request(f"/studies/{_id(orthanc_id)}", method="DELETE")
        except OrthancNotFound:
            return False
        return True

    def has_study(self, orthanc_id: str) -> bool:
        try:
            self.study(orthanc_id)
        except OrthancNotFound:
            return False
        return True

    def preview(self, instance_id: str) -> tuple[bytes, str]:
        """An instance rendered as an image (PNG): its bytes and content type."""
        return self._request(f"/instances/{_id(instance_id)}/preview")


def _id(orthanc_id: str) -> str:
    """Orthanc ids are hex groups and dashes; anything else never reaches its URL."""
    text = str(orthanc_id)
    if not text or len(text) > 64 or any(ch not in "0123456789abcdef-" for ch in text):
        raise OrthancNotFound(text)
    return text
