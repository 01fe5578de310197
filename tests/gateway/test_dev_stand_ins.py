"""`liaison dev` starts the PDS and ODS stand-ins only when no real service is configured."""

from gateway.cli import _registry_stand_ins
from gateway.settings import DevelopmentSettings, OdsSettings, PdsSettings, Settings


def test_dev_starts_both_stand_ins_and_points_the_processes_at_them() -> None:
    env: dict[str, str] = {}
    names = _registry_stand_ins(
        Settings(development=DevelopmentSettings(pds_standin_port=18028, ods_standin_port=18029)),
        env,
    )
    assert names == ["pds-standin", "ods-standin"]
    assert env == {
        "LIAISON_PDS__BASE_URL": "http://127.0.0.1:18028/personal-demographics/FHIR/R4",
        "LIAISON_ODS__BASE_URL": "http://127.0.0.1:18029/ORD/2-0-0",
    }


def test_a_configured_service_is_used_as_it_is_and_pds_off_starts_nothing() -> None:
    env: dict[str, str] = {}
    configured = Settings(
        pds=PdsSettings(base_url="https://int.api.service.nhs.uk/personal-demographics/FHIR/R4"),
        ods=OdsSettings(base_url="https://directory.spineservices.nhs.uk/ORD/2-0-0"),
    )
    assert _registry_stand_ins(configured, env) == []
    assert env == {}
    assert _registry_stand_ins(Settings(pds=PdsSettings(mode="off")), env) == ["ods-standin"]
    assert "LIAISON_PDS__BASE_URL" not in env
