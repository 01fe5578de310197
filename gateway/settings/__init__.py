"""All configuration, one group per concern (`LIAISON_<GROUP>__<FIELD>`): gateway.settings.root
holds `Settings` and the production checks; the groups live in the modules beside it."""

from gateway.reminder_settings import ReminderDefaults
from gateway.settings.delivery import (
    AdapterRetry,
    DeliverySettings,
    GpConnectSettings,
    LetterSettings,
    MeshSettings,
)
from gateway.settings.development import DevelopmentSettings
from gateway.settings.follow_up import (
    AlertSettings,
    ChasingSettings,
    CollectionSettings,
    WebhookSettings,
)
from gateway.settings.notify import (
    DEV_NOTIFY_API_KEY,
    DEV_NOTIFY_SECRET,
    DEV_NOTIFY_SERVICE_ID,
    AudienceSettings,
    EmailSettings,
    NotifySettings,
    NotifyTemplates,
)
from gateway.settings.registries import OdsSettings, PdsSettings
from gateway.settings.root import (
    DEV_CALLBACK_SECRET,
    MIN_SECRET_LENGTH,
    Settings,
    env_name,
    get_settings,
)
from gateway.settings.service import (
    DEV_SECRET_KEY,
    ApiSettings,
    BrokerSettings,
    DatabaseSettings,
    FhirSettings,
    MetricsSettings,
    SecuritySettings,
    SessionSettings,
    WorkerSettings,
)

__all__ = [
    "DEV_CALLBACK_SECRET",
    "DEV_NOTIFY_API_KEY",
    "DEV_NOTIFY_SECRET",
    "DEV_NOTIFY_SERVICE_ID",
    "DEV_SECRET_KEY",
    "MIN_SECRET_LENGTH",
    "AdapterRetry",
    "AlertSettings",
    "ApiSettings",
    "AudienceSettings",
    "BrokerSettings",
    "ChasingSettings",
    "CollectionSettings",
    "DatabaseSettings",
    "DeliverySettings",
    "DevelopmentSettings",
    "EmailSettings",
    "FhirSettings",
    "GpConnectSettings",
    "LetterSettings",
    "MeshSettings",
    "MetricsSettings",
    "NotifySettings",
    "NotifyTemplates",
    "OdsSettings",
    "PdsSettings",
    "ReminderDefaults",
    "SecuritySettings",
    "SessionSettings",
    "Settings",
    "WebhookSettings",
    "WorkerSettings",
    "env_name",
    "get_settings",
]
