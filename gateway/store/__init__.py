"""The system of record. Every model module is imported here so `Base.metadata` holds them all."""

from gateway.store import alert_models as alert_models
from gateway.store import appointment_models as appointment_models
from gateway.store import reminder_models as reminder_models
from gateway.store import session_models as session_models
