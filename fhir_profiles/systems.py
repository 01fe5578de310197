"""Canonical URLs: identifier systems, code systems and profiles Liaison uses.

Each external URL's source is named beside it; the Liaison URLs are ours to define.
"""

from typing import Final

# Liaison's own canonical base. Profiles, code systems and identifier systems hang off it.
LIAISON_CANONICAL: Final = "https://liaison.example.org/fhir"

# Source: UK Core Patient profile, NHS number slice (NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN).
NHS_NUMBER: Final = "https://fhir.nhs.uk/Id/nhs-number"
# Source: UK Core Organization profile, ODS code identifier (spelled with a z).
ODS_ORGANIZATION_CODE: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED_CT: Final = "http://snomed.info/sct"
# Source: UK Core medication coding (dm+d). Not used until a code is verified from a named source.
DMD: Final = "https://dmd.nhs.uk"
# Source: NHS England Prescription Status Update API (eps-prescription-status-update-api).
PSU_BUSINESS_STATUS: Final = "https://fhir.nhs.uk/CodeSystem/task-businessStatus-nppt"
# Source: base FHIR R4 Task code system.
TASK_CODE: Final = "http://hl7.org/fhir/CodeSystem/task-code"

RECOMMENDATION_ID: Final = f"{LIAISON_CANONICAL}/Id/recommendation"
DELIVERY_ID: Final = f"{LIAISON_CANONICAL}/Id/delivery"
PRACTITIONER_ID: Final = f"{LIAISON_CANONICAL}/Id/practitioner"
LIAISON_STATUS: Final = f"{LIAISON_CANONICAL}/CodeSystem/liaison-status"
MEDICATION_CATALOGUE: Final = f"{LIAISON_CANONICAL}/CodeSystem/medication-catalogue"
# Task.output type used to name the pharmacy a prescription went to.
PHARMACY_OUTPUT: Final = f"{LIAISON_CANONICAL}/CodeSystem/task-output"

PROFILE_MEDICATION_REQUEST: Final = (
    f"{LIAISON_CANONICAL}/StructureDefinition/Liaison-MedicationRequest-Recommendation"
)
PROFILE_COMMUNICATION_REQUEST: Final = (
    f"{LIAISON_CANONICAL}/StructureDefinition/Liaison-CommunicationRequest-PrescribingRequest"
)
PROFILE_TASK: Final = f"{LIAISON_CANONICAL}/StructureDefinition/Liaison-Task-Fulfilment"

# Source: SNOMED CT 710081004 |Smoking cessation therapy (regime/therapy)|, seen in UK Core
# examples (REFERENCE.md, shared/).
SCT_SMOKING_CESSATION_THERAPY: Final = "710081004"
