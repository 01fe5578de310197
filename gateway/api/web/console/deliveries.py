"""The overview and the deliveries: counts, the filtered list, one delivery, its replay."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gateway.api.dependencies import SettingsDep
from gateway.api.error_kinds import status_for
from gateway.api.links import next_page_url
from gateway.api.web.console.pages import blank, error_page, render_page, router
from gateway.api.web.console.session import EngineerDep, check_form, unit_of_work
from gateway.domain.delivery_states import WAITING, DeliveryState
from gateway.domain.errors import LiaisonError, NotFound
from gateway.services import delivery_ops
from gateway.services.delivery_ops import MAX_AGE_SECONDS

STATES = (*WAITING, DeliveryState.DEAD)
PAGE_SIZE = 50
AGES = (
    ("", "any age"),
    ("300", "older than 5 minutes"),
    ("3600", "older than 1 hour"),
    ("86400", "older than 1 day"),
    ("604800", "older than 1 week"),
)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, engineer: EngineerDep, settings: SettingsDep) -> HTMLResponse:
    with unit_of_work(request) as uow:
        queues = delivery_ops.queue_overview(
            uow, broker_url=settings.broker.url, now=datetime.now(UTC)
        )
        firing = [a for a in uow.alerts.open() if a.raised_at is not None]
        return render_page(
            request,
            "overview.html",
            {"queues": queues, "states": STATES, "alerts": firing},
            engineer=engineer,
        )


def search_params(
    state: str | None,
    practice: str | None,
    recommendation_id: str | None,
    error: str | None,
    older_than_seconds: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """The list's filters, cleaned, and what is wrong with them (field: reason)."""
    problems: list[str] = []
    found: dict[str, Any] = {
        "state": blank(state),
        "practice": (blank(practice) or "").upper() or None,
        "recommendation_id": blank(recommendation_id),
        "error": blank(error),
        "older_than_seconds": None,
    }
    if found["state"] is not None and found["state"] not in delivery_ops.STATES:
        problems.append(f"state: unknown state {found['state']!r}")
        found["state"] = None
    for name, limit in (("practice", 10), ("recommendation_id", 36), ("error", 200)):
        if found[name] is not None and len(found[name]) > limit:
            problems.append(f"{name}: at most {limit} characters")
            found[name] = None
    age = blank(older_than_seconds)
    if age is not None:
        if re.fullmatch(r"[0-9]{1,9}", age) and int(age) <= MAX_AGE_SECONDS:
            found["older_than_seconds"] = int(age)
        else:
            problems.append(
                f"older_than_seconds: a whole number of seconds up to {MAX_AGE_SECONDS}"
            )
    return found, problems


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries(
    request: Request,
    engineer: EngineerDep,
    state: str | None = None,
    practice: str | None = None,
    recommendation_id: str | None = None,
    error: str | None = None,
    older_than_seconds: str | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> HTMLResponse:
    filters, problems = search_params(state, practice, recommendation_id, error, older_than_seconds)
    offset, limit = max(0, offset), min(max(1, limit), 200)
    criteria = delivery_ops.search_criteria(now=datetime.now(UTC), **filters)
    with unit_of_work(request) as uow:
        page = delivery_ops.find_deliveries(uow, criteria, limit=limit, offset=offset)
    page.next = next_page_url(request, offset=offset, limit=limit, total=page.total)
    query = {k: v for k, v in filters.items() if v is not None}
    previous = None
    if offset > 0:
        previous = "?" + urlencode({**query, "offset": max(0, offset - limit), "limit": limit})
    replay_query: dict[str, Any] = {
        k: query[k]
        for k in ("practice", "recommendation_id", "error", "older_than_seconds")
        if k in query
    }
    return render_page(
        request,
        "deliveries.html",
        {
            "page": page,
            "filters": filters,
            "problems": problems,
            "states": delivery_ops.STATES,
            "ages": AGES,
            "previous": previous,
            "replay_link": "/console/replays/new?" + urlencode(replay_query),
        },
        engineer=engineer,
        status_code=422 if problems else 200,
    )


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery(request: Request, delivery_id: str, engineer: EngineerDep) -> HTMLResponse:
    with unit_of_work(request) as uow:
        try:
            detail = delivery_ops.delivery_detail(uow, delivery_id)
        except NotFound as refused:
            return error_page(
                request, engineer, status_for(refused), f"There is no delivery {delivery_id}."
            )
        recommendation = uow.recommendations.get(detail.recommendation_id)
        status = recommendation.status if recommendation else None
    return render_page(
        request,
        "delivery.html",
        {"delivery": detail, "recommendation_status": status},
        engineer=engineer,
    )


@router.get("/deliveries/{delivery_id}/state")
def delivery_state(request: Request, delivery_id: str, engineer: EngineerDep) -> JSONResponse:
    """For the delivery page's script: reload when something changed."""
    with unit_of_work(request) as uow:
        found = uow.deliveries.get(delivery_id)
        if found is None:
            return JSONResponse({"detail": f"no delivery {delivery_id}"}, status_code=404)
        return JSONResponse(
            {"state": found.state, "attempt_count": found.attempt_count},
            headers={"Cache-Control": "no-store"},
        )


@router.post("/deliveries/{delivery_id}/replay")
def replay_delivery(
    request: Request,
    delivery_id: str,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_form(request, engineer, csrf_token)
    with unit_of_work(request) as uow:
        try:
            replayed = delivery_ops.replay_one(uow, delivery_id, now=datetime.now(UTC))
        except LiaisonError as refused:
            return error_page(request, engineer, status_for(refused), refused.detail)
    return RedirectResponse(f"/console/deliveries/{quote(replayed.replay)}", status_code=303)
