"""The case-management app's webhook subscription: where Liaison posts signed events.

Each event is a POST of JSON (`id`, `event`, `occurred_at`, `recommendation` {id, status,
url}) signed with HMAC-SHA256 over `<Liaison-Timestamp>.<body>` using the secret given
here (header `Liaison-Signature: v1=<hex>`; see adapters/webhook.py). Failed posts are
retried with backoff, like deliveries; `Liaison-Event-Id` stays the same on every retry.

The URL must name a public internet host (adapters.address_policy): an address or a name
resolving to loopback, private, link-local, shared, multicast or other special-purpose
addresses is refused here, and again on every request the worker sends, unless the
operator lists the host in LIAISON_WEBHOOKS__ALLOWED_HOSTS.
"""

from datetime import UTC, datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AnyUrl, BaseModel, Field, UrlConstraints

from adapters.address_policy import AllowedHosts
from adapters.pinned_transport import (
    RefusedDestination,
    Resolver,
    UnresolvableHost,
    destination,
    system_resolver,
)
from gateway.api.dependencies import RecommendationsClient, UnitOfWorkDep
from gateway.api.v1.schemas import Strict
from gateway.settings import Settings
from gateway.store.models import WebhookSubscription

router = APIRouter(prefix="/v1/webhook-subscription", tags=["webhooks"])


class WebhookIn(Strict):
    url: Annotated[
        AnyUrl,
        UrlConstraints(max_length=500, allowed_schemes=["https", "http"]),
        Field(
            description="https (http only in development), on a public internet host; "
            "no user name or password"
        ),
    ]
    secret: Annotated[str, Field(min_length=32, max_length=200)]


class WebhookOut(BaseModel):
    url: str
    created_at: datetime
    updated_at: datetime


def host_resolver() -> Resolver:
    """How the subscription check resolves names (a dependency, so tests can say what a
    name resolves to)."""
    return system_resolver


def _url_refusal(url: str, settings: Settings, resolve: Resolver) -> str | None:
    allowed = AllowedHosts.parse(settings.webhooks.allowed_hosts)
    try:
        destination(httpx.URL(url), allowed, resolve)
    except RefusedDestination as exc:
        return str(exc)
    except UnresolvableHost:
        return None  # nothing to reach now; every request the worker sends is checked again
    except httpx.InvalidURL as exc:
        return f"not a valid URL: {exc}"
    return None


def _out(subscription: WebhookSubscription) -> WebhookOut:
    # The secret is never shown again.
    return WebhookOut(
        url=subscription.url,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
    )


@router.put("", response_model=WebhookOut)
def set_webhook(
    body: WebhookIn,
    request: Request,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
    resolve: Annotated[Resolver, Depends(host_resolver)],
) -> WebhookOut:
    """Subscribe (or replace the subscription) for every event on this organisation's
    recommendations."""
    settings: Settings = request.app.state.settings
    refusal = _url_refusal(str(body.url), settings, resolve)
    if refusal is None and body.url.scheme != "https" and settings.environment == "production":
        refusal = "must use https"
    if refusal:
        raise RequestValidationError(
            [{"loc": ("body", "url"), "msg": refusal, "type": "value_error"}]
        )
    now = datetime.now(UTC)
    saved = uow.engagement.set_webhook(
        WebhookSubscription(
            organisation_ods=principal.organisation_ods,
            url=str(body.url),
            secret=body.secret,
            created_at=now,
            updated_at=now,
        )
    )
    uow.commit()
    return _out(saved)


@router.get("", response_model=WebhookOut)
def get_webhook(uow: UnitOfWorkDep, principal: RecommendationsClient) -> WebhookOut:
    found = uow.engagement.webhook(principal.organisation_ods)
    if found is None:
        raise HTTPException(404, "no webhook subscription")
    return _out(found)


@router.delete("", status_code=204)
def delete_webhook(uow: UnitOfWorkDep, principal: RecommendationsClient) -> Response:
    if not uow.engagement.delete_webhook(principal.organisation_ods):
        raise HTTPException(404, "no webhook subscription")
    uow.commit()
    return Response(status_code=204)
