"""Use case: accept a FHIR-native proposal (POST /fhir/MedicationRequest).

The MedicationRequest must conform to Liaison's submission profile
(Liaison-MedicationRequest-Submission): intent `proposal`, the service user and the
practitioner as contained resources, the GP practice as the contained Patient's
generalPractitioner, consent and the plan as Liaison extensions. It is read into the same
payload the v1 API accepts and goes through the same intake (`intake.submit`), so both
doors build, store and deliver identically. The submitter's identifier is the idempotency
key: the same resource sent again answers with the first result; a different resource with
the same identifier is refused.

Commits, through intake.submit.
"""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.issues import Issue
from fhir_profiles.validation import resource_issues
from gateway.domain.errors import ErrorKind, FieldError
from gateway.domain.identifiers import email_of, nhs_number_of, ods_code_of, uk_mobile_of
from gateway.services import intake
from gateway.store.ports import UnitOfWorkPort

_LIAISON_IDS: Final = (systems.RECOMMENDATION_ID, systems.DELIVERY_ID)
# The same limits as the v1 body (gateway.api.v1.schemas), so both doors accept the same things.
_SHORT: Final = 200
_DOSE: Final = 500
_NOTE: Final = 2000
_MAX_DAYS: Final = 365
_MR: Final = "MedicationRequest"


class FhirIntakeError(intake.IntakeError):
    """The submission cannot be accepted; `issues` name every FHIRPath location at fault,
    `issue_code` the FHIR IssueType (https://hl7.org/fhir/R4/valueset-issue-type.html)."""

    def __init__(
        self,
        issues: list[Issue],
        *,
        kind: ErrorKind = ErrorKind.INVALID,
        code: str = "invalid",
    ) -> None:
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues), field=issues[0].path)
        self.issues = issues
        self.kind = kind
        self.issue_code = code

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(i.path, f"{i.path}: {i.message}") for i in self.issues]


@dataclass(frozen=True)
class FhirIntakeResult:
    recommendation_id: str
    medication_request: dict[str, Any]  # as Liaison stored it (the recommendation profile)
    created: bool


def _contained(resource: Mapping[str, Any], reference: Any) -> tuple[int, Mapping[str, Any]]:
    wanted = str(reference or "").removeprefix("#")
    for index, item in enumerate(resource.get("contained", [])):
        if item.get("id") == wanted:
            return index, item
    raise FhirIntakeError([Issue(f"{_MR}.contained", f"has no resource with id {wanted!r}")])


def _extension(node: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    return [e for e in node.get("extension", []) if e.get("url") == url]


def _sub(extension: Mapping[str, Any], url: str) -> Any:
    for item in extension.get("extension", []):
        if item.get("url") == url:
            return next(value for key, value in item.items() if key.startswith("value"))
    return None


class _Reader:
    """Reads values out of a profile-valid submission, collecting every problem found."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self.resource = resource
        self.issues: list[Issue] = []

    def check(self, path: str, value: str, parse: Callable[[str], str]) -> str:
        try:
            return parse(value)
        except ValueError as error:
            self.issues.append(Issue(path, str(error)))
            return value

    def text(self, path: str, value: Any, limit: int = _SHORT) -> str:
        text = str(value or "").strip()
        if not text:
            self.issues.append(Issue(path, "is required"))
        elif len(text) > limit:
            self.issues.append(Issue(path, f"must be at most {limit} characters"))
        return text

    def instant(self, path: str, value: Any) -> str:
        """A dateTime down to the second with its zone (a date alone says too little)."""
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.utcoffset() is None:
            self.issues.append(Issue(path, "must be a date and time with a time zone"))
            return str(value)
        return moment.isoformat()

    def service_user(self) -> tuple[dict[str, Any], str]:
        index, patient = _contained(self.resource, self.resource["subject"].get("reference"))
        at = f"{_MR}.contained[{index}]"
        nhs = self.check(
            f"{_MR}.subject.identifier.value",
            str(self.resource["subject"]["identifier"]["value"]),
            nhs_number_of,
        )
        n, name = next(
            (i, name)
            for i, name in enumerate(patient["name"])
            if name.get("given") and name.get("family")
        )
        user: dict[str, Any] = {
            "nhs_number": nhs,
            "name": {
                "given": self.text(f"{at}.name[{n}].given", " ".join(name["given"])),
                "family": self.text(f"{at}.name[{n}].family", name["family"]),
            },
        }
        if patient.get("birthDate"):
            user["birth_date"] = patient["birthDate"]
        user["contact"] = self._contact(patient, at)
        g, gp = next(
            (i, ref["identifier"]["value"])
            for i, ref in enumerate(patient["generalPractitioner"])
            if (ref.get("identifier") or {}).get("system") == systems.ODS_ORGANIZATION_CODE
        )
        ods = self.check(f"{at}.generalPractitioner[{g}].identifier.value", str(gp), ods_code_of)
        return user, ods

    def _contact(self, patient: Mapping[str, Any], at: str) -> dict[str, Any]:
        contact: dict[str, Any] = {}
        ranked: list[tuple[int, str]] = []
        for index, point in enumerate(patient.get("telecom", [])):
            where = f"{at}.telecom[{index}].value"
            value = str(point.get("value", ""))
            if point.get("system") in ("phone", "sms") and "mobile" not in contact:
                contact["mobile"] = self.check(where, value, uk_mobile_of)
                ranked.append((int(point.get("rank", 99)), "sms"))
            elif point.get("system") == "email" and "email" not in contact:
                contact["email"] = self.check(where, value, email_of)
                ranked.append((int(point.get("rank", 99)), "email"))
        # ContactPoint.rank 1 is the preferred channel; texts when nothing says otherwise.
        contact["preferred"] = min(ranked)[1] if ranked else "sms"
        return contact

    def practitioner(self, organisation_ods: str) -> dict[str, Any]:
        index, person = _contained(self.resource, self.resource["requester"].get("reference"))
        at = f"{_MR}.contained[{index}]"
        identifiers = person.get("identifier") or self.resource["requester"].get("identifier")
        identifier = identifiers[0] if isinstance(identifiers, list) else identifiers
        name = person["name"][0]
        spoken = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")])
        email = next(t for t in person["telecom"] if t.get("system") == "email")
        email_index = person["telecom"].index(email)
        return {
            "id": self.text(f"{at}.identifier[0].value", (identifier or {}).get("value")),
            "name": self.text(f"{at}.name[0]", spoken),
            "email": self.check(
                f"{at}.telecom[{email_index}].value", str(email["value"]), email_of
            ),
            "organisation_ods": organisation_ods,
        }

    def medication(self) -> dict[str, Any]:
        concept = self.resource["medicationCodeableConcept"]
        product = next(
            c["code"]
            for c in concept.get("coding", [])
            if c.get("system") == systems.MEDICATION_CATALOGUE
        )
        medication: dict[str, Any] = {
            "product": product,
            "dose_text": self.text(
                f"{_MR}.dosageInstruction[0].text",
                self.resource["dosageInstruction"][0]["text"],
                _DOSE,
            ),
        }
        supply = (self.resource.get("dispenseRequest") or {}).get("expectedSupplyDuration")
        if supply is not None:
            days = supply.get("value")
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= _MAX_DAYS:
                self.issues.append(
                    Issue(
                        f"{_MR}.dispenseRequest.expectedSupplyDuration.value",
                        f"must be a whole number of days from 1 to {_MAX_DAYS}",
                    )
                )
            medication["duration_days"] = days
        return medication

    def current_medications(self) -> list[dict[str, Any]]:
        medicines = []
        for index, extension in enumerate(self.resource.get("extension", [])):
            if extension.get("url") != systems.EXT_CURRENT_MEDICATION:
                continue
            concept = extension["valueCodeableConcept"]
            at = f"{_MR}.extension[{index}].valueCodeableConcept"
            medicine: dict[str, Any] = {"name": self.text(f"{at}.text", concept.get("text"))}
            coding = (concept.get("coding") or [None])[0]
            if coding:
                code = str(coding.get("code", ""))
                if not (code.isdigit() and 6 <= len(code) <= 18):
                    self.issues.append(
                        Issue(f"{at}.coding[0].code", "is not a dm+d or SNOMED CT id")
                    )
                medicine["code"] = {"system": coding.get("system"), "code": code}
            medicines.append(medicine)
        return medicines

    def care_team(self) -> list[dict[str, Any]]:
        team = []
        for index, found in enumerate(self.resource.get("extension", [])):
            if found.get("url") != systems.EXT_CARE_TEAM_CONTACT:
                continue
            contact = _sub(found, "contact")
            email = next(t["value"] for t in contact["telecom"] if t.get("system") == "email")
            at = f"{_MR}.extension[{index}].extension('contact').valueContactDetail"
            team.append(
                {
                    "role": _sub(found, "role"),
                    "name": self.text(f"{at}.name", contact["name"]),
                    "email": self.check(f"{at}.telecom.value", str(email), email_of),
                }
            )
        return team


def _identity(resource: Mapping[str, Any]) -> tuple[str, str]:
    """The submitter's identifier (system, value): the proposal's idempotency key."""
    issues = []
    chosen: tuple[str, str] | None = None
    for index, identifier in enumerate(resource.get("identifier", [])):
        system, value = identifier.get("system"), identifier.get("value")
        if system in _LIAISON_IDS:
            issues.append(
                Issue(
                    f"{_MR}.identifier[{index}].system", "is assigned by Liaison, not the submitter"
                )
            )
        elif chosen is None and system and value:
            chosen = (str(system), str(value))
    if chosen is None:
        issues.append(
            Issue(
                f"{_MR}.identifier",
                "needs the submitting system's own identifier (system and value)",
            )
        )
    if issues:
        raise FhirIntakeError(issues)
    assert chosen is not None
    return chosen


def read_submission(resource: Any, *, organisation_ods: str) -> dict[str, Any]:
    """The v1-shaped payload a valid submission stands for; FhirIntakeError otherwise."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != _MR:
        raise FhirIntakeError([Issue("resourceType", "must be MedicationRequest")])
    issues = resource_issues(resource, profiles=[systems.PROFILE_MEDICATION_REQUEST_SUBMISSION])
    if resource.get("status") not in (None, "active"):
        issues.append(Issue(f"{_MR}.status", "a new proposal must be 'active'"))
    if issues:
        raise FhirIntakeError(issues)
    system, value = _identity(resource)
    try:
        return _payload(resource, system, value, organisation_ods)
    except (KeyError, IndexError, StopIteration, TypeError, AttributeError) as error:
        # The profile should have caught it; refuse rather than fail with a 500.
        raise FhirIntakeError([Issue(_MR, "is not a submission Liaison can read")]) from error


def _payload(
    resource: Mapping[str, Any], system: str, value: str, organisation_ods: str
) -> dict[str, Any]:
    reader = _Reader(resource)
    service_user, gp_ods = reader.service_user()
    consent = _extension(resource, systems.EXT_CONSENT)[0]
    notes = [str(n.get("text", "")) for n in resource.get("note", []) if n.get("text")]
    payload: dict[str, Any] = {
        "service_user": service_user,
        "practitioner": reader.practitioner(organisation_ods),
        "gp_practice": {"ods_code": gp_ods},
        "medication": reader.medication(),
        "plan": _extension(resource, systems.EXT_CESSATION_PLAN)[0]["valueCode"],
        "current_medications": reader.current_medications(),
        "consent": {
            "share_with_gp": _sub(consent, "shareWithGP") is True,
            "notify_service_user": _sub(consent, "notifyServiceUser") is True,
            "recorded_at": reader.instant(
                f"{_MR}.extension('{systems.EXT_CONSENT}').extension('recordedAt').valueDateTime",
                _sub(consent, "recordedAt"),
            ),
        },
        "source_identifier": {"system": system, "value": value},
    }
    if notes:
        payload["note"] = reader.text(f"{_MR}.note", "\n".join(notes), _NOTE)
    care_team = reader.care_team()
    if care_team:
        payload["care_team"] = care_team
    if reader.issues:
        raise FhirIntakeError(reader.issues)
    return payload


def idempotency_key(system: str, value: str) -> str:
    # Hashed: an identifier can be longer than the key column, and its own namespace keeps
    # it apart from Idempotency-Key headers.
    return "fhir-identifier:" + hashlib.sha256(f"{system}|{value}".encode()).hexdigest()


def submit(
    uow: UnitOfWorkPort,
    resource: Any,
    *,
    client_id: str,
    organisation_ods: str,
    now: datetime,
) -> FhirIntakeResult:
    payload = read_submission(resource, organisation_ods=organisation_ods)
    identifier = payload["source_identifier"]
    command = intake.IntakeCommand(
        client_id=client_id,
        organisation_ods=organisation_ods,
        idempotency_key=idempotency_key(identifier["system"], identifier["value"]),
        payload=payload,
    )
    try:
        result = intake.submit(uow, command, now=now)
    except intake.IdempotencyConflict as error:
        raise FhirIntakeError(
            [Issue(f"{_MR}.identifier", "was already used for a different proposal")],
            kind=ErrorKind.CONFLICT,
            code="duplicate",
        ) from error
    except intake.UnknownPractice as error:
        index, _ = _contained(resource, resource["subject"].get("reference"))
        raise FhirIntakeError(
            [
                Issue(
                    f"{_MR}.contained[{index}].generalPractitioner[0].identifier.value",
                    "is not a practice in Liaison's practice directory",
                )
            ],
            code="not-found",
        ) from error
    stored = next(
        r
        for r in uow.recommendations.resources_for(result.recommendation_id)
        if r.resource_type == _MR
    )
    return FhirIntakeResult(
        result.recommendation_id, dict(stored.body), created=not result.replayed
    )
