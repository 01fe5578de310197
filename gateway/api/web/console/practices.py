"""Practices (breaker state, backlog, time to ready) and alerts."""

from datetime import UTC, datetime, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.api.web.console.pages import render_page, router
from gateway.api.web.console.session import EngineerDep, unit_of_work
from gateway.domain.charts import PracticeTiming, time_to_ready_chart
from gateway.services import practice_overview

WINDOWS = (7, 30, 90, 365)


@router.get("/practices", response_class=HTMLResponse)
def practices(request: Request, engineer: EngineerDep, days: int = 90) -> HTMLResponse:
    days = days if days in WINDOWS else 90
    with unit_of_work(request) as uow:
        rows = practice_overview.overview(uow, days=days, now=datetime.now(UTC))
    chart = time_to_ready_chart(
        [
            PracticeTiming(
                r.view.ods_code, r.stats.median_seconds, r.stats.p90_seconds, r.stats.ready
            )
            for r in rows
        ],
        window_days=days,
    )
    return render_page(
        request,
        "practices.html",
        {"practices": rows, "chart": chart, "days": days, "windows": WINDOWS},
        engineer=engineer,
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, engineer: EngineerDep) -> HTMLResponse:
    now = datetime.now(UTC)
    with unit_of_work(request) as uow:
        raised = list(uow.alerts.raised(resolved_since=now - timedelta(days=7)))
        watching = [a for a in uow.alerts.open() if a.raised_at is None]
        return render_page(
            request,
            "alerts.html",
            {"raised": raised, "watching": watching},
            engineer=engineer,
        )
