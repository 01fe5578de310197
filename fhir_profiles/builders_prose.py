"""The plain-English text a GP practice reads: the request summary and the safety advice."""

from fhir_profiles.builders_common import (
    CARE_TEAM_ROLES,
    PLAN_AIMS,
    PLAN_LABELS,
    UnknownPlan,
    format_date,
    format_nhs_number,
    full_name,
    resolve_products,
)
from fhir_profiles.catalogue import Product
from fhir_profiles.combinations import combined_name
from fhir_profiles.imported_codes import NO_IMPORTED_CODES, ImportedCodes
from fhir_profiles.recommendation import CareTeamContact, MedicationChoice, RecommendationFacts
from fhir_profiles.safety import (
    Finding,
    assess,
    highest_severity,
    mechanism,
    neuropsychiatric_note,
)


def _unique_rules(findings: tuple[Finding, ...]) -> list[Finding]:
    seen: set[str] = set()
    unique = []
    for finding in findings:
        if finding.rule.key not in seen:
            seen.add(finding.rule.key)
            unique.append(finding)
    return unique


def safety_advice(findings: tuple[Finding, ...]) -> str:
    """The monitoring advice for a set of findings: one paragraph per rule, worst first."""
    return "\n".join(finding.rule.advice for finding in _unique_rules(findings))


def care_team_line(*members: CareTeamContact) -> str:
    told = [f"{CARE_TEAM_ROLES[m.role]}, {m.name} ({m.email})" for m in members]
    if len(told) > 1:
        told = ["; ".join(told[:-1]) + "; and " + told[-1]]
    return f"Liaison has sent this advice to the service user's {told[0]}."


def _safety_block(facts: RecommendationFacts, findings: tuple[Finding, ...]) -> list[str]:
    severity = highest_severity(findings)
    names = ", ".join(dict.fromkeys(finding.medicine.name for finding in findings))
    lines = [
        f"CLINICAL SAFETY ({severity} priority): stopping smoking can raise the levels of "
        f"medicines this person takes: {names}.",
        mechanism(),
        safety_advice(findings),
    ]
    if facts.care_team_members:
        lines.append(care_team_line(*facts.care_team_members))
    else:
        lines.append("No care-team contact was given: please tell whoever manages these medicines.")
    sources = dict.fromkeys(
        f"{source.title} ({source.url})"
        for finding in _unique_rules(findings)
        for source in finding.rule.sources
        if source.url
    )
    lines.append("Sources: " + "; ".join(sources))
    return lines


def _duration(choice: MedicationChoice) -> str:
    return f"{choice.duration_days} days" if choice.duration_days is not None else "not specified"


def _medicine_lines(facts: RecommendationFacts, products: tuple[Product, ...]) -> list[str]:
    """Dose and duration: as two lines for one medicine, one line per medicine for a
    combination (each is its own MedicationRequest in the group)."""
    if len(products) == 1:
        return [f"Dose: {facts.medication.dose_text}", f"Duration: {_duration(facts.medication)}"]
    lines = [
        "Combination NRT (NICE NG209: a patch with a short-acting form), "
        f"{len(products)} medicines, each its own request:"
    ]
    for product, choice in zip(products, facts.medications, strict=True):
        lines.append(f"- {product.name}. Dose: {choice.dose_text}. Duration: {_duration(choice)}")
    return lines


def gp_summary(facts: RecommendationFacts, *, imported: ImportedCodes = NO_IMPORTED_CODES) -> str:
    """The plain-English request a GP practice reads (it names the patient: it goes to their GP).
    A clinical-safety flag, when raised, comes first."""
    products = resolve_products(facts, imported)
    if facts.plan not in PLAN_LABELS:
        raise UnknownPlan(facts.plan)
    findings = assess(facts.medicines, imported)
    user = facts.service_user
    born = f", born {format_date(user.birth_date)}" if user.birth_date else ""
    practitioner = facts.practitioner
    lines = [*_safety_block(facts, findings), "----"] if findings else []
    lines += [
        f"{practitioner.name}, mental health smoking cessation practitioner "
        f"(organisation {practitioner.organisation_ods}), recommends "
        f"{combined_name(products)} for "
        f"{full_name(facts)} (NHS number {format_nhs_number(user.nhs_number)}{born}), "
        f"who has decided {PLAN_AIMS[facts.plan]}.",
        *_medicine_lines(facts, products),
        f"Plan: {PLAN_LABELS[facts.plan]}",
        "Current medicines: "
        + (
            ", ".join(medicine.name for medicine in facts.medicines)
            if facts.medicines
            else "none recorded by the practitioner"
        ),
    ]
    if not findings:
        # Source: SPS "Managing specific interactions with smoking" (CYP1A2 induction by
        # tobacco smoke; UKMi advice).
        lines.append(
            "Stopping smoking can raise the blood levels of some medicines, such as clozapine "
            "and olanzapine; none was recognised in the list above, but please review them."
        )
    note = neuropsychiatric_note(products[0].kind)
    if note:
        lines.append(note)
    lines += [
        "The service user consented to this recommendation being shared with their GP practice.",
        "Please prescribe it, reject the request with a reason, or ask to see the patient, "
        "by updating the linked Task or in the Liaison practice inbox.",
    ]
    if facts.note:
        lines.append(f"Note from the practitioner: {facts.note}")
    return "\n".join(lines)
