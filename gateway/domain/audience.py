"""Who hears about which event, on which channel, and when. Pure rules.

- Service user (only if they consented, on the channel they chose): prescription ready,
  "please book a GP appointment", reminders to collect, the pharmacy could not supply it.
- Practitioner (email; each message at once or in a daily digest, as they choose): every
  step the practice takes, delivery failures and chase-ups sent.
- Care team (email, each member once per address): clinical-safety flags.
- Case-management app (signed webhook, if the organisation subscribed): every event.

No SMS reaches a service user between 21:00 and 08:00 UK time: it waits until morning.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

# Events that repeat carry a number so each is told once (gateway.domain.events).
from gateway.domain.events import event_kind as event_kind
from gateway.domain.events import event_number as event_number

UK: Final = ZoneInfo("Europe/London")

# event kind -> people told about it (the webhook hears every event; see `addressees`).
AUDIENCE: Final[dict[str, tuple[str, ...]]] = {
    "delivered": ("practitioner",),
    "accepted": ("practitioner",),
    "rejected": ("practitioner",),
    "appointment-needed": ("practitioner", "service-user"),
    "prescription-issued": ("practitioner",),
    "ready-to-collect": ("practitioner", "service-user"),
    "collected": ("practitioner",),
    "not-dispensed": ("practitioner", "service-user"),
    "delivery-failed": ("practitioner",),
    # A withdrawal that could not reach the practice (gateway.services.withdrawals).
    "withdrawal-failed": ("practitioner",),
    "chase-up": ("practitioner",),
    "collection-reminder": ("service-user",),
    "clinical-safety-flag": ("care-team",),
    # Routing by PDS (gateway.domain.registration).
    "practice-corrected": ("practitioner",),
    "re-registered": ("practitioner",),
    "chase-up-stopped": ("practitioner",),
    "identity-mismatch": ("practitioner",),
    "no-usable-practice": ("practitioner",),
    # Booking through GP Connect Appointment Management (gateway.domain.booking).
    "appointment-booked": ("practitioner", "service-user"),
    "appointment-cancelled": ("practitioner", "service-user"),
    "attended": ("practitioner",),
    "did-not-attend": ("practitioner",),
    # Reminders that follow the plan (gateway.domain.reminder_schedule): the service user and,
    # with their consent, the person they named; follow-ups go to the practitioner only.
    "plan-appointment-day-before": ("service-user", "named-person"),
    "plan-appointment-morning": ("service-user", "named-person"),
    "plan-quit-date": ("service-user", "named-person"),
    "plan-course-start": ("service-user", "named-person"),
    "plan-dose-step": ("service-user", "named-person"),
    "plan-supply-ending": ("service-user", "named-person"),
    "plan-supply-request": ("practitioner",),
    "follow-up-week": ("practitioner",),
    "try-again": ("practitioner",),
}


@dataclass(frozen=True)
class NamedPerson:
    """Someone the service user named to receive copies of their reminders (a care
    coordinator, a family member); `address` is an email address or an E.164 mobile."""

    channel: str  # email | sms
    address: str
    consent: bool


@dataclass(frozen=True)
class Addressee:
    recipient: str  # practitioner | service-user | named-person | care-team | case-management
    channel: str  # email | sms | webhook
    suppressed_reason: str | None = None
    # Care team only: the index in `care_team` of the member this message is for.
    member: int = 0


def _service_user(payload: dict[str, Any]) -> Addressee:
    contact = payload["service_user"].get("contact") or {}
    channel = "email" if contact.get("preferred") == "email" else "sms"
    if not payload.get("consent", {}).get("notify_service_user", False):
        return Addressee("service-user", channel, "service user did not consent")
    if not contact.get("mobile" if channel == "sms" else "email"):
        return Addressee("service-user", channel, f"no {channel} contact given")
    return Addressee("service-user", channel)


def care_team_members(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The care team as a list; a recommendation stored before teams were lists holds one
    member as an object."""
    team = payload.get("care_team") or []
    return [team] if isinstance(team, dict) else list(team)


def care_team_told(payload: dict[str, Any]) -> list[int]:
    """The members (indexes into `care_team`) who are emailed: the first with each address,
    so a shared inbox listed twice gets one email."""
    seen: set[str] = set()
    told = []
    for index, member in enumerate(care_team_members(payload)):
        address = str(member.get("email") or "").casefold()
        if address and address not in seen:
            seen.add(address)
            told.append(index)
    return told


def _care_team(payload: dict[str, Any]) -> list[Addressee]:
    told = care_team_told(payload)
    if not told:
        return [Addressee("care-team", "email", "no care team contact given")]
    return [Addressee("care-team", "email", member=index) for index in told]


def _named_person(payload: dict[str, Any], named: NamedPerson) -> Addressee:
    # A copy goes only where the service user's own message may go: their consent to be
    # messaged at all, and their consent to this person having copies.
    if not payload.get("consent", {}).get("notify_service_user", False):
        return Addressee("named-person", named.channel, "service user did not consent")
    if not named.consent:
        return Addressee("named-person", named.channel, "no consent to copies")
    return Addressee("named-person", named.channel)


def addressees(
    event: str,
    payload: dict[str, Any],
    *,
    webhook: bool = False,
    named_person: NamedPerson | None = None,
) -> list[Addressee]:
    """Everyone who should hear about `event`. A recipient who may not be contacted is still
    listed, marked suppressed, so the record shows why nothing was sent. A named person is
    listed only where the plan names one."""
    result: list[Addressee] = []
    for recipient in AUDIENCE.get(event_kind(event), ()):
        if recipient == "practitioner":
            result.append(Addressee("practitioner", "email"))
        elif recipient == "service-user":
            result.append(_service_user(payload))
        elif recipient == "named-person" and named_person is not None:
            result.append(_named_person(payload, named_person))
        elif recipient == "care-team":
            result.extend(_care_team(payload))
    if webhook:
        result.append(Addressee("case-management", "webhook"))
    return result


def address_of(recipient: str, channel: str, payload: dict[str, Any], member: int = 0) -> str:
    """Where a message to `recipient` goes (an email address or an E.164 mobile number)."""
    if recipient == "practitioner":
        return str(payload["practitioner"]["email"])
    if recipient == "care-team":
        return str(care_team_members(payload)[member]["email"])
    contact = payload["service_user"]["contact"]
    return str(contact["mobile"] if channel == "sms" else contact["email"])


@dataclass(frozen=True)
class QuietHours:
    """UK local times between which no SMS goes to a service user. start == end: none."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(UK).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself if a text may go then, else the end of these quiet hours."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(UK)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        # Built from the wall clock so a clock change overnight still gives 08:00 UK.
        return datetime.combine(day, self.end, tzinfo=UK)


def must_wait_for_morning(recipient: str, channel: str) -> bool:
    return recipient in ("service-user", "named-person") and channel == "sms"


def next_digest_at(moment: datetime, *, hour: int) -> datetime:
    """The next daily digest time (`hour`:00 UK) strictly after `moment`."""
    local = moment.astimezone(UK)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=UK)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=UK)
    return candidate
