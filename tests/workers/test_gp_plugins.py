"""The workers treat GP systems as plugins: they ask an adapter for a capability, never for
its concrete class, and hand each kind only the options it takes."""

import ast
import inspect
import json
from pathlib import Path

import pytest

from adapters import fhir_rest, gp_registry, inbox, mesh_gp
from adapters.gp_system import ADAPTER_KINDS, Capability
from gateway.settings import DeliverySettings, Settings
from gateway.store.models import Practice
from workers.gp_systems import PracticeEndpoint, gp_system_factory
from workers.polling import polled

WORKERS = Path(__file__).resolve().parents[2] / "workers"


def _adapter_classes() -> frozenset[str]:
    """Every class in the GP adapter modules that declares what it can do."""
    return frozenset(
        name
        for module in (fhir_rest, mesh_gp, inbox, gp_registry)
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and isinstance(getattr(value, "capabilities", None), Capability)
    )


def _names(node: ast.expr) -> set[str]:
    """The class names a type check's second argument mentions (A, m.A, (A, B), A | B)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(element) for element in node.elts))
    if isinstance(node, ast.BinOp):
        return _names(node.left) | _names(node.right)
    return set()


def _is_type_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"


def _type_checks(source: str, classes: frozenset[str]) -> list[str]:
    """Each `isinstance`/`issubclass`/`type(x) is` on one of `classes`, by line."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        checked: set[str] = set()
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
        ):
            checked = _names(node.args[1])
        elif isinstance(node, ast.Compare) and any(
            isinstance(left, ast.Call)
            and isinstance(left.func, ast.Name)
            and left.func.id == "type"
            for left in [node.left, *node.comparators]
        ):
            checked = set().union(*(_names(part) for part in [node.left, *node.comparators]))
        if checked & classes:
            assert isinstance(node, ast.expr)
            found += [f"line {node.lineno}: {name}" for name in sorted(checked & classes)]
    return found


def test_the_check_finds_a_worker_branching_on_an_adapter_class() -> None:
    classes = _adapter_classes()
    assert {"FhirRestGPSystem", "MeshGPSystem", "InboxGPSystem", "Unavailable"} <= classes
    branching = (
        "if isinstance(gp, MeshGPSystem): pass\n"
        "ok = isinstance(gp, (str, mesh_gp.MeshGPSystem))\n"
        "same = type(gp) is FhirRestGPSystem\n"
        "fine = isinstance(error, PermanentAdapterError)\n"
    )
    assert _type_checks(branching, classes) == [
        "line 1: MeshGPSystem",
        "line 2: MeshGPSystem",
        "line 3: FhirRestGPSystem",
    ]


@pytest.mark.parametrize("module", sorted(WORKERS.glob("*.py")), ids=lambda path: path.name)
def test_no_worker_asks_an_adapter_for_its_class(module: Path) -> None:
    assert _type_checks(module.read_text(), _adapter_classes()) == []


def test_a_practice_endpoint_carries_only_the_options_its_kind_takes() -> None:
    # A directory row also holds fields for the workers and the API (callback secret,
    # booking, in-flight limit): the adapter is handed its own options and builds.
    config = {
        "source": "api",
        "auth": {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_A81001"},
        "task_search": "owner",
        "callback_secret_env": "LIAISON_PRACTICE_SECRET_A81001_CALLBACK",
        "max_in_flight": 4,
        "timeout_seconds": 25.0,
    }
    practice = Practice(
        ods_code="A81001",
        adapter="fhir",
        base_url="https://gp.example.nhs.uk/fhir",
        mesh_mailbox="X26ABC2",
        config=config,
    )
    endpoint = PracticeEndpoint.of(practice)

    assert json.loads(endpoint.options) == {"auth": config["auth"], "task_search": "owner"}
    assert endpoint.timeout(Settings()) == 25.0
    mesh = PracticeEndpoint.of(
        Practice(ods_code="A81002", adapter="mesh", mesh_mailbox="X26ABC2", config=config)
    )
    assert json.loads(mesh.options) == {"mailbox": "X26ABC2"}


def test_a_practice_endpoint_without_a_timeout_takes_liaisons() -> None:
    endpoint = PracticeEndpoint.of(Practice(ods_code="A81001", adapter="inbox", config={}))
    assert endpoint.timeout(Settings(delivery=DeliverySettings(http_timeout_seconds=12.0))) == 12.0


def test_the_workers_build_each_practice_through_the_registry() -> None:
    settings = Settings()
    build = gp_system_factory(settings, lambda: None)
    practice = Practice(ods_code="Y00001", adapter="simulator", config={"task_search": "owner"})
    system = build(PracticeEndpoint.of(practice))
    assert isinstance(system, fhir_rest.FhirRestGPSystem)
    assert system._base == settings.development.simulator_base_url
    # The same endpoint, the same adapter: its connections are reused.
    assert build(PracticeEndpoint.of(practice)) is system


def test_polling_covers_the_kinds_that_fetch_or_track() -> None:
    assert {kind for kind in ADAPTER_KINDS if polled(kind)} == {"fhir", "simulator", "mesh"}
    # A kind Liaison does not have is polled, so its adapter's refusal is recorded.
    assert polled("fax")
