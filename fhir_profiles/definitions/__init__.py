"""Liaison's conformance resources as JSON data (StructureDefinitions, CodeSystems, ValueSets,
a ConceptMap), the base-R4 bindings and invariants the validator checks, and the clinical-safety
rule table. Loaded by `fhir_profiles.conformance`; no code lives here."""
