"""The pure routing rules: identity first, then PDS's practice, then ODS's state of it."""

from datetime import date

from gateway.domain.registration import (
    IDENTITY_MISMATCH,
    NO_USABLE_PRACTICE,
    PatientFacts,
    PracticeFacts,
    Routed,
    Stopped,
    route,
)

BORN = date(1974, 3, 2)
REGISTERED = PatientFacts(birth_date=BORN, practice="Y00001")


def _ods(*records: PracticeFacts) -> dict[str, PracticeFacts]:
    return {r.ods_code: r for r in records}


def _route(
    patient: PatientFacts, ods: dict[str, PracticeFacts] | None = None, **kw: object
) -> Routed | Stopped:
    directory = kw.pop("directory", {"Y00001", "Y00002", "Y00003"})
    return route(
        patient,
        given_ods=kw.pop("given_ods", None),  # type: ignore[arg-type]
        given_birth_date=kw.pop("given_birth_date", BORN),  # type: ignore[arg-type]
        lookup=(lambda code: ods.get(code)) if ods is not None else None,
        in_directory=lambda code: code in directory,  # type: ignore[operator]
    )


def test_a_birth_date_pds_disagrees_with_stops_even_when_the_practice_matches() -> None:
    stopped = _route(REGISTERED, given_ods="Y00001", given_birth_date=date(1974, 3, 3))
    assert isinstance(stopped, Stopped)
    assert stopped.status == IDENTITY_MISMATCH


def test_no_birth_date_given_is_not_a_mismatch() -> None:
    assert isinstance(_route(REGISTERED, given_birth_date=None), Routed)


def test_pds_wins_over_the_practice_given_and_says_so() -> None:
    routed = _route(REGISTERED, given_ods="Y00002")
    assert isinstance(routed, Routed)
    assert routed.ods_code == "Y00001"
    assert routed.corrected
    assert "not Y00002 as given" in " ".join(routed.notes)


def test_successors_are_followed_through_more_than_one_merger() -> None:
    ods = _ods(
        PracticeFacts("Y00001", active=False, successor="Y00002"),
        PracticeFacts("Y00002", active=False, successor="Y00003"),
        PracticeFacts("Y00003", active=True, name="NEW PRACTICE"),
    )
    routed = _route(REGISTERED, ods, given_ods="Y00001")
    assert isinstance(routed, Routed)
    assert routed.ods_code == "Y00003"
    assert routed.corrected
    assert routed.practice is not None
    assert routed.practice.name == "NEW PRACTICE"


def test_a_succession_loop_stops_instead_of_going_round_for_ever() -> None:
    ods = _ods(
        PracticeFacts("Y00001", active=False, successor="Y00002"),
        PracticeFacts("Y00002", active=False, successor="Y00001"),
    )
    stopped = _route(REGISTERED, ods)
    assert isinstance(stopped, Stopped)
    assert stopped.status == NO_USABLE_PRACTICE


def test_a_practice_ods_does_not_know_or_liaison_cannot_reach_is_not_used() -> None:
    assert isinstance(_route(REGISTERED, _ods()), Stopped)
    unreachable = _route(REGISTERED, directory=set())
    assert isinstance(unreachable, Stopped)
    assert "practice directory" in unreachable.reason


def test_reasons_never_carry_the_birth_date() -> None:
    stopped = _route(REGISTERED, given_birth_date=date(1980, 1, 1))
    assert isinstance(stopped, Stopped)
    assert "1980" not in stopped.reason
    assert "1974" not in stopped.reason
