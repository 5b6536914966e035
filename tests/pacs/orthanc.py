"""A real Orthanc (Debian's `orthanc` package) on free ports, synthetic DICOM studies made with
pydicom, and dcmtk's storescu to send them (tests/pacs and tests/browser)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import date
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.events.livestack import free_port
from tests.services import require


def orthanc_available() -> bool:
    return shutil.which("Orthanc") is not None and shutil.which("storescu") is not None


def start_orthanc(directory: Path) -> OrthancServer:
    require(shutil.which("Orthanc") is not None, "Orthanc (Debian package orthanc)")
    require(shutil.which("storescu") is not None, "dcmtk (storescu)")
    server = OrthancServer(directory)
    server.start()
    return server


class OrthancServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.http_port, self.dicom_port = free_port(), free_port()
        self.config = directory / "orthanc.json"
        self.config.write_text(json.dumps({
            "Name": "TEST-PACS", "StorageDirectory": str(directory / "storage"),
            "IndexDirectory": str(directory / "index"), "HttpPort": self.http_port, "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC", "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False, "DicomAlwaysAllowStore": True, "StableAge": 1, "Plugins": [],
        }))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30) -> None:
        log = open(self.directory / "orthanc.log", "ab")  # noqa: SIM115  (kept for the process)
        self.process = subprocess.Popen(["Orthanc", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get("/system")
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.directory / "orthanc.log").read_text(errors="replace")) from None
                time.sleep(0.1)
        raise RuntimeError("Orthanc did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.loads(response.read())

    def post(self, path: str, body) -> object:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
        return json.loads(urllib.request.urlopen(request, timeout=10).read())

    def delete(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + path, method="DELETE"), timeout=10).read()

    def clear(self) -> None:
        for patient in self.get("/patients"):
            self.delete(f"/patients/{patient}")
        self.delete("/changes")

    def send(self, files: list[Path]) -> None:
        subprocess.run(["storescu", "-aec", "ORTHANC", "127.0.0.1", str(self.dicom_port), *map(str, files)],
                       check=True, capture_output=True, timeout=60)

    def wait_stable(self, study_uid: str, timeout: float = 20) -> str:
        """The Orthanc id of the study once it is stable (StableAge 1 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            query = {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}}
            request = urllib.request.Request(self.url + "/tools/find", data=json.dumps(query).encode(), method="POST")
            found = json.loads(urllib.request.urlopen(request, timeout=5).read())
            if found and self.get(f"/studies/{found[0]}").get("IsStable"):
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"study {study_uid} did not become stable")


def make_study(directory: Path, *, study_uid: str, accession: str, patient_id: str, patient_name: str = "GARCIA^MARIA",
               series: tuple[int, ...] = (2, 1), modality: str = "DX", description: str = "CHEST 2 VIEWS",
               birth_date: str | None = None) -> list[Path]:
    """DICOM files of one study: ``series`` gives the number of images of each series (tiny images)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for series_number, count in enumerate(series, start=1):
        series_uid = generate_uid()
        for instance_number in range(1, count + 1):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
            ds.PatientID, ds.PatientName = patient_id, patient_name
            if birth_date is not None:
                ds.PatientBirthDate = birth_date
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.AccessionNumber, ds.Modality, ds.StudyDescription = accession, modality, description
            ds.SeriesDescription = f"Series {series_number}"
            ds.StudyDate = date.today().strftime("%Y%m%d")
            ds.SeriesNumber, ds.InstanceNumber = series_number, instance_number
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows = ds.Columns = 16
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
            ds.PixelData = bytes((i * (instance_number + 1)) % 256 for i in range(256))
            path = directory / f"{meta.MediaStorageSOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
    return files


def order_study(tmp_path: Path, order, patient_mrn: str, **kwargs) -> list[Path]:
    """A study carrying the order's UIDs (what a scanner that read the worklist sends)."""
    return make_study(tmp_path / order.accession_number, study_uid=order.study_instance_uid,
                      accession=order.accession_number, patient_id=patient_mrn, **kwargs)
