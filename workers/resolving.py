"""Before a recommendation's first delivery: ask PDS where the service user is registered and
ODS what state that practice is in, then route, stop, or wait (gateway.domain.registration).

Intake never waits on PDS: this runs in the delivery worker. PDS unreachable (or refusing
Liaison's access) keeps the delivery waiting in the database with a backoff, never lost and
never sent to a guessed practice. A per-process circuit breaker (gateway.domain.isolation)
stops a PDS outage from holding every worker in timeouts; every call is counted in metrics.
Nothing here logs or records an NHS number, a name or a birth date.
"""

import random
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from adapters.ods import OdsClient
from adapters.pds import PatientUnknown, PdsPatient
from gateway import metrics
from gateway.domain.isolation import Breaker, BreakerPolicy, admit, record_failure, record_success
from gateway.domain.registration import PatientFacts, PracticeFacts, Routed, route
from gateway.services.intake import given_practice
from gateway.services.routing import Pharmacy, apply_route, apply_stop, defer
from gateway.services.withdrawals import WITHDRAWAL

__all__ = ["Pharmacy", "breaker", "ensure_routed", "in_directory", "patient_facts"]
from gateway.correlation import current_correlation_id
from gateway.domain.delivery_states import CLAIMABLE
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime


class PdsBreaker:
    """One breaker for PDS per worker process (a national service, not a practice)."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._state = Breaker()

    def admit(self, now: datetime) -> datetime | None:
        """None: call now. Otherwise when to try again."""
        with self._lock:
            admission = admit(self._state, self._policy, now=now)
            self._state = admission.breaker
        return None if admission.allowed else admission.retry_at or now

    def record(self, error: AdapterError | None, now: datetime) -> None:
        healthy = error is None or isinstance(error, PermanentAdapterError | RateLimited)
        with self._lock:
            self._state = (
                record_success(self._state)
                if healthy
                else record_failure(self._state, self._policy, now=now)
            )


_BREAKER = PdsBreaker(BreakerPolicy(failure_threshold=5, open_seconds=30, probe_lease_seconds=60))


def breaker() -> PdsBreaker:
    return _BREAKER


@dataclass(frozen=True)
class _Asked:
    recommendation_id: str
    nhs_number: str
    birth_date: date | None
    given_ods: str | None
    organisation_ods: str
    waits: int


def _now() -> datetime:
    return datetime.now(UTC)


def ensure_routed(rt: Runtime, delivery_id: str) -> str | None:
    """None: the delivery may go (routed now, before, PDS is off, or it is a withdrawal,
    which goes where its request went whatever PDS says now). Otherwise the outcome:
    "waiting" (PDS or ODS will be asked again) or "stopped"."""
    pds = rt.pds()
    if pds is None:
        return None
    asked = _to_ask(rt, delivery_id, _now())
    if asked is None:
        return None
    retry_at = breaker().admit(_now())
    if retry_at is not None:
        return _wait(rt, delivery_id, "PDS keeps failing (circuit open)", retry_at)
    try:
        answer = pds.lookup(
            asked.nhs_number,
            correlation_id=current_correlation_id(),
            end_user_ods=asked.organisation_ods,
        )
        error: AdapterError | None = None
    except AdapterError as failure:
        error = failure
    breaker().record(error, _now())
    metrics.record_lookup("pds", error)
    if error is not None:
        return _wait(rt, delivery_id, f"PDS: {error}", _backoff(rt, asked.waits, error))
    assert answer is not None
    ods = rt.ods()
    try:
        decision = route(
            patient_facts(answer),
            given_ods=asked.given_ods,
            given_birth_date=asked.birth_date,
            lookup=(lambda code: practice_facts(ods, code)) if ods is not None else None,
            in_directory=lambda code: in_directory(rt, code),
        )
    except AdapterError as failure:
        return _wait(rt, delivery_id, f"ODS: {failure}", _backoff(rt, asked.waits, failure))
    pharmacy = pharmacy_of(ods, answer)
    with UnitOfWork(rt.session_factory) as uow:
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None or delivery.state not in CLAIMABLE:
            return None
        # Under the recommendation's lock: a twin task that routed it first has the last word.
        uow.recommendations.get_for_update(delivery.recommendation_id)
        if uow.registrations.routed(delivery.recommendation_id) is not None:
            return None
        now = _now()
        if isinstance(decision, Routed):
            current = answer.nhs_number if isinstance(answer, PdsPatient) else None
            apply_route(
                uow, delivery, decision, current_nhs_number=current, pharmacy=pharmacy, now=now
            )
            uow.commit()
            return None
        apply_stop(uow, delivery, decision, now=now)
        uow.commit()
    return "stopped"


def _to_ask(rt: Runtime, delivery_id: str, now: datetime) -> _Asked | None:
    with UnitOfWork(rt.session_factory) as uow:
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None or delivery.state not in CLAIMABLE:
            return None
        if delivery.purpose == WITHDRAWAL:
            return None
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None
        if uow.registrations.routed(delivery.recommendation_id) is not None:
            return None  # routed before (a retry, a replay): the claim decides
        recommendation = uow.recommendations.get(delivery.recommendation_id)
        assert recommendation is not None
        user = recommendation.payload["service_user"]
        birth = user.get("birth_date")
        return _Asked(
            recommendation_id=recommendation.id,
            nhs_number=str(user["nhs_number"]),
            birth_date=date.fromisoformat(birth) if birth else None,
            given_ods=given_practice(recommendation.payload),
            organisation_ods=recommendation.organisation_ods,
            waits=uow.registrations.waits(delivery_id),
        )


def patient_facts(answer: PdsPatient | PatientUnknown) -> PatientFacts:
    if isinstance(answer, PatientUnknown):
        return PatientFacts(unknown_reason=answer.reason)
    return PatientFacts(
        birth_date=answer.birth_date,
        deceased=answer.deceased,
        restricted=answer.restricted,
        practice=answer.practice,
        practice_note=answer.practice_note,
        superseded=answer.superseded,
    )


def practice_facts(ods: OdsClient, code: str) -> PracticeFacts | None:
    try:
        found = ods.organisation(code)
    except AdapterError as error:
        metrics.record_lookup("ods", error)
        raise
    metrics.record_lookup("ods", None)
    if found is None:
        return None
    return PracticeFacts(
        ods_code=found.ods_code,
        active=found.active,
        name=found.name,
        telephone=found.telephone,
        successor=found.successor,
    )


def pharmacy_of(ods: OdsClient | None, answer: PdsPatient | PatientUnknown) -> Pharmacy | None:
    if not isinstance(answer, PdsPatient) or answer.nominated_pharmacy is None:
        return None
    name = None
    if ods is not None:
        try:
            found = ods.organisation(answer.nominated_pharmacy)
            name = found.name if found is not None and found.active else None
        except AdapterError:
            name = None  # the pharmacy's name is a courtesy: never a reason to wait
    return Pharmacy(answer.nominated_pharmacy, name)


def in_directory(rt: Runtime, code: str) -> bool:
    with UnitOfWork(rt.session_factory) as uow:
        return uow.practices.get(code) is not None


def _backoff(rt: Runtime, waits: int, error: AdapterError) -> datetime:
    base = rt.settings.pds.retry_base_seconds
    cap = rt.settings.pds.retry_cap_seconds
    seconds = min(cap, base * 2 ** min(waits, 16)) * (0.5 + random.random() / 2)
    if isinstance(error, RateLimited):
        seconds = max(seconds, error.retry_after)
    return _now() + timedelta(seconds=seconds)


def _wait(rt: Runtime, delivery_id: str, reason: str, retry_at: datetime) -> str:
    with UnitOfWork(rt.session_factory) as uow:
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None or delivery.state not in CLAIMABLE:
            return "skipped"
        defer(uow, delivery, reason, retry_at=retry_at, now=_now())
        uow.commit()
    return "waiting"
