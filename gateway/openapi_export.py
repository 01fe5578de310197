"""Print the app's OpenAPI document as YAML: `make openapi` writes it to openapi.yaml."""

import sys
from typing import Any

import yaml

from gateway.api.app import create_app
from gateway.settings import BrokerSettings, DatabaseSettings, Settings


def openapi_document() -> dict[str, Any]:
    # In-memory settings: rendering the contract must not touch a real database.
    app = create_app(
        Settings(database=DatabaseSettings(url="sqlite://"), broker=BrokerSettings(url="memory://"))
    )
    document: dict[str, Any] = app.openapi()
    return document


def render() -> str:
    return yaml.safe_dump(openapi_document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
