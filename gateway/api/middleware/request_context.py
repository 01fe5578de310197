"""The outermost middleware: the correlation id (echoed as `X-Correlation-ID`), the request's
audit context, one JSON access-log line (method, route template, status, duration, client id:
never the path, the query string or the body), and the names found in a JSON request body
handed to the log redactor once the caller is authenticated."""

import contextlib
import json
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.middleware.hostile_input import body_problem
from gateway.api.middleware.routes import JSON_BODIES, media_type, route_template
from gateway.correlation import CORRELATION_HEADER, accepted_correlation_id, correlation
from gateway.logging import get_logger
from gateway.security.context import (
    RequestContext,
    begin_request,
    end_request,
)
from gateway.security.redaction import names_in

access_log = get_logger("liaison.access")
# RFC 9110 section 9 and PATCH (RFC 5789); any other method token is logged as "other".
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        context = RequestContext(
            correlation_id=accepted_correlation_id(headers.get(CORRELATION_HEADER)),
            remote_addr=client[0] if client else None,
        )
        status = 500
        started = time.monotonic()
        reads_json = media_type(headers) in JSON_BODIES
        body = bytearray()

        async def receive_and_learn() -> Message:
            # Names in a JSON body are found as it arrives and taught to the log redactor
            # once the caller is authenticated (RequestContext), before a handler can log or
            # raise with them; the body-size limit further in caps what is buffered here.
            message = await receive()
            if reads_json and message["type"] == "http.request":
                if len(body) <= self.max_body_bytes:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False) and len(body) <= self.max_body_bytes:
                    # Not JSON, or nested too deep: RefuseHostileInput or the route says so.
                    with contextlib.suppress(ValueError, RecursionError):
                        if body_problem(bytes(body), "application/json") is None:
                            context.note_body_names(names_in(json.loads(body)))
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = context.correlation_id
            await send(message)

        token = begin_request(context)
        with correlation(context.correlation_id):
            try:
                await self.app(scope, receive_and_learn, send_with_id)
            finally:
                actor = context.actor
                # Only these fields, all Liaison's own values: never the path, the query or
                # anything from the body.
                access_log.info(
                    "request",
                    method=scope["method"] if scope["method"] in _METHODS else "other",
                    route=route_template(scope) or "(no route)",
                    status=status,
                    duration_ms=round((time.monotonic() - started) * 1000, 1),
                    client_id=actor.client_id if actor else None,
                )
                end_request(token)
