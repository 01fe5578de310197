"""Practice inbox accounts: argon2id password hashes, and signing in with a lockout.

An account belongs to one practice; the sign-in asks for the practice's ODS code, the
username and the password, and answers the same way whichever of them is wrong.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.store.unit_of_work import UnitOfWork

MAX_FAILED_SIGN_INS: Final = 5
LOCKOUT: Final = timedelta(minutes=15)
MIN_PASSWORD_LENGTH: Final = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the account does not exist, so a wrong username costs as much as a wrong
# password and timing does not tell which one was wrong.
_DUMMY_HASH: Final = _hasher.hash("liaison-inbox-no-such-user")


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    practice_ods: str
    username: str


def sign_in(
    uow: UnitOfWork, *, ods_code: str, username: str, password: str, now: datetime
) -> SignedIn | None:
    """The account, if the three match and it is not locked. Each attempt is counted in
    the database before the password is checked (and committed here, whatever the outcome),
    so five wrong passwords lock the account for 15 minutes however many arrive at once."""
    user = uow.inbox.user(ods_code.strip().upper(), username.strip())
    if user is None or not user.active:
        password_matches(_DUMMY_HASH, password)
        return None
    user_id, password_hash = user.id, user.password_hash
    attempts = uow.inbox.reserve_attempt(user_id, now=now)
    uow.commit()
    if attempts is None or attempts > MAX_FAILED_SIGN_INS:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(password_hash, password):
        if attempts >= MAX_FAILED_SIGN_INS:
            uow.inbox.lock(user_id, until=now + LOCKOUT)
            uow.commit()
        return None
    rehashed = _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None
    uow.inbox.signed_in(user_id, now=now, password_hash=rehashed)
    uow.commit()
    return SignedIn(user_id, user.practice_ods, user.username)
