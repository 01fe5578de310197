"""Deployment defaults for the reminders that follow a plan, one settings
group: `LIAISON_REMINDERS__MORNING=09:30`, `LIAISON_REMINDERS__FOLLOW_UP_WEEKS=[4,12]`.
A practitioner's plan (PUT /v1/recommendations/{id}/reminders) may change the morning."""

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ReminderDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # When a dated reminder goes, UK local time; moved out of quiet hours if inside them.
    morning: time = time(9, 0)
    # How many days before the supply runs out the service user is reminded and the
    # practitioner asked to request the next one.
    supply_warning_days: int = Field(default=7, ge=1, le=60)
    # Practitioner check-ins after the quit date: NICE NG209 1.12 advises follow-up at about
    # 4 weeks after quitting; 12 weeks is the end of a standard course.
    follow_up_weeks: tuple[int, ...] = (4, 12)
    # How often the worker looks for reminders that have fallen due.
    check_seconds: float = Field(default=60.0, gt=0)
    # A practitioner is prompted to try again this long after a recommendation ended without
    # a prescription (rejected, expired, did-not-attend): gateway.domain.reminder_schedule.
    try_again_prompt_after_seconds: float = Field(default=14 * 86400.0, gt=0)

    @field_validator("follow_up_weeks")
    @classmethod
    def _weeks_in_a_year(cls, weeks: tuple[int, ...]) -> tuple[int, ...]:
        if not weeks or len(weeks) > 6 or any(not 1 <= w <= 52 for w in weeks):
            raise ValueError("follow-up weeks must be 1 to 6 numbers between 1 and 52")
        return tuple(sorted(set(weeks)))
