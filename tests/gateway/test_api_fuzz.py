"""A bounded, derandomised Schemathesis pass over openapi.yaml (the longer, random one is
`make fuzz`): no 5xx, every 4xx says what was wrong, no partial rows."""

from pathlib import Path

import yaml

from tests.gateway.api_fuzz import CONTRACT, PAGE_FORMS, run, what_was_wrong

EXAMPLES = 10  # per operation and mode: about a minute for the whole contract


def test_fuzzing_the_contract_finds_no_server_error_vague_refusal_or_partial_row(
    tmp_path: Path, postgres_url: str
) -> None:
    # On PostgreSQL, which refuses what SQLite stores (NUL in text, out-of-range integers).
    report = run(examples=EXAMPLES, workdir=tmp_path, derandomize=True, database_url=postgres_url)

    paths = {**yaml.safe_load(CONTRACT.read_text())["paths"], **PAGE_FORMS}
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert set(report.operations) == operations
    assert all(figures.cases > 0 for figures in report.operations.values())
    assert report.failures == [], "\n".join(report.failures[:20])


class _Response:
    def __init__(self, status_code: int, body: object) -> None:
        self.status_code = status_code
        self._body = body
        self.text = str(body)

    def json(self) -> object:
        return self._body


def test_the_fuzz_refusal_check_passes_named_refusals_and_flags_vague_ones() -> None:
    assert what_was_wrong(_Response(404, {"detail": "no recommendation x"})) is None
    assert (
        what_was_wrong(_Response(422, {"detail": "plan: invalid", "errors": [{"field": "plan"}]}))
        is None
    )
    assert what_was_wrong(_Response(422, {"detail": "status: unknown status 'x'"})) is None
    assert what_was_wrong(_Response(422, {"detail": "something is off"})) is not None
    assert what_was_wrong(_Response(400, {"title": "Bad"})) is not None
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "date: bad"}]}
    assert what_was_wrong(_Response(400, outcome)) is None
    assert what_was_wrong(_Response(401, {"error": "invalid_client"})) is not None
