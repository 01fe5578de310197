"""Queries over recommendations, their FHIR resources, timeline and idempotency keys."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from gateway.store.models import (
    FhirResource,
    FhirResourceVersion,
    IdempotencyKey,
    Recommendation,
    StatusEvent,
    table_of,
)


@dataclass(frozen=True)
class StoredVersion:
    """One version of a stored FHIR resource, as history and vread serve it."""

    version_id: int
    body: dict[str, Any]
    last_updated: datetime


class RecommendationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        # What `lock_many` locked, and in which transaction: the lock lasts until its end.
        self._held: tuple[SessionTransaction | None, dict[str, Recommendation]] = (None, {})
        # The resources `lock_many` read with the locks (their types, by recommendation):
        # under the recommendation's lock nobody else changes them (`update_resource`).
        self._held_resources: tuple[
            SessionTransaction | None, frozenset[str], dict[str, list[FhirResource]]
        ] = (None, frozenset(), {})

    def add(self, recommendation: Recommendation) -> None:
        self._session.add(recommendation)

    def get(self, recommendation_id: str) -> Recommendation | None:
        return self._session.get(Recommendation, recommendation_id)

    def lock_many(
        self, recommendation_ids: Collection[str], *, resource_types: Collection[str] = ()
    ) -> list[Recommendation]:
        """Lock several recommendations in one statement, in id order (two callers never
        hold one each while waiting for the other's), until the transaction ends;
        `get_for_update` of one of them meanwhile answers from this read. With
        `resource_types`, their resources of those types are read in one more statement,
        after the locks, and `resources_for` of them answers from it until the end."""
        if not recommendation_ids:
            return []
        stmt = (
            select(Recommendation)
            .where(Recommendation.id.in_(sorted(recommendation_ids)))
            .order_by(Recommendation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        locked = list(self._session.scalars(stmt))
        transaction = self._session.get_transaction()
        self._held = (transaction, {r.id: r for r in locked})
        if resource_types:
            ids = [r.id for r in locked]
            found = self.resources_for_many(ids, types=resource_types)
            self._held_resources = (transaction, frozenset(resource_types), found)
        return locked

    def get_for_update(self, recommendation_id: str) -> Recommendation | None:
        # Serialises concurrent status updates for one recommendation on PostgreSQL;
        # SQLite already serialises writers.
        transaction, held = self._held
        if transaction is not None and transaction is self._session.get_transaction():
            # Locked by `lock_many` in this transaction: nobody else can have changed it.
            found = held.get(recommendation_id)
            if found is not None:
                return found
        stmt = select(Recommendation).where(Recommendation.id == recommendation_id)
        # populate_existing: a row read earlier in this session is refreshed with what the
        # lock returned, so a status changed by a concurrent writer is not decided on stale.
        locked = stmt.with_for_update().execution_options(populate_existing=True)
        return self._session.scalars(locked).first()

    def search(
        self,
        *,
        organisation_ods: str | None,
        status: str | None = None,
        practice_ods: str | None = None,
        practitioner_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Sequence[Recommendation], int]:
        stmt = select(Recommendation)
        if organisation_ods is not None:
            stmt = stmt.where(Recommendation.organisation_ods == organisation_ods)
        if status:
            stmt = stmt.where(Recommendation.status == status)
        if practice_ods:
            stmt = stmt.where(Recommendation.practice_ods == practice_ods)
        if practitioner_id:
            stmt = stmt.where(Recommendation.practitioner_id == practitioner_id)
        total = self._session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = self._session.scalars(
            stmt.order_by(Recommendation.created_at.desc(), Recommendation.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total

    def at_practice_with_status(
        self, practice_ods: str, statuses: Sequence[str]
    ) -> Sequence[Recommendation]:
        """A practice's requests in `statuses` (indexed by practice and status)."""
        stmt = select(Recommendation).where(
            Recommendation.practice_ods == practice_ods, Recommendation.status.in_(statuses)
        )
        return self._session.scalars(stmt.order_by(Recommendation.created_at)).all()

    def practices_with_status(self, statuses: Sequence[str]) -> list[str]:
        stmt = (
            select(Recommendation.practice_ods)
            .where(Recommendation.status.in_(statuses))
            .distinct()
        )
        return list(self._session.scalars(stmt))

    # FHIR resources

    def add_resource(self, resource: FhirResource) -> None:
        self._forget_resources()
        self._session.add(resource)

    def insert_resources(self, rows: Sequence[dict[str, Any]]) -> None:
        """New resources (FhirResource columns) in one INSERT, past the unit of work's
        bookkeeping: for a writer that never reads them back in its transaction (intake).
        A Core executemany on the table: measured cheaper than the ORM's bulk insert and
        than one multi-row VALUES (which is compiled for each number of rows)."""
        if rows:
            self._forget_resources()
            self._session.execute(insert(table_of(FhirResource)), list(rows))

    def _forget_resources(self) -> None:
        # A resource added in this transaction is not in what `lock_many` read.
        self._held_resources = (None, frozenset(), {})

    def resources_for(
        self, recommendation_id: str, *, types: Collection[str] | None = None
    ) -> Sequence[FhirResource]:
        """The recommendation's resources (only those of `types`, when given), by type."""
        transaction, held_types, held = self._held_resources
        if (
            types is not None
            and transaction is not None
            and transaction is self._session.get_transaction()
            and recommendation_id in held
            and held_types.issuperset(types)
        ):
            return [r for r in held[recommendation_id] if r.resource_type in types]
        stmt = select(FhirResource).where(FhirResource.recommendation_id == recommendation_id)
        if types is not None:
            stmt = stmt.where(FhirResource.resource_type.in_(sorted(types)))
        return self._session.scalars(stmt.order_by(FhirResource.resource_type)).all()

    def resources_for_many(
        self, recommendation_ids: Collection[str], *, types: Collection[str]
    ) -> dict[str, list[FhirResource]]:
        """The resources of `types` of each recommendation (an empty list for one that has
        none), by type, in one statement. populate_existing: rows read earlier in this
        session are refreshed, as `lock_many` refreshes the recommendations."""
        found: dict[str, list[FhirResource]] = {r: [] for r in recommendation_ids}
        if not found:
            return found
        stmt = (
            select(FhirResource)
            .where(
                FhirResource.recommendation_id.in_(sorted(found)),
                FhirResource.resource_type.in_(sorted(types)),
            )
            .order_by(FhirResource.recommendation_id, FhirResource.resource_type)
            .execution_options(populate_existing=True)
        )
        for resource in self._session.scalars(stmt):
            found[resource.recommendation_id].append(resource)
        return found

    def get_resource(self, resource_type: str, resource_id: str) -> FhirResource | None:
        resource = self._session.get(FhirResource, resource_id)
        if resource is None or resource.resource_type != resource_type:
            return None
        return resource

    def update_resource(
        self, resource: FhirResource, body: dict[str, Any], *, now: datetime
    ) -> None:
        """Make `body` the resource's next version; the one it replaces is kept for
        history and vread. The caller holds the recommendation's row lock."""
        self._session.add(
            FhirResourceVersion(
                resource_id=resource.id,
                version_id=resource.version_id,
                resource_type=resource.resource_type,
                recommendation_id=resource.recommendation_id,
                body=resource.body,
                last_updated=resource.last_updated,
            )
        )
        resource.body = body
        resource.version_id += 1
        # lastUpdated never goes backwards, whichever machine's clock made the change.
        resource.last_updated = max(now, resource.last_updated)

    def resource_versions(self, resource: FhirResource) -> list[StoredVersion]:
        """Every version of `resource`, newest first (the current one included)."""
        stmt = (
            select(FhirResourceVersion)
            .where(FhirResourceVersion.resource_id == resource.id)
            .order_by(FhirResourceVersion.version_id.desc())
        )
        earlier = [
            StoredVersion(v.version_id, v.body, v.last_updated) for v in self._session.scalars(stmt)
        ]
        return [StoredVersion(resource.version_id, resource.body, resource.last_updated), *earlier]

    def resource_version(self, resource: FhirResource, version_id: int) -> StoredVersion | None:
        if version_id == resource.version_id:
            return StoredVersion(resource.version_id, resource.body, resource.last_updated)
        found = self._session.get(FhirResourceVersion, (resource.id, version_id))
        if found is None:
            return None
        return StoredVersion(found.version_id, found.body, found.last_updated)

    # Timeline

    def add_event(self, event: StatusEvent) -> None:
        self._session.add(event)

    def insert_event(self, **columns: Any) -> None:
        """A timeline entry inserted at once (StatusEvent columns), as `insert_resources`."""
        self._session.execute(insert(table_of(StatusEvent)), [columns])

    def timeline(
        self, recommendation_id: str, *, applied_only: bool = True
    ) -> Sequence[StatusEvent]:
        stmt = select(StatusEvent).where(StatusEvent.recommendation_id == recommendation_id)
        if applied_only:
            stmt = stmt.where(StatusEvent.applied.is_(True))
        return self._session.scalars(stmt.order_by(StatusEvent.at, StatusEvent.id)).all()

    def last_event_at(self, recommendation_id: str, status: str) -> datetime | None:
        stmt = select(func.max(StatusEvent.at)).where(
            StatusEvent.recommendation_id == recommendation_id,
            StatusEvent.status == status,
            StatusEvent.applied.is_(True),
        )
        return self._session.scalar(stmt)

    # Idempotency

    def find_idempotency_key(self, *, client_id: str, key: str) -> IdempotencyKey | None:
        stmt = select(IdempotencyKey).where(
            IdempotencyKey.client_id == client_id, IdempotencyKey.key == key
        )
        return self._session.scalars(stmt).first()

    def add_idempotency_key(self, record: IdempotencyKey) -> None:
        self._session.add(record)
