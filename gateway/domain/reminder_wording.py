"""Private wording of plan reminders: what the service user (and a named person receiving a
copy) reads. Nothing names a medicine, smoking, mental health or a diagnosis; a test runs
every template through `messages.denied_words`."""

from typing import Final

from gateway.domain.messages import Template

PLAN_REMINDER: Final[dict[str, Template]] = {
    "plan-appointment-day-before": Template(
        "Your appointment is tomorrow",
        "Hello, a reminder that your appointment with your GP practice is tomorrow. Your care "
        "worker can help if you need it.",
    ),
    "plan-appointment-morning": Template(
        "Your appointment is today",
        "Hello, a reminder that your appointment with your GP practice is today.",
    ),
    "plan-quit-date": Template(
        "A reminder about your plan",
        "Hello, today is the day you agreed with your care team. Your care worker is there "
        "if you would like support.",
    ),
    "plan-course-start": Template(
        "A reminder about your plan",
        "Hello, a reminder that the plan you agreed with your care team starts today.",
    ),
    "plan-dose-step-1": Template(
        "A reminder about your plan",
        "Hello, a reminder that your plan moves to its next step today, as your GP practice "
        "explained.",
    ),
    "plan-dose-step-2": Template(
        "A reminder about your plan",
        "Hello, a reminder that your plan moves to its next step today, as your GP practice "
        "explained.",
    ),
    "plan-supply-ending": Template(
        "A reminder about your prescription",
        "Hello, your current prescription will run out soon. Your GP practice has been asked "
        "for the next one; your care worker can help if you need it.",
    ),
}
