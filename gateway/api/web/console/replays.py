"""Bulk replay of dead letters: confirm what matches, start it, watch it, cancel it."""

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gateway.api.error_kinds import status_for
from gateway.api.web.console.deliveries import search_params
from gateway.api.web.console.pages import blank, error_page, render_page, router
from gateway.api.web.console.session import Engineer, EngineerDep, check_form, unit_of_work
from gateway.domain.errors import NotFound
from gateway.domain.instants import in_utc
from gateway.services import delivery_ops
from gateway.services.delivery_ops import ReplayCriteria
from gateway.store.unit_of_work import UnitOfWork


def _replay_criteria(
    practice: str | None,
    recommendation_id: str | None,
    error: str | None,
    created_before: datetime | None,
    *,
    dry_run: bool,
) -> ReplayCriteria:
    return ReplayCriteria(
        practice_ods=blank(practice),
        recommendation_id=blank(recommendation_id),
        error_contains=blank(error),
        created_before=created_before,
        dry_run=dry_run,
    )


def _replay(
    uow: UnitOfWork, engineer: Engineer, criteria: ReplayCriteria
) -> delivery_ops.ReplayBatchOut:
    return delivery_ops.replay_many(
        uow, criteria, requested_by=engineer.principal.client_id, now=datetime.now(UTC)
    )


def _confirmation(
    request: Request,
    engineer: Engineer,
    criteria: ReplayCriteria,
    *,
    notice: str | None = None,
) -> HTMLResponse:
    with unit_of_work(request) as uow:
        plan = _replay(uow, engineer, criteria)
    return render_page(
        request,
        "replay_confirm.html",
        {"plan": plan, "criteria": criteria, "notice": notice},
        engineer=engineer,
    )


@router.get("/replays/new", response_class=HTMLResponse)
def confirm_replay(
    request: Request,
    engineer: EngineerDep,
    practice: str | None = None,
    recommendation_id: str | None = None,
    error: str | None = None,
    older_than_seconds: str | None = None,
) -> HTMLResponse:
    filters, problems = search_params(None, practice, recommendation_id, error, older_than_seconds)
    if problems:
        return error_page(request, engineer, 422, "; ".join(problems))
    age = filters["older_than_seconds"]
    # Fixed now, so the batch replays what the engineer was shown, not what ages into it.
    before = datetime.now(UTC) - timedelta(seconds=age) if age is not None else None
    criteria = _replay_criteria(
        filters["practice"], filters["recommendation_id"], filters["error"], before, dry_run=True
    )
    return _confirmation(request, engineer, criteria)


@router.post("/replays")
def start_replay(
    request: Request,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    practice: Annotated[str, Form(max_length=10)] = "",
    recommendation_id: Annotated[str, Form(max_length=36)] = "",
    error: Annotated[str, Form(max_length=200)] = "",
    created_before: Annotated[str, Form(max_length=64)] = "",
    confirmed_total: Annotated[int, Form(ge=0, le=1_000_000)] = 0,
) -> Response:
    check_form(request, engineer, csrf_token)
    try:
        before = datetime.fromisoformat(created_before) if created_before else None
        if before is not None:
            if before.tzinfo is None:
                raise ValueError("no time zone")
            before = in_utc(before)
    except ValueError:
        return error_page(
            request, engineer, 422, "created_before: a date and time with its time zone"
        )
    criteria = _replay_criteria(practice, recommendation_id, error, before, dry_run=True)
    with unit_of_work(request) as uow:
        plan = _replay(uow, engineer, criteria)
    if plan.total != confirmed_total:
        # More (or fewer) dead letters match than the engineer agreed to: ask again.
        return _confirmation(
            request,
            engineer,
            criteria,
            notice=f"The number of matching deliveries changed from {confirmed_total} to "
            f"{plan.total}. Check and confirm again.",
        )
    if plan.total == 0:
        return error_page(request, engineer, 409, "No dead delivery matches: nothing to replay.")
    with unit_of_work(request) as uow:
        batch = _replay(uow, engineer, criteria.model_copy(update={"dry_run": False}))
    return RedirectResponse(f"/console/replays/{quote(batch.id or '')}", status_code=303)


@router.get("/replays/{batch_id}", response_class=HTMLResponse)
def replay_batch(request: Request, batch_id: str, engineer: EngineerDep) -> HTMLResponse:
    with unit_of_work(request) as uow:
        try:
            progress = delivery_ops.replay_progress(uow, batch_id)
        except NotFound as refused:
            return error_page(
                request, engineer, status_for(refused), f"There is no replay {batch_id}."
            )
        batch = uow.replays.get(batch_id)
        criteria = dict(batch.criteria) if batch else {}
        requested_by = batch.requested_by if batch else None
        created_at = batch.created_at if batch else None
    return render_page(
        request,
        "replay.html",
        {
            "batch": progress,
            "criteria": criteria,
            "requested_by": requested_by,
            "created_at": created_at,
        },
        engineer=engineer,
    )


@router.get("/replays/{batch_id}/progress")
def replay_batch_progress(request: Request, batch_id: str, engineer: EngineerDep) -> JSONResponse:
    with unit_of_work(request) as uow:
        try:
            progress = delivery_ops.replay_progress(uow, batch_id)
        except NotFound as refused:
            return JSONResponse(
                {"detail": f"no replay batch {batch_id}"}, status_code=status_for(refused)
            )
    return JSONResponse(progress.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post("/replays/{batch_id}/cancel")
def cancel_replay_batch(
    request: Request,
    batch_id: str,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_form(request, engineer, csrf_token)
    with unit_of_work(request) as uow:
        try:
            delivery_ops.cancel_replay(uow, batch_id, now=datetime.now(UTC))
        except NotFound as refused:
            return error_page(
                request, engineer, status_for(refused), f"There is no replay {batch_id}."
            )
    return RedirectResponse(f"/console/replays/{quote(batch_id)}", status_code=303)
