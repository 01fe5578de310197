"""Which stop-smoking medicines may be recommended together: the rule, and how to name them.

NICE guideline NG209, Tobacco: preventing uptake, promoting quitting and treating dependence
(2021, updated 2023), section 1.12 (https://www.nice.org.uk/guidance/ng209), names
combination NRT, a long-acting form (a patch) with a short-acting form (gum, lozenge,
inhalator, mouth or nasal spray), among the most effective treatments. NG209 names no
combination of varenicline or bupropion with each other or with NRT, so Liaison refuses those
rather than guess. A request carries at most three medicines: one patch and up to two
short-acting forms, each a different form (one strength of a form is chosen, not two).
"""

from collections.abc import Sequence
from typing import Final

from fhir_profiles.catalogue import Product

LONG_ACTING_FORMS: Final = frozenset({"transdermal patch"})
MAX_MEDICINES: Final = 3


def combination_problem(products: Sequence[Product]) -> str | None:
    """Why these medicines cannot be recommended together (in words for the person who
    chose them), or None when they can."""
    if not products:
        return "at least one medicine is required"
    keys = [product.key for product in products]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        return f"{', '.join(twice)} is listed twice; give each medicine once"
    if len(products) == 1:
        return None
    if len(products) > MAX_MEDICINES:
        return f"at most {MAX_MEDICINES} medicines: one patch and up to two short-acting forms"
    alone = [product for product in products if product.kind != "nrt"]
    if alone:
        return (
            f"{alone[0].name} is recommended on its own: varenicline and bupropion are not "
            "combined with each other or with NRT (NICE NG209)"
        )
    patches = [product for product in products if product.form in LONG_ACTING_FORMS]
    if len(patches) != 1:
        found = "two patches" if patches else "no patch"
        return (
            f"combination NRT is one patch plus short-acting forms (NICE NG209); this has {found}"
        )
    forms = [product.form for product in products if product.form not in LONG_ACTING_FORMS]
    repeated = sorted({form for form in forms if forms.count(form) > 1})
    if repeated:
        return f"choose one strength of {repeated[0]}, not two, beside the patch"
    return None


def combined_name(products: Sequence[Product]) -> str:
    """The medicines as one phrase, in the order chosen: "A", "A and B", "A, B and C"."""
    return joined([product.name for product in products])


def joined(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
