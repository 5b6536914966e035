"""Scanners for the department-at-peak benchmark (pynetdicom), and the worklist at scale.

Each scanner is a thread that sends a Modality Worklist C-FIND for its modality and today every
10 s (a new association each time, as scanners do) and runs scans from what it found: an MPPS
N-CREATE (IN PROGRESS) naming the item's patient, then, a little later, N-SET COMPLETED. Scanners
claim items among themselves, so two never start the same order; they run CT and MRI, which the
tablets leave alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep, ModalityWorklistInformationFind

SERVICE_AE = "IMAGINGORDERS"
DICOM_MODALITY = {"CT": "CT", "MRI": "MR", "XRAY": "DX", "US": "US", "MG": "MG", "FL": "RF"}


def worklist_query(modality: str, day: str, station: str | None = None) -> Dataset:
    """Modality + today (+ station), asking for what a scanner shows and needs for MPPS."""
    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    query.AccessionNumber = ""
    query.StudyInstanceUID = ""
    query.RequestedProcedureID = ""
    step = Dataset()
    step.Modality = DICOM_MODALITY.get(modality, modality)
    step.ScheduledProcedureStepStartDate = day
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledStationAETitle = station or ""
    step.ScheduledProcedureStepID = ""
    query.ScheduledProcedureStepSequence = [step]
    return query


def mpps_in_progress(item: Dataset, station: str, modality: str) -> Dataset:
    now = datetime.now()
    ds = Dataset()
    ds.PatientID = item.PatientID
    ds.PatientName = item.PatientName
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = station
    ds.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
    ds.PerformedProcedureStepID = item.AccessionNumber
    ds.Modality = DICOM_MODALITY.get(modality, modality)
    step = Dataset()
    step.AccessionNumber = item.AccessionNumber
    step.StudyInstanceUID = item.StudyInstanceUID
    step.RequestedProcedureID = item.get("RequestedProcedureID", item.AccessionNumber)
    step.ScheduledProcedureStepID = item.AccessionNumber
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedSeriesSequence = []
    return ds


def mpps_completed(images: int) -> Dataset:
    now = datetime.now()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = now.strftime("%H%M%S")
    series = Dataset()
    series.SeriesInstanceUID = generate_uid()
    series.ReferencedImageSequence = []
    for _ in range(images):
        image = Dataset()
        image.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        image.ReferencedSOPInstanceUID = generate_uid()
        series.ReferencedImageSequence.append(image)
    ds.PerformedSeriesSequence = [series]
    return ds


class Dicom:
    """One calling AE title's associations with the worklist service; times every exchange."""

    def __init__(self, port: int, ae_title: str, record) -> None:
        self.port, self.ae_title, self.record = port, ae_title, record
        self.ae = AE(ae_title=ae_title)
        self.ae.add_requested_context(ModalityWorklistInformationFind)
        self.ae.add_requested_context(ModalityPerformedProcedureStep)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 30

    def associate(self):
        assoc = self.ae.associate("127.0.0.1", self.port, ae_title=SERVICE_AE)
        if not assoc.is_established:
            raise RuntimeError(f"{self.ae_title}: association refused")
        return assoc

    def find(self, query: Dataset, assoc=None, capped: bool = False) -> list[Dataset]:
        """``capped``: a whole day over the answer's cap, whose documented end is the final status
        A700 after the cap's items (DICOM_WORKLIST_MAX_ITEMS, docs/dicom.md), not an error."""
        own = assoc is None
        assoc = assoc or self.associate()
        try:
            start = time.perf_counter()
            items, final = [], None
            for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
                if status and status.Status in (0xFF00, 0xFF01):
                    items.append(identifier)
                else:
                    final = status
            ok = final is not None and (final.Status == 0 or (capped and final.Status == 0xA700 and items))
            self.record("dicom: worklist C-FIND", time.perf_counter() - start,
                        None if ok else f"C-FIND status {getattr(final, 'Status', None)}")
            return items
        finally:
            if own:
                assoc.release()

    def n_create(self, ds: Dataset, uid: str, assoc=None) -> bool:
        return self._send("dicom: MPPS N-CREATE", lambda a: a.send_n_create(ds, ModalityPerformedProcedureStep, uid),
                          assoc)

    def n_set(self, ds: Dataset, uid: str) -> bool:
        return self._send("dicom: MPPS N-SET", lambda a: a.send_n_set(ds, ModalityPerformedProcedureStep, uid), None)

    def _send(self, name, send, assoc) -> bool:
        own = assoc is None
        assoc = assoc or self.associate()
        try:
            start = time.perf_counter()
            status, _ = send(assoc)
            ok = bool(status) and status.Status == 0
            self.record(name, time.perf_counter() - start, None if ok else f"status {getattr(status, 'Status', None)}")
            return ok
        finally:
            if own:
                assoc.release()


class Scanners:
    """``stations`` scanner threads; ``samples``/``errors`` by request type while measuring."""

    def __init__(self, port: int, stations: list[tuple[str, str]], day: str, period: float = 10.0) -> None:
        self.port, self.stations, self.day, self.period = port, stations, day, period
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.measuring = False
        self.stop = threading.Event()
        self.claimed: set[str] = set()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(ae, modality, i), daemon=True)
                        for i, (ae, modality) in enumerate(stations)]

    def record(self, name: str, seconds: float, error: str | None) -> None:
        if self.measuring:
            with self.lock:
                self.samples[name].append(seconds * 1000)
                if error:
                    self.errors[name].append(error)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)

    def _claim(self, items: list[Dataset]) -> Dataset | None:
        with self.lock:
            for item in items:
                if item.AccessionNumber not in self.claimed:
                    self.claimed.add(item.AccessionNumber)
                    return item
        return None

    def _run(self, ae_title: str, modality: str, index: int) -> None:
        rng = random.Random(index)
        dicom = Dicom(self.port, ae_title, self.record)
        scan: tuple[str, float] | None = None  # (MPPS uid, when it ends)
        if self.stop.wait(rng.uniform(0, self.period)):
            return
        while not self.stop.is_set():
            try:
                items = dicom.find(worklist_query(modality, self.day))
                if scan and time.monotonic() >= scan[1]:
                    dicom.n_set(mpps_completed(rng.randint(1, 5)), scan[0])
                    scan = None
                if scan is None and (item := self._claim(items)):
                    uid = generate_uid()
                    if dicom.n_create(mpps_in_progress(item, ae_title, modality), uid):
                        scan = (uid, time.monotonic() + rng.uniform(15, 40))
            except Exception as exc:  # noqa: BLE001  (an error of the load, counted)
                self.record("dicom: scanner", 0.0, repr(exc)[:200])
            self.stop.wait(self.period)


# ---------------------------------------------------------------------------- the worklist at scale


def worklist_at_scale(app, port: int, modality: str, day: str, raw_driver, repeat: int, creates: int) -> dict:
    """C-FIND for ``modality`` and ``day`` (one association, ``repeat`` queries) interleaved with
    the raw SQL the service sent for it, then ``creates`` MPPS N-CREATE round trips."""
    from bench.scenarios import captured_sql
    from webapp.dicom.worklist import find_items, parse_query
    from webapp.extensions import db

    query = worklist_query(modality, day)
    with app.app_context():
        with captured_sql(db.engine) as statements:
            answered = find_items(parse_query(query))
        db.session.remove()
    sql = [s for s in statements if "imaging_orders" in s[0]]
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)

    def record(name, seconds, error):
        samples[name].append(seconds * 1000)
        if error:
            errors[name].append(error)

    dicom = Dicom(port, "CTSCALE", record)
    assoc = dicom.associate()
    items: list[Dataset] = []
    try:
        for _ in range(3):  # warm-up, not recorded
            dicom.find(query, assoc, capped=True)
        samples.clear()
        errors.clear()
        for _ in range(repeat):
            items = dicom.find(query, assoc, capped=True)
            start = time.perf_counter()
            raw_driver.run(sql)
            samples["raw SQL"].append((time.perf_counter() - start) * 1000)
        for item in items[:creates]:
            dicom.n_create(mpps_in_progress(item, "CTSCALE", modality), generate_uid(), assoc)
    finally:
        assoc.release()
    return {"samples": dict(samples), "errors": dict(errors), "items": len(items), "answered": len(answered.items),
            "sql": [s for s, _ in sql]}
