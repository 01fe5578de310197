"""The people a recommendation is about and from, as UK Core resources of their own: the
service user (UKCore-Patient), the practitioner (UKCore-Practitioner) and their role in
their organisation (UKCore-PractitionerRole)."""

from typing import Any

from fhir_profiles import systems
from fhir_profiles.builders_common import (
    full_name,
    narrative,
    organisation,
    party_id,
    practitioner_identifier,
    reference,
    serialise,
)
from fhir_profiles.recommendation import RecommendationFacts

# Source: CodeSystem UKCore-NHSNumberVerificationStatusEngland (UK Core R4 package; the NHS
# Data Dictionary's NHS Number Status Indicator Code), which ValueSet
# UKCore-NHSNumberVerificationStatus includes; the older UKCore-NHSNumberVerificationStatus
# code system is retired.
_VERIFIED = ("01", "Number present and verified")
_NOT_TRACED = ("02", "Number present but not traced")


def _nhs_number_identifier(facts: RecommendationFacts) -> dict[str, Any]:
    code, display = _VERIFIED if facts.service_user.nhs_number_verified else _NOT_TRACED
    return {
        "extension": [
            {
                "url": systems.UKCORE_EXT_NHS_NUMBER_VERIFICATION,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": systems.UKCORE_NHS_NUMBER_VERIFICATION,
                            "code": code,
                            "display": display,
                        }
                    ]
                },
            }
        ],
        "system": systems.NHS_NUMBER,
        "value": facts.service_user.nhs_number,
    }


def patient(facts: RecommendationFacts) -> dict[str, Any]:
    """The service user. No phone or email: the practice holds its own contact details."""
    user = facts.service_user
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": party_id(facts, "Patient"),
        "meta": {"profile": [systems.PROFILE_PATIENT, systems.UKCORE_PATIENT]},
        "text": narrative(f"{full_name(facts)}, NHS number {user.nhs_number}"),
        "identifier": [_nhs_number_identifier(facts)],
        "name": [{"use": "official", "family": user.family, "given": [user.given]}],
        # UK Core Patient carries the registered practice here.
        "generalPractitioner": [organisation(facts.gp_ods_code)],
    }
    if user.birth_date is not None:
        data["birthDate"] = user.birth_date.isoformat()
    return serialise("Patient", data)


def practitioner(facts: RecommendationFacts) -> dict[str, Any]:
    person = facts.practitioner
    identifiers = [practitioner_identifier(facts)]
    if person.sds_user_id:
        identifiers.append({"system": systems.SDS_USER_ID, "value": person.sds_user_id})
    if person.registration is not None:
        system = systems.PROFESSIONAL_REGISTERS[person.registration.body]
        identifiers.append({"system": system, "value": person.registration.number})
    data: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": party_id(facts, "Practitioner"),
        "meta": {"profile": [systems.UKCORE_PRACTITIONER]},
        "text": narrative(f"{person.name}, mental health smoking cessation practitioner"),
        "identifier": identifiers,
        "name": [{"text": person.name}],
        "telecom": [{"system": "email", "value": person.email, "use": "work"}],
    }
    return serialise("Practitioner", data)


def practitioner_role(facts: RecommendationFacts) -> dict[str, Any]:
    person = facts.practitioner
    data: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": party_id(facts, "PractitionerRole"),
        "meta": {"profile": [systems.UKCORE_PRACTITIONER_ROLE]},
        "text": narrative(
            f"{person.name}, smoking cessation practitioner at organisation "
            f"{person.organisation_ods}"
        ),
        "active": True,
        "practitioner": {
            **reference("Practitioner", party_id(facts, "Practitioner")),
            "display": person.name,
        },
        "organization": organisation(person.organisation_ods),
        "telecom": [{"system": "email", "value": person.email, "use": "work"}],
    }
    if person.sds_role_profile_id:
        data["identifier"] = [
            {"system": systems.SDS_ROLE_PROFILE_ID, "value": person.sds_role_profile_id}
        ]
    return serialise("PractitionerRole", data)
