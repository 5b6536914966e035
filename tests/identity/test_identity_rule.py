"""The one identity rule (webapp.patients.identity): MRN any case, family name folded, birth date."""

from datetime import date
from types import SimpleNamespace

import pytest

from webapp.patients.identity import (
    Sent,
    family_names_agree,
    fold,
    identity_mismatch,
    mrns_agree,
    nfc,
    whole_name_holds_family,
)

pytestmark = pytest.mark.sqlite_only

MUELLER = SimpleNamespace(mrn="MRN100001", last_name="Müller", date_of_birth=date(1970, 3, 2))


@pytest.mark.parametrize(("text", "folded"), [
    ("Zoë Ångström-Ñúñez", "zoe angstrom-nunez"),
    ("ÅNGSTRÖM", "angstrom"),
    ("Łukasz Żółć", "lukasz zolc"),
    ("Søren Ærø", "soren aero"),
    ("Straße", "strasse"),
    ("Đorđević", "dordevic"),
    ("  two   spaces ", "two spaces"),
])
def test_every_latin_letter_folds(text, folded):
    assert fold(text) == folded


def test_nfc_and_nfd_spellings_are_one():
    assert nfc("Jos\u0065\u0301") == nfc("Jos\u00e9") == "José"


def test_mrn_compares_without_case():
    assert mrns_agree("CASEmrn1", "casemrn1")
    assert not mrns_agree("MRN1", "MRN11")
    assert not mrns_agree("MRN1", "")


def test_family_names():
    assert family_names_agree("Müller", "MUELLER") is False  # transliteration is not a rule here
    assert family_names_agree("Müller", "muller")
    assert family_names_agree("O'Brien-Smith", "OBRIEN SMITH")
    assert not family_names_agree("Müller", "Smith")
    assert not family_names_agree("Müller", "")


def test_a_name_the_worklist_cut_matches_back():
    whole = "Wolfeschlegelsteinhausenbergerdorff Vondersmithenhausen Ypsilantis Karamanlis"
    assert family_names_agree(whole, "Wolfeschlegelsteinhausenbergerdorff Vondersmithenhausen...")
    assert not family_names_agree(whole, "Wolfeschlegelsteinhausenbergerdorff Vonder")  # no cut mark
    assert not family_names_agree("Smith", "Smithson...")


def test_whole_name_holds_family():
    assert whole_name_holds_family("Mensah", "Kwame Mensah")
    assert not whole_name_holds_family("Mensah", "Kwame Mensahson")


def test_identity_mismatch_names_the_reason():
    assert identity_mismatch(MUELLER, Sent("mrn100001", "MULLER", date(1970, 3, 2))) is None
    assert identity_mismatch(MUELLER, Sent("MRN100001", "Müller", None)) is None
    assert "family name" in identity_mismatch(MUELLER, Sent("MRN100001", "Smith", date(1970, 3, 2)))
    assert "birth date" in identity_mismatch(MUELLER, Sent("MRN100001", "Müller", date(1999, 1, 1)))
    assert "patient ID" in identity_mismatch(MUELLER, Sent("MRN100002", "Müller"))
    assert identity_mismatch(MUELLER, Sent("MRN100001"), require_name=True) == "no family name was sent"
