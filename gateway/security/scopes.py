"""The scopes a Liaison access token may carry, by kind of client. A module of its own so a
use case can name a scope without importing the client registry (which opens the store).
"""

from typing import Final

PRACTICE_ADMIN_SCOPE: Final = "practice-admin"
# What a client of each kind gets when registered without naming scopes.
KIND_SCOPES: dict[str, frozenset[str]] = {
    "case-management": frozenset({"recommendations", "fhir"}),
    "gp-practice": frozenset({"gp-practice", "fhir"}),
    "ops": frozenset({"ops"}),
}
# What it may be registered with when it names them: an ops client may add practice-admin.
KIND_ALLOWED_SCOPES: dict[str, frozenset[str]] = {
    **KIND_SCOPES,
    "ops": frozenset({"ops", PRACTICE_ADMIN_SCOPE}),
}
KNOWN_SCOPES = frozenset().union(*KIND_ALLOWED_SCOPES.values())
