"""Refuse, before any route runs, the input no route can store or parse safely.

- NUL (and the other C0 controls and DEL) in the path or the query string, and NUL anywhere
  in a body: PostgreSQL text cannot hold NUL (psycopg raises), so such a request would
  otherwise end in a 500 wherever the value reached a query.
- JSON nested deeper than `MAX_JSON_DEPTH`: Python's parser recurses, and a few kilobytes of
  brackets would raise RecursionError inside a handler.

Each refusal is a 400 naming where the problem is (`path`, `query`, `body`), as an
OperationOutcome under /fhir. Field-level rules (control characters in names and free
text) are the schemas' (gateway.api.text_rules).
"""

import re
from typing import Final
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import problem

MAX_JSON_DEPTH: Final = 64
_CONTROL: Final = re.compile(rb"[\x00-\x1f\x7f]")
# A NUL in a JSON string is written \u0000 (any case of the hex digits).
_JSON_NUL: Final = re.compile(rb"\\u0000", re.IGNORECASE)
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects in a JSON text nest (strings skipped)."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b'""', body):
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def body_problem(body: bytes, media_type: str) -> str | None:
    """Why this body is refused, or None."""
    if b"\x00" in body:
        return "the body holds a NUL character"
    if media_type == "application/x-www-form-urlencoded" and b"\x00" in unquote_to_bytes(body):
        return "a form field holds a NUL character"
    if media_type.endswith("json"):
        if _JSON_NUL.search(body):
            return "a JSON string holds a NUL character (\\u0000)"
        # Most bodies have a handful of brackets: only count depth when there could be many.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and (
            json_depth(body) > MAX_JSON_DEPTH
        ):
            return f"the JSON nests deeper than {MAX_JSON_DEPTH} levels"
    return None


class RefuseHostileInput:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fhir = str(scope["path"]).startswith("/fhir")
        where = _url_problem(scope)
        if where is not None:
            field, detail = where
            await self._refuse(scope, receive, send, field, detail, fhir)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        messages, body, complete = await _buffer(receive, self.max_body_bytes)
        if complete:
            media_type = Headers(scope=scope).get("content-type", "").split(";")[0].strip()
            reason = body_problem(bytes(body), media_type.lower())
            if reason is not None:
                await self._refuse(scope, receive, send, "body", reason, fhir)
                return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, field: str, detail: str, fhir: bool
    ) -> None:
        response = problem(
            400,
            "Invalid request",
            f"{field}: {detail}",
            errors=[{"field": field, "detail": f"{field}: {detail}"}],
            fhir=fhir,
        )
        await response(scope, receive, send)


def _url_problem(scope: Scope) -> tuple[str, str] | None:
    raw_path = scope.get("raw_path") or str(scope["path"]).encode("utf-8", "surrogateescape")
    if _CONTROL.search(unquote_to_bytes(raw_path)):
        return "path", "the path holds a control character"
    query: bytes = scope.get("query_string", b"")
    if _CONTROL.search(unquote_to_bytes(query.replace(b"+", b" "))):
        return "query", "a query parameter holds a control character"
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            return name.decode("latin-1"), "the header holds a NUL character"
    return None


async def _buffer(receive: Receive, limit: int) -> tuple[list[Message], bytearray, bool]:
    """The request's messages up to `limit` bytes of body; `complete` when that was all of
    it (a larger body goes on unread, for the body-size limit further in to refuse)."""
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, body, False
        body.extend(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, body, True
        if len(body) > limit:
            return messages, body, False
