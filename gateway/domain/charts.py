"""The time-to-ready chart: median and 90th percentile per practice, as SVG drawn on the
server (no script, no chart library). Pure: numbers in, markup out.

Every piece of text is escaped here, so the markup can be placed in a page as it is. The
chart is an image with a title and a description for screen readers; pages show the same
numbers in a table as well.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH = 760
LABEL_WIDTH = 96
VALUE_WIDTH = 92
TOP = 46
ROW = 46
BAR = 14
GAP = 4
AXIS = 48
MEDIAN_COLOUR = "#005eb8"  # NHS blue: 7:1 on white
P90_COLOUR = "#768692"  # NHS mid grey: over 3:1 on white, as WCAG asks of graphics
TEXT_COLOUR = "#212b32"


@dataclass(frozen=True)
class PracticeTiming:
    ods_code: str
    median_seconds: float | None
    p90_seconds: float | None
    ready: int  # how many recommendations the figures come from


@dataclass(frozen=True)
class Unit:
    name: str
    seconds: float
    words: str


UNITS = (
    Unit("s", 1.0, "seconds"),
    Unit("min", 60.0, "minutes"),
    Unit("h", 3600.0, "hours"),
    Unit("days", 86400.0, "days"),
)
PER_LINE = 6  # practice codes per line in the "none ready yet" note


def unit_for(longest_seconds: float) -> Unit:
    """The unit that keeps the axis in small numbers."""
    if longest_seconds < 120:
        return UNITS[0]
    if longest_seconds < 2 * 3600:
        return UNITS[1]
    if longest_seconds < 72 * 3600:
        return UNITS[2]
    return UNITS[3]


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` intervals."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if raw <= multiple * power:
            return multiple * power
    return 10.0 * power


def _number(value: float) -> str:
    text = f"{value:.1f}" if value < 10 and value != int(value) else f"{value:.0f}"
    return text


def describe(seconds: float, unit: Unit) -> str:
    return f"{_number(seconds / unit.seconds)} {unit.name}"


@dataclass(frozen=True)
class _Axis:
    """The shared horizontal axis: `unit` per tick label, `step` between ticks."""

    unit: Unit
    step: float
    axis_max: float
    plot_width: float = WIDTH - LABEL_WIDTH - VALUE_WIDTH

    @classmethod
    def fitting(cls, longest_seconds: float) -> "_Axis":
        unit = unit_for(longest_seconds)
        step = nice_step(longest_seconds / unit.seconds)
        return cls(unit, step, max(step, math.ceil((longest_seconds / unit.seconds) / step) * step))

    def x_of(self, seconds: float) -> float:
        return LABEL_WIDTH + self.plot_width * (seconds / self.unit.seconds) / self.axis_max


def time_to_ready_chart(
    rows: Sequence[PracticeTiming],
    *,
    chart_id: str = "time-to-ready",
    window_days: int | None = None,
) -> str:
    """Horizontal bars, two per practice (median, 90th percentile), on one shared axis."""
    timed = [r for r in rows if r.median_seconds is not None and r.p90_seconds is not None]
    axis = _Axis.fitting(max((r.p90_seconds or 0.0 for r in timed), default=0.0))
    untimed = [r.ods_code for r in rows if r not in timed]
    notes = [untimed[i : i + PER_LINE] for i in range(0, len(untimed), PER_LINE)]
    axis_y = TOP + ROW * max(1, len(timed))
    height = axis_y + AXIS + 20 * len(notes) + (8 if notes else 0)
    window = f" over the last {window_days} days" if window_days else ""
    title = f"Time from delivery to ready to collect, per practice{window}"
    parts = _header(chart_id, height, title, _summary(timed, untimed, axis.unit))
    parts += _grid(axis, axis_y)
    for index, row in enumerate(timed):
        parts += _practice_bars(row, TOP + ROW * index, axis)
    parts += _footer(axis, axis_y, notes)
    return "".join(parts)


def _summary(timed: Sequence[PracticeTiming], untimed: Sequence[str], unit: Unit) -> str:
    """The chart's description for screen readers: every figure the bars show."""
    if not timed:
        return "No prescription has become ready to collect yet."
    waiting = f" None ready to collect yet at {', '.join(untimed)}." if untimed else ""
    return (
        "; ".join(
            f"{r.ods_code}: median {describe(r.median_seconds or 0.0, unit)}, "
            f"90th percentile {describe(r.p90_seconds or 0.0, unit)} ({r.ready} ready)"
            for r in timed
        )
        + "."
        + waiting
    )


def _header(chart_id: str, height: int, title: str, summary: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)} '
        f'role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="Arial, Helvetica, sans-serif" font-size="13" fill="{TEXT_COLOUR}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>',
        # Legend.
        f'<rect x="{LABEL_WIDTH}" y="12" width="14" height="14" fill="{MEDIAN_COLOUR}"/>',
        f'<text x="{LABEL_WIDTH + 20}" y="24">median</text>',
        f'<rect x="{LABEL_WIDTH + 90}" y="12" width="14" height="14" fill="{P90_COLOUR}"/>',
        f'<text x="{LABEL_WIDTH + 110}" y="24">90th percentile</text>',
    ]


def _grid(axis: _Axis, axis_y: int) -> list[str]:
    parts: list[str] = []
    tick = 0.0
    while tick <= axis.axis_max + 1e-9:
        x = axis.x_of(tick * axis.unit.seconds)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{axis_y}" '
            f'stroke="#d8dde0" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 18}" text-anchor="middle">{_number(tick)}</text>'
        )
        tick += axis.step
    return parts


def _practice_bars(row: PracticeTiming, top: int, axis: _Axis) -> list[str]:
    parts = [
        f'<g class="practice" data-practice={quoteattr(row.ods_code)}>'
        f'<text x="{LABEL_WIDTH - 10}" y="{top + BAR + GAP}" text-anchor="end" '
        f'font-weight="bold">{escape(row.ods_code)}</text>'
    ]
    bars = (
        ("median", row.median_seconds or 0.0, MEDIAN_COLOUR),
        ("90th percentile", row.p90_seconds or 0.0, P90_COLOUR),
    )
    for offset, (name, seconds, colour) in enumerate(bars):
        y = top + offset * (BAR + GAP)
        width = max(1.0, axis.x_of(seconds) - LABEL_WIDTH)
        text = f"{row.ods_code} {name}: {describe(seconds, axis.unit)} ({row.ready} ready)"
        parts.append(
            f'<rect class="bar" data-kind="{"median" if offset == 0 else "p90"}" '
            f'x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR}" '
            f'fill="{colour}"><title>{escape(text)}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + BAR - 2}">'
            f"{escape(describe(seconds, axis.unit))}</text>"
        )
    parts.append("</g>")
    return parts


def _footer(axis: _Axis, axis_y: int, notes: Sequence[Sequence[str]]) -> list[str]:
    parts = [
        f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + axis.plot_width}" '
        f'y2="{axis_y}" stroke="{TEXT_COLOUR}" stroke-width="1"/>'
        f'<text x="{LABEL_WIDTH + axis.plot_width}" y="{axis_y + 36}" text-anchor="end">'
        f"{escape(axis.unit.words)}</text>"
    ]
    for index, codes in enumerate(notes):
        lead = "None ready to collect yet: " if index == 0 else ""
        more = "," if index < len(notes) - 1 else ""
        parts.append(
            f'<text class="untimed" x="{LABEL_WIDTH}" y="{axis_y + AXIS + 20 * index + 8}" '
            f'font-style="italic">{escape(lead + ", ".join(codes) + more)}</text>'
        )
    parts.append("</svg>")
    return parts
