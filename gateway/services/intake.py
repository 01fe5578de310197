"""Use case: accept a practitioner's recommendation.

One transaction holds the recommendation, its FHIR resources, the delivery, the first
timeline entry, the outbox row and the idempotency key: a 202 means all are committed.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from fhir_profiles.builders import ResourceSet, build_resources
from fhir_profiles.recommendation import (
    CareTeamContact,
    ConsentRecord,
    CurrentMedicine,
    MedicationChoice,
    Practitioner,
    ProfessionalRegistration,
    RecommendationFacts,
    ServiceUser,
)
from gateway.domain import delivery_states
from gateway.domain.audience import care_team_members
from gateway.domain.chase_policy import WorkingDays
from gateway.domain.errors import ErrorKind, LiaisonError
from gateway.services.status_updates import record_event
from gateway.store.models import IdempotencyKey, Recommendation
from gateway.store.ports import UnitOfWorkPort

# Shape-valid ODS code the resources are checked with while the practice is unknown; never
# stored or sent (gateway.services.routing builds the real ones).
UNROUTED_PLACEHOLDER = "X00000"


class IntakeError(LiaisonError):
    """The request cannot be accepted as it is; `field` names what is wrong."""

    kind = ErrorKind.INVALID
    title = "Request refused"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownPractice(IntakeError):
    pass


class IdempotencyConflict(IntakeError):
    pass


@dataclass(frozen=True)
class IntakeCommand:
    client_id: str
    organisation_ods: str
    idempotency_key: str | None
    payload: dict[str, Any]  # the validated request body, JSON-ready
    predecessor_id: str | None = None  # set when re-opening (gateway.services.reengagement)
    # The worker routes by the practice PDS names (workers.resolving): the practitioner's
    # ODS code is then optional, and one Liaison does not know is kept only as given.
    registered_practice_from_pds: bool = False


@dataclass(frozen=True)
class IntakeResult:
    recommendation_id: str
    status: str
    replayed: bool
    # (resource type, id) of the FHIR resources stored now; empty for a replay.
    stored: tuple[tuple[str, str], ...] = ()


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def given_practice(payload: dict[str, Any]) -> str | None:
    """The ODS code the practitioner gave, if any (PDS has the last word: registration)."""
    practice = payload.get("gp_practice") or {}
    code = practice.get("ods_code")
    return str(code) if code else None


def facts_from_payload(
    payload: dict[str, Any],
    *,
    recommendation_id: str,
    authored_on: datetime,
    gp_ods_code: str | None = None,
    respond_by: datetime | None = None,
) -> RecommendationFacts:
    """`gp_ods_code`: the practice the resources are addressed to (default: the one given)."""
    user = payload["service_user"]
    practitioner = payload["practitioner"]
    medication = payload["medication"]
    birth = user.get("birth_date")
    return RecommendationFacts(
        recommendation_id=recommendation_id,
        service_user=ServiceUser(
            nhs_number=user["nhs_number"],
            given=user["name"]["given"],
            family=user["name"]["family"],
            birth_date=date.fromisoformat(birth) if birth else None,
        ),
        practitioner=Practitioner(
            id=practitioner["id"],
            name=practitioner["name"],
            email=practitioner["email"],
            organisation_ods=practitioner["organisation_ods"],
            sds_user_id=practitioner.get("sds_user_id"),
            sds_role_profile_id=practitioner.get("sds_role_profile_id"),
            registration=(
                ProfessionalRegistration(**practitioner["registration"])
                if practitioner.get("registration")
                else None
            ),
        ),
        gp_ods_code=gp_ods_code or given_practice(payload) or UNROUTED_PLACEHOLDER,
        medication=_choice(medication),
        # Combination NRT: the other medicines, each its own MedicationRequest in one group.
        additional_medications=tuple(_choice(m) for m in payload.get("combination") or ()),
        plan=payload["plan"],
        authored_on=authored_on,
        # Derived from the recommendation id so a rebuilt resource keeps its id.
        medication_request_id=str(uuid.uuid5(uuid.UUID(recommendation_id), "MedicationRequest")),
        communication_request_id=str(
            uuid.uuid5(uuid.UUID(recommendation_id), "CommunicationRequest")
        ),
        task_id=str(uuid.uuid5(uuid.UUID(recommendation_id), "Task")),
        current_medications=tuple(
            CurrentMedicine(m["name"], *_coding(m)) for m in payload.get("current_medications", [])
        ),
        note=payload.get("note"),
        consent=ConsentRecord(
            share_with_gp=payload["consent"]["share_with_gp"],
            notify_service_user=payload["consent"].get("notify_service_user", False),
            recorded_at=datetime.fromisoformat(payload["consent"]["recorded_at"]),
        ),
        care_team=tuple(CareTeamContact(**member) for member in care_team_members(payload)),
        source_identifiers=tuple(
            (i["system"], i["value"]) for i in [payload.get("source_identifier")] if i
        ),
        respond_by=respond_by,
    )


def _choice(medication: dict[str, Any]) -> MedicationChoice:
    return MedicationChoice(
        product=medication["product"],
        dose_text=medication["dose_text"],
        duration_days=medication.get("duration_days"),
    )


def chase_deadline(uow: UnitOfWorkPort, ods: str | None, authored_on: datetime) -> datetime | None:
    """When Liaison starts chasing the practice: its own chase_after_days working days on
    (the Task's restriction.period.end); None while the practice is not known."""
    practice = uow.practices.get(ods) if ods else None
    if practice is None:
        return None
    return WorkingDays().add(authored_on, practice.chase_after_days)


def _coding(medicine: dict[str, Any]) -> tuple[str | None, str | None]:
    code = medicine.get("code") or {}
    return code.get("system"), code.get("code")


def _replay(uow: UnitOfWorkPort, command: IntakeCommand, digest: str) -> IntakeResult | None:
    if command.idempotency_key is None:
        return None
    record = uow.recommendations.find_idempotency_key(
        client_id=command.client_id, key=command.idempotency_key
    )
    if record is None:
        return None
    if record.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body",
            field="Idempotency-Key",
        )
    existing = uow.recommendations.get(record.recommendation_id)
    assert existing is not None
    return IntakeResult(existing.id, existing.status, replayed=True)


def _practice_to_start_with(uow: UnitOfWorkPort, command: IntakeCommand) -> str | None:
    """The practice the request is addressed to until PDS is asked (None: not known yet)."""
    ods = given_practice(command.payload)
    known = ods is not None and uow.practices.get(ods) is not None
    if command.registered_practice_from_pds:
        return ods if known else None
    if ods is None:
        raise IntakeError(
            "the GP practice's ODS code is required: this deployment does not look up the "
            "registered practice (PDS is not configured)",
            field="gp_practice.ods_code",
        )
    if not known:
        raise UnknownPractice(
            f"no GP practice with ODS code {ods} in the practice directory",
            field="gp_practice.ods_code",
        )
    return ods


def submit(uow: UnitOfWorkPort, command: IntakeCommand, *, now: datetime) -> IntakeResult:
    digest = request_hash(command.payload)
    replayed = _replay(uow, command, digest)
    if replayed:
        return replayed
    ods = _practice_to_start_with(uow, command)
    recommendation_id = str(uuid.uuid4())
    facts = facts_from_payload(
        command.payload,
        recommendation_id=recommendation_id,
        authored_on=now,
        # Not known yet: the resources are checked now, addressed to a placeholder, and are
        # built for real and stored once the worker has the registered practice.
        gp_ods_code=ods or UNROUTED_PLACEHOLDER,
        respond_by=chase_deadline(uow, ods, now),
    )
    # build_resources validates each resource against its profile and base R4 and raises
    # InvalidResource on a builder bug: nothing invalid is ever stored or sent.
    resources = build_resources(facts, imported=uow.catalogue_codes.imported())
    recommendation = _add_recommendation(uow, command, facts, resources, ods=ods, now=now)
    if ods is not None:
        _add_resources(uow, resources, recommendation_id, now=now)
    _add_delivery_and_first_event(uow, recommendation_id, ods=ods, now=now)
    if resources.detected_issue is not None:
        # The care team hears in the same transaction: the flag cannot be lost.
        record_event(uow, recommendation, "clinical-safety-flag", now=now)
    if command.idempotency_key is not None:
        _add_idempotency_key(uow, command, command.idempotency_key, digest, recommendation_id, now)
    stored = tuple((r["resourceType"], r["id"]) for r in resources.all()) if ods else ()
    return _commit_or_replay(uow, command, digest, recommendation_id, stored)


def _add_recommendation(
    uow: UnitOfWorkPort,
    command: IntakeCommand,
    facts: RecommendationFacts,
    resources: ResourceSet,
    *,
    ods: str | None,
    now: datetime,
) -> Recommendation:
    payload = command.payload
    if resources.detected_issue is not None:
        # Travels with the recommendation so every message about the flag can quote it.
        flag = resources.detected_issue
        payload = {**payload, "clinical_safety": {k: flag[k] for k in ("severity", "detail")}}
    recommendation = Recommendation(
        id=facts.recommendation_id,
        organisation_ods=command.organisation_ods,
        client_id=command.client_id,
        practitioner_id=facts.practitioner.id,
        practice_ods=ods,
        product=facts.medication.product,
        status="received",
        payload=payload,
        predecessor_id=command.predecessor_id,
        created_at=now,
        updated_at=now,
    )
    uow.recommendations.add(recommendation)
    uow.flush()
    return recommendation


def _add_resources(
    uow: UnitOfWorkPort, resources: ResourceSet, recommendation_id: str, *, now: datetime
) -> None:
    # One INSERT for all of them, without ORM objects: nothing reads them back before commit.
    uow.recommendations.insert_resources(
        [
            {
                "id": body["id"],
                "resource_type": body["resourceType"],
                "recommendation_id": recommendation_id,
                "body": body,
                "last_updated": now,
            }
            for body in resources.all()
        ]
    )


def _add_delivery_and_first_event(
    uow: UnitOfWorkPort, recommendation_id: str, *, ods: str | None, now: datetime
) -> None:
    """The pending delivery, the first timeline entry and the outbox row that starts the worker."""
    delivery_id = str(uuid.uuid4())
    # Inserted at once, without ORM objects (the unit of work's bookkeeping cost more than
    # the statements): nothing in this transaction touches them again.
    uow.deliveries.insert(
        id=delivery_id,
        external_id=delivery_id,
        recommendation_id=recommendation_id,
        practice_ods=ods,
        state=delivery_states.MACHINE.initial.value,
        created_at=now,
        updated_at=now,
    )
    uow.recommendations.insert_event(
        recommendation_id=recommendation_id,
        status="received",
        source="intake",
        detail=None,
        applied=True,
        at=now,
    )
    uow.outbox.insert(kind="deliver", ref_id=delivery_id)


def _add_idempotency_key(
    uow: UnitOfWorkPort,
    command: IntakeCommand,
    key: str,
    digest: str,
    recommendation_id: str,
    now: datetime,
) -> None:
    uow.recommendations.add_idempotency_key(
        IdempotencyKey(
            client_id=command.client_id,
            key=key,
            request_hash=digest,
            recommendation_id=recommendation_id,
            created_at=now,
        )
    )


def _commit_or_replay(
    uow: UnitOfWorkPort,
    command: IntakeCommand,
    digest: str,
    recommendation_id: str,
    stored: tuple[tuple[str, str], ...],
) -> IntakeResult:
    try:
        uow.commit()
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        uow.rollback()
        replayed = _replay(uow, command, digest)
        if replayed is None:
            raise
        return replayed
    return IntakeResult(recommendation_id, "received", replayed=False, stored=stored)
