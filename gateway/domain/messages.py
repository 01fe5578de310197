"""Plain-language wording of every message: one template per event kind and recipient.

Service-user wording never names a medicine, smoking, mental health or a diagnosis:
stigma kept people away from generic services, and a text can be read by anyone holding
the phone. `DENY_LIST` holds the words that must never reach a service user; anything
put into their message from outside (a pharmacy's name) is checked against it at send
time, and a test runs every service-user template through it.
"""

import re
from datetime import datetime
from typing import Any, Final

from gateway.domain import pharmacy_names
from gateway.domain.audience import UK, event_kind, event_number
from gateway.domain.explanations import TOLD
from gateway.domain.reminder_wording import NAMED_PERSON, PRACTITIONER_PLAN, SERVICE_USER_PLAN
from gateway.domain.wording import Template, Wording

__all__ = ["Template", "Wording", "compose", "compose_digest", "denied_words"]


_REF = "\n\nLiaison reference {ref}"

PRACTITIONER: Final[dict[str, Template]] = {
    "delivered": Template(
        "Recommendation delivered to the GP practice",
        "Your recommendation for {product} has reached GP practice {practice}. Liaison will "
        "tell you when they act on it, and will chase them if they do not." + _REF,
    ),
    "accepted": Template(
        "GP practice accepted your recommendation",
        "GP practice {practice} accepted your recommendation for {product}. Liaison will "
        "tell you when the prescription is issued." + _REF,
    ),
    "rejected": Template(
        "GP practice declined your recommendation",
        "GP practice {practice} declined the recommendation for {product}.\n"
        "Their reason: {reason}\n\n"
        "When the service user is ready to try again you can re-open the recommendation "
        "from your case-management app." + _REF,
    ),
    "appointment-needed": Template(
        "GP practice wants to see the service user",
        "GP practice {practice} asks to see the service user before prescribing {product}. "
        "{told} You may want to help them book it.{booking}" + _REF,
    ),
    "prescription-issued": Template(
        "Prescription issued",
        "GP practice {practice} has issued a prescription for {product}{where}. Liaison "
        "will tell you and the service user when it is ready to collect." + _REF,
    ),
    "ready-to-collect": Template(
        "Prescription ready to collect",
        "The prescription you recommended ({product}) is ready to collect{where}. {told}" + _REF,
    ),
    "collected": Template(
        "Prescription collected",
        "The service user has collected the prescription for {product}{where}." + _REF,
    ),
    "not-dispensed": Template(
        "The pharmacy could not supply the prescription",
        "The pharmacy could not supply the prescription for {product}. Please agree "
        "what happens next with the service user and GP practice {practice}: another "
        "pharmacy, or a different product. {told}" + _REF,
    ),
    "delivery-failed": Template(
        "Recommendation could not be delivered",
        "Liaison could not deliver the recommendation for {product} to GP practice "
        "{practice}: {reason}. The integration team can see it and can replay it; you can "
        "also re-open it, for example to send it to a different practice." + _REF,
    ),
    "withdrawal-failed": Template(
        "Withdrawal could not reach the GP practice",
        "Liaison could not tell the GP practice that had your recommendation for {product} "
        "that it is withdrawn, so the practice may still act on it. Please telephone the "
        "practice (the recommendation's timeline names it). The integration team can see "
        "the withdrawal and can replay it." + _REF,
    ),
    "practice-corrected": Template(
        "Sent to the service user's registered GP practice",
        "PDS (the national record of where people are registered) registers the service "
        "user at GP practice {practice}, not {given_practice} as given. Liaison is sending the "
        "recommendation for {product} to {practice}; you may want to update your records." + _REF,
    ),
    "re-registered": Template(
        "The service user has moved to another GP practice",
        "Before chasing, Liaison checked PDS: the service user is now registered at GP "
        "practice {practice}. Liaison has sent the recommendation for {product} there and "
        "stopped chasing their previous practice." + _REF,
    ),
    "chase-up-stopped": Template(
        "Liaison stopped chasing the GP practice",
        "Before chasing GP practice {practice} about the recommendation for {product}, "
        "Liaison checked PDS and ODS and found no practice to chase any more (the practice "
        "has closed with no successor, or the service user's record has changed: the "
        "recommendation's timeline says which). No reminder was sent." + _REF,
    ),
    "identity-mismatch": Template(
        "Recommendation stopped: the service user's details do not match",
        "Liaison stopped the recommendation for {product} before anything was sent: "
        "{reason}. Please check the NHS number and birth date in your record, then submit "
        "the recommendation again." + _REF,
    ),
    "no-usable-practice": Template(
        "Recommendation stopped: no GP practice to send it to",
        "Liaison could not send the recommendation for {product} to a GP practice: "
        "{reason}. Nothing was sent." + _REF,
    ),
    "appointment-booked": Template(
        "GP appointment booked",
        "Liaison booked the appointment GP practice {practice} asked for: {appointment}. "
        "{told}" + _REF,
    ),
    "appointment-cancelled": Template(
        "GP appointment cancelled",
        "The appointment at GP practice {practice} ({appointment}) was cancelled. The "
        "practice still asks to see the service user: you can book another from your "
        "case-management app." + _REF,
    ),
    "attended": Template(
        "The service user attended their GP appointment",
        "The service user attended the appointment at GP practice {practice} "
        "({appointment}). Liaison will tell you what the practice does about {product}." + _REF,
    ),
    "did-not-attend": Template(
        "The service user did not attend their GP appointment",
        "The service user did not attend the appointment at GP practice {practice} "
        "({appointment}). You may want to contact them; when they are ready you can book "
        "another appointment from your case-management app (it lists the practice's free "
        "slots)." + _REF,
    ),
    "chase-up": Template(
        "Liaison chased the GP practice",
        "GP practice {practice} has not yet acted on your recommendation for {product}, so "
        "Liaison sent them a reminder (chase-up {number}). Liaison stops chasing as soon as "
        "the practice acts." + _REF,
    ),
}

SERVICE_USER: Final[dict[str, Template]] = {
    "ready-to-collect": Template(
        "Your prescription is ready",
        "Hello, your prescription is ready to collect{where}. Your care worker can help if "
        "you need it.",
    ),
    "appointment-needed": Template(
        "Please book a GP appointment",
        "Hello, your GP practice would like to see you. Please call your practice{phone} to "
        "book an appointment. Your care worker can help if you would like.",
    ),
    "not-dispensed": Template(
        "About your prescription",
        "Hello, the pharmacy could not supply your prescription this time. Your care worker "
        "will be in touch about what to do next, or you can call your GP practice.",
    ),
    "appointment-booked": Template(
        "Your GP appointment",
        "Hello, your appointment at your GP practice is booked for {when} at {place}. If you "
        "cannot make it, please tell your care worker or call the practice{phone}.",
    ),
    "appointment-cancelled": Template(
        "Your GP appointment",
        "Hello, your appointment at your GP practice on {when} has been cancelled. Your care "
        "worker will help you find another time.",
    ),
    "collection-reminder": Template(
        "Your prescription is waiting for you",
        "Hello, a reminder that your prescription is still waiting to be collected{where}. "
        "Your care worker can help if you would like.",
    ),
}

CARE_TEAM: Final[dict[str, Template]] = {
    "clinical-safety-flag": Template(
        "Clinical safety: a medicine level may change when smoking stops",
        "{product} has been recommended to help a service user on your caseload stop "
        "smoking. Their current medicines include {medicines}. Tobacco smoke speeds the "
        "breakdown of some medicines (CYP1A2 induction); levels of clozapine and olanzapine "
        "can rise within days of stopping. Please review their doses and monitoring.\n\n"
        "{advice}\n\nRecommended by {practitioner}, who can tell you who the service user "
        "is; their GP practice ({practice}) has the same advice." + _REF,
    ),
}

_FALLBACK: Final = Template("Update: {event}", "The recommendation is now: {event}." + _REF)
_SERVICE_USER_FALLBACK: Final = Template(
    "An update from your care team",
    "Hello, your care worker has an update for you. They will be in touch.",
)

# Words that must never reach a service user, matched at the start of a word so that
# "dispatch" does not trip "patch". Catalogue names are matched as well (see `_denied`).
DENY_LIST: Final = (
    "smok",
    "cigar",
    "tobacco",
    "nicotine",
    "vape",
    "vaping",
    "quit",
    "cessation",
    "stop smoking",
    "nrt",
    "varenicline",
    "champix",
    "bupropion",
    "zyban",
    "patch",
    "gum",
    "lozenge",
    "inhalator",
    "spray",
    "tablet",
    "medicine",
    "medication",
    "mental",
    "psych",
    "schizo",
    "bipolar",
    "depress",
    "anxiety",
    "diagnos",
    "illness",
    "disorder",
    "condition",
    "clozapine",
    "olanzapine",
    "antipsychotic",
    "smi",
    "cyp1a2",
)
_DENIED: Final = re.compile(r"\b(" + "|".join(re.escape(w) for w in DENY_LIST) + ")", re.I)


def denied_words(text: str) -> list[str]:
    """Every deny-listed word in `text` (empty when it is safe for a service user)."""
    return [m.group(0) for m in _DENIED.finditer(text)]


def practice_label(payload: dict[str, Any]) -> str:
    """The practice a recommendation went to, named as ODS names it: "NAME (ODS)"."""
    routing = payload.get("routing") or {}
    if routing.get("ods_code"):
        name = routing.get("name")
        return f"{name} ({routing['ods_code']})" if name else str(routing["ods_code"])
    return str((payload.get("gp_practice") or {}).get("ods_code") or "not yet known")


def practice_telephone(payload: dict[str, Any]) -> str | None:
    """The practice's telephone number from ODS, when Liaison asked."""
    telephone = (payload.get("routing") or {}).get("telephone")
    return str(telephone) if telephone else None


def nominated_pharmacy(payload: dict[str, Any]) -> str | None:
    """The nominated pharmacy PDS names, by its ODS name (when ODS gave one)."""
    name = (payload.get("nominated_pharmacy") or {}).get("name")
    return str(name).title() if name else None


def appointment_when(payload: dict[str, Any]) -> str:
    """The booked appointment's time in UK words ("Tuesday 8 December 2026 at 09:15")."""
    start = (payload.get("appointment") or {}).get("start")
    if not start:
        return "the time agreed"
    local = datetime.fromisoformat(str(start)).astimezone(UK)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"


def appointment_place(payload: dict[str, Any]) -> str:
    """Where it is: the surgery's name and address, as the practice's Location gives them."""
    booked = payload.get("appointment") or {}
    words = [str(w) for w in (booked.get("location_name"), booked.get("location_address")) if w]
    place = ", ".join(words)
    # A surgery's name could say more than the service user agreed to (a "smoking clinic").
    return place if place and not denied_words(place) else "your GP practice"


def _safe_place(pharmacy: str | None) -> str | None:
    # A pharmacy called "Stop Smoking Clinic" would say more than the service user agreed to;
    # a "name" holding a link or a phone number is no name to repeat to them at all.
    pharmacy = pharmacy_names.sayable(pharmacy)
    if pharmacy and not denied_words(pharmacy):
        return pharmacy
    return None


def _fields(
    *,
    event: str,
    recommendation_id: str,
    detail: str | None,
    payload: dict[str, Any],
    product_name: str,
    pharmacy: str | None,
    told: str | None,
) -> dict[str, str]:
    medicines = [m["name"] for m in payload.get("current_medications", [])]
    return {
        "event": event,
        "ref": recommendation_id,
        # Where the service user's own message stands, when the sender knows; else the
        # event's usual words, hedged.
        "told": told or TOLD.get(event_kind(event), "") + " (if they agreed to messages).",
        "product": product_name,
        "practice": practice_label(payload),
        "appointment": f"{appointment_when(payload)}, {appointment_place(payload)}",
        "booking": (
            " The practice offers online booking: your case-management app can list its "
            "free slots and book one agreed with the service user."
            if payload.get("booking_offered")
            else ""
        ),
        "given_practice": str((payload.get("gp_practice") or {}).get("ods_code") or "none"),
        "reason": detail or "no reason given",
        "where": f" at {pharmacy}" if pharmacy else "",
        "number": str(event_number(event) or 1),
        "medicines": ", ".join(medicines) or "none recorded",
        # Set at intake from the DetectedIssue (fhir_profiles.safety): the monitoring advice.
        "advice": str(payload.get("clinical_safety", {}).get("detail", "")),
        "practitioner": "{name} ({email})".format_map(
            {"name": "the practitioner", "email": "no email", **payload.get("practitioner", {})}
        ),
    }


def render(template: Template, fields: dict[str, str]) -> Wording:
    return Wording(template.subject.format(**fields), template.body.format(**fields))


def compose(
    *,
    event: str,
    recipient: str,
    recommendation_id: str,
    detail: str | None,
    payload: dict[str, Any],
    product_name: str,
    pharmacy: str | None,
    told: str | None = None,
) -> Wording:
    """`told`: the practitioner's sentence about the service user's message on the same
    event (gateway.domain.explanations.told_service_user)."""
    kind = event_kind(event)
    # The pharmacy the prescription went to, else the one PDS says the service user nominated.
    pharmacy = pharmacy or nominated_pharmacy(payload)
    if recipient in ("service-user", "named-person"):
        place = _safe_place(pharmacy)
        if recipient == "named-person":
            template = NAMED_PERSON.get(kind, _SERVICE_USER_FALLBACK)
        else:
            template = SERVICE_USER.get(kind) or SERVICE_USER_PLAN.get(kind, _SERVICE_USER_FALLBACK)
        telephone = practice_telephone(payload)
        wording = render(
            template,
            {
                "where": f" at {place}" if place else " at your usual pharmacy",
                "phone": f" on {telephone}" if telephone else "",
                "when": appointment_when(payload),
                "place": appointment_place(payload),
            },
        )
        if denied_words(wording.subject + " " + wording.body):
            # Defence in depth: never send it; the generic wording says nothing.
            return render(_SERVICE_USER_FALLBACK, {})
        return wording
    fields = _fields(
        event=event,
        recommendation_id=recommendation_id,
        detail=detail,
        payload=payload,
        product_name=product_name,
        pharmacy=pharmacy,
        told=told,
    )
    if recipient == "care-team":
        return render(CARE_TEAM.get(kind, _FALLBACK), fields)
    return render(PRACTITIONER.get(kind) or PRACTITIONER_PLAN.get(kind, _FALLBACK), fields)


def compose_digest(items: list[Wording], *, date_text: str) -> Wording:
    """One email holding a practitioner's messages of the day, oldest first."""
    count = len(items)
    parts = [f"{n}. {item.subject}\n{item.body}" for n, item in enumerate(items, start=1)]
    return Wording(
        f"Liaison daily summary for {date_text}: {count} update{'s' if count != 1 else ''}",
        "Here is what happened to your recommendations since your last summary.\n\n"
        + "\n\n".join(parts),
    )
