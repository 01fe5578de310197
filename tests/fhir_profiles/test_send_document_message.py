"""The GP Connect Send Document message: STU3-valid for every kind of letter, and shaped as
the ITK3 standard and the Send Document guide require (each requirement checked by id)."""

import base64
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fhir.resources.STU3.bundle import Bundle

from fhir_profiles.recommendation import Practitioner, ServiceUser
from fhir_profiles.send_document import itk
from fhir_profiles.send_document.contract import DocumentKind
from fhir_profiles.send_document.message import build_send_document, mesh_address, mesh_subject
from tests.fhir_profiles.send_document_data import (
    DOCUMENT_ID,
    MESSAGE_ID,
    combination_bundle,
    delivery_bundle,
    envelope,
    parsed,
    resources,
)

KINDS = list(DocumentKind)


def _message(kind: DocumentKind = DocumentKind.REQUEST, **changes: Any) -> dict[str, Any]:
    return parsed(build_send_document(delivery_bundle("clozapine"), envelope(kind, **changes)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("safety", ["none", "clozapine", "several"])
def test_every_kind_validates_against_the_stu3_models(kind: DocumentKind, safety: str) -> None:
    message = parsed(build_send_document(delivery_bundle(safety), envelope(kind)))
    Bundle.model_validate(message)  # raises on any STU3 violation
    found = resources(message)
    Bundle.model_validate(found["DocumentBundle"])
    assert found["Composition"]["title"]
    assert base64.b64decode(found["Binary"]["content"]).startswith(b"%PDF-")


def test_a_combination_is_one_message_with_every_medicine_in_the_letter() -> None:
    message = parsed(build_send_document(combination_bundle(), envelope()))
    Bundle.model_validate(message)
    pdf = base64.b64decode(resources(message)["Binary"]["content"])
    assert b"%PDF-" in pdf[:8]


def test_same_delivery_and_envelope_same_bytes() -> None:
    first = build_send_document(delivery_bundle("clozapine"), envelope())
    assert build_send_document(delivery_bundle("clozapine"), envelope()) == first


def _handling(message: dict[str, Any]) -> dict[str, Any]:
    header = resources(message)["MessageHeader"]
    (extension,) = [e for e in header["extension"] if e["url"] == itk.EXT_MESSAGE_HANDLING]
    return {e["url"]: e for e in extension["extension"]}


def _check_040(m: dict[str, Any]) -> bool:
    return _handling(m)["BusAckRequested"]["valueBoolean"] is True


def _check_041(m: dict[str, Any]) -> bool:
    return _handling(m)["InfAckRequested"]["valueBoolean"] is True


def _check_039(m: dict[str, Any]) -> bool:
    coding = _handling(m)["RecipientType"]["valueCoding"]
    return bool(coding["system"] == itk.RECIPIENT_TYPE_SYSTEM and coding["code"] == "FA")


def _check_042(m: dict[str, Any]) -> bool:
    return bool(_handling(m)["SenderReference"]["valueString"] == "del-0001")


def _check_043(m: dict[str, Any]) -> bool:
    reference = _handling(m)["MessageDefinition"]["valueReference"]["reference"]
    return bool(
        reference
        == "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-GPConnectSendDocument-MessageDefinition-Instance-1"
    )


def _check_044(m: dict[str, Any]) -> bool:
    return bool(_handling(m)["LocalExtension"]["valueString"] == "NONE")


def _check_045(m: dict[str, Any]) -> bool:
    found = resources(m)
    org = found["HeaderOrganization"]
    sender = found["MessageHeader"]["sender"]["reference"]
    return bool(
        itk.ITK_HEADER_ORGANIZATION in org["meta"]["profile"] and sender == f"urn:uuid:{org['id']}"
    )


def _check_046(m: dict[str, Any]) -> bool:
    return bool(resources(m)["MessageHeader"]["source"]["endpoint"] == "X26ABC1")


def _check_047(m: dict[str, Any]) -> bool:
    event = resources(m)["MessageHeader"]["event"]
    return bool(event["system"] == itk.EVENT_SYSTEM and event["code"] == "ITK007C")


def _check_048(m: dict[str, Any]) -> bool:
    return bool(resources(m)["MessageHeader"]["timestamp"] == "2025-01-15T10:00:00Z")


def _check_049(m: dict[str, Any]) -> bool:
    header = resources(m)["MessageHeader"]
    return "receiver" not in header and "destination" not in header


def _check_103(m: dict[str, Any]) -> bool:
    found = resources(m)
    focus = found["MessageHeader"]["focus"][0]["reference"]
    document = found["DocumentBundle"]
    return bool(
        focus == f"urn:uuid:{document['id']}"
        and itk.ITK_DOCUMENT_BUNDLE in document["meta"]["profile"]
        and document["type"] == "document"
    )


def _check_104(m: dict[str, Any]) -> bool:
    first = resources(m)["DocumentBundle"]["entry"][0]["resource"]
    return bool(
        first["resourceType"] == "Composition"
        and itk.CARECONNECT_COMPOSITION in first["meta"]["profile"]
    )


def _ref(m: dict[str, Any], resource_type: str) -> str:
    return f"urn:uuid:{resources(m)[resource_type]['id']}"


def _check_105(m: dict[str, Any]) -> bool:
    return bool(resources(m)["Composition"]["custodian"]["reference"] == _ref(m, "Organization"))


def _check_106(m: dict[str, Any]) -> bool:
    return bool(resources(m)["Composition"]["subject"]["reference"] == _ref(m, "Patient"))


def _check_108(m: dict[str, Any]) -> bool:
    found = resources(m)
    return all(found[t]["meta"]["profile"] for t in found)


def _check_109_110_112(m: dict[str, Any]) -> bool:
    (section,) = resources(m)["Composition"]["section"]
    binary = resources(m)["Binary"]
    return bool(
        section["entry"][0]["reference"] == _ref(m, "Binary")
        and itk.ITK_ATTACHMENT_BINARY in binary["meta"]["profile"]
    )


def _check_111(m: dict[str, Any]) -> bool:
    binary = resources(m)["Binary"]
    return binary["contentType"] == "application/pdf" and base64.b64decode(
        binary["content"], validate=True
    ).startswith(b"%PDF-")


def _check_028_031(m: dict[str, Any]) -> bool:
    org = resources(m)["Organization"]
    return bool(
        itk.CARECONNECT_ORGANIZATION in org["meta"]["profile"]
        and org["identifier"] == [{"system": itk.ODS_CODE, "value": "RX4"}]
        and org["name"] == "Northshire Mental Health NHS Trust"
        and {"system": "phone", "value": "0113 496 0000", "use": "work"} in org["telecom"]
    )


def _check_033(m: dict[str, Any]) -> bool:
    practitioner = resources(m)["Practitioner"]
    return bool(practitioner["name"] == [{"use": "official", "text": "Sam Patel"}])


def _check_035_037(m: dict[str, Any]) -> bool:
    patient = resources(m)["Patient"]
    (nhs,) = [i for i in patient["identifier"] if i["system"] == itk.NHS_NUMBER]
    return bool(
        itk.CARECONNECT_PATIENT in patient["meta"]["profile"]
        and nhs["value"] == "9434765919"
        and patient["name"][0]["use"] == "official"
        and patient["name"][0]["family"] == "Morgan"
        and patient["birthDate"] == "1984-03-07"
    )


def _check_038(m: dict[str, Any]) -> bool:
    patient = resources(m)["Patient"]
    routed = mesh_address(delivery_bundle("clozapine"))
    nhs = patient["identifier"][0]["value"]
    born = patient["birthDate"].replace("-", "")
    return routed == f"GPPROVIDER_{nhs}_{born}_{patient['name'][0]['family']}"


def _check_098_123_131(m: dict[str, Any]) -> bool:
    version1 = _message()
    version2 = _message(DocumentKind.CHASE_UP)
    c1, c2 = resources(version1)["Composition"], resources(version2)["Composition"]
    previous = resources(version1)["DocumentBundle"]["identifier"]["value"]
    return bool(
        c1["meta"]["versionId"] == "1"
        and "relatesTo" not in c1
        and c2["meta"]["versionId"] == "2"
        and resources(version2)["DocumentBundle"]["meta"]["versionId"] == "2"
        and c2["identifier"] == c1["identifier"] == {"system": itk.RFC4122, "value": DOCUMENT_ID}
        and c2["relatesTo"]
        == [{"code": "replaces", "targetIdentifier": {"system": itk.RFC4122, "value": previous}}]
    )


def _check_115_117(m: dict[str, Any]) -> bool:
    composition = resources(m)["Composition"]
    return bool(
        composition["status"] == "final"
        and composition["type"]["coding"][0]["code"] == "371531000"
        and composition["confidentiality"] == "N"
        and composition["date"] == "2025-01-15T10:00:00Z"
    )


# Each requirement id of GP Connect Send Document (v2.x SCAL, simplifier.net) and of ITK3
# Message Distribution v2.9.0 this file checks, with the check.
REQUIREMENTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "GPCM-SD-028/029/030/031 sender CareConnect-Organization-1: ODS, name, phone": _check_028_031,
    "GPCM-SD-033 practitioner official name": _check_033,
    "GPCM-SD-035/036/037 patient NHS number, official name, birth date": _check_035_037,
    "GPCM-SD-038 Mex-To matches the Patient": _check_038,
    "GPCM-SD-039 RecipientType FA": _check_039,
    "GPCM-SD-040 BusAckRequested true": _check_040,
    "GPCM-SD-041 InfAckRequested true": _check_041,
    "GPCM-SD-042 SenderReference": _check_042,
    "GPCM-SD-043 MessageDefinition": _check_043,
    "GPCM-SD-044 LocalExtension": _check_044,
    "GPCM-SD-045 sender is CareConnect-ITK-Header-Organization-1": _check_045,
    "GPCM-SD-046 source is the sender's MESH mailbox": _check_046,
    "GPCM-SD-047 event ITK007C": _check_047,
    "GPCM-SD-048 timestamp": _check_048,
    "GPCM-SD-049 no receiver or destination": _check_049,
    "GPCM-SD-098/123/131 later version replaces the one before": _check_098_123_131,
    "GPCM-SD-103 focus is the ITK-Document-Bundle-1": _check_103,
    "GPCM-SD-104 Composition first, CareConnect-Composition-1": _check_104,
    "GPCM-SD-105 custodian is the sending organisation": _check_105,
    "GPCM-SD-106 subject is the Patient": _check_106,
    "GPCM-SD-108 every resource has meta.profile": _check_108,
    "GPCM-SD-109/110/112 one section, its entry the ITK-Attachment-Binary-1": _check_109_110_112,
    "GPCM-SD-111 attachment base64 PDF": _check_111,
    "GPCM-SD-114/115/116/117 status, type, date, confidentiality": _check_115_117,
}


@pytest.mark.parametrize("requirement", sorted(REQUIREMENTS))
def test_the_send_document_message_meets_each_gp_connect_requirement(requirement: str) -> None:
    assert REQUIREMENTS[requirement](_message()), requirement


def test_the_requirement_list_covers_the_itk3_header_and_payload() -> None:
    ids = " ".join(REQUIREMENTS)
    for required in ("GPCM-SD-039", "GPCM-SD-040", "GPCM-SD-041", "GPCM-SD-047", "GPCM-SD-103"):
        assert required in ids


def test_the_message_header_id_is_the_envelope_message_id() -> None:
    assert resources(_message())["MessageHeader"]["id"] == MESSAGE_ID


def test_a_new_version_is_a_new_document_payload_and_a_retry_is_not() -> None:
    first = resources(_message())["DocumentBundle"]["identifier"]
    retry = resources(_message())["DocumentBundle"]["identifier"]
    later = resources(_message(DocumentKind.WITHDRAWAL, version=3))["DocumentBundle"]["identifier"]
    assert first == retry
    assert later != first


def test_a_withdrawal_is_amended_and_titled_as_withdrawn() -> None:
    composition = resources(_message(DocumentKind.WITHDRAWAL))["Composition"]
    assert composition["status"] == "amended"
    assert composition["title"].startswith("Request withdrawn")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"message_id": "not-a-uuid"}, "message_id must be a UUID"),
        ({"document_id": "x"}, "document_id must be a UUID"),
        ({"version": 0}, "version starts at 1"),
        ({"sender_mailbox": None}, "sender_mailbox"),
        ({"sender_reference": ""}, "sender_reference"),
        ({"sender_reference": "x" * 256}, "sender_reference"),
        ({"recipient_ods": "a81001; DROP"}, "ODS codes"),
        ({"inbox_url": "javascript:alert(1)"}, "inbox_url"),
    ],
)
def test_an_envelope_that_breaks_a_rule_is_refused(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build_send_document(delivery_bundle(), envelope(**changes))


def test_a_chase_up_must_be_a_later_version_with_the_original_date() -> None:
    with pytest.raises(ValueError, match="later version"):
        build_send_document(delivery_bundle(), envelope(DocumentKind.CHASE_UP, version=1))
    with pytest.raises(ValueError, match="later version"):
        build_send_document(
            delivery_bundle(), envelope(DocumentKind.CHASE_UP, original_sent_at=None)
        )


def test_a_withdrawal_needs_its_reason() -> None:
    with pytest.raises(ValueError, match="withdrawal_reason"):
        build_send_document(
            delivery_bundle(), envelope(DocumentKind.WITHDRAWAL, withdrawal_reason=None)
        )


def test_a_chase_ups_own_bundle_is_refused_with_a_hint() -> None:
    bundle = delivery_bundle()
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] == "CommunicationRequest"
    ]
    with pytest.raises(ValueError, match="request's own delivery Bundle"):
        build_send_document(bundle, envelope(DocumentKind.CHASE_UP))


@pytest.mark.parametrize("bundle", [{}, {"resourceType": "Patient"}, {"resourceType": "Bundle"}])
def test_what_is_not_a_delivery_bundle_is_refused(bundle: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Bundle"):
        build_send_document(bundle, envelope())


def test_mesh_routing_address_is_nhs_number_birth_date_and_surname() -> None:
    assert mesh_address(delivery_bundle()) == "GPPROVIDER_9434765919_19840307_Morgan"


def test_mesh_routing_needs_a_birth_date_and_a_surname_without_underscores() -> None:
    with pytest.raises(ValueError, match="birth date"):
        mesh_address(delivery_bundle(service_user=ServiceUser("9434765919", "Alex", "Morgan")))
    with pytest.raises(ValueError, match="surname"):
        mesh_address(
            delivery_bundle(
                service_user=ServiceUser("9434765919", "A", "Mor_gan", date(1984, 3, 7))
            )
        )


@pytest.mark.parametrize("kind", KINDS)
def test_mesh_subject_names_neither_patient_nor_medicine(kind: DocumentKind) -> None:
    subject = mesh_subject(envelope(kind))
    for private in ("Morgan", "Alex", "9434765919", "943 476 5919", "smok", "arenicline"):
        assert private not in subject
    assert "RX4" in subject
    assert "Version: " in subject


def test_gpcm_sd_032_the_practitioners_sds_user_id_when_known() -> None:
    practitioner = Practitioner(
        "prac-42", "Sam Patel", "sam.patel@example.org", "RX4", sds_user_id="555123456789"
    )
    message = parsed(build_send_document(delivery_bundle(practitioner=practitioner), envelope()))
    found = resources(message)["Practitioner"]
    assert found["identifier"] == [{"system": itk.SDS_USER_ID, "value": "555123456789"}]
    assert "identifier" not in resources(_message())["Practitioner"]  # unknown: left out


def test_the_nhs_number_carries_its_verification_status() -> None:
    traced = ServiceUser("9434765919", "Alex", "Morgan", date(1984, 3, 7), True)
    patient = resources(
        parsed(build_send_document(delivery_bundle(service_user=traced), envelope()))
    )["Patient"]
    (status,) = patient["identifier"][0]["extension"]
    assert status["url"] == itk.EXT_NHS_NUMBER_VERIFICATION
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "01"
    assert patient["generalPractitioner"][0]["identifier"]["value"] == "A81001"
