"""Identifier and contact checks for the FHIR intake; each returns the normalised value or
raises ValueError saying what is wrong (never echoing the value: it is personal data).

NHS numbers use the `nhs-number` package (modulus 11, NHS Data Dictionary "NHS Number"), UK mobiles
`phonenumbers`, emails `email-validator` without DNS lookups (no I/O here).
"""

import re
from typing import Final

import email_validator
import nhs_number
import phonenumbers

_ODS: Final = re.compile(r"[A-Z0-9]{3,10}")
_TEN_DIGITS: Final = re.compile(r"[0-9]{10}")
# Ofcom reserves 07700 900000-900999 for drama and testing; phonenumbers calls them
# invalid, but they are the numbers UK test data is written with.
_OFCOM_DRAMA_MOBILE: Final = re.compile(r"\+447700900\d{3}")


def nhs_number_of(value: str) -> str:
    digits = value.replace(" ", "").replace("-", "")
    # ASCII digits only: isdigit() is true of other scripts' digits and of "²".
    if not (_TEN_DIGITS.fullmatch(digits) and nhs_number.is_valid(digits)):
        raise ValueError("not a valid NHS number (10 digits with a mod-11 check digit)")
    return digits


def ods_code_of(value: str) -> str:
    code = value.strip().upper()
    if not _ODS.fullmatch(code):
        raise ValueError("not an ODS code (3 to 10 letters and digits)")
    return code


def uk_mobile_of(value: str) -> str:
    """The number in E.164 form, if it is a UK mobile."""
    try:
        parsed = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException as error:
        raise ValueError("not a phone number") from error
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if _OFCOM_DRAMA_MOBILE.fullmatch(e164):
        return e164
    if (
        phonenumbers.region_code_for_number(parsed) != "GB"
        or phonenumbers.number_type(parsed) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise ValueError("not a UK mobile number")
    return e164


def email_of(value: str) -> str:
    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError("not a valid email address") from error
    return str(checked.normalized)
