"""The GP system registry: every adapter kind builds itself from its own typed options,
refuses options it does not take naming the field, and says what it can do."""

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from adapters.errors import PermanentAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_registry import (
    REGISTRY,
    BuildContext,
    NotBuilt,
    OptionsRefused,
    Unavailable,
    build,
    kind_of,
    sends_documents,
)
from adapters.gp_system import (
    ADAPTER_KINDS,
    Capability,
    GPSystem,
    delivery_tracker,
    update_source,
)
from adapters.inbox import InboxGPSystem
from adapters.mesh import MeshMailbox, MeshMailboxConfig
from adapters.mesh_gp import MeshGPSystem
from gateway.practice_directory import PracticeSettings
from gateway.settings import DeliverySettings, Settings

SECRETS = {"LIAISON_PRACTICE_SECRET_A81001": "token-value-0123456789"}
MAILBOX = MeshMailbox(
    MeshMailboxConfig(url="https://mesh.invalid", mailbox="X26ABC1", password="p", shared_key="k")
)


def _secret(what: str, reference: str) -> str:
    if reference not in SECRETS:
        raise NotBuilt(f"practice A81001: {what} variable {reference} is not set")
    return SECRETS[reference]


def _context(**overrides: Any) -> BuildContext:
    values: dict[str, Any] = {
        "ods_code": "A81001",
        "base_url": "https://gp.example.nhs.uk/fhir",
        "timeout_seconds": 7.0,
        "default_base_url": "http://127.0.0.1:8090/fhir",
        "secret": _secret,
        "url_problem": lambda url: None if url.startswith("https://gp.") else "is not allowed",
        "mesh_mailbox": lambda: MAILBOX,
    }
    return BuildContext(**{**values, **overrides})


def _refusal(system: GPSystem) -> str:
    assert isinstance(system, Unavailable)
    with pytest.raises(PermanentAdapterError, match="A81001"):
        system.submit(None)  # type: ignore[arg-type]
    return system.reason


def test_the_registry_has_one_entry_per_adapter_kind_the_directory_and_settings_accept() -> None:
    assert set(REGISTRY) == set(ADAPTER_KINDS)
    assert all(kind.name == name for name, kind in REGISTRY.items())
    # The directory's adapter field and the per-kind retry settings name the same kinds.
    assert set(get_args(PracticeSettings.model_fields["adapter"].annotation)) == set(ADAPTER_KINDS)
    Settings(
        delivery=DeliverySettings(
            retry_policies={kind: {"base_seconds": 5} for kind in ADAPTER_KINDS}
        )
    )
    with pytest.raises(ValidationError, match="retry_policies"):
        Settings(delivery=DeliverySettings(retry_policies={"smoke-signals": {"base_seconds": 5}}))


def test_a_fhir_practice_is_built_from_its_typed_options() -> None:
    auth = {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_A81001"}
    system = build("fhir", {"auth": auth, "search_orders": False}, _context())

    assert isinstance(system, FhirRestGPSystem)
    assert system._http.headers["Authorization"] == "Bearer token-value-0123456789"
    assert system._http.timeout.read == 7.0
    # A practice's own endpoint: Tasks found by Liaison's identifier system.
    assert system._task_search == "identifier"
    assert system._search_orders is False


def test_a_simulator_practice_takes_the_simulators_endpoint_and_search_style() -> None:
    context = _context(base_url=None, url_problem=lambda url: None)
    system = build("simulator", {}, context)

    assert isinstance(system, FhirRestGPSystem)
    assert system._base == "http://127.0.0.1:8090/fhir"
    assert system._task_search == "owner"
    assert system._search_orders is False


def test_a_mesh_practice_is_built_on_liaisons_mailbox_under_its_workflow() -> None:
    system = build(
        "mesh", {"mailbox": "x26abc2", "workflow_id": "GPFED_CONSULT_REPORT"}, _context()
    )

    assert isinstance(system, MeshGPSystem)
    assert system.workflow_id == "GPFED_CONSULT_REPORT"
    assert system._practice_mailbox == "X26ABC2"


def test_an_inbox_practice_needs_no_options() -> None:
    assert isinstance(build("inbox", {}, _context()), InboxGPSystem)


@pytest.mark.parametrize(
    ("kind", "options", "field"),
    [
        ("fhir", {"auth": {"type": "bearer"}}, "auth.bearer.token_env"),
        ("fhir", {"auth": {"type": "basic", "user": "u"}}, "auth"),
        ("fhir", {"task_search": "everything"}, "task_search"),
        ("simulator", {"mailbox": "X26ABC2"}, "mailbox"),  # a MESH option on a FHIR kind
        ("mesh", {"workflow_id": 7}, "workflow_id"),
        ("mesh", {"auth": {"type": "bearer", "token_env": "X"}}, "auth"),
        ("inbox", {"search_orders": True}, "search_orders"),
    ],
)
def test_options_a_kind_does_not_take_are_refused_naming_the_field(
    kind: str, options: dict[str, Any], field: str
) -> None:
    registered = kind_of(kind)
    assert registered is not None
    with pytest.raises(OptionsRefused) as refused:
        registered.read_options(options)
    assert field in refused.value.fields

    reason = _refusal(build(kind, options, _context()))
    assert reason.startswith(f"practice A81001: adapter {kind} options refused: {field}")


def test_a_refusal_never_repeats_the_value_given() -> None:
    # A secret pasted where its reference belongs is named by field, never echoed.
    options = {"auth": {"type": "bearer", "token_env": "X", "token": "pasted-secret-value"}}
    reason = _refusal(build("fhir", options, _context()))
    assert "auth.bearer.token" in reason
    assert "pasted-secret-value" not in reason


def test_what_building_needs_and_does_not_have_gives_an_adapter_that_says_why() -> None:
    assert "bearer token variable LIAISON_PRACTICE_SECRET_NONE is not set" in _refusal(
        build(
            "fhir",
            {"auth": {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_NONE"}},
            _context(),
        )
    )
    elsewhere = _refusal(build("fhir", {}, _context(base_url="https://attacker.example/fhir")))
    assert elsewhere == "practice A81001: base_url is not allowed"
    unregistered = _refusal(build("mesh", {"workflow_id": "LIAISON_MEDREC"}, _context()))
    assert "workflow_id LIAISON_MEDREC is not a registered MESH workflow id" in unregistered
    no_mailbox = build("mesh", {}, _context(mesh_mailbox=lambda: None))
    assert isinstance(no_mailbox, Unavailable)
    assert "MESH mailbox is not configured" in no_mailbox.reason
    assert _refusal(build("fax", {}, _context())) == "no adapter 'fax' for practice A81001"


def test_each_kind_says_what_it_can_do() -> None:
    every = Capability.SUBMIT | Capability.WITHDRAW
    expected = {
        "fhir": every | Capability.FETCH_UPDATES,
        "simulator": every | Capability.FETCH_UPDATES,
        "mesh": every | Capability.TRACK,  # followed message by message, never polled
        "inbox": every,  # inside Liaison: nothing to fetch or track
    }
    assert {name: kind.capabilities for name, kind in REGISTRY.items()} == expected
    # Only MESH deliveries are Send Document letters, each handed its envelope.
    assert {name for name in ADAPTER_KINDS if sends_documents(name)} == {"mesh"}
    assert not sends_documents("fax")


@pytest.mark.parametrize(
    ("kind", "options"),
    [("fhir", {}), ("simulator", {}), ("mesh", {"mailbox": "X26ABC2"}), ("inbox", {})],
)
def test_a_built_adapter_can_do_what_its_kind_says_and_nothing_more(
    kind: str, options: dict[str, Any]
) -> None:
    registered = kind_of(kind)
    assert registered is not None
    system = build(kind, options, _context(url_problem=lambda url: None))
    assert system.capabilities == registered.capabilities

    fetches = Capability.FETCH_UPDATES in system.capabilities
    tracks = Capability.TRACK in system.capabilities
    assert (update_source(system) is not None) == fetches
    assert (delivery_tracker(system) is not None) == tracks
    # An adapter offers the calls of its capabilities, and only those.
    assert hasattr(system, "fetch_updates") == fetches
    assert hasattr(system, "track") == tracks
