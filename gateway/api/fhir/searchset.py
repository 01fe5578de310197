"""The searchset Bundle every FHIR search answers with (https://hl7.org/fhir/R4/bundle.html),
claiming UK Core's Bundle profile: the self link is the request as the caller sent it
(behind a proxy, at Liaison's public base URL), and a next link only when there is more."""

from typing import Any

from fastapi import Request

from fhir_profiles.systems import UKCORE_BUNDLE
from gateway.api.links import public_request_url


def searchset(
    request: Request, entries: list[dict[str, Any]], total: int, next_url: str | None
) -> dict[str, Any]:
    links = [{"relation": "self", "url": str(public_request_url(request))}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [UKCORE_BUNDLE]},
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }
