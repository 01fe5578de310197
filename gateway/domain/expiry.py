"""When a recommendation counts as expired: a prescription left uncollected beyond
`uncollected_for`, or a practice that stayed silent through every chase-up. Pure rules; the
re-engagement use case (gateway.services.reengagement) applies them to stored events.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from gateway.domain.chase_policy import ChasePolicy

# The statuses a practitioner may re-open from; "expired" is derived, not a status word.
REOPENABLE: Final = frozenset({"rejected", "cancelled", "delivery-failed"})


@dataclass(frozen=True)
class ExpiryPolicy:
    uncollected_for: timedelta = timedelta(days=28)
    chase: ChasePolicy = field(default_factory=ChasePolicy)
