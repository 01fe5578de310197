"""Schemathesis against the committed contract (openapi.yaml), in process, with a valid token.

For every operation it generates schema-valid (positive) and schema-breaking (negative)
requests and checks what callers rely on:
- no 5xx, ever;
- every 4xx body says what was wrong (problem+json `detail`, OperationOutcome
  `diagnostics`, OAuth `error_description`), and a 422 names the field;
- no partial rows: afterwards, every stored recommendation was answered with a 2xx and has
  its resources, delivery, timeline entry and outbox row.

`make test` runs a bounded, derandomised pass (tests/gateway/test_api_fuzz.py);
`make fuzz` runs a longer random one and writes its figures to docs/RELIABILITY.md:

    python -m tests.gateway.api_fuzz --examples 200 --report docs/RELIABILITY.md
"""

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.logging import configure_logging
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import ApiSettings, BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Delivery, FhirResource, OutboxMessage, Recommendation, StatusEvent
from gateway.store.unit_of_work import UnitOfWork
from tests.conftest import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "openapi.yaml"
SECTION_START = "<!-- api-fuzz:start -->"
SECTION_END = "<!-- api-fuzz:end -->"
# "status: unknown status ..." names its field as well as an errors list does.
_FIELD_FIRST = re.compile(r"^[\w.\[\]-]+: ")
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class OperationFigures:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@dataclass
class Report:
    examples: int
    database: str = "SQLite"
    seconds: float = 0.0
    operations: dict[str, OperationFigures] = field(default_factory=dict)
    partial_rows: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        found = [f"{name}: {f}" for name, o in self.operations.items() for f in o.failures]
        return found + self.partial_rows

    @property
    def cases(self) -> int:
        return sum(o.cases for o in self.operations.values())


def what_was_wrong(response: Any) -> str | None:
    """None when a 4xx answer names its problem, else why it does not."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None if text else "an empty 4xx body"
    if not isinstance(body, dict):
        return "a 4xx body that is not an object"
    if body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or [{}]
        return None if issues[0].get("diagnostics") else "an OperationOutcome without diagnostics"
    if "error" in body:
        return None if body.get("error_description") else "an OAuth error without a description"
    if not body.get("detail"):
        return "a problem without detail"
    named = all(e.get("field") for e in body.get("errors", [{}])) or _FIELD_FIRST.match(
        str(body["detail"])
    )
    if response.status_code == 422 and not named:
        return "a 422 that names no field"
    return None


def _partial_rows(session_factory: Any, answered: set[str]) -> list[str]:
    problems = []
    with session_factory() as session:
        for rec_id in session.scalars(select(Recommendation.id)):
            if rec_id not in answered:
                problems.append(f"recommendation {rec_id} stored without a 2xx answer")
            resources = session.scalar(
                select(func.count()).where(FhirResource.recommendation_id == rec_id)
            )
            deliveries = session.scalars(
                select(Delivery.id).where(Delivery.recommendation_id == rec_id)
            ).all()
            timeline = session.scalar(
                select(func.count()).where(StatusEvent.recommendation_id == rec_id)
            )
            outbox = session.scalar(
                select(func.count()).where(OutboxMessage.ref_id.in_(deliveries))
            )
            if not (resources and resources >= 3 and deliveries and timeline and outbox):
                problems.append(
                    f"recommendation {rec_id} incomplete: {resources} resources, "
                    f"{len(deliveries)} deliveries, {timeline} events, {outbox} outbox rows"
                )
    return problems


def _form(fields: dict[str, int], summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: {"type": "string", "maxLength": limit}
                                for name, limit in fields.items()
                            },
                        }
                    }
                },
            },
            "responses": {"200": {"description": "the page"}},
        }
    }


# The web pages' forms are left out of the published API contract (they are pages, not an
# API), but they take input from anyone: the fuzz pass adds them.
PAGE_FORMS: dict[str, Any] = {
    "/inbox/login": _form(
        {"practice": 10, "username": 100, "password": 200, "csrf_token": 100},
        "practice inbox sign-in",
    ),
    "/console/login": _form({"token": 8192, "form_token": 100, "next": 2000}, "console sign-in"),
    "/inbox/requests/{recommendation_id}": {
        "post": {
            **_form(
                {"action": 40, "reason": 1000, "pharmacy": 200, "csrf_token": 100},
                "an inbox action",
            )["post"],
            "parameters": [
                {
                    "name": "recommendation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
        }
    },
}


def load_contract(contract: Path) -> Any:
    """The committed contract plus the page forms, as Schemathesis reads it."""
    document = yaml.safe_load(contract.read_text())
    document["paths"].update(PAGE_FORMS)
    return schemathesis.openapi.from_dict(document)


def make_app(workdir: Path, database_url: str | None = None) -> tuple[Any, Settings]:
    settings = Settings(
        data_dir=workdir,
        database=DatabaseSettings(url=database_url or f"sqlite:///{workdir}/fuzz.db"),
        broker=BrokerSettings(url="memory://"),
        api=ApiSettings(client_rate_limit_per_minute=0, token_rate_limit_per_minute=0),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
    engine.dispose()
    return create_app(settings), settings


def _exercise(
    client: TestClient,
    strategy: Any,
    figures: OperationFigures,
    *,
    headers: dict[str, str],
    answered: set[str],
    examples: int,
    derandomize: bool,
) -> None:
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
        kwargs.pop("cookies", None)
        method, url = kwargs.pop("method"), kwargs.pop("url")
        response = client.request(method, url, follow_redirects=False, **kwargs)
        figures.cases += 1
        figures.statuses[response.status_code] += 1
        if response.status_code >= 500:
            figures.failures.append(
                f"{response.status_code} for {method} {url} {kwargs.get('params') or ''}"
            )
        elif 400 <= response.status_code < 500:
            wrong = what_was_wrong(response)
            if wrong:
                figures.failures.append(
                    f"{response.status_code} with {wrong}: {response.text[:200]}"
                )
        elif method == "POST" and response.status_code < 300:
            answered.update(_ID.findall(response.text))

    # An operation with no parameters and no body has no way to be called wrongly.
    with contextlib.suppress(Unsatisfiable):
        exercise()


def run(
    *,
    examples: int,
    workdir: Path,
    derandomize: bool,
    contract: Path = CONTRACT,
    database_url: str | None = None,
) -> Report:
    app, settings = make_app(workdir, database_url)
    report_database = "PostgreSQL" if database_url else "SQLite"
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    headers = {"Authorization": f"Bearer {token}"}
    schema = load_contract(contract)
    report = Report(examples=examples, database=report_database)
    answered: set[str] = set()
    started = time.monotonic()
    with TestClient(app, raise_server_exceptions=False) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            name = f"{operation.method.upper()} {operation.path}"
            figures = report.operations.setdefault(name, OperationFigures())
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _exercise(
                    client,
                    operation.as_strategy(generation_mode=mode),
                    figures,
                    headers=headers,
                    answered=answered,
                    examples=examples,
                    derandomize=derandomize,
                )
    report.seconds = time.monotonic() - started
    report.partial_rows = _partial_rows(app.state.session_factory, answered)
    app.state.engine.dispose()
    return report


def render(report: Report, *, command: str) -> str:
    lines = [
        SECTION_START,
        "## API fuzzing (Schemathesis against openapi.yaml)",
        "",
        f"Command: `{command}` — {report.cases} requests in {report.seconds:.0f} s, "
        f"up to {report.examples} positive and {report.examples} negative examples per "
        "operation (the API contract plus the inbox and console forms), with a valid bearer "
        f"token, in process against a fresh {report.database} database.",
        "",
        "| operation | cases | responses | failures |",
        "|---|---:|---|---:|",
    ]
    for name, figures in sorted(report.operations.items()):
        statuses = ", ".join(f"{code} x{n}" for code, n in sorted(figures.statuses.items()))
        lines.append(f"| `{name}` | {figures.cases} | {statuses} | {len(figures.failures)} |")
    server_errors = sum(
        n for f in report.operations.values() for code, n in f.statuses.items() if code >= 500
    )
    lines += [
        "",
        f"5xx responses: {server_errors}. 4xx bodies not naming what was wrong: "
        f"{sum(len(f.failures) for f in report.operations.values()) - server_errors}. "
        f"Partial rows afterwards: {len(report.partial_rows)}.",
        "",
    ]
    if report.failures:
        lines += ["Failures (first 20):", ""]
        lines += [f"- {failure}" for failure in report.failures[:20]] + [""]
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Reliability figures\n"
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1].lstrip("\n")
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument("--derandomize", action="store_true")
    parser.add_argument("--contract", type=Path, default=CONTRACT)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run on a fresh database on the local PostgreSQL (127.0.0.1:5432), not SQLite",
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING")  # one access line per request would drown the figures
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory())
        database_url = stack.enter_context(fresh_postgres_database()) if args.postgres else None
        report = run(
            examples=args.examples,
            workdir=Path(workdir),
            derandomize=args.derandomize,
            contract=args.contract,
            database_url=database_url,
        )
    flags = f"--examples {args.examples}" + (" --postgres" if args.postgres else "")
    command = f"make fuzz (python -m tests.gateway.api_fuzz {flags})"
    section = render(report, command=command)
    sys.stdout.write(section)
    if args.report:
        write_section(args.report, section)
    summary = {"cases": report.cases, "failures": len(report.failures)}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
