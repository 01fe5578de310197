"""The medicines a stored recommendation names: one, or a combination (combination NRT).

`Recommendation.product` keeps the first medicine's catalogue key (the column predates
combinations); the others are in the stored request body's `combination` list.
"""

from collections.abc import Mapping
from typing import Any

from fhir_profiles.catalogue import find_product
from fhir_profiles.combinations import joined


def product_keys(product: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Every medicine's catalogue key, `product` (the first) first."""
    combination = payload.get("combination") or ()
    return (product, *(str(item["product"]) for item in combination))


def medicine_name(product: str, payload: Mapping[str, Any]) -> str:
    """The medicines as one phrase for people ("A and B"); a key the catalogue no longer
    holds is shown as it was stored."""
    names = []
    for key in product_keys(product, payload):
        found = find_product(key)
        names.append(found.name if found else key)
    return joined(names)
