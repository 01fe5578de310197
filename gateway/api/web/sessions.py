"""What the console and the practice inbox sessions share: the cookie value is a random id
whose SHA-256 is the session row's key, and cookies are Secure when Liaison is served over
HTTPS (production insists on an https public base URL)."""

import hashlib

from gateway.settings import Settings


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secure_cookies(settings: Settings) -> bool:
    return settings.api.public_base_url.startswith("https://")
