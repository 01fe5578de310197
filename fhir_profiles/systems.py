"""Canonical URLs: identifier systems, code systems and profiles Liaison uses.

Each external URL's source is named beside it; the Liaison URLs are ours to define. The
definitions these URLs name are JSON under `fhir_profiles/definitions/`.
"""

from typing import Final

from fhir_profiles.canonical import canonical_base

# Liaison's own canonical base (LIAISON_FHIR__CANONICAL_BASE, a deployment's own URL).
# Profiles, code systems and identifier systems hang off it.
LIAISON_CANONICAL: Final = canonical_base()

# Source: UK Core Patient profile, NHS number slice (NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN).
NHS_NUMBER: Final = "https://fhir.nhs.uk/Id/nhs-number"
# Source: UK Core Organization profile, ODS code identifier (spelled with a z).
ODS_ORGANIZATION_CODE: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
# Source: NHS England Spine Directory Service identifiers, as UK Core Practitioner and
# PractitionerRole use them (NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN examples).
SDS_USER_ID: Final = "https://fhir.nhs.uk/Id/sds-user-id"
SDS_ROLE_PROFILE_ID: Final = "https://fhir.nhs.uk/Id/sds-role-profile-id"
# Source: UK Core Practitioner identifiers for the professional registers (same repository).
PROFESSIONAL_REGISTERS: Final = {
    "GMC": "https://fhir.hl7.org.uk/Id/gmc-number",
    "NMC": "https://fhir.hl7.org.uk/Id/nmc-number",
    "HCPC": "https://fhir.hl7.org.uk/Id/hcpc-number",
}
SNOMED_CT: Final = "http://snomed.info/sct"
# Source: UK Core medication coding (dm+d), ValueSet UKCore-MedicationCode. Codes appear only
# when a deployment imports its own dm+d release (`liaison catalogue import`).
DMD: Final = "https://dmd.nhs.uk"
# Source: NHS England Prescription Status Update API (eps-prescription-status-update-api).
PSU_BUSINESS_STATUS: Final = "https://fhir.nhs.uk/CodeSystem/task-businessStatus-nppt"
# Source: the same API: a PSU Task names the prescription in `basedOn` (the short-form
# prescription id) and the line item in `focus`, never a Liaison identifier.
PRESCRIPTION_ORDER_NUMBER: Final = "https://fhir.nhs.uk/Id/prescription-order-number"
PRESCRIPTION_ORDER_ITEM_NUMBER: Final = "https://fhir.nhs.uk/Id/prescription-order-item-number"
# Source: base FHIR R4 Task code system.
TASK_CODE: Final = "http://hl7.org/fhir/CodeSystem/task-code"
# Source: base FHIR R4 ValueSet detectedissue-category (http://hl7.org/fhir/R4/valueset-
# detectedissue-category.html), which draws its codes from HL7 v3 ActCode.
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

RECOMMENDATION_ID: Final = f"{LIAISON_CANONICAL}/Id/recommendation"
DELIVERY_ID: Final = f"{LIAISON_CANONICAL}/Id/delivery"
# One medicine's request within a combination (its MedicationRequest id).
MEDICATION_REQUEST_ID: Final = f"{LIAISON_CANONICAL}/Id/medication-request"
PRACTITIONER_ID: Final = f"{LIAISON_CANONICAL}/Id/practitioner"
LIAISON_STATUS: Final = f"{LIAISON_CANONICAL}/CodeSystem/liaison-status"
MEDICATION_CATALOGUE: Final = f"{LIAISON_CANONICAL}/CodeSystem/medication-catalogue"
CESSATION_PLAN: Final = f"{LIAISON_CANONICAL}/CodeSystem/cessation-plan"
CARE_TEAM_ROLE: Final = f"{LIAISON_CANONICAL}/CodeSystem/care-team-role"
# Task.output type used to name the pharmacy a prescription went to.
PHARMACY_OUTPUT: Final = f"{LIAISON_CANONICAL}/CodeSystem/task-output"

_SD: Final = f"{LIAISON_CANONICAL}/StructureDefinition"
PROFILE_MEDICATION_REQUEST_SUBMISSION: Final = f"{_SD}/Liaison-MedicationRequest-Submission"
PROFILE_MEDICATION_REQUEST: Final = f"{_SD}/Liaison-MedicationRequest-Recommendation"
PROFILE_COMMUNICATION_REQUEST: Final = f"{_SD}/Liaison-CommunicationRequest-PrescribingRequest"
PROFILE_TASK: Final = f"{_SD}/Liaison-Task-Fulfilment"
PROFILE_PATIENT: Final = f"{_SD}/Liaison-Patient-ServiceUser"
PROFILE_DETECTED_ISSUE: Final = f"{_SD}/Liaison-DetectedIssue-SmokingCessationInteraction"

EXT_CONSENT: Final = f"{_SD}/Extension-Liaison-ConsentToShare"
EXT_CESSATION_PLAN: Final = f"{_SD}/Extension-Liaison-CessationPlan"
EXT_CARE_TEAM_CONTACT: Final = f"{_SD}/Extension-Liaison-CareTeamContact"
EXT_CURRENT_MEDICATION: Final = f"{_SD}/Extension-Liaison-CurrentMedication"

# Source: UK Core profiles this work derives from (NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN,
# structuredefinitions/UKCore-MedicationRequest.xml 2.5.0 and UKCore-Task.xml 1.2.0).
UKCORE_MEDICATION_REQUEST: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-MedicationRequest"
)
UKCORE_TASK: Final = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Task"
UKCORE_SD: Final = "https://fhir.hl7.org.uk/StructureDefinition"
UKCORE_PATIENT: Final = f"{UKCORE_SD}/UKCore-Patient"
UKCORE_PRACTITIONER: Final = f"{UKCORE_SD}/UKCore-Practitioner"
UKCORE_PRACTITIONER_ROLE: Final = f"{UKCORE_SD}/UKCore-PractitionerRole"
UKCORE_MEDICATION: Final = f"{UKCORE_SD}/UKCore-Medication"
UKCORE_BUNDLE: Final = f"{UKCORE_SD}/UKCore-Bundle"
UKCORE_AUDIT_EVENT: Final = f"{UKCORE_SD}/UKCore-AuditEvent"
UKCORE_OPERATION_OUTCOME: Final = f"{UKCORE_SD}/UKCore-OperationOutcome"
UKCORE_EXT_NHS_NUMBER_VERIFICATION: Final = (
    f"{UKCORE_SD}/Extension-UKCore-NHSNumberVerificationStatus"
)
UKCORE_NHS_NUMBER_VERIFICATION: Final = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)

# Source: SNOMED CT 710081004 |Smoking cessation therapy (regime/therapy)|, seen in UK Core
# examples (github.com/NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN).
SCT_SMOKING_CESSATION_THERAPY: Final = "710081004"
