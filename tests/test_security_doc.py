"""docs/SECURITY.md stays true to the suite: every test it names as proof of a control
exists. A row names a test as `tests/<path>.py::<name>`, and further tests of the same file
as `::<name>`."""

import re
from pathlib import Path

from tests.test_clinical_safety_doc import _test_names

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "SECURITY.md"
CITED = re.compile(r"`(tests/[\w/]+\.py)?::(\w+)")


def test_every_test_the_security_page_names_exists() -> None:
    missing: list[str] = []
    cited = 0
    for line in DOC.read_text().splitlines():
        current: str | None = None
        for path, name in CITED.findall(line):
            current = path or current
            if current is None:
                missing.append(f"::{name} names no file before it")
                continue
            cited += 1
            file = ROOT / current
            if not file.is_file():
                missing.append(f"{current} (no such file)")
            elif name not in _test_names(file):
                missing.append(f"{current}::{name} (no such test)")
    assert cited >= 40, "the security page names fewer tests than it should"
    assert missing == [], "update docs/SECURITY.md:\n" + "\n".join(missing)
