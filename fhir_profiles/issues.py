"""What a failed validation reports: where (a FHIRPath-style location) and why."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    path: str  # FHIRPath-style location, e.g. "MedicationRequest.dosageInstruction[0].text"
    message: str


class InvalidResource(ValueError):
    """A resource failed structural or profile validation; `issues` says where and why."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues: list[Issue] = list(issues)
        super().__init__("; ".join(f"{issue.path}: {issue.message}" for issue in self.issues))
