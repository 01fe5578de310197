"""What the current request has done, for its audit record.

The API's middleware opens a `RequestContext`; the authentication dependency (or the
practice inbox's sign-in) says who is acting with `note_actor`; and ORM events note every
recommendation the request loads or writes, through any repository, so routes added later
are audited without having to remember to. Outside a request (workers, CLI) nothing is
noted. Every process also feeds the names in loaded recommendations to the log redactor,
and a request's body names are taught to it only once the caller is authenticated.
"""

import threading
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from gateway.security.redaction import known_names, remember_names_in
from gateway.store.models import Delivery, FhirResource, Recommendation

# Enough for the largest page any route returns; beyond it a request is recorded as a bulk
# access without listing every id.
MAX_NOTED = 500


@dataclass(frozen=True)
class Actor:
    client_id: str
    organisation_ods: str | None
    kind: str | None
    user: str | None = None


@dataclass
class RequestContext:
    correlation_id: str
    remote_addr: str | None = None
    actor: Actor | None = None
    recommendations: dict[str, None] = field(default_factory=dict)  # ordered set
    overflowed: bool = False
    # Names found in the request's JSON body, taught to the log redactor once the caller is
    # known (an anonymous body must not blind log lines or crowd real names out).
    body_names: list[str] = field(default_factory=list)
    # Set when the route's own transaction committed the request's audit records
    # (gateway.api.middleware.audit_trail.AuditedUnitOfWorkDep): the status they name and the
    # recommendations they cover, so the middleware writes nothing twice.
    committed_audit: tuple[int, frozenset[str]] | None = None

    def note_body_names(self, names: list[str]) -> None:
        self.body_names = names
        self._teach_names()

    def note_actor(self, actor: Actor) -> None:
        self.actor = actor
        self._teach_names()

    def _teach_names(self) -> None:
        # Whichever comes second, the body or the authentication, teaches the names.
        if self.actor is not None and self.body_names:
            known_names.remember_from_request(self.body_names)
            self.body_names = []

    def note_recommendation(self, recommendation_id: str | None) -> None:
        if not recommendation_id or recommendation_id in self.recommendations:
            return
        if len(self.recommendations) >= MAX_NOTED:
            self.overflowed = True
            return
        self.recommendations[recommendation_id] = None


_current: ContextVar[RequestContext | None] = ContextVar("liaison_request", default=None)


def begin_request(context: RequestContext) -> Token[RequestContext | None]:
    return _current.set(context)


def end_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext | None:
    return _current.get()


def note_actor(actor: Actor) -> None:
    """Say who is acting in this request (no-op outside one)."""
    context = _current.get()
    if context is not None:
        context.note_actor(actor)


def note_recommendation(recommendation_id: str | None) -> None:
    context = _current.get()
    if context is not None:
        context.note_recommendation(recommendation_id)


def _on_recommendation(target: Recommendation) -> None:
    note_recommendation(target.id)
    # Names are remembered in every process, so a worker's exception that quotes one is
    # redacted too.
    remember_names_in(target.payload)


def _on_load(target: Any, *_event_args: Any) -> None:
    if isinstance(target, Recommendation):
        _on_recommendation(target)
    else:
        note_recommendation(getattr(target, "recommendation_id", None))


def _on_write(_mapper: Any, _connection: Any, target: Any) -> None:
    _on_load(target, None)


_installed = False
_install_lock = threading.Lock()


def install_tracking() -> None:
    """Listen to ORM loads and writes of patient-linked rows (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for model in (Recommendation, FhirResource, Delivery):
            event.listen(model, "load", _on_load)
            event.listen(model, "refresh", _on_load)
            event.listen(model, "after_insert", _on_write)
            event.listen(model, "after_update", _on_write)
        _installed = True
