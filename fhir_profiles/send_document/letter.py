"""The Send Document letter: one A4 page a GP practice can file and act on (PDF, fpdf2).

`render_letter` reads one of Liaison's delivery Bundles (`request_facts`), words it
(`letter_text`) and lays it out. The ITK message carries the result as its Binary
(application/pdf). Same input, same bytes: the PDF's dates are the envelope's, never the
clock's.

With the envelope's `fonts` (TrueType files, e.g. Debian's fonts-dejavu-core) the letter
embeds a subset of them and prints every name as written; a character the font has no
glyph for becomes "?" rather than an empty box. Without them it uses the 14 standard PDF
fonts, which cover Latin-1 only (fpdf2 docs, "Unicode"): text outside Latin-1 is folded
to its base letters (a Polish l with stroke becomes l) rather than dropped, and a
character with no base letter becomes "?".
"""

import unicodedata
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from fhir_profiles.send_document.contract import DocumentEnvelope, LetterFonts
from fhir_profiles.send_document.letter_text import Block, Style, compose
from fhir_profiles.send_document.request_facts import read_request

if TYPE_CHECKING:
    # fpdf2 (with fontTools and Pillow) is about 18 MB resident once imported; only a worker
    # sending a document needs it, so it is imported by the first letter drawn (_draw).
    from fpdf import FPDF

FONT: Final = "Helvetica"
EMBEDDED_FONT: Final = "LetterSans"
_MARGIN_MM: Final = 15
# Point sizes tried in turn until the letter fits on one page.
_BODY_SIZES: Final = (10.0, 9.0, 8.0, 7.0)
# Dark red for the safety flag, on a pale red band (legible in greyscale too).
_ALERT_TEXT: Final = (140, 0, 0)
_ALERT_FILL: Final = (253, 232, 232)
_LINK_TEXT: Final = (0, 48, 135)
_PUNCTUATION: Final = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2022": "-",
    }
)
_NO_DECOMPOSITION: Final = str.maketrans(
    {
        "\u0142": "l",
        "\u0141": "L",
        "\u0111": "d",
        "\u0110": "D",
        "\u00f8": "o",
        "\u00d8": "O",
        "\u0131": "i",
        "\u0153": "oe",
        "\u0152": "OE",
    }
)


def latin1(text: str) -> str:
    """`text` as the standard PDF fonts can draw it (see the module docstring)."""
    text = text.translate(_PUNCTUATION).translate(_NO_DECOMPOSITION)
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


def _font_family(pdf: "FPDF", fonts: LetterFonts | None) -> tuple[str, Callable[[str], str]]:
    """The family to set and how text must be prepared for it."""
    if fonts is None:
        return FONT, latin1
    pdf.add_font(EMBEDDED_FONT, "", fonts.regular)
    pdf.add_font(EMBEDDED_FONT, "B", fonts.bold)
    # fpdf2 keys its fonts by the lower-cased family plus the style letters.
    regular, bold = pdf.fonts[EMBEDDED_FONT.lower()], pdf.fonts[EMBEDDED_FONT.lower() + "B"]
    glyphs = set(getattr(regular, "cmap", {})) & set(getattr(bold, "cmap", {}))

    def drawable(text: str) -> str:
        return "".join(
            c if ord(c) in glyphs or c in "\n\t" else _PUNCTUATION.get(ord(c), "?") for c in text
        )

    return EMBEDDED_FONT, drawable


def _style(pdf: "FPDF", family: str, block: Block, size: float) -> float:
    """Set font and colours for a block; returns its line height in mm."""
    pdf.set_text_color(0, 0, 0)
    if block.style is Style.TITLE:
        pdf.set_font(family, "B", size + 4)
        return (size + 4) * 0.5
    if block.style in (Style.ALERT_HEADING, Style.ALERT):
        pdf.set_text_color(*_ALERT_TEXT)
        pdf.set_fill_color(*_ALERT_FILL)
        pdf.set_font(family, "B" if block.style is Style.ALERT_HEADING else "", size)
        return size * 0.45
    if block.style is Style.HEADING:
        pdf.set_font(family, "B", size + 1)
        return (size + 1) * 0.5
    if block.style is Style.LINK:
        pdf.set_text_color(*_LINK_TEXT)
        pdf.set_font(family, "U", size)
        return size * 0.45
    pdf.set_font(family, "", size - 1.5 if block.style is Style.SMALL else size)
    return size * 0.42


def _draw(blocks: tuple[Block, ...], envelope: DocumentEnvelope, size: float) -> "FPDF":
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=_MARGIN_MM)
    pdf.set_creation_date(envelope.sent_at)
    family, drawable = _font_family(pdf, envelope.fonts)
    # Document metadata is PDF text strings, not drawn glyphs: it keeps any character.
    pdf.set_title(f"{envelope.sender.name}: letter to the GP practice")
    pdf.set_author(envelope.sender.name)
    pdf.set_creator("Liaison")
    pdf.add_page()
    previous: Style | None = None
    for block in blocks:
        if block.style is Style.HEADING or (
            block.style is Style.ALERT_HEADING and previous is not Style.TITLE
        ):
            pdf.ln(size * 0.3)
        height = _style(pdf, family, block, size)
        alert = block.style in (Style.ALERT_HEADING, Style.ALERT)
        pdf.multi_cell(
            0,
            height,
            drawable(block.text),
            align="L",
            fill=alert,
            link=block.url or "",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        if block.style is Style.TITLE:
            pdf.ln(size * 0.2)
        previous = block.style
    return pdf


def render_letter(bundle: Mapping[str, Any], envelope: DocumentEnvelope) -> bytes:
    """The letter for one delivery Bundle and envelope, as PDF bytes (one A4 page when it
    fits at 7pt or larger; longer letters flow on). Raises ValueError on a Bundle that is
    not one of Liaison's delivery Bundles or an envelope that cannot be dated."""
    if envelope.sent_at.utcoffset() is None:
        raise ValueError("envelope.sent_at must be timezone-aware")
    blocks = compose(read_request(bundle), envelope)
    pdf = _draw(blocks, envelope, _BODY_SIZES[0])
    for size in _BODY_SIZES[1:]:
        if pdf.pages_count <= 1:
            break
        pdf = _draw(blocks, envelope, size)
    return bytes(pdf.output())
