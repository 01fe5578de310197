"""A stand-in for the ODS ORD API's organisation endpoint, for development and tests only.

`GET /ORD/2-0-0/organisations/{ods_code}` answers the documented JSON (NHS England, "ODS
ORD API endpoints", organisation endpoint: `Organisation` with `Name`, `Date`, `OrgId`,
`Status`, `LastChangeDate`, `orgRecordClass`, `GeoLoc`, `Contacts`, `Roles`, `Succs`), or
404 for a code it does not know. Canned: every practice a development directory may hold
(Y00001-Y00099, A81001-A81099 and the others the tests use; open), two closed
practices (one merged into Y00001, one closed outright) and the
canned patients' nominated pharmacy. Names are made up; telephone numbers are in Ofcom's
range kept for drama (0113 496 0000-0999), so none reaches a real line.

`PUT /_ods/organisations/{ods_code}/closure` closes a practice (optionally naming its
successor) for tests.
"""

import threading
from typing import Any, Final

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

OID: Final = "2.16.840.1.113883.2.1.3.2.4.18.48"
GP_PRACTICE_ROLE: Final = "RO177"  # ODS role "PRESCRIBING COST CENTRE" (GP practices)
PHARMACY_ROLE: Final = "RO182"  # ODS role "PHARMACY"
MERGED: Final = "Y00901"
CLOSED: Final = "Y00902"
PHARMACY: Final = "FH542"

_PRACTICES: Final = {
    "Y00001": "RIVERSIDE MEDICAL PRACTICE",
    "Y00002": "HILLTOP SURGERY",
    "Y00003": "PARK LANE HEALTH CENTRE",
    "Y00004": "STATION ROAD SURGERY",
    "Y00005": "MILL STREET PRACTICE",
    "Y00006": "ABBEY VIEW SURGERY",
    "Y00007": "CANAL SIDE MEDICAL CENTRE",
    "Y00008": "ORCHARD FAMILY PRACTICE",
    "A81001": "THE DENSHAM SURGERY",
    "A81002": "QUEENS PARK MEDICAL CENTRE",
    "A81003": "VICTORIA MEDICAL PRACTICE",
    "A81004": "ACKLAM MEDICAL CENTRE",
    "A81005": "SPRINGWOOD SURGERY",
    "A81009": "VILLAGE MEDICAL CENTRE",
    "Y00100": "BROOK STREET SURGERY",  # the development practice inbox
    "N00001": "NORTHGATE SURGERY",
    "M81001": "MARKET SQUARE MEDICAL PRACTICE",
    "H00001": "HARBOUR VIEW SURGERY",
    MERGED: "OLD BRIDGE SURGERY",
    CLOSED: "WHARF STREET SURGERY",
}


class Closure(BaseModel):
    successor: str | None = Field(default=None, pattern=r"^[A-Z0-9]{3,10}$")


def _org_id(code: str) -> dict[str, str]:
    return {"root": OID, "assigningAuthorityName": "HSCIC", "extension": code}


def _record(code: str, name: str, role: str, telephone: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Date": [{"Type": "Operational", "Start": "2004-04-01"}],
        "OrgId": _org_id(code),
        "Status": "Active",
        "LastChangeDate": "2026-01-05",
        "orgRecordClass": "RC1",
        "GeoLoc": {
            "Location": {"AddrLn1": "1 EXAMPLE STREET", "Town": "LEEDS", "PostCode": "LS1 6AE"}
        },
        "Contacts": {"Contact": [{"type": "tel", "value": telephone}]},
        "Roles": {
            "Role": [
                {
                    "id": role,
                    "uniqueRoleId": 1,
                    "primaryRole": True,
                    "Status": "Active",
                    "Date": [{"Type": "Operational", "Start": "2004-04-01"}],
                }
            ]
        },
    }


def _close(record: dict[str, Any], successor: str | None) -> None:
    record["Status"] = "Inactive"
    record["Date"] = [{"Type": "Operational", "Start": "2004-04-01", "End": "2026-03-31"}]
    if successor is None:
        record.pop("Succs", None)
        return
    record["Succs"] = {
        "Succ": [
            {
                "uniqueSuccId": 1,
                "Date": [{"Type": "Legal", "Start": "2026-04-01"}],
                "Type": "Successor",
                "Target": {
                    "OrgId": _org_id(successor),
                    "PrimaryRoleId": {"id": GP_PRACTICE_ROLE, "uniqueRoleId": 1},
                },
            }
        ]
    }


def _development_practices() -> dict[str, str]:
    """Y00001-Y00099 and A81001-A81099 are open practices too (names made up), so a new
    simulator practice is known to ODS without editing this table."""
    codes = [f"Y000{n:02d}" for n in range(1, 100)] + [f"A810{n:02d}" for n in range(1, 100)]
    return {code: f"DEVELOPMENT PRACTICE {code}" for code in codes}


def canned() -> dict[str, dict[str, Any]]:
    practices = {**_development_practices(), **_PRACTICES}
    # Named practices first, so their telephone numbers stay put as others are added.
    ordered = [*_PRACTICES, *(code for code in practices if code not in _PRACTICES)]
    records = {
        code: _record(code, practices[code], GP_PRACTICE_ROLE, f"0113 496 0{n:03d}")
        for n, code in enumerate(ordered, start=1)
    }
    records[PHARMACY] = _record(PHARMACY, "RIVERSIDE PHARMACY", PHARMACY_ROLE, "0113 496 0999")
    _close(records[MERGED], "Y00001")
    _close(records[CLOSED], None)
    return records


def create_app() -> FastAPI:
    lock = threading.Lock()
    records = canned()
    app = FastAPI(title="Liaison ODS stand-in", docs_url=None, redoc_url=None)
    ord_routes, control = APIRouter(), APIRouter()

    @ord_routes.get("/organisations/{ods_code}")
    def organisation(ods_code: str) -> JSONResponse:
        with lock:
            record = records.get(ods_code.upper())
            if record is None:
                return JSONResponse({"errorCode": 404, "errorText": "Not Found"}, status_code=404)
            return JSONResponse({"Organisation": record})

    @control.put("/organisations/{ods_code}/closure")
    def close(ods_code: str, closure: Closure) -> dict[str, bool]:
        with lock:
            record = records.get(ods_code)
            if record is None:
                return {"changed": False}
            _close(record, closure.successor)
        return {"changed": True}

    app.include_router(ord_routes, prefix="/ORD/2-0-0")
    app.include_router(control, prefix="/_ods")
    return app


def main(host: str, port: int) -> None:
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
