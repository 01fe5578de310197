"""A development stand-in for the ODS ORD API's organisation endpoint."""

from adapters.standins.ods.app import create_app, main

__all__ = ["create_app", "main"]
