"""The ITK3 response codes, as ITK3 Message Distribution v2.9.0 lists them.

Source: nhsconnect.github.io/ITK3-FHIR-Messaging-Distribution, "ITK3 Response Codes"
(explore_response_codes) for each code's display and whether it is positive, and "Response
structure" (explore_response_structure) for the OperationOutcome issue code each carries (20006 and
20009: "invalid", the high-level code that page names for content errors).
Prefixes 1 and 2 answer InfAckRequested (infrastructure), prefix 3 BusAckRequested
(business). Every negative code is fatal: no further response follows it.

GP Connect Send Document's requirements quote narrower ranges (GPCM-SD-040: 30001-30003,
GPCM-SD-041: 10001-20013 or 20014); the standard's later codes (20014, 20015, 30004) are
kept so a practice system that sends them is read, not rejected.
"""

from dataclasses import dataclass
from typing import Final

from fhir_profiles.send_document.contract import ResponseKind


@dataclass(frozen=True)
class ResponseCode:
    code: str
    positive: bool
    display: str
    issue_code: str  # OperationOutcome.issue.code (FHIR STU3 IssueType)

    @property
    def kind(self) -> ResponseKind:
        return ResponseKind.BUSINESS if self.code.startswith("3") else ResponseKind.INFRASTRUCTURE


def _code(code: str, positive: bool, display: str, issue_code: str) -> ResponseCode:
    return ResponseCode(code, positive, display, issue_code)


RESPONSE_CODES: Final = {
    entry.code: entry
    for entry in (
        _code("10001", False, "Handling Specification Error", "processing"),
        _code(
            "10002", False, "Infrastructure Level Response Value - Processing Error", "processing"
        ),
        _code("10003", False, "Business Level Response Value - Processing Error", "processing"),
        _code("10004", False, "Message Definition Value \u2013 Processing Error", "processing"),
        _code(
            "10005", False, "Message Definition Version Value \u2013 Processing Error", "processing"
        ),
        _code("10007", False, "Sender Reference Value - Processing Error", "processing"),
        _code("10008", False, "Handling Specification Business Rule Error", "processing"),
        _code("10009", False, "Unreadable message received", "processing"),
        _code("10010", False, "Recipient Type - Processing Error", "processing"),
        _code("20001", False, "Unrecognised Recipient Person", "not-found"),
        _code("20002", False, "Unrecognised Recipient Organisation", "not-found"),
        _code("20003", False, "Unrecognised Sender", "not-found"),
        _code("20004", False, "Non-Approved file type received as an attachment", "security"),
        _code("20005", False, "Unsupported file type received as an attachment", "security"),
        _code("20006", False, "ITK3 Header validation failure", "invalid"),
        _code("20007", False, "Duplicate Message received", "duplicate"),
        _code("20008", False, "Duplicate Document received", "duplicate"),
        _code("20009", False, "Payload validation failure", "invalid"),
        _code("20010", False, "Unrecognised Payload Recipient Organisation", "not-found"),
        _code("20011", False, "Unrecognised Payload Recipient Person", "not-found"),
        _code("20012", False, "Unauthorised Sender", "security"),
        _code("20013", True, "Success", "informational"),
        _code("20014", False, "Unable to Process Replacement Document", "processing"),
        # Not in "Response structure": the minimum mapping (fatal, processing) applies.
        _code("20015", False, "Message too large", "processing"),
        _code(
            "30001", True, "Patient known here. (e.g. Patient is registered here)", "informational"
        ),
        _code(
            "30002",
            False,
            "Patient not known here. (aka \u2018patient record not present in system\u2019)",
            "not-found",
        ),
        _code("30003", False, "Patient no longer at this clinical setting", "business-rule"),
        _code(
            "30004",
            True,
            "Patient known here and recently deceased (i.e. patient record current in GP "
            "practice system at time of patient\u2019s death and deduction subsequently occurred "
            "for this reason)",
            "informational",
        ),
    )
}

INFRASTRUCTURE_SUCCESS: Final = "20013"
BUSINESS_SUCCESS: Final = "30001"


def lookup(code: str) -> ResponseCode:
    """The code's entry; ValueError when the ITK3 response-code system has no such code."""
    entry = RESPONSE_CODES.get(code)
    if entry is None:
        # The code may come from an untrusted response: it is quoted only when it looks
        # like a code, so an error text never carries arbitrary content.
        shown = f"{code!r} " if len(code) <= 10 and code.isalnum() else ""
        raise ValueError(f"the code {shown}is not an ITK3 response code")
    return entry
