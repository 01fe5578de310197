"""The simulated practice endpoint's memory: resources, conditional create, call counts.

Every method takes one lock, so two identical transactions arriving together
cannot both miss the conditional-create match and create twice.
"""

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl

from adapters.standins.gp_simulator import scripts
from fhir_profiles import systems

CallKind = Literal["post", "search", "read", "put"]
IdentifierKey = tuple[str, str | None, str]  # (resource type, system or None for any, value)


class FhirError(Exception):
    """A request the simulator refuses; answered as an OperationOutcome."""

    def __init__(self, status_code: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status_code = status_code
        self.code = code
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Stored:
    resource: dict[str, Any]  # as created: id set, bundle-internal references resolved
    ods_code: str | None
    created_at: datetime


@dataclass(frozen=True)
class _Planned:
    resource_type: str
    existing_id: str | None
    new_id: str


@dataclass
class FaultPlan:
    """Faults a test or chaos run injects at run time, on top of the scripted practices:
    a practice down until a moment, a share of calls failing with 500, and a response held
    back after the request was stored (to kill a client between the GP's 201 and its commit)."""

    down_until: dict[str, datetime] = field(default_factory=dict)
    failure_rate: float = 0.0
    hold_response_seconds: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(20261126))

    def status_for(self, ods_code: str | None, now: datetime) -> int | None:
        until = self.down_until.get(ods_code or "")
        if until is not None and now < until:
            return 503
        if self.failure_rate and self.rng.random() < self.failure_rate:
            return 500
        return None


class SimulatorStore:
    def __init__(self, *, step_seconds: float, clock: Callable[[], datetime]) -> None:
        if step_seconds <= 0:
            raise ValueError("step_seconds must be positive")
        self.step_seconds = step_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.faults = FaultPlan()
            self._resources: dict[tuple[str, str], Stored] = {}
            # Task ids by owner ODS code: a practice's search reads its own Tasks, not every
            # stored resource (bench/polling.py polls 100 practices holding 10,000 requests).
            self._tasks_by_ods: dict[str | None, list[str]] = {}
            self._by_identifier: dict[IdentifierKey, list[str]] = {}
            # Resources replaced by an update (a withdrawal cancels them): as updated, and when.
            self._updated: dict[tuple[str, str], tuple[dict[str, Any], datetime]] = {}
            self._received: list[dict[str, Any]] = []
            self._calls: Counter[str] = Counter()
            self._kinds: Counter[str] = Counter()

    def record_call(self, kind: CallKind, ods_code: str | None) -> int | None:
        """Count a call under /fhir; return the status it must fail with, if any."""
        with self._lock:
            self._kinds[kind] += 1
            injected = self.faults.status_for(ods_code, self.clock())
            if injected is not None:
                return injected
            if ods_code is None:
                return None
            self._calls[ods_code] += 1
            return scripts.fault_for(ods_code, self._calls[ods_code])

    def set_faults(
        self,
        *,
        practice: str | None,
        down_seconds: float | None,
        failure_rate: float | None,
        hold_response_seconds: float | None,
    ) -> None:
        with self._lock:
            if failure_rate is not None:
                self.faults.failure_rate = failure_rate
            if practice is not None and down_seconds is not None:
                if down_seconds > 0:
                    self.faults.down_until[practice] = self.clock() + timedelta(
                        seconds=down_seconds
                    )
                else:
                    self.faults.down_until.pop(practice, None)
            if practice is not None and hold_response_seconds is not None:
                self.faults.hold_response_seconds[practice] = hold_response_seconds

    def hold_for(self, ods_code: str | None) -> float:
        with self._lock:
            return self.faults.hold_response_seconds.get(ods_code or "", 0.0)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._calls),
                "posts": self._kinds["post"],
                "searches": self._kinds["search"],
                "reads": self._kinds["read"],
                "updates": self._kinds["put"],
            }

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return deepcopy(self._received)

    def ods_code_of(self, resource_type: str, resource_id: str) -> str | None:
        with self._lock:
            stored = self._resources.get((resource_type, resource_id))
            return stored.ods_code if stored else None

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        now = self.clock()
        with self._lock:
            stored = self._resources.get((resource_type, resource_id))
            return self._render(stored, now) if stored else None

    def find(self, resource_type: str, token: str) -> list[dict[str, Any]]:
        """Resources of `resource_type` carrying the identifier `token` (`system|value` or
        `value`), as they stand now (FHIR R4 token search on `identifier`)."""
        now = self.clock()
        key = _identifier_key(resource_type, token)
        with self._lock:
            if key[1] is not None and key[2] == "":
                # `system|`: any value in that system (R4 search.html#token).
                ids = sorted(
                    {
                        i
                        for k, found in self._by_identifier.items()
                        if k[:2] == key[:2]
                        for i in found
                    }
                )
            else:
                ids = self._by_identifier.get(key, [])
            return [self._render(self._resources[(resource_type, i)], now) for i in ids]

    def update(
        self, resource_type: str, resource_id: str, body: Any, *, if_match: str | None
    ) -> dict[str, Any]:
        """Replace a stored resource (FHIR R4 update, http://hl7.org/fhir/R4/http.html#update),
        version-aware when `If-Match` is sent (http.html#concurrency). The practice's record
        then says what the update says: a cancelled Task's script stops."""
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            raise FhirError(400, "invalid", f"the body must be a {resource_type}")
        if body.get("id") != resource_id:
            raise FhirError(400, "invalid", "the body's id must match the URL's")
        now = self.clock()
        with self._lock:
            stored = self._resources.get((resource_type, resource_id))
            if stored is None:
                # Update as create is not offered: a client must not create by id here.
                raise FhirError(404, "not-found", f"{resource_type}/{resource_id}")
            current = self._render(stored, now)["meta"]["versionId"]
            if if_match is not None and if_match not in (f'W/"{current}"', f'"{current}"'):
                raise FhirError(
                    412, "conflict", f"{resource_type}/{resource_id} is at version {current}"
                )
            updated = deepcopy(body)
            updated["meta"] = {
                **updated.get("meta", {}),
                "versionId": str(int(current) + 1),
                "lastUpdated": scripts.instant(now),
            }
            self._updated[(resource_type, resource_id)] = (updated, now)
            return deepcopy(updated)

    def tasks_as_of(self, moment: datetime, *, ods_code: str | None) -> list[dict[str, Any]]:
        """Every Task that existed at `moment`, as it stood then; narrowed to one practice's
        (and any without an ODS-coded owner) when `ods_code` is given."""
        with self._lock:
            if ods_code is None:
                ids = [i for ids in self._tasks_by_ods.values() for i in ids]
            else:
                ids = self._tasks_by_ods.get(ods_code, []) + self._tasks_by_ods.get(None, [])
            return [
                self._render(stored, moment)
                for stored in (self._resources[("Task", task_id)] for task_id in ids)
                if stored.created_at <= moment
            ]

    def transact(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """Apply a transaction Bundle of conditional creates; all or nothing."""
        entries = _entries(bundle)
        ods_code = ods_code_of_bundle(bundle)
        with self._lock:
            plans = [self._plan(entry) for entry in entries]
            now = self.clock()
            references = {
                str(entry["fullUrl"]): f"{plan.resource_type}/{plan.existing_id or plan.new_id}"
                for entry, plan in zip(entries, plans, strict=True)
                if entry.get("fullUrl")
            }
            responses = []
            for entry, plan in zip(entries, plans, strict=True):
                if plan.existing_id is not None:
                    stored = self._resources[(plan.resource_type, plan.existing_id)]
                    version = self._render(stored, now)["meta"]["versionId"]
                    responses.append(_response("200 OK", plan, plan.existing_id, version))
                    continue
                resource = _resolve(deepcopy(entry["resource"]), references)
                resource["id"] = plan.new_id
                resource["meta"] = {
                    **resource.get("meta", {}),
                    "versionId": "1",
                    "lastUpdated": scripts.instant(now),
                }
                self._store(Stored(resource, ods_code, now))
                responses.append(_response("201 Created", plan, plan.new_id, "1"))
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "transaction-response",
            "entry": [{"response": response} for response in responses],
        }

    def _plan(self, entry: dict[str, Any]) -> _Planned:
        resource_type = str(entry["resource"]["resourceType"])
        condition = entry["request"].get("ifNoneExist")
        matches = self._matching(resource_type, str(condition)) if condition else []
        if len(matches) > 1:
            raise FhirError(
                412, "duplicate", f"ifNoneExist {condition!r} matched {len(matches)} resources"
            )
        return _Planned(resource_type, matches[0] if matches else None, str(uuid.uuid4()))

    def _matching(self, resource_type: str, condition: str) -> list[str]:
        criteria = parse_qsl(condition, keep_blank_values=True)
        if not criteria or any(name != "identifier" for name, _ in criteria):
            raise FhirError(400, "not-supported", "ifNoneExist supports only identifier=")
        found: set[str] | None = None
        for _, token in criteria:
            ids = set(self._by_identifier.get(_identifier_key(resource_type, token), []))
            found = ids if found is None else found & ids
        return sorted(found or set())

    def _store(self, stored: Stored) -> None:
        resource_type = str(stored.resource["resourceType"])
        resource_id = str(stored.resource["id"])
        self._resources[(resource_type, resource_id)] = stored
        if resource_type == "Task":
            self._tasks_by_ods.setdefault(stored.ods_code, []).append(resource_id)
        identifiers = stored.resource.get("identifier", [])
        for identifier in identifiers:
            value = str(identifier.get("value", ""))
            system = str(identifier.get("system", ""))
            for key in ((resource_type, system, value), (resource_type, None, value)):
                self._by_identifier.setdefault(key, []).append(resource_id)
        self._received.append(
            {
                "type": resource_type,
                "id": resource_id,
                "identifiers": deepcopy(identifiers),
                "ods_code": stored.ods_code,
                "received_at": scripts.instant(stored.created_at),
            }
        )

    def _render(self, stored: Stored, now: datetime) -> dict[str, Any]:
        key = (str(stored.resource["resourceType"]), str(stored.resource["id"]))
        updated = self._updated.get(key)
        if updated is not None and updated[1] <= now:
            return deepcopy(updated[0])
        if stored.resource["resourceType"] != "Task":
            return deepcopy(stored.resource)
        return scripts.task_as_of(
            stored.resource,
            created_at=stored.created_at,
            now=now,
            step_seconds=self.step_seconds,
            script=scripts.script_for(stored.ods_code),
        )


def ods_code_of_bundle(bundle: Any) -> str | None:
    """The practice a bundle is for: its Task's owner ODS code."""
    if not isinstance(bundle, dict):
        return None
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Task":
            return owner_ods_code(resource)
    return None


def owner_ods_code(task: dict[str, Any]) -> str | None:
    identifier = (task.get("owner") or {}).get("identifier") or {}
    if identifier.get("system") == systems.ODS_ORGANIZATION_CODE and identifier.get("value"):
        return str(identifier["value"])
    return None


def _identifier_key(resource_type: str, token: str) -> IdentifierKey:
    if "|" not in token:
        return resource_type, None, token
    system, value = token.split("|", 1)
    return resource_type, system, value


def _entries(bundle: Any) -> list[dict[str, Any]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "invalid", "expected a Bundle")
    if bundle.get("type") != "transaction":
        raise FhirError(400, "not-supported", "only transaction Bundles are accepted")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise FhirError(400, "required", "Bundle.entry is empty")
    for index, entry in enumerate(entries):
        where = f"Bundle.entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not resource.get("resourceType"):
            raise FhirError(400, "required", f"{where}.resource is missing its resourceType")
        if not isinstance(request, dict) or request.get("method") != "POST":
            raise FhirError(400, "not-supported", f"{where}.request.method must be POST")
        if request.get("url") != resource["resourceType"]:
            raise FhirError(400, "invalid", f"{where}.request.url must be the resource type")
    return entries


def _resolve(value: Any, references: dict[str, str]) -> Any:
    """Rewrite `urn:uuid:` references to what those bundle entries became."""
    if isinstance(value, dict):
        return {
            key: (
                references.get(item, item)
                if key == "reference" and isinstance(item, str)
                else _resolve(item, references)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_resolve(item, references) for item in value]
    return value


def _response(status: str, plan: _Planned, resource_id: str, version: str) -> dict[str, str]:
    return {
        "status": status,
        "location": f"{plan.resource_type}/{resource_id}/_history/{version}",
        "etag": f'W/"{version}"',
    }
