"""Wording of the reminders that follow the plan (gateway.domain.reminder_schedule).

What the service user reads, what a person they named reads in a copy, and the
practitioner's follow-ups. Nothing the service user or their named person reads names a
medicine, smoking, mental health or a diagnosis (the same rule as gateway.domain.messages,
checked by a test through `messages.denied_words`): a text can be read by anyone holding the
phone, and a family member may not have been told what the plan is for. A copy does not
name the service user either: the named person knows whom they support.
"""

from typing import Final

from gateway.domain.wording import Template

_REF: Final = "\n\nLiaison reference {ref}"

SERVICE_USER_PLAN: Final[dict[str, Template]] = {
    "plan-appointment-day-before": Template(
        "Your appointment is tomorrow",
        "Hello, a reminder that your appointment at your GP practice is tomorrow, {when}, at "
        "{place}. If you cannot make it, please tell your care worker or call the "
        "practice{phone}.",
    ),
    "plan-appointment-morning": Template(
        "Your appointment is today",
        "Hello, a reminder that your appointment at your GP practice is today, {when}, at {place}.",
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
    "plan-dose-step": Template(
        "A reminder about your plan",
        "Hello, a reminder that your plan moves to its next step today, as your GP practice "
        "explained.",
    ),
    "plan-supply-ending": Template(
        "A reminder about your prescription",
        "Hello, your current prescription will run out soon. Your care team is asking your "
        "GP practice for the next one; your care worker can help if you need it.",
    ),
}

NAMED_PERSON: Final[dict[str, Template]] = {
    "plan-appointment-day-before": Template(
        "A reminder you asked for",
        "Hello, you asked for copies of reminders for the person you support. Their "
        "appointment at their GP practice is tomorrow, {when}, at {place}.",
    ),
    "plan-appointment-morning": Template(
        "A reminder you asked for",
        "Hello, you asked for copies of reminders for the person you support. Their "
        "appointment at their GP practice is today, {when}, at {place}.",
    ),
    "plan-quit-date": Template(
        "A reminder you asked for",
        "Hello, you asked for copies of reminders for the person you support. Today is the "
        "day they agreed with their care team; a word of encouragement may help.",
    ),
    "plan-course-start": Template(
        "A reminder you asked for",
        "Hello, you asked for copies of reminders for the person you support. The plan they "
        "agreed with their care team starts today.",
    ),
    "plan-dose-step": Template(
        "A reminder you asked for",
        "Hello, you asked for copies of reminders for the person you support. Their plan "
        "moves to its next step today, as their GP practice explained.",
    ),
    "plan-supply-ending": Template(
        "A reminder you asked for",
        "Hello, you asked for copies of reminders for the person you support. Their current "
        "prescription will run out soon; their care team is asking their GP practice for "
        "the next one.",
    ),
}

# Follow-ups for the practitioner: email and the case-management webhook.
PRACTITIONER_PLAN: Final[dict[str, Template]] = {
    "plan-supply-request": Template(
        "The next supply is needed soon",
        "The supply of {product} agreed in the plan runs out soon. Please ask GP practice "
        "{practice} for the next prescription if they have not already issued it. {told}" + _REF,
    ),
    "follow-up-week": Template(
        "Check in: {number} weeks since the quit date",
        "It is {number} weeks since the quit date agreed in the plan ({product}). Please "
        "check in with the service user: how they are getting on, and whether they would "
        "like more support." + _REF,
    ),
    "try-again": Template(
        "Time to ask again?",
        "The recommendation for {product} to GP practice {practice} ended without a "
        "prescription. People who drifted away often want to be asked again rather than left: "
        "when you next see the service user, ask whether they would like to try again. You "
        "can submit a new recommendation from your case-management app." + _REF,
    ),
}
