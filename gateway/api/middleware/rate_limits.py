"""Rate limits: a token bucket per client in each process (the authentication dependency
calls it), answered with 429 and Retry-After."""

import math
import threading
import time

from gateway.api.auth import RateLimited

_MAX_BUCKETS = 10_000


class TokenBucketLimiter:
    """`per_minute` requests per key per minute, with bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, *, now: float | None = None) -> None:
        if self.capacity <= 0:
            return
        at = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, at))
            tokens = min(self.capacity, tokens + (at - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, at)
                retry_after = max(1, math.ceil((1.0 - tokens) / self.rate))
                raise RateLimited(
                    f"rate limit of {int(self.capacity)} requests a minute reached; "
                    f"retry after {retry_after} s",
                    retry_after=retry_after,
                )
            self._buckets[key] = (tokens - 1.0, at)
            if len(self._buckets) > _MAX_BUCKETS:
                self._forget_full(at)

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: keeps memory bounded when
        # many addresses call the token endpoint.
        self._buckets = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate < self.capacity
        }
        if len(self._buckets) > _MAX_BUCKETS // 2:
            # Under a flood of distinct keys, the least recently seen go first.
            recent = sorted(self._buckets.items(), key=lambda item: item[1][1])
            self._buckets = dict(recent[-(_MAX_BUCKETS // 2) :])
