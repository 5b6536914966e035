"""IHE MRRT report templates (Management of Radiology Report Templates, IHE Radiology Technical
Framework Supplement), as RSNA RadReport publishes them: an HTML5 document whose

* ``<title>`` is the template's title and ``<meta name="dcterms.identifier" content="…">`` its
  identifier (Dublin Core metadata in ``<head>``);
* ``<section>`` elements (with a ``<header>``) hold the fields: ``<input type="text">`` and
  ``<textarea>`` (free text) and ``<select>`` with ``<option>`` (a choice), each named by the
  ``<label for="…">`` that points at its ``id``;
* ``<script type="text/xml">`` holds the coded content: ``<coded_content>`` ``<entry ORIGTXT="id">``
  ``<term><code value="RID…" meaning="…" scheme="RADLEX"/></term>`` links a field or an option
  (by its ``id``) to a code (RadLex where given).

:func:`parse` reads such a file into a plain structure (kept as JSON on the template); the editor
shows its fields, and a coded answer reaches FHIR (an Observation in ``DiagnosticReport.result``)
and HL7 (a coded OBX, CWE).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

MAX_FIELDS = 200


class MrrtError(ValueError):
    """The file is not an MRRT template this app can read."""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.identifier: str | None = None
        self.sections: list[dict] = []
        self.labels: dict[str, str] = {}
        self.xml = ""
        self._text: list[str] | None = None
        self._where: str | None = None  # title, header, label, option, script
        self._label_for: str | None = None
        self._select: dict | None = None
        self._option: dict | None = None

    def _section(self) -> dict:
        if not self.sections:
            self.sections.append({"title": "", "fields": []})
        return self.sections[-1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name.lower(): value or "" for name, value in attrs}
        if tag == "title":
            self._where, self._text = "title", []
        elif tag == "meta" and a.get("name", "").lower() == "dcterms.identifier":
            self.identifier = a.get("content", "").strip() or None
        elif tag == "section":
            self.sections.append({"title": a.get("data-section-name", ""), "fields": []})
        elif tag == "header" and self.sections:
            self._where, self._text = "header", []
        elif tag == "label":
            self._where, self._text, self._label_for = "label", [], a.get("for")
        elif tag in ("input", "textarea") and a.get("type", "text").lower() in ("text", "") and a.get("id"):
            self._section()["fields"].append({"id": a["id"], "kind": "text", "label": "", "options": []})
        elif tag == "select" and a.get("id"):
            self._select = {"id": a["id"], "kind": "select", "label": "", "options": []}
            self._section()["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value", ""), "id": a.get("id") or None, "label": ""}
            self._where, self._text = "option", []
        elif tag == "script" and a.get("type", "").lower() == "text/xml":
            self._where, self._text = "script", []

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text or []).split())
        if tag == "title" and self._where == "title":
            self.title = text
        elif tag == "header" and self._where == "header" and not self.sections[-1]["title"]:
            self.sections[-1]["title"] = text
        elif tag == "label" and self._where == "label" and self._label_for:
            self.labels[self._label_for] = text
        elif tag == "option" and self._option is not None:
            self._option["label"] = text
            self._option["value"] = self._option["value"] or text
            self._select["options"].append(self._option)
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "script" and self._where == "script":
            self.xml = "".join(self._text or [])
        else:
            return
        self._where, self._text = None, None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _codes(xml_text: str) -> dict[str, dict]:
    """ORIGTXT (an element's id) -> {"code", "meaning", "scheme"} from the coded content."""
    if not xml_text.strip():
        return {}
    try:
        root = ET.fromstring(xml_text.strip())
    except ET.ParseError as exc:
        raise MrrtError(f"The coded content (<script type=\"text/xml\">) is not XML: {exc}") from None
    found = {}
    for entry in root.iter():
        if entry.tag.lower() != "entry":
            continue
        origin = next((v for k, v in entry.attrib.items() if k.lower() == "origtxt"), None)
        code = next((e for e in entry.iter() if e.tag.lower() == "code"), None)
        if origin and code is not None and code.get("value"):
            found[origin] = {"code": code.get("value"), "meaning": code.get("meaning") or "",
                             "scheme": code.get("scheme") or ""}
    return found


def parse(text: str) -> dict[str, Any]:
    """The template's title, identifier and sections with their fields (codes where given)."""
    reader = _Reader()
    try:
        reader.feed(text)
        reader.close()
    except Exception as exc:  # html.parser is lenient; anything it still refuses is a bad file
        raise MrrtError(f"Not readable as HTML: {exc}") from None
    if not reader.title:
        raise MrrtError("No <title>: an MRRT template names itself in <title>.")
    if not reader.identifier:
        raise MrrtError('No <meta name="dcterms.identifier">: an MRRT template carries its identifier.')
    codes = _codes(reader.xml)
    sections = [s for s in reader.sections if s["fields"]]
    fields = [f for s in sections for f in s["fields"]]
    if not fields:
        raise MrrtError("No fields (text inputs or selects in <section>s).")
    if len(fields) > MAX_FIELDS:
        raise MrrtError(f"At most {MAX_FIELDS} fields.")
    for f in fields:
        f["label"] = reader.labels.get(f["id"]) or f["id"]
        f["code"] = codes.get(f["id"])
        for option in f["options"]:
            option["code"] = codes.get(option.pop("id") or "") or codes.get(option["value"])
    return {"title": reader.title[:200], "identifier": reader.identifier[:200], "sections": sections}


def fields_of(structure: dict | None) -> list[dict]:
    return [f for s in (structure or {}).get("sections", []) for f in s["fields"]]


def clean_answers(structure: dict | None, given: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """The answers to keep: known fields only; a select's answer must be one of its options."""
    known = {f["id"]: f for f in fields_of(structure)}
    clean = {}
    for key, value in (given or {}).items():
        field = known.get(key)
        if field is None:
            errors[f"fields.{key}"] = "No such field in the report template."
            continue
        value = "" if value is None else str(value).strip()
        if len(value) > 2000:
            errors[f"fields.{key}"] = "At most 2000 characters."
        elif field["kind"] == "select" and value and value not in {o["value"] for o in field["options"]}:
            errors[f"fields.{key}"] = "Not one of the choices."
        elif value:
            clean[key] = value
    return clean


def coded_answers(structure: dict | None, answers: dict[str, str] | None) -> list[dict]:
    """Each answered choice that has a code: the field (its label and code) and the chosen code."""
    result = []
    for field in fields_of(structure):
        value = (answers or {}).get(field["id"])
        option = next((o for o in field["options"] if o["value"] == value), None)
        if option is not None and option.get("code"):
            result.append({"field": field["id"], "label": field["label"], "field_code": field.get("code"),
                           "answer": option["label"], "code": option["code"]})
    return result


# Words of a template's title that name its modality (when the import does not say).
MODALITY_WORDS = (
    ("MG", ("mammogra", "breast tomosynthesis")), ("CT", ("ct ", "computed tomography", " cta")),
    ("MRI", ("mri", "mr ", "magnetic resonance")), ("US", ("ultrasound", "sonograph", "doppler")),
    ("FL", ("fluoroscop",)), ("XRAY", ("radiograph", "x-ray", "xray")),
)


def guess_modality(structure: dict) -> str | None:
    """The modality the title names (CT, MRI, US, MG, FL, XRAY), or None."""
    text = f" {structure.get('title', '')} ".lower()
    return next((code for code, words in MODALITY_WORDS if any(word in text for word in words)), None)
