"""The text kept for a failed call to a GP system: the error, without the service user's
identifiers (gateway.domain.attempt_errors) nor anything shaped like an NHS number, phone
number or email, since attempts are shown to integration engineers."""

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from gateway.domain.attempt_errors import PersonIdentifiers, without_identifiers
from gateway.domain.retry_policy import Failure
from gateway.security.redaction import redact_shapes
from gateway.store.unit_of_work import UnitOfWork


def stored_error(uow: UnitOfWork, recommendation_id: str, error: AdapterError | None) -> str | None:
    if error is None:
        return None
    recommendation = uow.recommendations.get(recommendation_id)
    who = (
        PersonIdentifiers.of_payload(recommendation.payload)
        if recommendation is not None
        else PersonIdentifiers()
    )
    return redact_shapes(without_identifiers(str(error), who))


def failure_of(error: AdapterError) -> Failure:
    """What the retry policy needs to know of an adapter's error."""
    return Failure(
        permanent=isinstance(error, PermanentAdapterError),
        retry_after=error.retry_after if isinstance(error, RateLimited) else None,
    )
