"""fhirpathpy's FHIR R4 model tables (path to type, choice types, type parents), which its
engine needs to resolve `ofType()`, `is` and choice elements.

`fhirpathpy.models` loads the tables of all four releases it knows (DSTU2, STU3, R4, R5) when
imported, about 6 MB of parsed JSON; Liaison speaks R4 only, so this reads the R4 files from
the same package directory and nothing else (about 1.5 MB).
"""

import json
from importlib.resources import files
from typing import Any, Final

_TABLES: Final = ("choiceTypePaths", "path2Type", "pathsDefinedElsewhere", "type2Parent")


def _load() -> dict[str, Any]:
    folder = files("fhirpathpy") / "models" / "r4"
    return {name: json.loads((folder / f"{name}.json").read_text()) for name in _TABLES}


# The shape fhirpathpy's `compile(expression, model)` takes: `models["r4"]` of its own module.
R4_MODEL: Final[dict[str, Any]] = _load()
