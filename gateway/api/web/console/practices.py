"""Practices (breaker state, backlog, time to ready) and alerts."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.api.ops import practice_stats
from gateway.api.ops import practices as practices_api
from gateway.api.web.console.pages import render_page, router
from gateway.api.web.console.session import EngineerDep, unit_of_work
from gateway.domain.charts import PracticeTiming, time_to_ready_chart
from gateway.domain.delivery_states import WAITING, DeliveryState

WINDOWS = (7, 30, 90, 365)


@dataclass(frozen=True)
class PracticeRow:
    view: practices_api.PracticeView
    last_success: datetime | None
    waiting: int
    dead: int
    stats: practice_stats.PracticeStats


@router.get("/practices", response_class=HTMLResponse)
def practices(request: Request, engineer: EngineerDep, days: int = 90) -> HTMLResponse:
    days = days if days in WINDOWS else 90
    rows: list[PracticeRow] = []
    with unit_of_work(request) as uow:
        last_success = uow.practice_health.last_success()
        waiting: dict[str, int] = {}
        dead: dict[str, int] = {}
        for ods, state, count, _ in uow.delivery_search.counts():
            if state in WAITING:
                waiting[ods] = waiting.get(ods, 0) + count
            elif state == DeliveryState.DEAD:
                dead[ods] = count
        for view in practices_api.list_practices(uow, engineer.principal).practices:
            stats = practice_stats.practice_stats(view.ods_code, uow, engineer.principal, days=days)
            rows.append(
                PracticeRow(
                    view=view,
                    last_success=last_success.get(view.ods_code),
                    waiting=waiting.get(view.ods_code, 0),
                    dead=dead.get(view.ods_code, 0),
                    stats=stats,
                )
            )
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
