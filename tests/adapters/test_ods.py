"""The ODS (ORD API) client against the documented example and, over HTTP, the ODS stand-in."""

from collections.abc import Iterator

import httpx
import pytest

from adapters.errors import TransientAdapterError
from adapters.ods import OdsClient, read_organisation
from adapters.standins.ods import create_app
from tests.live_server import serving

# NHS England, "ODS ORD API endpoints" - organisation endpoint, the documented answer for X26
# (trimmed: Rels and the later Succs entries left out).
DOCUMENTED_X26 = {
    "Organisation": {
        "Name": "NHS DIGITAL",
        "Date": [
            {"Type": "Operational", "Start": "2013-01-21"},
            {"Type": "Legal", "Start": "2013-04-01"},
        ],
        "OrgId": {
            "root": "2.16.840.1.113883.2.1.3.2.4.18.48",
            "assigningAuthorityName": "HSCIC",
            "extension": "X26",
        },
        "Status": "Active",
        "LastChangeDate": "2016-09-09",
        "orgRecordClass": "RC1",
        "Succs": {
            "Succ": [
                {
                    "uniqueSuccId": 36589,
                    "Type": "Predecessor",
                    "Target": {
                        "OrgId": {
                            "root": "2.16.840.1.113883.2.1.3.2.4.18.48",
                            "assigningAuthorityName": "HSCIC",
                            "extension": "T1430",
                        },
                        "PrimaryRoleId": {"id": "RO189", "uniqueRoleId": "136318"},
                    },
                    "Date": [{"Type": "Legal", "Start": "2013-04-01"}],
                }
            ]
        },
    }
}


def test_documented_example_is_active_and_a_predecessor_is_not_a_successor() -> None:
    found = read_organisation("X26", DOCUMENTED_X26)
    assert found.active
    assert found.name == "NHS DIGITAL"
    assert found.successor is None
    assert found.telephone is None


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    with serving(create_app()) as url:
        yield url


def _client(url: str, **options: object) -> OdsClient:
    return OdsClient(base_url=f"{url}/ORD/2-0-0", retry_max_wait=0.05, **options)  # type: ignore[arg-type]


def test_an_open_practice_has_its_name_and_telephone(stand_in: str) -> None:
    found = _client(stand_in).organisation("Y00001")
    assert found is not None
    assert found.active
    assert found.name == "RIVERSIDE MEDICAL PRACTICE"
    assert found.telephone == "0113 496 0001"


def test_a_merged_practice_is_closed_and_names_its_successor(stand_in: str) -> None:
    found = _client(stand_in).organisation("Y00901")
    assert found is not None
    assert not found.active
    assert found.successor == "Y00001"
    closed = _client(stand_in).organisation("Y00902")
    assert closed is not None
    assert not closed.active
    assert closed.successor is None


def test_an_unknown_code_is_none(stand_in: str) -> None:
    assert _client(stand_in).organisation("Q99999") is None


def test_answers_are_cached_until_they_expire(stand_in: str) -> None:
    now = [0.0]
    client = _client(stand_in, cache_seconds=60, clock=lambda: now[0])
    client.organisation("Y00002")
    client.organisation("Y00002")
    assert client.calls == 1
    now[0] = 61.0
    client.organisation("Y00002")
    assert client.calls == 2


def test_a_closure_is_seen_once_the_cache_expires(stand_in: str) -> None:
    now = [0.0]
    client = _client(stand_in, cache_seconds=60, clock=lambda: now[0])
    assert client.organisation("A81005").active  # type: ignore[union-attr]
    httpx.put(f"{stand_in}/_ods/organisations/A81005/closure", json={"successor": "A81001"})
    assert client.organisation("A81005").active  # type: ignore[union-attr]
    now[0] = 61.0
    found = client.organisation("A81005")
    assert found is not None
    assert not found.active
    assert found.successor == "A81001"


def test_ods_unavailable_is_transient() -> None:
    client = OdsClient(
        base_url="https://ods.example/ORD/2-0-0",
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
        retry_max_wait=0.01,
    )
    with pytest.raises(TransientAdapterError):
        client.organisation("Y00001")
