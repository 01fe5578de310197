"""The letter a GP practice files: read back from the PDF, it puts the safety flag first,
names the medicines, dose and plan, says who recommends them and how to respond."""

import base64
import copy
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from fhir_profiles.recommendation import MedicationChoice, ServiceUser
from fhir_profiles.send_document.contract import DocumentKind, LetterFonts
from fhir_profiles.send_document.letter import latin1, render_letter
from fhir_profiles.send_document.message import build_send_document
from gateway.settings import LetterSettings, Settings
from tests.fhir_profiles.send_document_data import (
    INBOX_URL,
    combination_bundle,
    delivery_bundle,
    envelope,
    parsed,
    resources,
)
from workers.send_document import letter_fonts


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def _pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _links(pdf: bytes) -> list[str]:
    links = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A")
            if action is not None and "/URI" in action:
                links.append(str(action["/URI"]))
    return links


def test_a_request_with_a_safety_flag_puts_the_flag_first() -> None:
    text = _text(render_letter(delivery_bundle("clozapine"), envelope()))
    flag = text.index("CLINICAL SAFETY (high priority)")
    assert flag < text.index("Alex Morgan")
    assert flag < text.index("Varenicline 1mg tablets")
    assert "Clozapine 300mg daily" in text[flag:]
    assert "clozapine levels can rise" in text
    assert "https://www.sps.nhs.uk/articles/managing-specific-interactions-with-smoking/" in text


def test_the_letter_names_who_and_what() -> None:
    text = _text(render_letter(delivery_bundle("sertraline"), envelope()))
    assert "Alex Morgan, NHS number 943 476 5919, born 7 March 1984" in text
    assert "Varenicline 1mg tablets: One tablet twice a day; for 84 days" in text
    assert "Plan: the patient has decided to stop smoking." in text
    assert "Sertraline 50mg daily" in text
    assert "Note from the practitioner: Started on the ward" in text
    assert "CLINICAL SAFETY" not in text


def test_the_letter_gives_the_practitioners_contact() -> None:
    text = _text(render_letter(delivery_bundle(), envelope()))
    contact = text.index("Recommended by")
    assert "Sam Patel, sam.patel@example.org" in text[contact:]
    assert "Northshire Mental Health NHS Trust (RX4), telephone 0113 496 0000" in text[contact:]


def test_the_letter_says_how_to_respond_with_the_inbox_link() -> None:
    pdf = render_letter(delivery_bundle(), envelope())
    text = _text(pdf)
    respond = text.index("How to respond")
    for action in (
        "accept the request",
        "decline it with a reason",
        "ask to see the patient first",
        "record that a prescription was issued",
    ):
        assert action in text[respond:]
    assert INBOX_URL in text[respond:]
    assert INBOX_URL in _links(pdf)  # a live link, not only its text


def test_without_an_inbox_the_letter_says_to_telephone() -> None:
    text = _text(render_letter(delivery_bundle(), envelope(inbox_url=None)))
    assert "Telephone 0113 496 0000 to accept the request" in text
    assert "inbox" not in text


def test_a_combination_lists_every_medicine() -> None:
    text = _text(render_letter(combination_bundle(), envelope()))
    assert "Recommended (combination)" in text
    assert "Nicotine 21mg/24hours transdermal patches: One patch every 24 hours" in text
    assert "Nicotine 2mg medicated chewing gum: One piece when the urge comes" in text
    assert text.index("CLINICAL SAFETY") < text.index("One patch every 24 hours")


def test_a_chase_up_references_the_original_request() -> None:
    text = _text(render_letter(delivery_bundle(), envelope(DocumentKind.CHASE_UP)))
    assert text.startswith("Reminder: request to consider prescribing")
    assert "reminder of the request we sent on 10 January 2025 (reference rec-0001)" in text
    assert "Document version 2. Reference rec-0001." in text
    assert "Varenicline 1mg tablets" in text


def test_a_withdrawal_says_clearly_that_the_request_is_withdrawn_and_why() -> None:
    pdf = render_letter(delivery_bundle("clozapine"), envelope(DocumentKind.WITHDRAWAL))
    text = _text(pdf)
    assert text.startswith("Request withdrawn: please do not act on our earlier request")
    withdrawn = text.index("WITHDRAWN: the request we sent on 10 January 2025")
    assert withdrawn < text.index("CLINICAL SAFETY")
    assert "Why it was withdrawn: The patient has decided not to go ahead for now." in text
    assert "Please do not issue a prescription for it." in text
    assert "How to respond" not in text
    assert "The request shows as withdrawn in the practice inbox" in text


@pytest.mark.parametrize("kind", list(DocumentKind))
@pytest.mark.parametrize("safety", ["none", "clozapine", "several"])
def test_every_letter_is_one_page(kind: DocumentKind, safety: str) -> None:
    assert _pages(render_letter(delivery_bundle(safety), envelope(kind))) == 1


def test_the_message_carries_this_letter() -> None:
    bundle = delivery_bundle("clozapine")
    message = parsed(build_send_document(bundle, envelope()))
    carried = base64.b64decode(resources(message)["Binary"]["content"])
    assert carried == render_letter(bundle, envelope())


def test_same_input_same_pdf() -> None:
    assert render_letter(delivery_bundle(), envelope()) == render_letter(
        delivery_bundle(), envelope()
    )


def test_names_outside_latin1_are_folded_not_lost() -> None:
    user = ServiceUser("9434765919", "Zoë", "Łukaszewicz", date(1984, 3, 7))
    text = _text(render_letter(delivery_bundle(service_user=user), envelope()))
    assert "Zoë Lukaszewicz" in text
    assert latin1("Ὀδυσσεύς") == "????????"
    assert latin1("\u201cquoted\u201d \u2013 dash") == '"quoted" - dash'


def test_the_worst_flag_comes_first() -> None:
    bundle = delivery_bundle("clozapine")
    (issue,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "DetectedIssue"]
    milder = copy.deepcopy(issue)
    milder["fullUrl"] = "urn:uuid:0a0b0c0d-0000-4000-8000-000000000001"
    milder["resource"]["severity"] = "low"
    milder["resource"]["code"]["text"] = "A milder interaction"
    bundle["entry"].insert(bundle["entry"].index(issue), milder)
    text = _text(render_letter(bundle, envelope()))
    assert "CLINICAL SAFETY (high priority)" in text
    assert text.index("Clozapine 300mg daily") < text.index("A milder interaction")


def test_the_letter_says_when_a_reminder_follows() -> None:
    respond_by = datetime(2025, 1, 29, 17, 0, tzinfo=UTC)
    text = _text(render_letter(delivery_bundle(respond_by=respond_by), envelope()))
    assert "If we have no response by 29 January 2025, we will send a reminder." in text


def test_the_supply_is_named_when_the_plan_says_and_no_duration_is_invented() -> None:
    choice = MedicationChoice("varenicline-1mg-tablets", "One tablet twice a day", None, 2, "pack")
    text = _text(render_letter(delivery_bundle(medication=choice), envelope()))
    assert "Varenicline 1mg tablets: One tablet twice a day; supply 2 pack" in text
    assert "days" not in text


def _debian_fonts() -> LetterFonts:
    fonts = letter_fonts(Settings())
    assert fonts is not None, "the DejaVu fonts are missing: `make fonts` installs them"
    return fonts


def test_with_embedded_fonts_every_name_prints_as_written() -> None:
    user = ServiceUser("9434765919", "Ὀδυσσεύς", "Łukaszewicz", date(1984, 3, 7))
    pdf = render_letter(delivery_bundle(service_user=user), envelope(fonts=_debian_fonts()))
    text = _text(pdf)
    assert "Ὀδυσσεύς Łukaszewicz" in text
    assert "Lukaszewicz" not in text
    assert _pages(pdf) == 1


def test_a_character_the_font_cannot_draw_becomes_a_question_mark() -> None:
    user = ServiceUser("9434765919", "Zoë", "李", date(1984, 3, 7))
    text = _text(render_letter(delivery_bundle(service_user=user), envelope(fonts=_debian_fonts())))
    assert "Zoë ?" in text


def test_the_embedded_font_letter_is_the_same_bytes_for_the_same_input() -> None:
    fonts = _debian_fonts()
    assert render_letter(delivery_bundle(), envelope(fonts=fonts)) == render_letter(
        delivery_bundle(), envelope(fonts=fonts)
    )


def test_fonts_missing_from_the_folder_fall_back_to_the_standard_fonts(tmp_path: Path) -> None:
    assert letter_fonts(Settings(letter=LetterSettings(font_dir=tmp_path))) is None
