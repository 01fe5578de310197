"""Per-process dependencies of the tasks, built on first use (after the worker forks)."""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from adapters.address_policy import AllowedHosts
from adapters.govuk_notify import GovUkNotifyChannel
from adapters.gp_system import GPSystem
from adapters.mesh import MeshMailbox
from adapters.notification import NotificationChannel
from adapters.ods import OdsClient
from adapters.pds import PdsClient, application_restricted_auth
from adapters.smtp_email import SmtpEmailChannel
from adapters.webhook import WebhookChannel
from gateway.domain.reminder_wording import SERVICE_USER_PLAN
from gateway.domain.retry_policy import RetryPolicy
from gateway.settings import Settings, get_settings
from gateway.store.database import make_engine, make_session_factory
from workers import gp_systems
from workers.gp_systems import PracticeEndpoint

__all__ = ["PracticeEndpoint", "Runtime", "gp_system_factory", "runtime"]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    session_factory: sessionmaker[Session]
    gp_system_for: Callable[[PracticeEndpoint], GPSystem]
    channel: Callable[[str], NotificationChannel]  # by name: email | sms | notify-email
    retry_policy: RetryPolicy
    # By the subscription's signing secret.
    webhook: Callable[[str], NotificationChannel] = field(default_factory=lambda: webhook_factory())
    # Liaison's own MESH mailbox (None when not configured): replies, tracking, handshakes.
    mesh_mailbox: Callable[[], MeshMailbox | None] = field(default=lambda: None)
    # PDS and ODS (workers.resolving); None: not configured (PDS off: the given practice).
    pds: Callable[[], PdsClient | None] = field(default=lambda: None)
    ods: Callable[[], OdsClient | None] = field(default=lambda: None)

    def delivery_retry_policy(self, adapter: str) -> RetryPolicy:
        """`retry_policy`, with what LIAISON_DELIVERY__RETRY_POLICIES sets for this adapter kind."""
        own = self.settings.delivery.adapter_retry(adapter)
        default = self.retry_policy
        return RetryPolicy(
            base_seconds=own.base_seconds or default.base_seconds,
            cap_seconds=own.cap_seconds or default.cap_seconds,
            budget_seconds=own.budget_seconds or default.budget_seconds,
        )


def gp_system_factory(
    settings: Settings, mesh_mailbox: Callable[[], MeshMailbox | None] | None = None
) -> Callable[[PracticeEndpoint], GPSystem]:
    """The right adapter per practice (workers/gp_systems.py); one per endpoint per process."""
    return gp_systems.gp_system_factory(
        settings, mesh_mailbox or gp_systems.mesh_mailbox_factory(settings)
    )


def channel_factory(settings: Settings) -> Callable[[str], NotificationChannel]:
    # The Notify client shares one requests.Session and is not thread-safe: one set per thread.
    local = threading.local()

    def channel(name: str) -> NotificationChannel:
        if not hasattr(local, "channels"):
            local.channels = channels_for(settings)
        found: NotificationChannel = local.channels[name]
        return found

    return channel


def notify_templates(settings: Settings, medium: str) -> dict[str, str]:
    """Notify template id per message kind for `medium` (sms | email)."""
    generic = (
        settings.notify.sms_template_id if medium == "sms" else settings.notify.email_template_id
    )
    kinds = (
        "ready-to-collect",
        "appointment-needed",
        "collection-reminder",
        "not-dispensed",
        "appointment-booked",
        "appointment-cancelled",
        # Plan reminders and their copies (gateway.domain.reminder_wording) use the generic
        # template: their words travel as personalisation.
        *SERVICE_USER_PLAN,
    )
    return {
        kind: getattr(settings.notify.templates, f"{kind.replace('-', '_')}_{medium}", None)
        or generic
        for kind in kinds
    }


def channels_for(settings: Settings) -> dict[str, NotificationChannel]:
    """Practitioners and care teams get email over SMTP (e.g. NHSmail); service users get
    SMS or email through GOV.UK Notify."""
    return {
        "email": SmtpEmailChannel(
            host=settings.email.smtp_host,
            port=settings.email.smtp_port,
            sender=settings.email.smtp_from,
        ),
        "sms": GovUkNotifyChannel(
            api_key=settings.notify.api_key,
            base_url=settings.notify.base_url,
            templates=notify_templates(settings, "sms"),
            kind="sms",
        ),
        "notify-email": GovUkNotifyChannel(
            api_key=settings.notify.api_key,
            base_url=settings.notify.base_url,
            templates=notify_templates(settings, "email"),
            kind="email",
        ),
    }


def webhook_factory(
    timeout: float = 10.0, allowed_hosts: Sequence[str] = ()
) -> Callable[[str], NotificationChannel]:
    """A signed-webhook channel per signing secret, reused across tasks (httpx pools).
    Channels reach public internet hosts only, and the operator's `allowed_hosts`."""
    allowed = AllowedHosts.parse(allowed_hosts)

    @lru_cache(maxsize=256)
    def build(secret: str) -> NotificationChannel:
        return WebhookChannel(secret=secret, timeout=timeout, allowed_hosts=allowed)

    return build


def pds_factory(settings: Settings) -> Callable[[], PdsClient | None]:
    """One PDS client per process. Token settings: application-restricted access; a base URL
    alone: a server that needs no token (sandbox, stand-in; refused in production)."""

    @lru_cache(maxsize=1)
    def build() -> PdsClient | None:
        if not settings.pds.enabled or settings.pds.base_url is None:
            return None
        auth = None
        if settings.pds.token_url and settings.pds.api_key and settings.pds.private_key_path:
            auth = application_restricted_auth(
                token_url=settings.pds.token_url,
                api_key=settings.pds.api_key,
                private_key_pem=settings.pds.private_key_path.read_text(),
                key_id=settings.pds.key_id or "",
            )
        return PdsClient(
            base_url=settings.pds.base_url,
            auth=auth,
            timeout=settings.delivery.http_timeout_seconds,
        )

    return build


def ods_factory(settings: Settings) -> Callable[[], OdsClient | None]:
    @lru_cache(maxsize=1)
    def build() -> OdsClient | None:
        if settings.ods.base_url is None:
            return None
        return OdsClient(
            base_url=settings.ods.base_url,
            timeout=settings.delivery.http_timeout_seconds,
            cache_seconds=settings.ods.cache_seconds,
        )

    return build


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    mesh = gp_systems.mesh_mailbox_factory(settings)
    return Runtime(
        settings=settings,
        session_factory=make_session_factory(make_engine(settings.database.url)),
        gp_system_for=gp_system_factory(settings, mesh),
        channel=channel_factory(settings),
        retry_policy=RetryPolicy(
            settings.delivery.retry_base_seconds,
            settings.delivery.retry_cap_seconds,
            settings.delivery.retry_budget_seconds,
        ),
        webhook=webhook_factory(settings.webhooks.timeout_seconds, settings.webhooks.allowed_hosts),
        mesh_mailbox=mesh,
        pds=pds_factory(settings),
        ods=ods_factory(settings),
    )
