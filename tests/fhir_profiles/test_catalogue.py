import pytest

from fhir_profiles.catalogue import CATALOGUE, SHIPPED_DMD_CODES, DmdCode, Product, find_product

EXPECTED_KEYS = {
    "varenicline-1mg-tablets",
    "varenicline-0.5mg-tablets",
    "varenicline-titration-pack",
    "bupropion-150mg-mr-tablets",
    "nicotine-7mg-24h-patches",
    "nicotine-14mg-24h-patches",
    "nicotine-21mg-24h-patches",
    "nicotine-10mg-16h-patches",
    "nicotine-15mg-16h-patches",
    "nicotine-25mg-16h-patches",
    "nicotine-2mg-gum",
    "nicotine-4mg-gum",
    "nicotine-1mg-lozenges",
    "nicotine-1.5mg-lozenges",
    "nicotine-2mg-lozenges",
    "nicotine-4mg-lozenges",
    "nicotine-15mg-inhalator",
    "nicotine-1mg-mouth-spray",
    "nicotine-0.5mg-nasal-spray",
}


def test_catalogue_holds_the_agreed_products() -> None:
    assert set(CATALOGUE) == EXPECTED_KEYS


@pytest.mark.parametrize("product", CATALOGUE.values(), ids=lambda p: p.key)
def test_entry_is_keyed_by_its_own_key(product: Product) -> None:
    assert CATALOGUE[product.key] is product
    assert find_product(product.key) is product


@pytest.mark.parametrize("product", CATALOGUE.values(), ids=lambda p: p.key)
def test_no_code_without_a_source(product: Product) -> None:
    if product.dmd_code is not None:
        assert product.code_source


def test_product_refuses_a_code_without_a_source() -> None:
    # The code and its source are one value: a Product cannot be given a bare code.
    with pytest.raises(ValueError, match="without a source"):
        Product("x", "X 1mg tablets", "tablet", "nrt", DmdCode("123456", ""))
    with pytest.raises(ValueError, match="without a source"):
        DmdCode("123456", "   ")
    with pytest.raises(TypeError):
        Product("x", "X 1mg tablets", "tablet", "nrt", dmd_code="123456")  # type: ignore[call-arg]


def test_a_dmd_code_is_a_concept_id() -> None:
    with pytest.raises(ValueError, match="not a dm\\+d concept id"):
        DmdCode("varenicline", "https://example.org/list")


# The public sources a shipped dm+d code may cite.
_NAMED_SOURCES = (
    "https://services.nhsbsa.nhs.uk/dmd-browser/",
    "https://ontology.nhs.uk/",
    "https://www.opencodelists.org/",
    "https://openprescribing.net/dmd/",
)


def test_every_shipped_dmd_code_names_a_public_source() -> None:
    shipped = [p for p in CATALOGUE.values() if p.dmd is not None]
    assert {p.key for p in shipped} == set(SHIPPED_DMD_CODES)
    for product in shipped:
        assert product.dmd is SHIPPED_DMD_CODES[product.key]
        assert product.dmd.source.startswith(_NAMED_SOURCES), product.key


def test_kinds_match_the_names() -> None:
    for product in CATALOGUE.values():
        assert product.name.lower().startswith(
            product.kind if product.kind != "nrt" else "nicotine"
        )


def test_names_are_unique() -> None:
    names = [product.name for product in CATALOGUE.values()]
    assert len(names) == len(set(names))


def test_unknown_key_finds_nothing() -> None:
    assert find_product("cigarettes") is None


def test_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOGUE["new"] = CATALOGUE["nicotine-2mg-gum"]  # type: ignore[index]


def test_every_nrt_form_and_both_patch_durations_are_covered() -> None:
    forms = {product.form for product in CATALOGUE.values() if product.kind == "nrt"}
    assert forms == {
        "transdermal patch",
        "medicated chewing gum",
        "lozenge",
        "inhalation cartridge",
        "oromucosal spray",
        "nasal spray",
    }
    names = " ".join(product.name for product in CATALOGUE.values())
    assert "/24hours" in names
    assert "/16hours" in names


def test_the_catalogue_is_the_published_code_system() -> None:
    # The products are read from the CodeSystem GP systems can fetch, not kept twice.
    from fhir_profiles import systems
    from fhir_profiles.terminology import code_system_concepts, expand

    concepts = code_system_concepts(systems.MEDICATION_CATALOGUE)
    assert concepts is not None
    assert {c["code"]: c["display"] for c in concepts} == {
        p.key: p.name for p in CATALOGUE.values()
    }
    value_set = expand(f"{systems.LIAISON_CANONICAL}/ValueSet/smoking-cessation-medicine")
    assert value_set == {(systems.MEDICATION_CATALOGUE, key) for key in CATALOGUE}


def _combination(*keys: str) -> str | None:
    from fhir_profiles.combinations import combination_problem

    return combination_problem([CATALOGUE[key] for key in keys])


@pytest.mark.parametrize(
    "keys",
    [
        ("varenicline-1mg-tablets",),
        ("nicotine-2mg-gum",),
        ("nicotine-21mg-24h-patches", "nicotine-2mg-gum"),
        ("nicotine-15mg-16h-patches", "nicotine-1mg-mouth-spray", "nicotine-2mg-lozenges"),
    ],
)
def test_single_medicines_and_combination_nrt_are_allowed(keys: tuple[str, ...]) -> None:
    assert _combination(*keys) is None


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        (("varenicline-1mg-tablets", "bupropion-150mg-mr-tablets"), "not combined"),
        (("varenicline-1mg-tablets", "nicotine-21mg-24h-patches"), "not combined"),
        (("bupropion-150mg-mr-tablets", "nicotine-2mg-gum"), "not combined"),
        (("nicotine-21mg-24h-patches", "nicotine-7mg-24h-patches"), "one patch"),
        (("nicotine-2mg-gum", "nicotine-2mg-lozenges"), "one patch"),
        (("nicotine-2mg-gum", "nicotine-2mg-gum"), "twice"),
        (("nicotine-21mg-24h-patches", "nicotine-2mg-gum", "nicotine-2mg-gum"), "twice"),
        (("nicotine-21mg-24h-patches", "nicotine-2mg-gum", "nicotine-4mg-gum"), "one strength"),
        (
            (
                "nicotine-21mg-24h-patches",
                "nicotine-2mg-gum",
                "nicotine-1mg-lozenges",
                "nicotine-1mg-mouth-spray",
            ),
            "at most 3",
        ),
        ((), "at least one"),
    ],
)
def test_combinations_outside_ng209_are_refused(keys: tuple[str, ...], reason: str) -> None:
    problem = _combination(*keys)
    assert problem is not None
    assert reason in problem


def test_a_combination_is_named_as_one_phrase_in_the_order_chosen() -> None:
    from fhir_profiles.combinations import combined_name

    patch, gum = CATALOGUE["nicotine-21mg-24h-patches"], CATALOGUE["nicotine-2mg-gum"]
    spray = CATALOGUE["nicotine-1mg-mouth-spray"]
    assert combined_name([patch]) == patch.name
    assert combined_name([patch, gum]) == f"{patch.name} and {gum.name}"
    assert combined_name([patch, gum, spray]) == f"{patch.name}, {gum.name} and {spray.name}"
