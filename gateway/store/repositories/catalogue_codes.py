"""dm+d codes imported from a deployment's own release, read whole (a few hundred rows)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fhir_profiles.imported_codes import ImportedCode, ImportedCodes
from gateway.store.models import CatalogueCode


class CatalogueCodeRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def imported(self) -> ImportedCodes:
        rows = self._session.scalars(select(CatalogueCode).order_by(CatalogueCode.id)).all()
        return ImportedCodes.of(
            ImportedCode(
                kind="product" if row.kind == "product" else "safety-rule",
                key=row.key,
                code=row.code,
                display=row.display,
                source=row.source,
                system=row.system,
            )
            for row in rows
        )

    def replace_all(self, codes: ImportedCodes, *, now: datetime) -> int:
        """Swap the previous import for this one (in the caller's transaction)."""
        self._session.execute(delete(CatalogueCode))
        unique = {(c.kind, c.key, c.code): c for c in codes.codes}
        self._session.add_all(
            CatalogueCode(
                kind=c.kind,
                key=c.key,
                system=c.system,
                code=c.code,
                display=c.display[:500],
                source=c.source[:200],
                imported_at=now,
            )
            for c in unique.values()
        )
        return len(unique)

    def rows(self) -> Sequence[CatalogueCode]:
        stmt = select(CatalogueCode).order_by(CatalogueCode.kind, CatalogueCode.key)
        return self._session.scalars(stmt).all()
