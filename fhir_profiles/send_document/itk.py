"""The canonical URLs and codes of an ITK3 message and of GP Connect Send Document.

Sources, each named beside what it gives:
- ITK3 Message Distribution v2.9.0 (nhsconnect.github.io/ITK3-FHIR-Messaging-Distribution):
  "Handling Specification" (explore_hand_spec), "Bundle Structures", "ITK3 Response Codes"
  (explore_response_codes) and "Response structure" (explore_response_structure);
- GP Connect Send Document v2.x (simplifier.net/guide/gp-connect-send-document): the
  Supplier Conformance Assessment List (SCAL) and the requirement pages it links (GPCM-SD-0xx),
  and the v1 requirement set of nhsconnect.github.io/gpconnect-messaging with its example
  message (`_includes/senddocument/consultation_report.xml`), whose shape v2 keeps.
"""

from typing import Final

_NHS_SD: Final = "https://fhir.nhs.uk/STU3/StructureDefinition"
_CARECONNECT_SD: Final = "https://fhir.hl7.org.uk/STU3/StructureDefinition"

# ITK3 "Bundle Structures": the message Bundle and its header.
ITK_MESSAGE_BUNDLE: Final = f"{_NHS_SD}/ITK-Message-Bundle-1"
ITK_MESSAGE_HEADER: Final = f"{_NHS_SD}/ITK-MessageHeader-2"
ITK_HEADER_ORGANIZATION: Final = f"{_NHS_SD}/CareConnect-ITK-Header-Organization-1"
ITK_DOCUMENT_BUNDLE: Final = f"{_NHS_SD}/ITK-Document-Bundle-1"
ITK_ATTACHMENT_BINARY: Final = f"{_NHS_SD}/ITK-Attachment-Binary-1"
ITK_RESPONSE_OPERATION_OUTCOME: Final = f"{_NHS_SD}/ITK-Response-OperationOutcome-1"

# ITK3 "Handling Specification": the complex extension and its keys (extension urls).
EXT_MESSAGE_HANDLING: Final = f"{_NHS_SD}/Extension-ITK-MessageHandling-2"
KEY_BUS_ACK: Final = "BusAckRequested"
KEY_INF_ACK: Final = "InfAckRequested"
KEY_RECIPIENT_TYPE: Final = "RecipientType"
KEY_MESSAGE_DEFINITION: Final = "MessageDefinition"
KEY_SENDER_REFERENCE: Final = "SenderReference"
KEY_LOCAL_EXTENSION: Final = "LocalExtension"
HANDLING_KEYS: Final = (
    KEY_BUS_ACK,
    KEY_INF_ACK,
    KEY_RECIPIENT_TYPE,
    KEY_MESSAGE_DEFINITION,
    KEY_SENDER_REFERENCE,
    KEY_LOCAL_EXTENSION,
)
# "Any String up to 255 Characters" (Handling Specification, SenderReference).
SENDER_REFERENCE_MAX: Final = 255

# CodeSystem ITK-RecipientType-1: FA "For Action" (Send Document GPCM-SD-039), FI "For
# Information" (what a response is: nothing for the original sender to act on).
RECIPIENT_TYPE_SYSTEM: Final = "https://fhir.nhs.uk/STU3/CodeSystem/ITK-RecipientType-1"
FOR_ACTION: Final = ("FA", "For Action")
FOR_INFORMATION: Final = ("FI", "For Information")

# CodeSystem ITK-MessageEvent-2: ITK007C for Send Document (GPCM-SD-047), ITK008M for the
# ITK3 Response (GPCM-SD-054).
EVENT_SYSTEM: Final = "https://fhir.nhs.uk/STU3/CodeSystem/ITK-MessageEvent-2"
EVENT_SEND_DOCUMENT: Final = ("ITK007C", "ITK GP Connect Send Document")
EVENT_RESPONSE: Final = ("ITK008M", "ITK Response")

# Send Document v2 SCAL GPCM-SD-043 (the guide's example and the v1 pages drop "-Instance").
MESSAGE_DEFINITION_SEND_DOCUMENT: Final = "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-GPConnectSendDocument-MessageDefinition-Instance-1"
# ITK3 "ITK3 Response Message Definition" (explore_itk_response_def).
MESSAGE_DEFINITION_RESPONSE: Final = (
    "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-Response-MessageDefinition-1"
)
# Send Document v2 SCAL GPCM-SD-044: LocalExtension is the fixed value NONE (v1.3.2 had
# relaxed it to any string; v1 fixed a use-case name).
LOCAL_EXTENSION: Final = "NONE"

# The identifier system of a Bundle's UUID, as the guide's example message uses it.
RFC4122: Final = "https://tools.ietf.org/html/rfc4122"

# CareConnect STU3 profiles the payload requirements name (GPCM-SD-028..038, -104..-110).
CARECONNECT_COMPOSITION: Final = f"{_CARECONNECT_SD}/CareConnect-Composition-1"
CARECONNECT_ORGANIZATION: Final = f"{_CARECONNECT_SD}/CareConnect-Organization-1"
CARECONNECT_PATIENT: Final = f"{_CARECONNECT_SD}/CareConnect-Patient-1"
CARECONNECT_PRACTITIONER: Final = f"{_CARECONNECT_SD}/CareConnect-Practitioner-1"

# Composition.type: SNOMED CT 371531000 |Report of clinical encounter|, the type the guide
# fixes for its document (GPCM-SD-115); the letter reports the practitioner's encounter with
# the service user and what it recommends.
SNOMED_CT: Final = "http://snomed.info/sct"
DOCUMENT_TYPE: Final = ("371531000", "Report of clinical encounter")
# Composition.confidentiality N (normal), GPCM-SD-117 (v3 Confidentiality code system).
CONFIDENTIALITY_NORMAL: Final = "N"

# ITK3 "Response structure": the response codes' system and the FHIR ResponseType codes.
RESPONSE_CODE_SYSTEM: Final = "https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1"
# ITK3 "Response examples", 10009: the message id a response carries when the original could
# not be read far enough to find it.
UNREADABLE_ID: Final = "UNREADABLE-IN-ORIGINAL-MESSAGE"

# Identifier systems the example message and the payload requirements use (GPCM-SD-029,
# GPCM-SD-032, GPCM-SD-035); the same URLs Liaison's R4 resources carry.
ODS_CODE: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER: Final = "https://fhir.nhs.uk/Id/nhs-number"
SDS_USER_ID: Final = "https://fhir.nhs.uk/Id/sds-user-id"
# CareConnect-Patient-1's nhsNumber slice carries its verification status (the NHS Data
# Dictionary "NHS Number Status Indicator Code", the same codes UK Core uses in R4).
EXT_NHS_NUMBER_VERIFICATION: Final = (
    f"{_CARECONNECT_SD}/Extension-CareConnect-NHSNumberVerificationStatus-1"
)
NHS_NUMBER_VERIFICATION_SYSTEM: Final = (
    "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1"
)
