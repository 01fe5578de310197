"""Practice inbox accounts: argon2id password hashes, and signing in with a lockout.

An account belongs to one practice; the sign-in asks for the practice's ODS code, the
username and the password, and answers the same way whichever of them is wrong.

Signing in commits: each attempt is counted before the password is checked.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from gateway.security.passwords import dummy_check, password_matches, rehash_if_stale
from gateway.store.ports import UnitOfWorkPort

MAX_FAILED_SIGN_INS: Final = 5
LOCKOUT: Final = timedelta(minutes=15)


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    practice_ods: str
    username: str


def sign_in(
    uow: UnitOfWorkPort, *, ods_code: str, username: str, password: str, now: datetime
) -> SignedIn | None:
    """The account, if the three match and it is not locked. Each attempt is counted in
    the database before the password is checked (and committed here, whatever the outcome),
    so five wrong passwords lock the account for 15 minutes however many arrive at once."""
    user = uow.inbox.user(ods_code.strip().upper(), username.strip())
    if user is None or not user.active:
        dummy_check(password)
        return None
    user_id, password_hash = user.id, user.password_hash
    attempts = uow.inbox.reserve_attempt(user_id, now=now)
    uow.commit()
    if attempts is None or attempts > MAX_FAILED_SIGN_INS:
        dummy_check(password)
        return None
    if not password_matches(password_hash, password):
        if attempts >= MAX_FAILED_SIGN_INS:
            uow.inbox.lock(user_id, until=now + LOCKOUT)
            uow.commit()
        return None
    rehashed = rehash_if_stale(password_hash, password)
    uow.inbox.signed_in(user_id, now=now, password_hash=rehashed)
    uow.commit()
    return SignedIn(user_id, user.practice_ods, user.username)
