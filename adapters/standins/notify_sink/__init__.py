"""A local stand-in for GOV.UK Notify (development and tests only): see `app`."""

from adapters.standins.notify_sink.app import create_notify_sink_app, main
from adapters.standins.notify_sink.requests import make_api_key

__all__ = ["create_notify_sink_app", "main", "make_api_key"]
