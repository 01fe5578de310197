"""Checks resources against the official UK Core R4 definitions (HL7 UK / NHS England,
package UKCore.R4.STU.02.00.00), read from a folder a deployment or test points at.

`UkCorePackage.load(folder)` parses the StructureDefinitions (XML differentials over base
FHIR R4 4.0.1), ValueSets and CodeSystems of the package; `ukcore_issues(resource, package)`
follows every UK Core profile the resource declares (directly, or through a Liaison profile
whose baseDefinition is a UK Core one) and reports cardinality, fixed and pattern values,
slices (such as the NHS number identifier), required bindings and UK Core extensions.
Base R4 structure is `validation.resource_issues`' job; run both (`conformance_issues`).
"""

from fhir_profiles.ukcore.check import conformance_issues, ukcore_issues
from fhir_profiles.ukcore.package import UkCorePackage

__all__ = ["UkCorePackage", "conformance_issues", "ukcore_issues"]
