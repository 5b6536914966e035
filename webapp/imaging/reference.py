"""Reference data: modalities, body parts and the procedure catalogue (seed sections 9 and 10)."""

from __future__ import annotations

from webapp.extensions import db
from webapp.imaging.durations import modality_minutes
from webapp.imaging.models import BodyPart, ImagingModality, Procedure

# code, name, description, DICOM modality
MODALITIES = [
    ("XRAY", "X-Ray", "Plain radiography", "DX"),
    ("CT", "CT Scan", "Computed Tomography", "CT"),
    ("MRI", "MRI", "Magnetic Resonance Imaging", "MR"),
    ("US", "Ultrasound", "Ultrasonography", "US"),
    ("MG", "Mammography", "Breast imaging", "MG"),
    ("FL", "Fluoroscopy", "Real-time X-ray imaging", "RF"),
]

# code, name, modalities, paired
BODY_PARTS = [
    ("CHEST", "Chest", ["XRAY", "CT"], False),
    ("ABDOMEN", "Abdomen", ["XRAY", "CT", "US", "MRI"], False),
    ("PELVIS", "Pelvis", ["XRAY", "CT", "US", "MRI"], False),
    ("HEAD", "Head/Brain", ["CT", "MRI"], False),
    ("SPINE", "Spine", ["XRAY", "CT", "MRI"], False),
    ("EXTREMITY", "Extremities", ["XRAY", "MRI"], True),
    ("VASCULAR", "Vascular", ["CT", "US"], False),
    ("OBSTETRIC", "Obstetric", ["US"], False),
    ("BREAST", "Breast", ["MG", "US"], True),
    ("UPPER_GI", "Upper GI tract", ["FL"], False),
    ("LOWER_GI", "Lower GI tract", ["FL"], False),
]

# CPT code, name, modality, body part, requires laterality
PROCEDURES = [
    ("71046", "X-Ray Chest, 2 views", "XRAY", "CHEST", False),
    ("71045", "X-Ray Chest, single view", "XRAY", "CHEST", False),
    ("74018", "X-Ray Abdomen, 1 view", "XRAY", "ABDOMEN", False),
    ("72170", "X-Ray Pelvis, 1-2 views", "XRAY", "PELVIS", False),
    ("73060", "X-Ray Humerus (arm), 2 views", "XRAY", "EXTREMITY", True),
    ("73130", "X-Ray Hand, 3 views", "XRAY", "EXTREMITY", True),
    ("73590", "X-Ray Tibia and Fibula (leg), 2 views", "XRAY", "EXTREMITY", True),
    ("73630", "X-Ray Foot, 3 views", "XRAY", "EXTREMITY", True),
    ("72040", "X-Ray Cervical Spine, 2-3 views", "XRAY", "SPINE", False),
    ("72070", "X-Ray Thoracic Spine, 2 views", "XRAY", "SPINE", False),
    ("72100", "X-Ray Lumbar Spine, 2-3 views", "XRAY", "SPINE", False),
    ("70450", "CT Head without contrast", "CT", "HEAD", False),
    ("71250", "CT Chest without contrast", "CT", "CHEST", False),
    ("74177", "CT Abdomen and Pelvis with contrast", "CT", "ABDOMEN", False),
    ("74176", "CT Abdomen and Pelvis without contrast", "CT", "ABDOMEN", False),
    ("72131", "CT Lumbar Spine without contrast", "CT", "SPINE", False),
    ("71275", "CT Angiography Chest", "CT", "VASCULAR", False),
    ("70496", "CT Angiography Head", "CT", "VASCULAR", False),
    ("70551", "MRI Brain without contrast", "MRI", "HEAD", False),
    ("70553", "MRI Brain without and with contrast", "MRI", "HEAD", False),
    ("72141", "MRI Cervical Spine without contrast", "MRI", "SPINE", False),
    ("72148", "MRI Lumbar Spine without contrast", "MRI", "SPINE", False),
    ("73721", "MRI Knee (lower extremity joint) without contrast", "MRI", "EXTREMITY", True),
    ("73221", "MRI Shoulder (upper extremity joint) without contrast", "MRI", "EXTREMITY", True),
    ("74181", "MRI Abdomen without contrast", "MRI", "ABDOMEN", False),
    ("72195", "MRI Pelvis without contrast", "MRI", "PELVIS", False),
    ("76700", "Ultrasound Abdomen, complete", "US", "ABDOMEN", False),
    ("76856", "Ultrasound Pelvis (non-obstetric), complete", "US", "PELVIS", False),
    ("76805", "Ultrasound Obstetric, after first trimester", "US", "OBSTETRIC", False),
    ("76801", "Ultrasound Obstetric, first trimester", "US", "OBSTETRIC", False),
    ("93970", "Vascular Doppler, extremity veins, bilateral", "US", "VASCULAR", False),
    ("93880", "Vascular Doppler, carotid arteries, bilateral", "US", "VASCULAR", False),
    ("76641", "Ultrasound Breast, complete", "US", "BREAST", True),
    ("77067", "Screening Mammography, bilateral", "MG", "BREAST", True),
    ("77066", "Diagnostic Mammography, bilateral", "MG", "BREAST", True),
    ("77065", "Diagnostic Mammography, unilateral", "MG", "BREAST", True),
    ("74240", "Fluoroscopy Upper GI series", "FL", "UPPER_GI", False),
    ("74220", "Fluoroscopy Esophagram (barium swallow)", "FL", "UPPER_GI", False),
    ("74270", "Fluoroscopy Barium Enema", "FL", "LOWER_GI", False),
]


# Safety screening (webapp.safety): the contrast a procedure takes unless the doctor says otherwise,
# and the protocols a radiologist chooses from. CT and MRI with contrast need a protocol.
PROCEDURE_CONTRAST = {"74177": "iodinated", "71275": "iodinated", "70496": "iodinated", "70553": "gadolinium"}
PROTOCOLS = {
    "74177": ["Portal venous phase", "Multiphase liver (arterial, portal, delayed)",
              "Renal mass (corticomedullary, nephrographic, excretory)"],
    "74176": ["Renal stone (low dose)", "Routine abdomen and pelvis"],
    "71275": ["Pulmonary embolism (bolus tracking)", "Aortic dissection (non-contrast and arterial)"],
    "70496": ["Circle of Willis (bolus tracking)", "Stroke: perfusion and angiography"],
    "70553": ["Brain tumour (post-contrast 3D T1)", "Multiple sclerosis", "Pituitary (dynamic)"],
    "70450": ["Routine head", "Trauma head"],
    "71250": ["Routine chest", "Low-dose lung screening", "High-resolution (interstitial lung disease)"],
    "70551": ["Routine brain", "Epilepsy", "Internal auditory canals"],
    "72148": ["Routine lumbar spine", "Cauda equina (fast)"],
    "72141": ["Routine cervical spine"],
    "74181": ["Liver (MRCP)", "Routine abdomen"],
}
PROTOCOL_MODALITIES = ("CT", "MRI")


def load_reference_data() -> None:
    """Insert or update the reference rows; running it twice changes nothing."""
    for index, (code, name, description, dicom) in enumerate(MODALITIES):
        row = db.session.get(ImagingModality, code) or ImagingModality(code=code, is_active=True)
        row.name, row.description, row.dicom_modality, row.sort_order = name, description, dicom, index
        db.session.add(row)
    for index, (code, name, modalities, paired) in enumerate(BODY_PARTS):
        row = db.session.get(BodyPart, code) or BodyPart(code=code)
        row.name, row.modalities, row.is_paired, row.sort_order = name, list(modalities), paired, index
        db.session.add(row)
    db.session.flush()
    for code, name, modality, body_part, laterality in PROCEDURES:
        row = db.session.get(Procedure, code)
        if row is None:  # a new procedure takes its modality's duration; an administrator's edit stays
            row = Procedure(code=code, is_active=True, duration_minutes=modality_minutes(modality))
        row.name, row.modality, row.body_part, row.requires_laterality = name, modality, body_part, laterality
        row.contrast = PROCEDURE_CONTRAST.get(code, "none")
        row.protocol_required = modality in PROTOCOL_MODALITIES and row.contrast != "none"
        row.protocols = list(PROTOCOLS.get(code, []))
        db.session.add(row)
    db.session.flush()
