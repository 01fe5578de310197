"""The Personal Demographics Service (PDS FHIR R4 API): who a service user is registered with.

`GET {base}/Patient/{nhs_number}` (NHSDigital/personal-demographics-service-api,
specification/personal-demographics.yaml and components/paths/patient-get.yaml):

- every request carries `X-Request-ID`, a fresh UUID (required; mirrored back), and
  `X-Correlation-ID` (optional, Liaison's correlation id); `NHSD-End-User-Organisation-ODS`
  names the mental-health organisation asking, as the spec requires of an application that
  serves several;
- 404 `RESOURCE_NOT_FOUND` / `INVALIDATED_RESOURCE`: no such patient; 400
  `INVALID_RESOURCE_ID`: not a valid NHS number. Both mean "PDS does not know this person";
- a superseded number answers with the current record, whose `id` differs from the one asked;
- a restricted record (`meta.security` code `R`, v3-Confidentiality) comes without
  `address`, `telecom` and `generalPractitioner`;
- `generalPractitioner` holds zero or one practice the patient "is, or was" registered with:
  a `period.end` in the past means the registration has ended;
- the nominated pharmacy is the `Extension-UKCore-NominatedPharmacy` extension.

Access is application-restricted: an OAuth2 access token from NHS England's API platform,
got with a signed JWT client assertion (`application_restricted_auth`). With no auth the
client talks to a server that needs no token, like NHS England's own sandbox.

Nothing this module raises or returns in an error message holds an NHS number, a name or
a birth date: the path is never quoted.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import httpx

from adapters.errors import TransientAdapterError
from adapters.http_status import error_for_status
from adapters.retry import short_retry
from adapters.smart_backend import SmartBackendAuth
from adapters.tls import shared_tls_context

FHIR_JSON: Final = "application/fhir+json"
ODS_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
CONFIDENTIALITY: Final = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
NOMINATED_PHARMACY: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy"
)
# "R" restricted; "V" very restricted is withheld at least as much.
_RESTRICTED_CODES: Final = frozenset({"R", "V"})
_ODS_CODE: Final = re.compile(r"^[0-9A-Z]{3,10}$")
# Spine error codes that mean "no patient for this number" (patient-get.yaml, 4XX table).
_UNKNOWN_CODES: Final = {
    "RESOURCE_NOT_FOUND": "PDS has no patient with this NHS number",
    "INVALIDATED_RESOURCE": "PDS has invalidated this NHS number and not superseded it",
    "INVALID_RESOURCE_ID": "PDS says this is not a valid NHS number",
}


@dataclass(frozen=True)
class PdsPatient:
    """What Liaison needs from a PDS record. Holds personal data: never log it."""

    nhs_number: str  # the number PDS answered with: the current one
    superseded: bool  # the number asked for was replaced by `nhs_number`
    birth_date: date | None
    deceased: bool
    restricted: bool
    practice: str | None  # the registered practice's ODS code, when there is a usable one
    practice_note: str | None  # why there is none (or why this one was chosen)
    nominated_pharmacy: str | None  # ODS code


@dataclass(frozen=True)
class PatientUnknown:
    """PDS does not know the NHS number (404, or 400 for an invalid one)."""

    reason: str


def read_patient(body: dict[str, Any], *, asked: str, today: date) -> PdsPatient:
    """Interpret a PDS Patient resource. Pure: `today` decides which registrations are
    current."""
    current = str(body.get("id") or asked)
    security = (body.get("meta") or {}).get("security") or []
    restricted = any(
        isinstance(s, dict)
        and s.get("system", CONFIDENTIALITY) == CONFIDENTIALITY
        and s.get("code") in _RESTRICTED_CODES
        for s in security
    )
    practice, note = _registered_practice(body.get("generalPractitioner"), today=today)
    if practice is None and restricted and note == "PDS names no registered practice":
        note = "the record is restricted: PDS withholds the registered practice"
    return PdsPatient(
        nhs_number=current,
        superseded=current != asked,
        birth_date=_date(body.get("birthDate")),
        deceased=bool(body.get("deceasedDateTime") or body.get("deceasedBoolean")),
        restricted=restricted,
        practice=practice,
        practice_note=note,
        nominated_pharmacy=_nominated_pharmacy(body.get("extension")),
    )


def _registered_practice(entries: Any, *, today: date) -> tuple[str | None, str | None]:
    if not isinstance(entries, list) or not entries:
        return None, "PDS names no registered practice"
    current: dict[str, date] = {}
    ended = False
    for entry in entries:
        identifier = entry.get("identifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, dict):
            continue
        code = identifier.get("value")
        if identifier.get("system", ODS_SYSTEM) != ODS_SYSTEM or not isinstance(code, str):
            continue
        if not _ODS_CODE.match(code):
            continue
        period = identifier.get("period") or {}
        start, end = _date(period.get("start")), _date(period.get("end"))
        if (end is not None and end < today) or (start is not None and start > today):
            ended = True
            continue
        current[code] = max(current.get(code, date.min), start or date.min)
    if not current:
        if ended:
            return None, "the registration PDS holds has ended"
        return None, "PDS names no usable registered practice"
    if len(current) == 1:
        return next(iter(current)), None
    # The spec allows one; if several come, the latest registration is the current one.
    ranked = sorted(current.items(), key=lambda item: item[1], reverse=True)
    if ranked[0][1] == ranked[1][1]:
        return None, "PDS names several registered practices and none is the latest"
    return ranked[0][0], "PDS names several registered practices: the latest was taken"


def _nominated_pharmacy(extensions: Any) -> str | None:
    for extension in extensions if isinstance(extensions, list) else []:
        if not isinstance(extension, dict) or extension.get("url") != NOMINATED_PHARMACY:
            continue
        identifier = (extension.get("valueReference") or {}).get("identifier") or {}
        code = identifier.get("value")
        if isinstance(code, str) and _ODS_CODE.match(code):
            return code
    return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def application_restricted_auth(
    *, token_url: str, api_key: str, private_key_pem: str, key_id: str
) -> SmartBackendAuth:
    """NHS England's "Application-restricted RESTful APIs - signed JWT authentication":
    a client-credentials grant with a JWT signed RS512, `iss` and `sub` the application's
    API key, `aud` the token URL, `kid` the registered public key's id, at most 5 minutes'
    life; no scope."""
    return SmartBackendAuth(
        token_url=token_url,
        client_id=api_key,
        private_key_pem=private_key_pem,
        scope=None,
        key_id=key_id,
        algorithm="RS512",
    )


class PdsClient:
    """`GET /Patient/{id}` with short retries. Close it when done."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retry_attempts: int = 3,
        retry_max_wait: float = 2.0,
        retry_give_up_after: float = 8.0,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self._base = base_url.rstrip("/")
        self._retry_attempts = retry_attempts
        self._retry_max_wait = retry_max_wait
        self._retry_give_up_after = retry_give_up_after
        self._today = today
        self._http = httpx.Client(
            headers={"Accept": FHIR_JSON},
            timeout=timeout,
            transport=transport,
            auth=auth,
            verify=shared_tls_context(),
        )

    def lookup(
        self, nhs_number: str, *, correlation_id: str | None, end_user_ods: str | None = None
    ) -> PdsPatient | PatientUnknown:
        """The patient's record, or why PDS does not know them. Raises `AdapterError`s."""
        if not nhs_number.isdigit() or len(nhs_number) != 10:
            return PatientUnknown("not a 10-digit NHS number")
        policy = short_retry(
            attempts=self._retry_attempts,
            max_wait=self._retry_max_wait,
            give_up_after=self._retry_give_up_after,
        )
        result: PdsPatient | PatientUnknown = policy(
            self._get, nhs_number, correlation_id, end_user_ods
        )
        return result

    def _get(
        self, nhs_number: str, correlation_id: str | None, end_user_ods: str | None
    ) -> PdsPatient | PatientUnknown:
        # A new X-Request-ID for every request, retries included: PDS de-duplicates on it.
        headers = {"X-Request-ID": str(uuid.uuid4())}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        if end_user_ods:
            headers["NHSD-End-User-Organisation-ODS"] = end_user_ods
        try:
            response = self._http.get(f"{self._base}/Patient/{nhs_number}", headers=headers)
        except httpx.TransportError as error:
            raise TransientAdapterError(f"PDS patient read: {type(error).__name__}") from error
        status = response.status_code
        if status == 200:
            return read_patient(_json(response), asked=nhs_number, today=self._today())
        code = _spine_code(response)
        if status in (400, 404) and code in _UNKNOWN_CODES:
            return PatientUnknown(_UNKNOWN_CODES[code])
        if status == 404:
            return PatientUnknown(_UNKNOWN_CODES["RESOURCE_NOT_FOUND"])
        what = f"PDS patient read answered {status}" + (f" {code}" if code else "")
        # 400 MISSING_VALUE / INVALID_VALUE, 401, 403 are permanent: Liaison's request or
        # access is wrong.
        raise error_for_status(status, what, retry_after=response.headers.get("Retry-After"))

    def close(self) -> None:
        self._http.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        raise TransientAdapterError("PDS answered 200 with an unreadable body") from error
    if not isinstance(body, dict) or body.get("resourceType") != "Patient":
        raise TransientAdapterError("PDS answered 200 without a Patient resource")
    return body


def _spine_code(response: httpx.Response) -> str | None:
    """The Spine error code of an OperationOutcome (issue.details.coding.code)."""
    try:
        outcome = response.json()
    except ValueError:
        return None
    if not isinstance(outcome, dict):
        return None
    for issue in outcome.get("issue") or []:
        for coding in ((issue or {}).get("details") or {}).get("coding") or []:
            code = (coding or {}).get("code")
            if isinstance(code, str):
                return code
    return None
