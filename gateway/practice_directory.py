"""Seeding the practice directory from a YAML file (LIAISON_PRACTICE_DIRECTORY).

Without a file, development mode gets the simulator's five scripted practices so that
`make run` works with no set-up.
"""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from gateway.settings import Settings
from gateway.store.models import Practice
from gateway.store.unit_of_work import UnitOfWork


class PracticeEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    ods_code: str = Field(pattern=r"^[A-Z0-9]{3,10}$")
    adapter: Literal["fhir", "mesh", "inbox", "simulator"]
    base_url: str | None = None
    rate_limit_per_minute: int | None = None
    chase_after_days: int = 3


class DirectoryFile(BaseModel):
    practices: list[PracticeEntry]


def dev_directory(settings: Settings) -> list[PracticeEntry]:
    return [
        PracticeEntry(
            ods_code=f"Y0000{n}", adapter="simulator", base_url=settings.simulator_base_url
        )
        for n in range(1, 6)
    ]


def load_directory(path: Path) -> list[PracticeEntry]:
    data: Any = yaml.safe_load(path.read_text())
    return DirectoryFile.model_validate(data).practices


def seed(uow: UnitOfWork, entries: list[PracticeEntry]) -> int:
    for entry in entries:
        extra = entry.model_extra or {}
        uow.practices.upsert(
            Practice(
                ods_code=entry.ods_code,
                adapter=entry.adapter,
                base_url=entry.base_url,
                config=dict(extra),
                rate_limit_per_minute=entry.rate_limit_per_minute,
                chase_after_days=entry.chase_after_days,
            )
        )
    uow.commit()
    return len(entries)


def entries_for(settings: Settings) -> list[PracticeEntry]:
    if settings.practice_directory is not None:
        return load_directory(settings.practice_directory)
    if settings.environment == "development":
        return dev_directory(settings)
    return []
