"""A development stand-in for PDS FHIR R4 (`GET /Patient/{id}`), with canned patients."""

from adapters.standins.pds.app import create_app, main

__all__ = ["create_app", "main"]
