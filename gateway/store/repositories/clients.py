"""Registered API clients and the client-assertion ids they have used."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.models import ApiClient, UsedAssertionJti


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, client_id: str) -> ApiClient | None:
        return self._session.get(ApiClient, client_id)

    def add(self, client: ApiClient) -> None:
        self._session.add(client)

    def list(self) -> Sequence[ApiClient]:
        return self._session.scalars(select(ApiClient).order_by(ApiClient.client_id)).all()

    def use_jti(self, *, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Record an assertion id; False when it was used before. The primary key decides,
        so two concurrent exchanges of one assertion cannot both succeed."""
        try:
            with self._session.begin_nested():
                self._session.add(
                    UsedAssertionJti(client_id=client_id, jti=jti, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True

    def prune_jtis(self, *, before: datetime) -> None:
        self._session.execute(delete(UsedAssertionJti).where(UsedAssertionJti.expires_at < before))
