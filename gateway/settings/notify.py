"""GOV.UK Notify and email: `LIAISON_NOTIFY__*` and `LIAISON_EMAIL__*`.

One Notify template per message kind to service users
(`LIAISON_NOTIFY__TEMPLATES__READY_TO_COLLECT_SMS`...); unset: the generic template
(`LIAISON_NOTIFY__SMS_TEMPLATE_ID` / `LIAISON_NOTIFY__EMAIL_TEMPLATE_ID`, whose text is
`((body))`). Liaison always sends `subject` and `body` in the personalisation, and
`pharmacy` when known
(https://docs.notifications.service.gov.uk/rest-api.html#personalisation-optional).
"""

from datetime import time

from pydantic import BaseModel, ConfigDict, Field

DEV_NOTIFY_SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
DEV_NOTIFY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
DEV_NOTIFY_API_KEY = f"liaison-dev-{DEV_NOTIFY_SERVICE_ID}-{DEV_NOTIFY_SECRET}"


class NotifyTemplates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready_to_collect_sms: str | None = None
    ready_to_collect_email: str | None = None
    appointment_needed_sms: str | None = None
    appointment_needed_email: str | None = None
    collection_reminder_sms: str | None = None
    collection_reminder_email: str | None = None
    not_dispensed_sms: str | None = None
    not_dispensed_email: str | None = None
    appointment_booked_sms: str | None = None
    appointment_booked_email: str | None = None
    appointment_cancelled_sms: str | None = None
    appointment_cancelled_email: str | None = None


class NotifySettings(BaseModel):
    """GOV.UK Notify, for texts and emails to service users."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "http://127.0.0.1:8027"
    api_key: str = DEV_NOTIFY_API_KEY
    sms_template_id: str = "f33517ff-2a88-4f6e-b855-c550268ce08a"
    email_template_id: str = "a26b7c7d-4b7f-4a89-9c3e-2f3e3b1c6d11"
    templates: NotifyTemplates = NotifyTemplates()


class EmailSettings(BaseModel):
    """The SMTP relay email to practitioners (and alerts) goes through."""

    model_config = ConfigDict(extra="forbid")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "liaison@example.nhs.uk"


class AudienceSettings(BaseModel):
    """Who hears what, when (gateway.domain.audience). Quiet hours are UK local time; equal
    start and end switch them off."""

    model_config = ConfigDict(extra="forbid")

    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    digest_hour: int = Field(default=16, ge=0, le=23)  # practitioners' daily digest, UK time
    digest_check_seconds: float = 60.0
