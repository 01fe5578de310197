"""GOV.UK Notify template ids per message kind, part of `gateway.settings.Settings` (same
`LIAISON_` names: `LIAISON_NOTIFY_TEMPLATE_READY_TO_COLLECT_SMS`...).

One template per message kind to service users; unset: the generic template
(`LIAISON_NOTIFY_SMS_TEMPLATE_ID` / `_EMAIL_TEMPLATE_ID`, whose text is `((body))`). Liaison
always sends `subject` and `body` in the personalisation, and `pharmacy` when known
(https://docs.notifications.service.gov.uk/rest-api.html#personalisation-optional).
"""

from pydantic import BaseModel


class NotifyTemplates(BaseModel):
    notify_template_ready_to_collect_sms: str | None = None
    notify_template_ready_to_collect_email: str | None = None
    notify_template_appointment_needed_sms: str | None = None
    notify_template_appointment_needed_email: str | None = None
    notify_template_collection_reminder_sms: str | None = None
    notify_template_collection_reminder_email: str | None = None
    notify_template_not_dispensed_sms: str | None = None
    notify_template_not_dispensed_email: str | None = None
    notify_template_appointment_booked_sms: str | None = None
    notify_template_appointment_booked_email: str | None = None
    notify_template_appointment_cancelled_sms: str | None = None
    notify_template_appointment_cancelled_email: str | None = None
