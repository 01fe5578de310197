"""The report every benchmark writes: how busy the machine was, each figure beside its
ceiling and target, and the section appended to docs/BENCHMARKS.md."""

import datetime
import math
import os
import subprocess
import time
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]

from bench.common import COMMAND_ENV, DOC, ROOT


@dataclass
class Machine:
    """How busy the machine was: figures from a loaded machine are labelled as such."""

    cores: int
    load_before: tuple[float, float, float]
    busy_before: float  # % CPU in use by anything, sampled before the benchmark started
    load_after: tuple[float, float, float] | None = None

    @classmethod
    def sample(cls) -> "Machine":
        return cls(
            cores=os.cpu_count() or 1,
            load_before=os.getloadavg(),
            busy_before=psutil.cpu_percent(interval=2.0),
        )

    def finish(self) -> None:
        self.load_after = os.getloadavg()

    @property
    def loaded(self) -> bool:
        # CPU in use just before the start, not the load average: the 1-minute average
        # still carries the previous benchmark of the same run for a minute or more.
        return self.busy_before > 25

    def describe(self) -> str:
        after = f", {self.load_after[0]:.1f} after" if self.load_after else ""
        text = (
            f"{self.cores} cores; load average {self.load_before[0]:.1f} before{after}; "
            f"{self.busy_before:.0f} % CPU busy before start"
        )
        if self.loaded:
            text += (
                " — **LOADED MACHINE**: other work was running, so throughput and latency "
                "are worse than an idle machine's"
            )
        return text


# --- reporting --------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    ceiling: float | None = None
    target: str = ""
    met: bool | None = None
    # How to read the ratio: figure / ceiling, or ceiling / figure for latencies and costs.
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if self.ceiling is None or not self.ceiling or math.isnan(self.value):
            return None
        if self.higher_is_better:
            return self.value / self.ceiling
        return self.ceiling / self.value if self.value else None


@dataclass
class Report:
    title: str
    script: str
    machine: Machine
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # markdown blocks after the notes
    started: float = field(default_factory=time.monotonic)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.name}: {number(figure.value)} {figure.unit}", flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def markdown(self) -> str:
        command = os.environ.get(COMMAND_ENV) or f".venv/bin/python -m {self.script}"
        if os.environ.get(COMMAND_ENV):
            command += f" (this section: `.venv/bin/python -m {self.script}`)"
        elapsed = time.monotonic() - self.started
        lines = [
            f"### {self.title}",
            "",
            f"{timestamp()} · commit `{commit()}` · {self.machine.describe()} · "
            f"took {elapsed:.0f} s · command: `{command}`",
            "",
            "| figure | measured | ceiling | ratio | target | met |",
            "|---|---|---|---|---|---|",
        ]
        for f in self.figures:
            ratio = f"{f.ratio:.2f}" if f.ratio is not None else "—"
            ceiling = f"{number(f.ceiling)} {f.unit}" if f.ceiling is not None else "—"
            met = {True: "yes", False: "**no**", None: "—"}[f.met]
            lines.append(
                f"| {f.name} | {number(f.value)} {f.unit} | {ceiling} | {ratio} "
                f"| {f.target or '—'} | {met} |"
            )
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        for block in self.details:
            lines += ["", block]
        return "\n".join(lines) + "\n"

    def publish(self) -> None:
        self.machine.finish()
        text = self.markdown()
        print("\n" + text, flush=True)
        if os.environ.get("LIAISON_BENCH_NO_DOC") == "1":
            return
        existing = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
        DOC.write_text(existing.rstrip() + "\n\n" + text)


def number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}+uncommitted" if dirty else head
