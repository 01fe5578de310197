"""Per-process dependencies of the tasks, built on first use (after the worker forks)."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from adapters.fhir_rest import FhirRestGPSystem
from adapters.govuk_notify import GovUkNotifyChannel
from adapters.gp_system import GPSystem
from adapters.notification import NotificationChannel
from adapters.smtp_email import SmtpEmailChannel
from gateway.domain.retry_policy import RetryPolicy
from gateway.settings import Settings, get_settings
from gateway.store.database import make_engine, make_session_factory


@dataclass(frozen=True)
class PracticeEndpoint:
    """What the workers need to reach a practice: copied out of the directory row."""

    ods_code: str
    adapter: str
    base_url: str | None


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    session_factory: sessionmaker[Session]
    gp_system_for: Callable[[PracticeEndpoint], GPSystem]
    channel: Callable[[str], NotificationChannel]  # by channel name: email | sms
    retry_policy: RetryPolicy


def gp_system_factory(settings: Settings) -> Callable[[PracticeEndpoint], GPSystem]:
    # One client per endpoint per process: connections are pooled and reused across tasks.
    @lru_cache(maxsize=4096)
    def build(endpoint: PracticeEndpoint) -> GPSystem:
        if endpoint.adapter in ("simulator", "fhir"):
            return FhirRestGPSystem(
                base_url=endpoint.base_url or settings.simulator_base_url,
                timeout=settings.http_timeout_seconds,
            )
        raise ValueError(f"no adapter {endpoint.adapter!r} for practice {endpoint.ods_code}")

    return build


def channel_factory(settings: Settings) -> Callable[[str], NotificationChannel]:
    # The Notify client shares one requests.Session and is not thread-safe: one set per thread.
    local = threading.local()

    def channel(name: str) -> NotificationChannel:
        if not hasattr(local, "channels"):
            local.channels = channels_for(settings)
        found: NotificationChannel = local.channels[name]
        return found

    return channel


def channels_for(settings: Settings) -> dict[str, NotificationChannel]:
    templates = {
        kind: settings.notify_sms_template_id for kind in ("ready-to-collect", "appointment-needed")
    }
    return {
        "email": SmtpEmailChannel(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from
        ),
        "sms": GovUkNotifyChannel(
            api_key=settings.notify_api_key,
            base_url=settings.notify_base_url,
            templates=templates,
            kind="sms",
        ),
    }


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    return Runtime(
        settings=settings,
        session_factory=make_session_factory(make_engine(settings.database_url)),
        gp_system_for=gp_system_factory(settings),
        channel=channel_factory(settings),
        retry_policy=RetryPolicy(
            settings.retry_base_seconds, settings.retry_cap_seconds, settings.retry_budget_seconds
        ),
    )
