"""Passwords of practice inbox accounts: argon2id hashes (the argon2-cffi library's current
recommended parameters), a minimum length, and a verification that never raises.
"""

from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH: Final = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when the account does not exist, so a wrong username costs as much as a wrong
    password and timing does not tell which one was wrong. Made on first use, not at import:
    each argon2 hash fills `memory_cost` (64 MiB with these parameters, RFC 9106's second
    recommended option), and at import that cost every process importing this module (the API,
    each worker's main process, beat) a 64 MB peak it never needed."""
    return _hasher.hash("liaison-inbox-no-such-user")


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    # The first check in a process makes the dummy hash whichever account it is for, so that
    # first check costs the same for a known and an unknown username too.
    _dummy_hash()
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_check(password: str) -> None:
    """Cost a wrong username as much as a wrong password, so timing does not tell which."""
    password_matches(_dummy_hash(), password)


def rehash_if_stale(password_hash: str, password: str) -> str | None:
    """A new hash when the stored one used older parameters than the library now recommends."""
    return _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None
