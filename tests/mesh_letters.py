"""Reading what the simulated MESH practice received: the Send Document message's document
Composition and the text of its PDF letter (read back with pypdf)."""

import base64
import io
from typing import Any

import pypdf

from adapters.standins.mesh_practice import Answered


def _resources(answer: Answered) -> list[dict[str, Any]]:
    assert answer.document is not None
    outer = [e["resource"] for e in answer.document["entry"]]
    inner = [e["resource"] for r in outer if r["resourceType"] == "Bundle" for e in r["entry"]]
    return outer + inner


def composition(answer: Answered) -> dict[str, Any]:
    """The Composition of the document Bundle (the MessageHeader's focus)."""
    [found] = [r for r in _resources(answer) if r["resourceType"] == "Composition"]
    return found


def letter_text(answer: Answered) -> str:
    [pdf] = [r for r in _resources(answer) if r["resourceType"] == "Binary"]
    assert pdf["contentType"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(base64.b64decode(pdf["content"])))
    return "\n".join(page.extract_text() for page in reader.pages)
