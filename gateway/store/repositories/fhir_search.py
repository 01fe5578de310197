"""FHIR search over the resources Liaison stores, scoped to one organisation.

Search parameters map onto columns where they can (resource type, id, recommendation id,
last updated) and onto JSON paths that SQLAlchemy renders for both SQLite and PostgreSQL
(`status` in the resource, the NHS number and the submitter's identifier in the
recommendation). Pages are keyset pages ordered by (last updated, id), so a page boundary
does not move when new resources arrive.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, func, not_, or_, select
from sqlalchemy.orm import Session

from fhir_profiles import systems
from gateway.store.models import FhirResource, Recommendation

Comparator = Literal["eq", "ne", "gt", "ge", "lt", "le"]


@dataclass(frozen=True)
class IdentifierToken:
    system: str | None  # None: any system
    value: str


@dataclass(frozen=True)
class DateBound:
    comparator: Comparator
    low: datetime  # the search value's range, as FHIR's precision rules give it
    high: datetime  # exclusive


@dataclass(frozen=True)
class Tenant:
    """Whose resources a caller may see: a mental-health organisation's (its
    recommendations), or, for a GP practice system, those addressed to that practice."""

    organisation_ods: str
    practice_ods: str | None = None

    def condition(self) -> ColumnElement[bool]:
        if self.practice_ods is not None:
            return Recommendation.practice_ods == self.practice_ods
        return Recommendation.organisation_ods == self.organisation_ods

    def owns(self, recommendation: Recommendation) -> bool:
        if self.practice_ods is not None:
            return recommendation.practice_ods == self.practice_ods
        return recommendation.organisation_ods == self.organisation_ods


@dataclass(frozen=True)
class FhirSearch:
    resource_type: str
    tenant: Tenant
    ids: tuple[str, ...] = ()
    identifiers: tuple[IdentifierToken, ...] = ()
    nhs_numbers: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    last_updated: tuple[DateBound, ...] = ()
    after: tuple[datetime, str] | None = None  # the last (last_updated, id) of the page before
    count: int = 20


def _identifier(token: IdentifierToken, resource_type: str) -> ColumnElement[bool]:
    source = Recommendation.payload["source_identifier"]
    by_recommendation = FhirResource.recommendation_id == token.value
    # The submitter's own identifier is kept on the MedicationRequest only.
    by_source = and_(
        FhirResource.resource_type == "MedicationRequest",
        source["value"].as_string() == token.value,
    )
    if token.system is None:
        return (
            or_(by_recommendation, by_source)
            if resource_type == "MedicationRequest"
            else by_recommendation
        )
    if token.system == systems.RECOMMENDATION_ID:
        return by_recommendation
    if resource_type != "MedicationRequest":
        return false()
    return and_(by_source, source["system"].as_string() == token.system)


def date_condition(column: SQLColumnExpression[datetime], bound: DateBound) -> ColumnElement[bool]:
    """A FHIR date search value's range against a timestamp column: the one reading of the
    prefixes (https://hl7.org/fhir/R4/search.html#prefix) for every search Liaison answers."""
    match bound.comparator:
        case "eq":
            return and_(column >= bound.low, column < bound.high)
        case "ne":
            return not_(and_(column >= bound.low, column < bound.high))
        case "gt":
            return column >= bound.high
        case "ge":
            return column >= bound.low
        case "lt":
            return column < bound.low
        case "le":
            return column < bound.high
    raise ValueError(bound.comparator)


class FhirSearchRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def search(self, query: FhirSearch) -> tuple[Sequence[FhirResource], int]:
        """One page of matches and the total number of matches."""
        conditions: list[ColumnElement[bool]] = [
            FhirResource.resource_type == query.resource_type,
            query.tenant.condition(),
        ]
        if query.ids:
            conditions.append(FhirResource.id.in_(query.ids))
        if query.identifiers:
            conditions.append(
                or_(*(_identifier(t, query.resource_type) for t in query.identifiers))
            )
        if query.nhs_numbers:
            nhs = Recommendation.payload[("service_user", "nhs_number")].as_string()
            conditions.append(nhs.in_(query.nhs_numbers))
        if query.statuses:
            conditions.append(FhirResource.body["status"].as_string().in_(query.statuses))
        conditions += [date_condition(FhirResource.last_updated, b) for b in query.last_updated]
        base = (
            select(FhirResource)
            .join(Recommendation, Recommendation.id == FhirResource.recommendation_id)
            .where(*conditions)
        )
        total = self._session.scalar(select(func.count()).select_from(base.subquery())) or 0
        page = base
        if query.after is not None:
            moment, resource_id = query.after
            page = page.where(
                or_(
                    FhirResource.last_updated > moment,
                    and_(FhirResource.last_updated == moment, FhirResource.id > resource_id),
                )
            )
        page = page.order_by(FhirResource.last_updated, FhirResource.id).limit(query.count)
        return self._session.scalars(page).all(), int(total)
