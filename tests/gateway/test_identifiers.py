import pytest

from gateway.domain.identifiers import email_of, nhs_number_of, ods_code_of, uk_mobile_of


@pytest.mark.parametrize("value", ["9434765919", "943 476 5919", "943-476-5919"])
def test_valid_nhs_numbers_are_normalised(value: str) -> None:
    assert nhs_number_of(value) == "9434765919"


@pytest.mark.parametrize("value", ["9434765918", "943476591", "94347659190", "abcdefghij", ""])
def test_invalid_nhs_numbers_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(ValueError, match="mod-11") as caught:
        nhs_number_of(value)
    assert value not in str(caught.value) or not value


def test_ods_codes_are_trimmed_and_upper_cased_and_malformed_ones_refused() -> None:
    assert ods_code_of(" y00001 ") == "Y00001"
    for bad in ("AB", "Y0000100000X", "Y00-01"):
        with pytest.raises(ValueError, match="ODS"):
            ods_code_of(bad)


def test_uk_mobiles_become_international_and_other_numbers_are_refused() -> None:
    assert uk_mobile_of("07700 900123") == "+447700900123"  # Ofcom drama range
    assert uk_mobile_of("+44 7400 123456") == "+447400123456"  # phonenumbers example
    for bad in ("020 7946 0000", "+33 6 12 34 56 78", "not a number"):
        with pytest.raises(ValueError, match=r"mobile|phone"):
            uk_mobile_of(bad)


def test_an_email_is_kept_as_written_and_a_malformed_one_refused() -> None:
    assert email_of("Jo.Okafor@example.nhs.uk") == "Jo.Okafor@example.nhs.uk"
    for bad in ("jo", "jo@", "@example.org", "jo@@example.org"):
        with pytest.raises(ValueError, match="email"):
            email_of(bad)
