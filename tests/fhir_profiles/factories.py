"""Facts for builder and validator tests: one valid recommendation, changed per test."""

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

from fhir_profiles.recommendation import (
    CareTeamContact,
    ConsentRecord,
    CurrentMedicine,
    MedicationChoice,
    Practitioner,
    RecommendationFacts,
    ServiceUser,
)

MR_ID = "5f0c7d52-4a0e-4c8e-9a43-6b3f1d2e7a01"
CR_ID = "5f0c7d52-4a0e-4c8e-9a43-6b3f1d2e7a02"
TASK_ID = "5f0c7d52-4a0e-4c8e-9a43-6b3f1d2e7a03"
CARE_TEAM = CareTeamContact("psychiatrist", "Dr Jo Okafor", "jo.okafor@example.nhs.uk")
CONSENT = ConsentRecord(True, True, datetime(2025, 1, 14, 16, 0, tzinfo=UTC))


def make_facts(
    product: str = "varenicline-1mg-tablets", plan: str = "quit", **changes: Any
) -> RecommendationFacts:
    facts = RecommendationFacts(
        recommendation_id="rec-0001",
        service_user=ServiceUser("9434765919", "Alex", "Morgan", date(1984, 3, 7)),
        practitioner=Practitioner("prac-42", "Sam Patel", "sam.patel@example.org", "RX4"),
        gp_ods_code="A81001",
        medication=MedicationChoice(product, "One tablet twice a day", 84),
        plan=plan,
        authored_on=datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
        medication_request_id=MR_ID,
        communication_request_id=CR_ID,
        task_id=TASK_ID,
        current_medications=("Sertraline 50mg daily", "Metformin 500mg twice daily"),
        note="Started on the ward; keen to continue at home.",
        consent=CONSENT,
        care_team=CARE_TEAM,
    )
    return dataclasses.replace(facts, **changes)


# The safety cases every battery runs through: none, each severity, brand names, codes.
SAFETY_CASES: dict[str, tuple[CurrentMedicine | str, ...]] = {
    "none": (),
    "sertraline": ("Sertraline 50mg daily",),
    "clozapine": ("Clozapine 300mg daily", "Metformin 500mg twice daily"),
    "clozaril-brand": ("Clozaril 100mg tablets",),
    "olanzapine-brand": ("Zyprexa 10mg",),
    "low-tier": ("Haloperidol 5mg", "Fluvoxamine 100mg"),
    "several": ("Denzapine 200mg", "olanzapine 5mg", "duloxetine 60mg"),
    "coded-unknown": (
        CurrentMedicine("Clozapine 25mg tablets", "https://dmd.nhs.uk", "990000001"),
    ),
}


# Combination NRT (NICE NG209): a patch with one or two short-acting forms, every form the
# catalogue offers appearing at least once. The batteries build each with every plan.
COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("nicotine-21mg-24h-patches", "nicotine-2mg-gum"),
    ("nicotine-15mg-16h-patches", "nicotine-1mg-mouth-spray", "nicotine-2mg-lozenges"),
    ("nicotine-7mg-24h-patches", "nicotine-15mg-inhalator"),
    ("nicotine-25mg-16h-patches", "nicotine-0.5mg-nasal-spray", "nicotine-4mg-gum"),
)
PATCH_DOSE = "One patch every 24 hours"


def make_combination_facts(
    keys: tuple[str, ...], plan: str = "quit", **changes: Any
) -> RecommendationFacts:
    """A patch (`keys[0]`) with the short-acting forms after it, each with its own dose; the
    last has no duration, as a plan may leave it out."""
    first, *others = keys
    additional = tuple(
        MedicationChoice(
            key,
            f"One dose of {key} when the urge comes",
            None if n == len(others) - 1 else 56,
        )
        for n, key in enumerate(others)
    )
    return make_facts(
        first,
        plan,
        medication=MedicationChoice(first, PATCH_DOSE, 56, quantity=4, quantity_unit="pack"),
        additional_medications=additional,
        **changes,
    )
