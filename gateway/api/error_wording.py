"""Validation errors in Liaison's words, not the validation library's.

pydantic says "Field required", "Value error, …", "Input should be True"; a caller reading a
422 should read what to change, in one style, whatever produced it. Each error becomes
"<field>: <what is wrong>"; a type this table does not know keeps pydantic's message,
without its "Value error, " prefix.
"""

import re
from typing import Any, Final

from fhir_profiles.catalogue import CATALOGUE

_PREFIX: Final = re.compile(r"^(Value|Assertion) error, ")

# FHIR R4 IssueType codes by HTTP status (https://hl7.org/fhir/R4/valueset-issue-type.html).
FHIR_ISSUE_CODES: Final = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
}


def fhir_issue_code(status: int) -> str:
    return FHIR_ISSUE_CODES.get(status, "processing")


def _expected(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace(" or ", ", or ")


def plain_message(error: dict[str, Any]) -> str:
    """What is wrong with one field, in Liaison's words."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = error.get("ctx") or {}
    wording = {
        "missing": "required",
        "extra_forbidden": "is not a field Liaison knows; leave it out",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be text",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "date_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_inexact": "must be a date (YYYY-MM-DD), without a time",
        "datetime_parsing": "must be a date and time (ISO 8601)",
        "datetime_from_date_parsing": "must be a date and time (ISO 8601)",
        "timezone_aware": "must be a date and time with its time zone",
        "string_pattern_mismatch": "is not in the expected form",
        "json_invalid": "the body is not valid JSON",
    }.get(kind)
    if wording is not None:
        return wording
    if kind == "literal_error":
        # Literal[True] is how a required consent is written: "Input should be True".
        expected = _expected(ctx)
        return "must be true" if expected == "True" else f"must be {expected}"
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else (f"at least {ctx.get('min_length')} characters")
        )
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} items"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    return _PREFIX.sub("", str(error.get("msg", "is not valid")))


def offered_products() -> str:
    """The catalogue's product keys, for "unknown product" answers."""
    return ", ".join(sorted(CATALOGUE))
