"""How `liaison --help` reads: plain text (Rich's panels print `<bool>` beside every flag and
keep a docstring's line breaks mid-sentence; click rewraps to the terminal and prints flags as
`--x / --no-x`), and the everyday commands before the development stand-ins."""

from typing import Any

import typer
from typer.core import TyperGroup

EVERYDAY_FIRST = (
    "dev",
    "demo",
    "migrate",
    "api",
    "worker",
    "beat",
    "queues",
    "replay",
    "token",
    "clients",
    "practices",
    "catalogue",
    "ukcore",
    "fhir-package",
)


class EverydayFirst(TyperGroup):
    """Commands in the order a newcomer needs them; the rest (stand-ins) keep their order."""

    def list_commands(self, ctx: Any) -> list[str]:  # typer vendors its own click Context
        rank = {name: i for i, name in enumerate(EVERYDAY_FIRST)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))


def command_group(help_text: str, *, top: bool = False) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        cls=EverydayFirst if top else TyperGroup,
    )
