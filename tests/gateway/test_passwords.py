"""Inbox passwords: the equal-cost check for an unknown account, and what importing costs."""

import subprocess
import sys

from argon2 import PasswordHasher

from gateway.security import passwords

# Run first in a fresh interpreter: `calls` gets one entry per argon2 hash made.
_COUNTING_HASHES = (
    "import argon2._password_hasher as low\n"
    "calls = []\n"
    "real = low.hash_secret\n"
    "low.hash_secret = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
)


def test_the_check_for_an_unknown_account_costs_what_a_real_one_costs() -> None:
    # Same parameters as a stored hash, so timing does not tell a wrong username from a
    # wrong password.
    stored = passwords.hash_password("correct horse battery")
    passwords.dummy_check("anything at all")  # verifies against the dummy hash, never raises
    dummy = passwords._dummy_hash()
    hasher = PasswordHasher()
    assert not hasher.check_needs_rehash(dummy)
    assert dummy.split("$")[1:4] == stored.split("$")[1:4]  # argon2id, version, m/t/p
    assert passwords._dummy_hash() is dummy  # made once per process


def test_a_bad_stored_hash_is_a_mismatch_not_an_error() -> None:
    assert passwords.password_matches("not-a-hash", "whatever") is False


def test_importing_the_module_hashes_nothing() -> None:
    # Each argon2 hash fills 64 MiB: made at import, it was a 64 MB peak in the API, every
    # worker's main process and beat, none of which had signed anyone in.
    probe = _COUNTING_HASHES + (
        "import gateway.security.passwords as p\n"
        "assert calls == [], calls\n"
        "p.dummy_check('x')\n"
        "assert calls == [1], calls\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


def test_the_first_check_costs_the_same_for_a_known_and_an_unknown_account() -> None:
    # Either way the process's first check makes the dummy hash, so the extra hash cannot tell
    # an attacker which usernames exist.
    probe = _COUNTING_HASHES + (
        "import gateway.security.passwords as p\n"
        "stored = p.hash_password('correct horse battery')\n"
        "calls.clear()\n"
        "p.password_matches(stored, 'wrong')\n"
        "assert calls == [1], calls\n"
        "p.password_matches(stored, 'wrong again')\n"
        "assert calls == [1], calls\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
