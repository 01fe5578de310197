"""Request and response bodies of the v1 REST API. Validation here names the field."""

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
)

from fhir_profiles.catalogue import CATALOGUE, find_product
from fhir_profiles.combinations import MAX_MEDICINES, combination_problem
from gateway.api.error_wording import offered_products
from gateway.api.text_rules import ShortText, plain_text
from gateway.domain.identifiers import nhs_number_of, ods_code_of, uk_mobile_of


def _known_product(value: str) -> str:
    if find_product(value) is None:
        raise ValueError(
            f"unknown medicine {value[:60]!r}: not in Liaison's catalogue; offered: "
            f"{offered_products()}"
        )
    return value


NhsNumber = Annotated[str, AfterValidator(nhs_number_of)]
OdsCode = Annotated[str, AfterValidator(ods_code_of)]
UkMobile = Annotated[str, AfterValidator(uk_mobile_of)]
ProductKey = Annotated[str, AfterValidator(_known_product)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class PersonName(Strict):
    given: ShortText
    family: ShortText


class Contact(Strict):
    mobile: UkMobile | None = None
    email: EmailStr | None = None
    preferred: Literal["sms", "email"] = "sms"


class ServiceUserIn(Strict):
    nhs_number: NhsNumber
    name: PersonName
    birth_date: date | None = None
    contact: Contact = Field(default_factory=Contact)


# NHS Spine Directory Service ids are numeric (https://fhir.nhs.uk/Id/sds-user-id,
# https://fhir.nhs.uk/Id/sds-role-profile-id).
SdsId = Annotated[str, Field(pattern=r"^[0-9]{6,20}$")]


class RegistrationIn(Strict):
    """The practitioner's professional registration (UK Core Practitioner identifiers)."""

    body: Literal["GMC", "NMC", "HCPC"]
    number: Annotated[str, Field(pattern=r"^[A-Z0-9]{4,12}$")]


class PractitionerIn(Strict):
    id: ShortText
    name: ShortText
    email: EmailStr
    organisation_ods: OdsCode
    sds_user_id: SdsId | None = None
    sds_role_profile_id: SdsId | None = None
    registration: RegistrationIn | None = None


class PracticeRef(Strict):
    ods_code: OdsCode


class MedicationIn(Strict):
    product: ProductKey
    dose_text: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(plain_text)]
    duration_days: Annotated[int, Field(ge=1, le=365)] | None = None


class MedicineCode(Strict):
    """A dm+d or SNOMED CT code for a current medicine, when the app has one."""

    system: Literal["https://dmd.nhs.uk", "http://snomed.info/sct"]
    code: Annotated[str, Field(pattern=r"^[0-9]{6,18}$")]


class CurrentMedication(Strict):
    name: ShortText
    # Clinical-safety flags match by code where given, and by name either way.
    code: MedicineCode | None = None


class CareTeamContactIn(Strict):
    """One member of the care team told about clinical-safety flags."""

    role: Literal["psychiatrist", "care-coordinator", "clozapine-clinic"]
    name: ShortText
    email: EmailStr


# A team rarely has more than a coordinator, a psychiatrist and a clinic; ten bounds the
# emails one recommendation can send.
MAX_CARE_TEAM: Final = 10


def _team_of_one(value: object) -> object:
    # Clients written before the care team became a list send one member as an object.
    return [value] if isinstance(value, dict) else value


CareTeam = Annotated[
    list[CareTeamContactIn],
    Field(
        max_length=MAX_CARE_TEAM,
        description=(
            "Everyone in the mental-health care team told of a clinical-safety flag, one email "
            "per address. A single member object is still accepted, read as a list of one."
        ),
    ),
    BeforeValidator(_team_of_one),
]


class Consent(Strict):
    share_with_gp: Literal[True] = Field(
        description="Must be true: Liaison shares nothing with the GP without consent."
    )
    notify_service_user: bool = False
    # With its zone: the GP sees when consent was given, and a guessed zone could misdate it.
    recorded_at: AwareDatetime


class RecommendationIn(Strict):
    service_user: ServiceUserIn
    practitioner: PractitionerIn
    # Optional: the worker asks PDS for the registered practice, which wins over this one.
    gp_practice: PracticeRef | None = None
    medication: MedicationIn
    # Combination NRT (NICE NG209): the medicines recommended with `medication`, each its
    # own MedicationRequest in one group; the catalogue's rule says which go together.
    combination: Annotated[
        list[MedicationIn],
        Field(
            max_length=MAX_MEDICINES - 1,
            description=(
                "Combination NRT: up to two more medicines recommended with `medication`, "
                "which is then the patch (a long-acting NRT form) and these the short-acting "
                "forms (gum, lozenge, inhalator, mouth or nasal spray), one strength of each "
                "form. Varenicline and bupropion are recommended alone. Each medicine is its "
                "own MedicationRequest, sharing one groupIdentifier."
            ),
        ),
    ] = []
    plan: Literal["quit", "reduce", "temporary-abstinence"]
    current_medications: Annotated[list[CurrentMedication], Field(max_length=50)] = []
    consent: Consent
    note: Annotated[str, Field(max_length=2000), AfterValidator(plain_text)] | None = None
    care_team: CareTeam | None = None

    @field_validator("combination")
    @classmethod
    def _combination_goes_together(
        cls, value: list[MedicationIn], info: ValidationInfo
    ) -> list[MedicationIn]:
        first = info.data.get("medication")
        if not value or not isinstance(first, MedicationIn):
            return value  # nothing combined, or `medication` itself is refused already
        products = [CATALOGUE[item.product] for item in (first, *value)]
        problem = combination_problem(products)
        if problem is not None:
            raise ValueError(f"these medicines cannot be recommended together: {problem}")
        return value

    def as_payload(self) -> dict[str, Any]:
        """The body as stored and hashed for idempotency: without an empty `combination`, so
        a single-medicine request is the same payload it was before combinations existed (an
        Idempotency-Key used then still matches)."""
        payload = self.model_dump(mode="json")
        if not payload["combination"]:
            del payload["combination"]
        return payload


class Links(BaseModel):
    self: str
    fhir: dict[str, str] = {}


class Accepted(BaseModel):
    id: str
    status: str
    links: Links


class TimelineEntry(BaseModel):
    at: datetime
    status: str
    detail: str | None


class NotificationOut(BaseModel):
    recipient: Literal["practitioner", "service-user", "care-team", "case-management"]
    channel: str
    event: str
    # held: waiting for the practitioner's daily digest; superseded: not sent because the
    # recommendation moved on and it no longer held (see `reason`)
    status: Literal["pending", "sending", "sent", "failed", "suppressed", "held", "superseded"]
    at: datetime
    # Why it was suppressed or superseded (never personal data).
    reason: str | None = None
    # Not sent before this (quiet hours for texts, a digest's time, a retry's backoff).
    not_before: datetime | None = None
    # For the care team: which member (their index in `care_team`) this message is for.
    member: int | None = None
    # Where it stands, in a sentence for people ("SMS to the service user held until 08:00
    # (quiet hours)"); UK times; never an address.
    explanation: str | None = Field(
        default=None,
        description="Where this message stands, in a sentence to show a person, UK times: "
        "'SMS to the service user held until 08:00 (quiet hours)', 'Email to the "
        "practitioner sent at 21:04', 'Email to the practitioner not sent: ...'.",
    )


class ChainLink(BaseModel):
    """One recommendation in a re-engagement chain (oldest first)."""

    id: str
    status: str
    created_at: datetime


class ChaseUpOut(BaseModel):
    number: int
    state: Literal["pending", "sending", "sent", "failed", "stopped"]
    created_at: datetime
    sent_at: datetime | None


class AttemptsSummary(BaseModel):
    deliveries: int
    attempts: int
    state: str | None
    last_error: str | None
    next_attempt_at: datetime | None


class RoutingOut(BaseModel):
    """Where the worker routed the recommendation, after asking PDS (and ODS)."""

    ods_code: str
    name: str | None
    telephone: str | None
    # What the practitioner gave, and whether PDS's registered practice replaced it.
    given_ods_code: str | None
    corrected: bool
    source: Literal["pds"]
    notes: list[str]


class Place(BaseModel):
    name: str | None
    address: str | None


class AppointmentOut(BaseModel):
    """An appointment booked through GP Connect Appointment Management: its time and place,
    its state (booked | cancelled | attended | did-not-attend) and who said so."""

    id: str
    recommendation_id: str
    practice_ods: str
    state: str
    start: datetime
    end: datetime
    location: Place
    practitioner: str | None
    outcome_source: str | None
    recommendation_status: str


class RecommendationOut(BaseModel):
    id: str
    status: str
    # None until the worker has asked PDS for the registered practice.
    practice_ods: str | None
    routing: RoutingOut | None = None
    practitioner_id: str
    product: str
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]
    notifications: list[NotificationOut]
    fhir: dict[str, str]
    attempts: AttemptsSummary
    chase_ups: list[ChaseUpOut] = []
    # Re-engagement: the recommendation this re-opens, the one that re-opened it, and the
    # whole chain. "expired": left uncollected, or the practice stayed silent through
    # every chase-up; it can be re-opened.
    predecessor_id: str | None = None
    successor_id: str | None = None
    chain: list[ChainLink] = []
    expired: bool = False
    # The latest appointment Liaison booked for it, if any (GET …/appointment).
    appointment: AppointmentOut | None = None


class RecommendationSummary(BaseModel):
    id: str
    status: str
    practice_ods: str | None
    practitioner_id: str
    product: str
    created_at: datetime
    links: Links


class RecommendationPage(BaseModel):
    items: list[RecommendationSummary]
    total: int
    limit: int
    offset: int
    next: str | None
