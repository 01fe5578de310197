"""One error base for the use cases: each error says what kind of refusal it is, and the
edges (the JSON API, the console, the CLI) turn the kind into their own answer in one place
each, instead of reading it back from the message text."""

from enum import StrEnum


class ErrorKind(StrEnum):
    NOT_FOUND = "not-found"  # nothing by that id (HTTP 404)
    CONFLICT = "conflict"  # it exists, but its state does not allow this now (HTTP 409)
    INVALID = "invalid"  # the request itself is wrong (HTTP 422)


class LiaisonError(Exception):
    """A refusal a caller can act on. `detail` is shown as it is: ids only, never a
    patient's identifiers."""

    kind: ErrorKind = ErrorKind.CONFLICT

    def __init__(self, detail: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if kind is not None:
            self.kind = kind


class NotFound(LiaisonError):
    kind = ErrorKind.NOT_FOUND


class Invalid(LiaisonError):
    kind = ErrorKind.INVALID
