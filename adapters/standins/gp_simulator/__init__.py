"""The GP practice simulator: an in-memory FHIR R4 practice endpoint with scripted outcomes."""

from adapters.standins.gp_simulator.app import create_app, main

__all__ = ["create_app", "main"]
