"""docs/CLINICAL-SAFETY.md stays true to the suite: every test its hazard log names as
evidence for a control exists, by path and name, and the README links to it."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "CLINICAL-SAFETY.md"
# `tests/<path>.py::<test name>`, as the hazard log writes each piece of evidence.
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
HAZARD = re.compile(r"^### (H\d+)\. ", re.MULTILINE)


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_hazard_log_names_exists() -> None:
    references = REFERENCE.findall(DOC.read_text())
    assert len(references) >= 40, "the hazard log names fewer tests than it should"
    missing = []
    for relative, name in sorted(set(references)):
        path = ROOT / relative
        if not path.is_file():
            missing.append(f"{relative} (no such file)")
        elif name not in _test_names(path):
            missing.append(f"{relative}::{name} (no such test)")
    assert missing == [], "update docs/CLINICAL-SAFETY.md:\n" + "\n".join(missing)


def test_every_hazard_names_the_tests_that_prove_its_controls() -> None:
    text = DOC.read_text()
    starts = [(m.group(1), m.start()) for m in HAZARD.finditer(text)]
    assert [h for h, _ in starts] == [f"H{n}" for n in range(1, 8)]
    ends = [start for _, start in starts[1:]] + [text.index("## Keeping this log true")]
    for (hazard, start), end in zip(starts, ends, strict=True):
        section = text[start:end]
        assert REFERENCE.search(section), f"{hazard} names no test"
        for part in ("*Causes:*", "*Controls:*", "*Residual risk (today):*"):
            assert part in section, f"{hazard} lacks {part}"


def test_the_readme_links_the_clinical_safety_page() -> None:
    assert "(docs/CLINICAL-SAFETY.md)" in (ROOT / "README.md").read_text()
