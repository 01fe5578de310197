"""When the database cannot be reached, callers get 503 with Retry-After, never a 500 and never
the driver's words (they can name the host or the query), and nothing is left half-done."""

from fastapi.testclient import TestClient

from gateway.store.database import make_engine, make_session_factory
from tests.conftest import refusing_port
from tests.gateway.conftest import row_counts


def test_an_unreachable_database_is_a_503_with_retry_after(api: TestClient) -> None:
    app = api.app
    working = app.state.session_factory  # type: ignore[attr-defined]
    before = row_counts(api)
    with refusing_port() as port:
        down = make_engine(f"postgresql+psycopg://liaison@127.0.0.1:{port}/liaison")
        app.state.session_factory = make_session_factory(down)  # type: ignore[attr-defined]
        try:
            listed = api.get("/v1/recommendations")
            fhir = api.get("/fhir/ServiceRequest")
        finally:
            app.state.session_factory = working  # type: ignore[attr-defined]
            down.dispose()

    assert listed.status_code == 503
    assert listed.headers["retry-after"] == "5"
    assert listed.headers["content-type"].startswith("application/problem+json")
    # The refusal or, when even the audit trail cannot be written, the trail's own 503.
    assert "try again" in listed.json()["detail"]
    assert fhir.status_code == 503
    assert fhir.json()["resourceType"] == "OperationOutcome"
    for answer in (listed, fhir):
        assert str(port) not in answer.text
        assert "psycopg" not in answer.text.lower()
    # Back up: the same request is answered, and the outage wrote nothing.
    assert api.get("/v1/recommendations").status_code == 200
    assert row_counts(api) == before
