"""GET /metrics: Prometheus exposition (gateway.metrics), for the `ops` scope or the fixed
scrape token `LIAISON_METRICS__TOKEN` (Prometheus cannot fetch short-lived access tokens)."""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway import metrics
from gateway.api.auth import Forbidden, current_principal
from gateway.settings import Settings

router = APIRouter(tags=["ops"])
_bearer = HTTPBearer(auto_error=False, description="an ops access token, or LIAISON_METRICS__TOKEN")


def metrics_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    settings: Settings = request.app.state.settings
    fixed = settings.metrics.token
    if (
        fixed
        and credentials is not None
        and credentials.scheme.lower() == "bearer"
        and hmac.compare_digest(credentials.credentials.encode(), fixed.encode())
    ):
        return
    principal = current_principal(request, credentials)
    if "ops" not in principal.scopes:
        raise Forbidden("this token lacks the 'ops' scope")


metrics_reader.required_scope = "ops"  # type: ignore[attr-defined]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def scrape(request: Request, _: Annotated[None, Depends(metrics_reader)]) -> Any:
    """Deliveries by practice and state, attempts and failures by adapter and error class,
    intake-to-delivered and intake-to-ready histograms, outbox lag, queue depth,
    notifications by channel and outcome, circuit breakers and alerts. Ids and counts only."""
    body = metrics.render(
        request.app.state.session_factory,
        request.app.state.settings.broker.url,
        shared=metrics.shared_directory(),
    )
    return Response(body, media_type=metrics.CONTENT_TYPE)
