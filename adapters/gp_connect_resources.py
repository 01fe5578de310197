"""GP Connect Appointment Management (FHIR STU3) resources: what Liaison sends and reads. Pure.

Specification: GP Connect Appointment Management 1.2
(https://developer.nhs.uk/apis/gpconnect-1-2-7/appointments.html, source
github.com/nhsconnect/gpconnect, pages/appointments/):

- Search for free slots answers a `searchset` Bundle of `Slot`, `Schedule`, `Practitioner`,
  `Location` and `Organization`; `Slot.start`/`end` are UK local time with their offset;
  the `Schedule` actor `Location` is the surgery where the appointment takes place;
- Book an appointment sends a `GPConnect-Appointment-1` with a patient and a location
  participant, `start`/`end` of the slot, `status` booked, `slot`, `created`, a
  `description` (at most 100 characters), an optional `comment` (at most 500), and the
  booking organisation as a contained `Organization` named by the
  `Extension-GPConnect-BookingOrganisation-1` extension (ODS code, name and telecom; its
  `type` only when the same type went in the slot search's `searchFilter`). `reason` and
  `specialty` must not be sent;
- Cancel sends the Appointment as read with `status` cancelled and the
  `Extension-GPConnect-AppointmentCancellationReason-1` extension, nothing else changed.
- Appointment.status (STU3 appointmentstatus): `fulfilled` / `arrived` once the patient came,
  `noshow` when they did not (http://hl7.org/fhir/STU3/valueset-appointmentstatus.html).
"""

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from fhir_profiles.instants import read_datetime

UK: Final = ZoneInfo("Europe/London")
ODS_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
ORGANISATION_TYPE_SYSTEM: Final = "https://fhir.nhs.uk/STU3/CodeSystem/GPConnect-OrganisationType-1"
APPOINTMENT_PROFILE: Final = "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"
ORGANIZATION_PROFILE: Final = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Organization-1"
)
BOOKING_ORGANISATION: Final = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1"
)
CANCELLATION_REASON: Final = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1"
DELIVERY_CHANNEL: Final = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2"
)
DESCRIPTION_LIMIT: Final = 100
COMMENT_LIMIT: Final = 500


class UnreadableResource(ValueError):
    """The provider answered something that is not the resource the specification promises."""


@dataclass(frozen=True)
class FreeSlot:
    """One free slot as the case-management app shows it (the spec's display fields)."""

    slot_id: str
    start: datetime
    end: datetime
    schedule_id: str
    service_type: str | None
    delivery_channel: str | None
    location_id: str | None
    location_name: str | None
    location_address: str | None
    practitioner: str | None  # "Dr Sarah Black" (name only; role is the schedule's)


@dataclass(frozen=True)
class BookingOrganisation:
    ods_code: str
    name: str
    telephone: str
    # The organisation type sent as a slot search filter, if one was (GPConnect-OrganisationType-1).
    organisation_type: str | None = None


@dataclass(frozen=True)
class AppointmentRecord:
    """A booked (or cancelled, attended...) appointment as the provider holds it."""

    appointment_id: str
    version_id: str | None
    status: str  # STU3 appointmentstatus
    start: datetime
    end: datetime
    slot_ids: tuple[str, ...]
    location_id: str | None
    resource: dict[str, Any]  # as read: a cancellation sends it back changed in place


def gp_connect_instant(moment: datetime) -> str:
    """`yyyy-mm-ddThh:mm:ss+hh:mm` in UK local time, as the specification asks."""
    if moment.tzinfo is None:
        raise ValueError("a GP Connect instant needs a timezone")
    return moment.astimezone(UK).isoformat(timespec="seconds")


def _instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise UnreadableResource(f"{what} is missing")
    parsed = read_datetime(value)
    if parsed is None:
        raise UnreadableResource(f"{what} is not a dateTime")
    if parsed.tzinfo is None:
        raise UnreadableResource(f"{what} has no timezone offset")
    return parsed.astimezone(UTC)


def _reference_id(reference: Any, resource_type: str) -> str | None:
    text = (reference or {}).get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return None
    parts = text.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def _address(location: dict[str, Any]) -> str | None:
    address = location.get("address")
    if not isinstance(address, dict):
        return None
    parts = [str(line) for line in address.get("line", []) if line]
    parts += [str(address[key]) for key in ("city", "postalCode") if address.get(key)]
    return ", ".join(parts) or None


def _person(practitioner: dict[str, Any]) -> str | None:
    for name in practitioner.get("name", []):
        words = [*name.get("prefix", []), *name.get("given", [])]
        family = name.get("family")
        # STU3 HumanName.family is one string; older examples send a list.
        words += family if isinstance(family, list) else [family] if family else []
        if words:
            return " ".join(str(word) for word in words)
    return None


def _delivery_channel(resource: dict[str, Any]) -> str | None:
    for extension in resource.get("extension", []):
        if extension.get("url") == DELIVERY_CHANNEL and extension.get("valueCode"):
            return str(extension["valueCode"])
    return None


def free_slots(bundle: dict[str, Any]) -> list[FreeSlot]:
    """Every free slot in a search answer, with its schedule's location and practitioner,
    earliest first."""
    if bundle.get("resourceType") != "Bundle":
        raise UnreadableResource("the slot search did not answer a Bundle")
    by_type: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("id"):
            by_type.setdefault(str(resource.get("resourceType")), {})[str(resource["id"])] = (
                resource
            )
    found: list[FreeSlot] = []
    for slot_id, slot in by_type.get("Slot", {}).items():
        if slot.get("status") != "free":
            continue
        schedule_id = _reference_id(slot.get("schedule"), "Schedule")
        schedule = by_type.get("Schedule", {}).get(schedule_id or "", {})
        actors = schedule.get("actor", [])
        location_id = next((i for a in actors if (i := _reference_id(a, "Location"))), None)
        person_id = next((i for a in actors if (i := _reference_id(a, "Practitioner"))), None)
        location = by_type.get("Location", {}).get(location_id or "", {})
        person = by_type.get("Practitioner", {}).get(person_id or "", {})
        service = next((s.get("text") for s in slot.get("serviceType", []) if s.get("text")), None)
        found.append(
            FreeSlot(
                slot_id=slot_id,
                start=_instant(slot.get("start"), "Slot.start"),
                end=_instant(slot.get("end"), "Slot.end"),
                schedule_id=schedule_id or "",
                service_type=str(service) if service else None,
                delivery_channel=_delivery_channel(slot),
                location_id=location_id,
                location_name=str(location["name"]) if location.get("name") else None,
                location_address=_address(location),
                practitioner=_person(person) if person else None,
            )
        )
    return sorted(found, key=lambda s: (s.start, s.slot_id))


def booking_organisation(organisation: BookingOrganisation) -> dict[str, Any]:
    contained: dict[str, Any] = {
        "resourceType": "Organization",
        "id": "1",
        "meta": {"profile": [ORGANIZATION_PROFILE]},
        "identifier": [{"system": ODS_SYSTEM, "value": organisation.ods_code}],
        "name": organisation.name,
        "telecom": [{"system": "phone", "value": organisation.telephone}],
    }
    if organisation.organisation_type:
        contained["type"] = [
            {
                "coding": [
                    {"system": ORGANISATION_TYPE_SYSTEM, "code": organisation.organisation_type}
                ]
            }
        ]
    return contained


def appointment_to_book(
    *,
    patient_id: str,
    slot: FreeSlot,
    organisation: BookingOrganisation,
    description: str,
    comment: str | None,
    created: datetime,
) -> dict[str, Any]:
    """The `POST /Appointment` body for one slot. `reason` is never sent (the spec forbids
    it); what the practice needs to know it already has in the request Liaison delivered."""
    if not slot.location_id:
        raise ValueError("the slot's schedule names no location: it cannot be booked")
    if not description or len(description) > DESCRIPTION_LIMIT:
        raise ValueError(f"description must be 1 to {DESCRIPTION_LIMIT} characters")
    if comment is not None and len(comment) > COMMENT_LIMIT:
        raise ValueError(f"comment must be at most {COMMENT_LIMIT} characters")
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "meta": {"profile": [APPOINTMENT_PROFILE]},
        "contained": [booking_organisation(organisation)],
        "extension": [{"url": BOOKING_ORGANISATION, "valueReference": {"reference": "#1"}}],
        "status": "booked",
        "description": description,
        "start": gp_connect_instant(slot.start),
        "end": gp_connect_instant(slot.end),
        "slot": [{"reference": f"Slot/{slot.slot_id}"}],
        "created": gp_connect_instant(created),
        "participant": [
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Location/{slot.location_id}"}, "status": "accepted"},
        ],
    }
    if comment:
        appointment["comment"] = comment
    return appointment


def appointment_record(resource: dict[str, Any]) -> AppointmentRecord:
    if resource.get("resourceType") != "Appointment" or not resource.get("id"):
        raise UnreadableResource("the provider did not answer an Appointment")
    participants = resource.get("participant", [])
    location_id = next(
        (i for p in participants if (i := _reference_id(p.get("actor"), "Location"))), None
    )
    return AppointmentRecord(
        appointment_id=str(resource["id"]),
        version_id=(resource.get("meta") or {}).get("versionId"),
        status=str(resource.get("status", "")),
        start=_instant(resource.get("start"), "Appointment.start"),
        end=_instant(resource.get("end"), "Appointment.end"),
        slot_ids=tuple(
            i for s in resource.get("slot", []) if (i := _reference_id(s, "Slot")) is not None
        ),
        location_id=location_id,
        resource=resource,
    )


def cancellation_of(record: AppointmentRecord, reason: str) -> dict[str, Any]:
    """The Appointment as read, with only `status` and the cancellation reason changed."""
    body = copy.deepcopy(record.resource)
    body["status"] = "cancelled"
    extensions = [e for e in body.get("extension", []) if e.get("url") != CANCELLATION_REASON]
    extensions.append({"url": CANCELLATION_REASON, "valueString": reason})
    body["extension"] = extensions
    return body


def patient_id_in(bundle: dict[str, Any], nhs_number: str) -> str | None:
    """The provider's logical id of the patient with this NHS number (Find a patient)."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
            continue
        numbers = {
            i.get("value")
            for i in resource.get("identifier", [])
            if i.get("system") == NHS_NUMBER_SYSTEM
        }
        if nhs_number in numbers and resource.get("id"):
            return str(resource["id"])
    return None
