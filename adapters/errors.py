"""Errors every adapter raises, whatever system it talks to.

Catch `AdapterError` to handle any failure of an outside system. Its subclasses
say what the caller should do next:

- `TransientAdapterError`: the system may succeed if asked again (timeouts,
  connection errors, 5xx, 408). Retry with backoff.
- `RateLimited`: the system asked us to slow down (429). Retry no sooner than
  `retry_after` seconds. A subclass of `TransientAdapterError`.
- `PermanentAdapterError`: asking again will not help (4xx other than 408/429,
  a refused payload, an unknown mailbox). Do not retry; dead-letter and tell a person.
"""


class AdapterError(Exception):
    """Any failure talking to an outside system."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransientAdapterError(AdapterError):
    """The same call may succeed later."""


class RateLimited(TransientAdapterError):
    """The outside system asked us to wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float, status_code: int | None = 429) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class PermanentAdapterError(AdapterError):
    """The call will never succeed as it is."""
