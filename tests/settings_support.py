"""Settings keyword arguments built in layers: a test's own groups over a helper's defaults."""

from typing import Any

from pydantic import BaseModel


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` over `base`, as keyword arguments for `Settings`: a group given in both
    keeps the base's fields that the override left unset, so a test that changes one field of
    a group does not silently undo a helper's other fields in it."""
    out = dict(base)
    for name, value in overrides.items():
        under = out.get(name)
        if isinstance(under, BaseModel) and isinstance(value, BaseModel):
            fields = {
                **under.model_dump(exclude_unset=True),
                **value.model_dump(exclude_unset=True),
            }
            value = type(under).model_validate(fields)
        out[name] = value
    return out
