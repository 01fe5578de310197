"""The stop-smoking medicines a practitioner can recommend through Liaison.

Names follow the dm+d virtual medicinal product (VMP) naming style used by the
BNF and dm+d (strength and unit written together, "microgram" below 1 mg,
"modified-release", "transdermal patches", ...). No dm+d code for any of these
products has been verified from a named public source (see shared/REFERENCE.md),
so every `dmd_code` is None: the builders then send the product name as
`medicationCodeableConcept.text` plus Liaison's own catalogue coding, and the
practice's clinical system maps it to its dm+d product. Never add a code here
without filling `code_source` with where it was checked (release, URL, date).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Kind = Literal["nrt", "varenicline", "bupropion"]


@dataclass(frozen=True)
class Product:
    key: str
    name: str
    form: str
    kind: Kind
    dmd_code: str | None = None
    code_source: str | None = None

    def __post_init__(self) -> None:
        # An unsourced code would reach a GP's prescribing system looking authoritative.
        if self.dmd_code is not None and not self.code_source:
            raise ValueError(f"catalogue product {self.key!r} has a dm+d code without a source")


_PRODUCTS: Final[tuple[Product, ...]] = (
    # Varenicline, prescription only.
    # name per BNF/dm+d naming; code not verified
    Product("varenicline-1mg-tablets", "Varenicline 1mg tablets", "tablet", "varenicline"),
    # name per BNF/dm+d naming (micrograms below 1 mg; the key keeps "0.5mg"); code not verified
    Product(
        "varenicline-0.5mg-tablets", "Varenicline 500microgram tablets", "tablet", "varenicline"
    ),
    # Sold as an initiation pack (11 x 0.5 mg + 14 x 1 mg per the product leaflets);
    # name in BNF/dm+d style but the dm+d pack name was not checked; code not verified
    Product(
        "varenicline-titration-pack",
        "Varenicline 500microgram tablets and 1mg tablets titration pack",
        "tablet",
        "varenicline",
    ),
    # Bupropion, prescription only.
    # name per BNF/dm+d naming; code not verified
    Product(
        "bupropion-150mg-mr-tablets",
        "Bupropion 150mg modified-release tablets",
        "modified-release tablet",
        "bupropion",
    ),
    # Nicotine replacement therapy: 24-hour patches.
    # names per BNF/dm+d naming; codes not verified
    Product(
        "nicotine-7mg-24h-patches",
        "Nicotine 7mg/24hours transdermal patches",
        "transdermal patch",
        "nrt",
    ),
    Product(
        "nicotine-14mg-24h-patches",
        "Nicotine 14mg/24hours transdermal patches",
        "transdermal patch",
        "nrt",
    ),
    Product(
        "nicotine-21mg-24h-patches",
        "Nicotine 21mg/24hours transdermal patches",
        "transdermal patch",
        "nrt",
    ),
    # 16-hour patches.
    # names per BNF/dm+d naming; codes not verified
    Product(
        "nicotine-10mg-16h-patches",
        "Nicotine 10mg/16hours transdermal patches",
        "transdermal patch",
        "nrt",
    ),
    Product(
        "nicotine-15mg-16h-patches",
        "Nicotine 15mg/16hours transdermal patches",
        "transdermal patch",
        "nrt",
    ),
    Product(
        "nicotine-25mg-16h-patches",
        "Nicotine 25mg/16hours transdermal patches",
        "transdermal patch",
        "nrt",
    ),
    # Gum (dm+d also lists sugar-free and flavoured variants; the GP system picks one).
    # names per BNF/dm+d naming; codes not verified
    Product(
        "nicotine-2mg-gum", "Nicotine 2mg medicated chewing gum", "medicated chewing gum", "nrt"
    ),
    Product(
        "nicotine-4mg-gum", "Nicotine 4mg medicated chewing gum", "medicated chewing gum", "nrt"
    ),
    # Lozenges in the strengths sold in the UK (1 mg, 1.5 mg "mini", 2 mg, 4 mg).
    # names per BNF/dm+d naming; codes not verified
    Product("nicotine-1mg-lozenges", "Nicotine 1mg lozenges", "lozenge", "nrt"),
    Product("nicotine-1.5mg-lozenges", "Nicotine 1.5mg lozenges", "lozenge", "nrt"),
    Product("nicotine-2mg-lozenges", "Nicotine 2mg lozenges", "lozenge", "nrt"),
    Product("nicotine-4mg-lozenges", "Nicotine 4mg lozenges", "lozenge", "nrt"),
    # Inhalator.
    # name per BNF/dm+d naming; code not verified
    Product(
        "nicotine-15mg-inhalator",
        "Nicotine 15mg inhalation cartridges for oromucosal use",
        "inhalation cartridge",
        "nrt",
    ),
    # Sprays.
    # names per BNF/dm+d naming; codes not verified
    Product(
        "nicotine-1mg-mouth-spray", "Nicotine 1mg/dose oromucosal spray", "oromucosal spray", "nrt"
    ),
    Product(
        "nicotine-0.5mg-nasal-spray",
        "Nicotine 500micrograms/dose nasal spray",
        "nasal spray",
        "nrt",
    ),
)


def _index(products: tuple[Product, ...]) -> Mapping[str, Product]:
    index: dict[str, Product] = {}
    for product in products:
        if product.key in index:
            raise ValueError(f"duplicate catalogue key {product.key!r}")
        index[product.key] = product
    return MappingProxyType(index)


CATALOGUE: Final[Mapping[str, Product]] = _index(_PRODUCTS)


def find_product(key: str) -> Product | None:
    return CATALOGUE.get(key)
