import pytest

from gateway.catalogue_commands import parse_codes


def test_code_pairs_name_the_expected_dmd_id_per_product() -> None:
    assert parse_codes(["varenicline-titration-pack=990000204"]) == {
        "varenicline-titration-pack": "990000204"
    }


@pytest.mark.parametrize(
    "pair", ["cigarettes=990000204", "nicotine-2mg-gum=gum", "nicotine-2mg-gum"]
)
def test_a_bad_code_pair_is_refused(pair: str) -> None:
    with pytest.raises(ValueError, match="--code"):
        parse_codes([pair])
