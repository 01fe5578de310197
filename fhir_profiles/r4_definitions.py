"""Base FHIR R4 (4.0.1) StructureDefinitions with their snapshots, read from HL7's own build
files: `profiles-resources.json` and `profiles-types.json`, the two Bundles of HL7's
"definitions.json.zip" (https://hl7.org/fhir/R4/downloads.html). They are the bottom of every
snapshot Liaison generates (fhir_profiles.snapshots) and tell the FHIR XML reader
(fhir_profiles.fhir_xml) which elements repeat. Not shipped with Liaison: a deployment or a
test names the folder that holds them.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

R4_BASE: Final = "http://hl7.org/fhir/StructureDefinition/"
BUNDLES: Final = ("profiles-types.json", "profiles-resources.json")

Json = dict[str, Any]


@dataclass(frozen=True)
class R4Definitions:
    """Base R4 StructureDefinitions by canonical URL, each with its snapshot."""

    structures: Mapping[str, Json]
    _paths: dict[str, Mapping[str, Json]] = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, folder: Path | str) -> "R4Definitions":
        root = Path(folder)
        structures: dict[str, Json] = {}
        for name in BUNDLES:
            path = root / name
            if not path.is_file():
                raise FileNotFoundError(f"{root} holds no {name} (HL7's FHIR R4 definitions)")
            bundle = json.loads(path.read_text("utf-8"))
            for entry in bundle.get("entry", ()):
                resource = entry.get("resource", {})
                if resource.get("resourceType") == "StructureDefinition":
                    structures[resource["url"]] = resource
        version = structures.get(R4_BASE + "Resource", {}).get("fhirVersion")
        if version != "4.0.1":
            raise ValueError(f"{root} holds FHIR {version} definitions, not R4 4.0.1")
        return cls(structures)

    def structure(self, url: str) -> Json | None:
        return self.structures.get(url.split("|", 1)[0])

    def type_snapshot(self, code: str) -> list[Json]:
        """The snapshot elements of a base R4 type or resource (`Identifier`, `Extension`,
        `code`, `MedicationRequest`), or [] for a type with no structure (a FHIRPath system
        type such as `http://hl7.org/fhirpath/System.String`)."""
        found = self.structures.get(code if "/" in code else R4_BASE + code)
        if found is None:
            return []
        elements: list[Json] = found["snapshot"]["element"]
        return elements

    def elements_by_path(self, code: str) -> Mapping[str, Json]:
        if code not in self._paths:
            self._paths[code] = {element["path"]: element for element in self.type_snapshot(code)}
        return self._paths[code]
