"""Many recommendations at once, written straight into Liaison's tables (and, for requests
already delivered, into the GP simulator through its FHIR transaction endpoint).

Going through POST /v1/recommendations would make every benchmark pay for intake first (the
intake benchmark measures that). The rows are the ones intake writes. The FHIR resources
come from `fhir_profiles.builders`: one recommendation is built and validated, then each
copy gets its own ids (derived as the builders derive them) and practice by substituting
them in the JSON text, so deliveries and polls see real, valid resources and Bundles.
Rows go in with PostgreSQL's COPY: seeding is not what is being measured.
"""

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import psycopg
from sqlalchemy import Engine, select

from bench.common import SAMPLE
from fhir_profiles.builders import ResourceSet, build_resources, build_transaction_bundle
from fhir_profiles.builders_common import URN_NAMESPACE
from gateway.services.intake import facts_from_payload
from gateway.store.models import Delivery, FhirResource

State = Literal["queued", "outstanding"]
MODEL_PRACTICE = "B99999"  # the practice the model recommendation is built for


@dataclass(frozen=True)
class Seeded:
    recommendation_id: str
    delivery_id: str
    ods_code: str


def sample_payload(ods_code: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(SAMPLE.read_text())
    payload["gp_practice"] = {"ods_code": ods_code}
    return payload


def _ids(recommendation_id: str) -> list[str]:
    """The ids the builders derive from a recommendation id (gateway.services.intake)."""
    base = uuid.UUID(recommendation_id)
    kinds = ("MedicationRequest", "CommunicationRequest", "Task")
    derived = [str(uuid.uuid5(base, kind)) for kind in kinds]
    # The Patient, Practitioner and PractitionerRole: from the MedicationRequest's id
    # (fhir_profiles.builders_common.party_id).
    parties = ("Patient", "Practitioner", "PractitionerRole")
    derived += [str(uuid.uuid5(URN_NAMESPACE, f"{derived[0]}/{kind}")) for kind in parties]
    return [recommendation_id, *derived]


class Model:
    """One recommendation built and validated by fhir_profiles; copies get fresh ids."""

    def __init__(self) -> None:
        self.payload = sample_payload(MODEL_PRACTICE)
        self.recommendation_id = str(uuid.uuid4())
        self.delivery_id = str(uuid.uuid4())
        facts = facts_from_payload(
            self.payload, recommendation_id=self.recommendation_id, authored_on=datetime.now(UTC)
        )
        built = build_resources(facts)
        if built.detected_issue is not None:
            flag = built.detected_issue
            self.payload["clinical_safety"] = {k: flag[k] for k in ("severity", "detail")}
        self.resources = [(r["id"], r["resourceType"], json.dumps(r)) for r in built.all()]
        bundle = build_transaction_bundle(built, delivery_id=self.delivery_id)
        self.entries = json.dumps(bundle["entry"])[1:-1]  # the entries, without the brackets
        self.detected_issue_id = built.detected_issue["id"] if built.detected_issue else None
        self.ids = _ids(self.recommendation_id)

    def substitutions(
        self, recommendation_id: str, delivery_id: str, ods_code: str
    ) -> list[tuple[str, str]]:
        pairs = list(zip(self.ids, _ids(recommendation_id), strict=True))
        pairs += [(self.delivery_id, delivery_id), (MODEL_PRACTICE, ods_code)]
        if self.detected_issue_id is not None:
            pairs.append((self.detected_issue_id, str(uuid.uuid4())))
        return pairs

    def payload_for(self, ods_code: str) -> str:
        return json.dumps(self.payload).replace(MODEL_PRACTICE, ods_code)


def _apply(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        text = text.replace(old, new)
    return text


_MODEL: list[Model] = []


def model() -> Model:
    if not _MODEL:
        _MODEL.append(Model())
    return _MODEL[0]


def resource_set(resources: Sequence[dict[str, Any]]) -> ResourceSet:
    by_type = {r["resourceType"]: r for r in resources}
    return ResourceSet(
        medication_request=by_type["MedicationRequest"],
        communication_request=by_type["CommunicationRequest"],
        task=by_type["Task"],
        detected_issue=by_type.get("DetectedIssue"),
    )


def _dsn(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def seed(
    engine: Engine,
    practices: Sequence[str],
    count: int,
    *,
    state: State,
    simulator_url: str | None = None,
) -> list[Seeded]:
    """`count` recommendations spread evenly over `practices`, committed in one transaction.

    queued: received, with a pending delivery and its outbox row (the relay publishes it).
    outstanding: delivered to the practice and waiting for it to act; their Bundles are
    posted to the simulator (one transaction per practice) so its Tasks exist to be polled.
    """
    shape = model()
    payloads = {ods: shape.payload_for(ods) for ods in practices}
    now = datetime.now(UTC)
    seeded: list[Seeded] = []
    recommendations: list[tuple[Any, ...]] = []
    resources: list[tuple[Any, ...]] = []
    deliveries: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    entries: dict[str, list[str]] = {ods: [] for ods in practices}
    queued = state == "queued"
    for index in range(count):
        ods = practices[index % len(practices)]
        recommendation_id = str(uuid.uuid4())
        delivery_id = str(uuid.uuid4())
        pairs = shape.substitutions(recommendation_id, delivery_id, ods)
        status = "received" if queued else "delivered"
        recommendations.append(
            (
                recommendation_id,
                "RX3",
                "demo-app",
                shape.payload["practitioner"]["id"],
                ods,
                shape.payload["medication"]["product"],
                status,
                payloads[ods],
                now,
                now,
            )
        )
        resources += [
            (_apply(rid, pairs), kind, recommendation_id, 1, _apply(body, pairs), now)
            for rid, kind, body in shape.resources
        ]
        deliveries.append(
            (
                delivery_id,
                delivery_id,
                recommendation_id,
                ods,
                "pending" if queued else "delivered",
                0 if queued else 1,
                None if queued else now,
                None if queued else now,
                now,
                now,
                "request",  # gateway.services.withdrawals.REQUEST: the recommendation itself
            )
        )
        events.append((recommendation_id, "received", "intake", True, now))
        if queued:
            outbox.append(("deliver", delivery_id, now, 0))
        else:
            events.append((recommendation_id, "delivered", "delivery", True, now))
            entries[ods].append(_apply(shape.entries, pairs))
        seeded.append(Seeded(recommendation_id, delivery_id, ods))

    posting = None
    if not queued:
        assert simulator_url is not None, "outstanding requests must exist at the simulator"
        # The simulator takes its share while PostgreSQL takes the rows.
        posting = threading.Thread(target=_post_bundles, args=(simulator_url, entries))
        posting.start()
    copies = (
        (
            "recommendations (id, organisation_ods, client_id, practitioner_id, practice_ods, "
            "product, status, payload, created_at, updated_at)",
            recommendations,
        ),
        (
            "fhir_resources (id, resource_type, recommendation_id, version_id, body, last_updated)",
            resources,
        ),
        (
            "deliveries (id, external_id, recommendation_id, practice_ods, state, "
            "attempt_count, first_attempt_at, delivered_at, created_at, updated_at, purpose)",
            deliveries,
        ),
        ("status_events (recommendation_id, status, source, applied, at)", events),
        ("outbox (kind, ref_id, created_at, publish_count)", outbox),
    )
    with psycopg.connect(_dsn(engine)) as db, db.cursor() as cursor:
        for target, rows in copies:
            if rows:
                with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
    if posting is not None:
        posting.join()
        if _FAILED:
            raise RuntimeError(f"the simulator refused a Bundle: {_FAILED.pop()}")
    return seeded


_FAILED: list[str] = []


def _post_bundles(simulator_url: str, entries: dict[str, list[str]]) -> None:
    try:
        with httpx.Client(timeout=300) as client:
            for texts in entries.values():
                if texts:
                    body = '{"resourceType": "Bundle", "type": "transaction", "entry": ['
                    body += ", ".join(texts) + "]}"
                    client.post(
                        f"{simulator_url}/fhir",
                        content=body,
                        headers={"Content-Type": "application/fhir+json"},
                    ).raise_for_status()
    except httpx.HTTPError as error:
        _FAILED.append(str(error))


def bundles_for(engine: Engine, delivery_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The Bundles the workers send for these deliveries, built as `workers.delivery` does."""
    by_delivery: dict[str, list[dict[str, Any]]] = {}
    external: dict[str, str] = {}
    with engine.connect() as db:
        rows = db.execute(
            select(Delivery.id, Delivery.external_id, FhirResource.body)
            .join(FhirResource, FhirResource.recommendation_id == Delivery.recommendation_id)
            .where(Delivery.id.in_(list(delivery_ids)))
        )
        for delivery_id, external_id, body in rows:
            by_delivery.setdefault(delivery_id, []).append(body)
            external[delivery_id] = external_id or delivery_id
    return [
        build_transaction_bundle(resource_set(bodies), delivery_id=external[delivery_id])
        for delivery_id, bodies in by_delivery.items()
    ]
