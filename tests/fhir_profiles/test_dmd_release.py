"""Reading a dm+d release. The ids below are synthetic test values in the 99... range, not
real dm+d codes; the XML has the shape of NHSBSA's f_vtm2/f_vmp2/f_amp2 files."""

import io

from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.dmd_release import match_release, read_concepts
from fhir_profiles.safety import rules

VTM = b"""<?xml version="1.0" encoding="utf-8"?>
<VIRTUAL_THERAPEUTIC_MOIETIES>
  <VTM><VTMID>990000101</VTMID><NM>Clozapine</NM></VTM>
  <VTM><VTMID>990000102</VTMID><NM>Olanzapine</NM><INVALID>1</INVALID></VTM>
</VIRTUAL_THERAPEUTIC_MOIETIES>"""
VMP = b"""<?xml version="1.0" encoding="utf-8"?>
<VIRTUAL_MED_PRODUCTS><VMPS>
  <VMP><VPID>990000201</VPID><VTMID>990000101</VTMID><NM>Clozapine 25mg tablets</NM></VMP>
  <VMP><VPID>990000202</VPID><NM>Varenicline 1mg tablets</NM></VMP>
  <VMP><VPID>990000203</VPID><NM>Nicotine  21mg/24hours transdermal patches</NM></VMP>
</VMPS></VIRTUAL_MED_PRODUCTS>"""
AMP = b"""<?xml version="1.0" encoding="utf-8"?>
<ACTUAL_MEDICINAL_PRODUCTS><AMPS>
  <AMP><APID>990000301</APID><VPID>990000201</VPID><NM>Clozaril 25mg tablets</NM></AMP>
</AMPS></ACTUAL_MEDICINAL_PRODUCTS>"""


def _report():  # type: ignore[no-untyped-def]
    return match_release(
        vtms=read_concepts(io.BytesIO(VTM), "VTM", "VTMID", None),
        vmps=read_concepts(io.BytesIO(VMP), "VMP", "VPID", "VTMID"),
        amps=read_concepts(io.BytesIO(AMP), "AMP", "APID", "VPID"),
        products=CATALOGUE.values(),
        rules=rules(),
        source="dm+d release TEST",
    )


def test_products_get_the_vmp_of_the_same_name_with_the_release_as_source() -> None:
    codes = _report().codes
    varenicline = codes.product(CATALOGUE["varenicline-1mg-tablets"])
    assert (varenicline.dmd_code, varenicline.code_source) == ("990000202", "dm+d release TEST")
    # Names are compared with whitespace and case normalised.
    assert codes.product(CATALOGUE["nicotine-21mg-24h-patches"]).dmd_code == "990000203"
    assert codes.product(CATALOGUE["nicotine-2mg-gum"]).dmd_code is None


def test_safety_rules_get_the_vtm_its_vmps_and_their_branded_amps() -> None:
    codes = _report().codes
    assert codes.rule_codes("clozapine") == {"990000101", "990000201", "990000301"}
    # An invalid VTM is skipped: olanzapine keeps matching by name only.
    assert codes.rule_codes("olanzapine") == frozenset()


def test_the_report_lists_what_could_not_be_matched() -> None:
    report = _report()
    assert "nicotine-2mg-gum" in report.unmatched_products
    assert "varenicline-1mg-tablets" not in report.unmatched_products
    assert "olanzapine" in report.rules_without_codes
    assert "clozapine" not in report.rules_without_codes


TITRATION_VMP = b"""<?xml version="1.0" encoding="utf-8"?>
<VIRTUAL_MED_PRODUCTS><VMPS>
  <VMP><VPID>990000204</VPID>
    <NM>Varenicline 0.5mg tablets and 1mg tablets titration pack</NM></VMP>
  <VMP><VPID>990000202</VPID><NM>Varenicline 1mg tablets</NM></VMP>
</VMPS></VIRTUAL_MED_PRODUCTS>"""
TITRATION_AMP = b"""<?xml version="1.0" encoding="utf-8"?>
<ACTUAL_MEDICINAL_PRODUCTS><AMPS>
  <AMP><APID>990000304</APID><VPID>990000204</VPID><NM>Brand X titration pack</NM></AMP>
</AMPS></ACTUAL_MEDICINAL_PRODUCTS>"""


def _by_id(expected: dict[str, str]):  # type: ignore[no-untyped-def]
    return match_release(
        vtms=(),
        vmps=read_concepts(io.BytesIO(TITRATION_VMP), "VMP", "VPID", "VTMID"),
        amps=read_concepts(io.BytesIO(TITRATION_AMP), "AMP", "APID", "VPID"),
        products=CATALOGUE.values(),
        rules=(),
        source="dm+d release TEST",
        expected=expected,
    )


def test_an_expected_vpid_matches_a_differently_spelled_name_with_a_warning() -> None:
    report = _by_id({"varenicline-titration-pack": "990000204"})
    pack = report.codes.product(CATALOGUE["varenicline-titration-pack"])
    assert (pack.dmd_code, pack.code_source) == ("990000204", "dm+d release TEST")
    assert "varenicline-titration-pack" not in report.unmatched_products
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("varenicline-titration-pack: 990000204 is named")
    # Without the expected id the same product is a miss: names alone do not agree.
    assert "varenicline-titration-pack" in _by_id({}).unmatched_products


def test_an_expected_id_may_be_an_apid_and_the_same_name_gives_no_warning() -> None:
    report = _by_id(
        {"varenicline-titration-pack": "990000304", "varenicline-1mg-tablets": "990000202"}
    )
    assert report.codes.product(CATALOGUE["varenicline-titration-pack"]).dmd_code == "990000304"
    assert report.codes.product(CATALOGUE["varenicline-1mg-tablets"]).dmd_code == "990000202"
    assert [w.split(":")[0] for w in report.warnings] == ["varenicline-titration-pack"]


def test_an_expected_id_absent_from_the_release_is_a_miss_not_a_name_match() -> None:
    report = _by_id({"varenicline-1mg-tablets": "990000999"})
    assert "varenicline-1mg-tablets" in report.unmatched_products
    assert report.codes.product(CATALOGUE["varenicline-1mg-tablets"]).dmd_code is None
