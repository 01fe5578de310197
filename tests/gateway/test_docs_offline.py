"""The API docs work with no network: /docs (Swagger UI) and /redoc load every file they
reference from Liaison itself, never from a CDN, since NHS networks often block CDNs."""

import re
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

# src="..." / href="..." in the page, and the URLs Swagger UI's start-up script is given.
REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|url: '([^']+)'""")


def _references(page: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(page)]


@pytest.mark.parametrize(
    ("page_path", "expected"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "openapi.json"}),
        ("/redoc", {"redoc.standalone.js", "openapi.json"}),
    ],
)
def test_docs_page_loads_every_file_it_references_from_the_app(
    api: TestClient, page_path: str, expected: set[str]
) -> None:
    page = api.get(page_path)
    assert page.status_code == 200
    assert "http://" not in page.text, page.text
    assert "https://" not in page.text, page.text
    references = _references(page.text)
    assert expected <= {urlsplit(ref).path.rsplit("/", 1)[-1] for ref in references}
    for ref in references:
        assert not urlsplit(ref).netloc, f"{ref} names another host"
        asset = api.get(urljoin(page_path, ref))
        assert asset.status_code == 200, ref
        assert asset.content, ref


def test_docs_content_security_policy_allows_no_other_host(api: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        policy = api.get(path).headers["Content-Security-Policy"]
        assert "http" not in policy, policy
        assert "script-src 'self' 'unsafe-inline'" in policy
