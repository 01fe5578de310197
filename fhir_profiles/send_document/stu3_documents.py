"""The ITK-Document-Bundle-1 of a Send Document message, resource by resource (FHIR STU3).

Each resource is a plain dict passed through its fhir.resources STU3 model (`serialise`),
so the shape is checked by the same library the R4 side uses. Requirement ids are those of
GP Connect Send Document (SCAL, v2.x); the element choices follow the guide's example
message (nhsconnect/gpconnect-messaging, `consultation_report.xml`).
"""

import base64
import html
import uuid
from dataclasses import dataclass
from typing import Any

from fhir.resources.STU3.binary import Binary
from fhir.resources.STU3.bundle import Bundle
from fhir.resources.STU3.composition import Composition
from fhir.resources.STU3.organization import Organization
from fhir.resources.STU3.patient import Patient
from fhir.resources.STU3.practitioner import Practitioner
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from fhir_profiles.builders_common import format_nhs_number
from fhir_profiles.send_document import itk
from fhir_profiles.send_document.contract import DocumentEnvelope
from fhir_profiles.send_document.letter_text import TITLES
from fhir_profiles.send_document.request_facts import RequestFacts


def serialise(model: type[FHIRAbstractModel], data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class DocumentIds:
    """Ids of one version of one document: stable across retries of that version, new for
    the next version, so the practice sees a retry as a duplicate and a new version as a
    replacement (ITK3 20007/20008 duplicate checks; GPCM-SD-098, -123, -131)."""

    document_id: uuid.UUID
    version: int

    def of(self, part: str, version: int | None = None) -> str:
        at = self.version if version is None else version
        return str(uuid.uuid5(self.document_id, f"{part}/{at}"))

    @property
    def bundle(self) -> str:
        return self.of("document-bundle")

    @property
    def previous_bundle(self) -> str | None:
        return self.of("document-bundle", self.version - 1) if self.version > 1 else None


def _organisation(envelope: DocumentEnvelope, ids: DocumentIds) -> dict[str, Any]:
    sender = envelope.sender
    # GPCM-SD-028..031: the sending organisation, its ODS code, name and telephone.
    return serialise(
        Organization,
        {
            "resourceType": "Organization",
            "id": ids.of("organization"),
            "meta": {"profile": [itk.CARECONNECT_ORGANIZATION]},
            "identifier": [{"system": itk.ODS_CODE, "value": sender.ods_code}],
            "name": sender.name,
            "telecom": [{"system": "phone", "value": sender.telephone, "use": "work"}],
        },
    )


def _patient(facts: RequestFacts, envelope: DocumentEnvelope, ids: DocumentIds) -> dict[str, Any]:
    identifier: dict[str, Any] = {"system": itk.NHS_NUMBER, "value": facts.nhs_number}
    if facts.nhs_number_status is not None:
        code, display = facts.nhs_number_status
        identifier["extension"] = [
            {
                "url": itk.EXT_NHS_NUMBER_VERIFICATION,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": itk.NHS_NUMBER_VERIFICATION_SYSTEM,
                            "code": code,
                            "display": display,
                        }
                    ]
                },
            }
        ]
    name: dict[str, Any] = {"use": "official", "family": facts.family}
    if facts.given:
        name["given"] = facts.given.split()
    # GPCM-SD-035..037: NHS number, official name, birth date (YYYY-MM-DD).
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ids.of("patient"),
        "meta": {"profile": [itk.CARECONNECT_PATIENT]},
        "identifier": [identifier],
        "name": [name],
        # The registered practice the letter is for (the ITK3 responses come from it).
        "generalPractitioner": [
            {"identifier": {"system": itk.ODS_CODE, "value": envelope.recipient_ods}}
        ],
    }
    if facts.birth_date is not None:
        data["birthDate"] = facts.birth_date.isoformat()
    return serialise(Patient, data)


def _practitioner(facts: RequestFacts, ids: DocumentIds) -> dict[str, Any]:
    # GPCM-SD-032..034: SDS user id when known (SHOULD), official name; Liaison holds a work
    # email, not a telephone, for the practitioner (the trust's telephone is on the
    # Organization).
    data: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": ids.of("practitioner"),
        "meta": {"profile": [itk.CARECONNECT_PRACTITIONER]},
        "name": [{"use": "official", "text": facts.practitioner_name}],
    }
    if facts.practitioner_sds_user_id:
        data["identifier"] = [{"system": itk.SDS_USER_ID, "value": facts.practitioner_sds_user_id}]
    if facts.practitioner_email:
        data["telecom"] = [{"system": "email", "value": facts.practitioner_email, "use": "work"}]
    return serialise(Practitioner, data)


def _binary(pdf: bytes, ids: DocumentIds) -> dict[str, Any]:
    # GPCM-SD-110/111: the attachment, base64 in Binary.content.
    return serialise(
        Binary,
        {
            "resourceType": "Binary",
            "id": ids.of("binary"),
            "meta": {"profile": [itk.ITK_ATTACHMENT_BINARY]},
            "contentType": "application/pdf",
            "content": base64.b64encode(pdf).decode("ascii"),
        },
    )


def _narrative(facts: RequestFacts, envelope: DocumentEnvelope) -> dict[str, Any]:
    # GPCM-SD-119's summary line, with the trust in place of "seen at [location]".
    summary = (
        f"{TITLES[envelope.kind]} for {facts.patient_name}, NHS Number: "
        f"{format_nhs_number(facts.nhs_number)}, from {envelope.sender.name}, "
        f"{envelope.sender.ods_code}, Version: {envelope.version}"
    )
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(summary)}</p></div>'
    return {"status": "generated", "div": div}


def _composition(
    facts: RequestFacts, envelope: DocumentEnvelope, ids: DocumentIds, urls: dict[str, str]
) -> dict[str, Any]:
    code, display = itk.DOCUMENT_TYPE
    data: dict[str, Any] = {
        "resourceType": "Composition",
        "id": ids.of("composition"),
        # The version of the document (replacement guidance: meta.versionId).
        "meta": {"profile": [itk.CARECONNECT_COMPOSITION], "versionId": str(envelope.version)},
        "text": _narrative(facts, envelope),
        "identifier": {"system": itk.RFC4122, "value": str(ids.document_id)},
        # A later version replaces the one before: "amended" (GPCM-SD-114's note).
        "status": "final" if envelope.version == 1 else "amended",
        "type": {"coding": [{"system": itk.SNOMED_CT, "code": code, "display": display}]},
        "date": envelope.sent_at.isoformat(),  # GPCM-SD-116
        "confidentiality": itk.CONFIDENTIALITY_NORMAL,  # GPCM-SD-117
        "title": TITLES[envelope.kind],
        "subject": {"reference": urls["Patient"]},  # GPCM-SD-106
        # The practitioner (v1 GPCM-SD-121). v2's GPCM-SD-107 names the organisation, which
        # STU3 Composition.author cannot reference (Practitioner | Device | Patient |
        # RelatedPerson); the organisation is the custodian.
        "author": [{"reference": urls["Practitioner"]}],
        "custodian": {"reference": urls["Organization"]},  # GPCM-SD-105
        # GPCM-SD-109/110/112: one section per attachment, the letter first.
        "section": [{"title": TITLES[envelope.kind], "entry": [{"reference": urls["Binary"]}]}],
    }
    if ids.previous_bundle is not None:
        # GPCM-SD-123/131/132: "replaces", naming the payload it replaces.
        data["relatesTo"] = [
            {
                "code": "replaces",
                "targetIdentifier": {"system": itk.RFC4122, "value": ids.previous_bundle},
            }
        ]
    return serialise(Composition, data)


def document_bundle(
    facts: RequestFacts, envelope: DocumentEnvelope, ids: DocumentIds, pdf: bytes
) -> dict[str, Any]:
    """The ITK-Document-Bundle-1: the Composition first, then what it refers to."""
    parts = [
        _binary(pdf, ids),
        _practitioner(facts, ids),
        _organisation(envelope, ids),
        _patient(facts, envelope, ids),
    ]
    urls = {str(p["resourceType"]): f"urn:uuid:{p['id']}" for p in parts}
    resources = [_composition(facts, envelope, ids, urls), *parts]
    data: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": ids.bundle,
        # The document's version in meta (ITK-Document-Bundle-1, replacement documents).
        "meta": {"profile": [itk.ITK_DOCUMENT_BUNDLE], "versionId": str(envelope.version)},
        "identifier": {"system": itk.RFC4122, "value": ids.bundle},
        "type": "document",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    return serialise(Bundle, data)
