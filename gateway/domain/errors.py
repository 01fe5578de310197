"""One error base for the use cases: each error says what kind of refusal it is, and the
edges (the JSON and FHIR APIs, the console, the practice inbox, the CLI) turn the kind into
their own answer in one place each (`gateway.api.error_kinds` for HTTP), instead of reading
it back from the message text or carrying a status code of their own."""

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    NOT_FOUND = "not-found"  # nothing by that id
    CONFLICT = "conflict"  # it exists, but its state does not allow this now
    INVALID = "invalid"  # the request itself is wrong
    UNAVAILABLE = "unavailable"  # a system Liaison needs cannot answer now (`retry_after`)
    UNAUTHORISED = "unauthorised"  # who is calling is not established
    FORBIDDEN = "forbidden"  # the caller is known but not allowed this


@dataclass(frozen=True)
class FieldError:
    """One part of the request at fault: `field` as JSONPath or FHIRPath writes it, and
    `detail`, the sentence shown for it."""

    field: str
    detail: str


class LiaisonError(Exception):
    """A refusal a caller can act on. `detail` is shown as it is: ids only, never a
    patient's identifiers.

    The optional parts refine the answer without choosing its status: `title` (a heading
    more precise than the kind's), `field` (what in the request is at fault), `retry_after`
    (seconds, when trying again later can work) and `issue_code` (a FHIR IssueType code more
    precise than the kind's, e.g. `duplicate`)."""

    kind: ErrorKind = ErrorKind.CONFLICT
    title: str | None = None
    field: str | None = None
    retry_after: float | None = None
    issue_code: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        kind: ErrorKind | None = None,
        title: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if kind is not None:
            self.kind = kind
        if title is not None:
            self.title = title
        if field is not None:
            self.field = field
        if retry_after is not None:
            self.retry_after = retry_after

    @property
    def errors(self) -> list[FieldError]:
        """The parts of the request at fault, each named in its own sentence."""
        if self.field is None:
            return []
        return [FieldError(self.field, f"{self.field}: {self.detail}")]


class NotFound(LiaisonError):
    kind = ErrorKind.NOT_FOUND


class Invalid(LiaisonError):
    kind = ErrorKind.INVALID
