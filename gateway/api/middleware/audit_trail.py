"""The audit trail, recorded for every non-public request.

`AuditTrail` writes the request's records (gateway.security.audit) before the response
starts: if they cannot be written, the caller gets 503 instead of the data, so nothing is
disclosed unaudited. A route that writes (`AuditedUnitOfWorkDep`) commits its records in
its own transaction instead: one commit, and no change without its record. The records are
read back as FHIR AuditEvent (gateway.api.fhir.audit_events).
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.middleware.routes import is_public, route_template
from gateway.api.problems import DATABASE_RETRY_AFTER_SECONDS, problem
from gateway.logging import get_logger
from gateway.security import audit
from gateway.security.context import RequestContext, current_request
from gateway.store.unit_of_work import UnitOfWork

log = get_logger("liaison.audit")


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = current_request()
        if scope["type"] != "http" or context is None:
            await self.app(scope, receive, send)
            return
        # An audited response is held back until the route has finished (its unit of work
        # closed: on SQLite it holds the only write lock until then) and its record is
        # written; unaudited ones (public routes, no route) pass straight through.
        held: list[Message] = []
        audited: bool | None = None

        async def hold_if_audited(message: Message) -> None:
            nonlocal audited
            if audited is None:
                audited = _audited(scope)
            if audited:
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_if_audited)
        except Exception:
            if _audited(scope):
                await self._record(scope, context, 500)
            raise
        if not audited or not held:
            return
        if _already_committed(context, held[0]["status"]):
            for message in held:
                await send(message)
            return
        if not await self._record(scope, context, held[0]["status"]):
            refusal = problem(
                503,
                "Audit unavailable",
                "the access could not be recorded in the audit trail; try again shortly",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
                fhir=scope["path"].startswith("/fhir"),
            )
            await refusal(scope, receive, send)
            return
        for message in held:
            await send(message)

    async def _record(self, scope: Scope, context: RequestContext, status: int) -> bool:
        template = route_template(scope)
        assert template is not None
        facts = audit.RequestFacts(
            method=scope["method"],
            route=template,
            has_path_parameters="{" in template,
            status_code=status,
        )
        session_factory: sessionmaker[Session] = scope["app"].state.session_factory
        try:
            await anyio.to_thread.run_sync(partial(_write, session_factory, context, facts))
        except Exception:
            log.exception("audit record not written", route=template, status=status)
            return False
        return True


def _already_committed(context: RequestContext, status: int) -> bool:
    """The route's transaction recorded this answer, for every recommendation touched."""
    committed = context.committed_audit
    return (
        committed is not None
        and committed[0] == status
        and not context.overflowed
        and set(context.recommendations) <= committed[1]
    )


def _audited_unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """A unit of work whose first commit carries the request's audit records, naming the
    route's success status. Should the answer end up different (an error after the
    commit), the middleware writes the records again with the status actually sent; a
    commit that fails takes the records with it, and the middleware writes them then."""
    with UnitOfWork(request.app.state.session_factory) as uow:
        context = current_request()
        if context is not None and _audited(request.scope):
            _record_on_commit(uow.session, request.scope, context)
        yield uow


def _record_on_commit(session: Session, scope: Scope, context: RequestContext) -> None:
    template = route_template(scope)
    assert template is not None
    facts = audit.RequestFacts(
        method=scope["method"],
        route=template,
        has_path_parameters="{" in template,
        status_code=getattr(scope.get("route"), "status_code", None) or 200,
    )
    covered: list[frozenset[str]] = []

    # A SAVEPOINT's release fires the same events: only the outer transaction counts.
    def add_records(session: Session) -> None:
        if covered or context.committed_audit is not None or session.in_nested_transaction():
            return  # the first commit carries them
        session.flush()  # the ORM notes the recommendations it writes as it flushes
        covered.append(frozenset(context.recommendations))
        session.add_all(audit.records_for(context, facts, now=datetime.now(UTC)))

    def committed(session: Session) -> None:
        if covered and context.committed_audit is None and not session.in_nested_transaction():
            context.committed_audit = (facts.status_code, covered[0])

    def rolled_back(session: Session) -> None:
        if context.committed_audit is None and not session.in_nested_transaction():
            covered.clear()  # not written after all: the next commit carries them

    event.listen(session, "before_commit", add_records)
    event.listen(session, "after_commit", committed)
    event.listen(session, "after_rollback", rolled_back)


AuditedUnitOfWorkDep = Annotated[UnitOfWork, Depends(_audited_unit_of_work)]


def _audited(scope: Scope) -> bool:
    template = route_template(scope)
    return template is not None and not is_public(template, scope["method"])


def _write(
    session_factory: sessionmaker[Session], context: RequestContext, facts: audit.RequestFacts
) -> None:
    with UnitOfWork(session_factory) as uow:
        audit.record_request(uow, context, facts, now=datetime.now(UTC))
