"""The facts of a recommendation, as the FHIR builders need them.

Plain frozen dataclasses so that builders stay pure functions of their input.
"""

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class ServiceUser:
    nhs_number: str
    given: str
    family: str
    birth_date: date | None = None


@dataclass(frozen=True)
class Practitioner:
    id: str
    name: str
    email: str
    organisation_ods: str


@dataclass(frozen=True)
class MedicationChoice:
    product: str  # a key of fhir_profiles.catalogue.CATALOGUE
    dose_text: str
    duration_days: int | None = None


@dataclass(frozen=True)
class RecommendationFacts:
    recommendation_id: str
    service_user: ServiceUser
    practitioner: Practitioner
    gp_ods_code: str
    medication: MedicationChoice
    plan: str  # "quit" | "reduce" | "temporary-abstinence"
    authored_on: datetime
    medication_request_id: str
    communication_request_id: str
    task_id: str
    current_medications: tuple[str, ...] = field(default_factory=tuple)
    note: str | None = None
