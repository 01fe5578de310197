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
    # True only when the NHS number was traced on PDS for this person (UK Core's
    # NHSNumberVerificationStatus "number-present-and-verified"); else "present but not traced".
    nhs_number_verified: bool = False


@dataclass(frozen=True)
class ProfessionalRegistration:
    """The practitioner's registration with their regulator: GMC, NMC or HCPC, and the number."""

    body: str  # "GMC" | "NMC" | "HCPC"
    number: str


@dataclass(frozen=True)
class Practitioner:
    id: str
    name: str
    email: str
    organisation_ods: str
    # Where known: the NHS Spine Directory Service ids (https://fhir.nhs.uk/Id/sds-user-id,
    # https://fhir.nhs.uk/Id/sds-role-profile-id) and the professional registration.
    sds_user_id: str | None = None
    sds_role_profile_id: str | None = None
    registration: ProfessionalRegistration | None = None


@dataclass(frozen=True)
class MedicationChoice:
    product: str  # a key of fhir_profiles.catalogue.CATALOGUE
    dose_text: str
    duration_days: int | None = None
    quantity: int | None = None  # how much to supply, when the plan says (in quantity_unit)
    quantity_unit: str | None = None


@dataclass(frozen=True)
class CurrentMedicine:
    """A medicine the service user takes now: as written, and coded when the app had a code."""

    name: str
    system: str | None = None  # systems.DMD or systems.SNOMED_CT
    code: str | None = None


@dataclass(frozen=True)
class CareTeamContact:
    """One member of the care team who hears about clinical-safety flags."""

    # "psychiatrist" | "care-coordinator" | "clozapine-clinic" (CodeSystem care-team-role)
    role: str
    name: str
    email: str


@dataclass(frozen=True)
class ConsentRecord:
    share_with_gp: bool
    notify_service_user: bool
    recorded_at: datetime


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
    # Plain names are accepted for callers that have no codes; `medicines` normalises them.
    current_medications: tuple[CurrentMedicine | str, ...] = field(default_factory=tuple)
    note: str | None = None
    consent: ConsentRecord | None = None
    # One member, or the whole team (a care coordinator, a psychiatrist, a clozapine clinic).
    care_team: CareTeamContact | tuple[CareTeamContact, ...] | None = None
    # The submitting system's own identifiers (system, value), kept on the MedicationRequest.
    source_identifiers: tuple[tuple[str, str], ...] = ()
    detected_issue_id: str | None = None  # derived from medication_request_id when not given
    # When Liaison chases the practice if nothing has happened (the Task's restriction.period).
    respond_by: datetime | None = None
    # Combination NRT: the medicines recommended with `medication` (a patch with short-acting
    # forms, fhir_profiles.combinations), each its own MedicationRequest in one group.
    additional_medications: tuple[MedicationChoice, ...] = ()

    @property
    def medications(self) -> tuple[MedicationChoice, ...]:
        """Every medicine recommended, `medication` first."""
        return (self.medication, *self.additional_medications)

    @property
    def care_team_members(self) -> tuple[CareTeamContact, ...]:
        if self.care_team is None:
            return ()
        if isinstance(self.care_team, CareTeamContact):
            return (self.care_team,)
        return self.care_team

    @property
    def medicines(self) -> tuple[CurrentMedicine, ...]:
        return tuple(
            item if isinstance(item, CurrentMedicine) else CurrentMedicine(item)
            for item in self.current_medications
        )
