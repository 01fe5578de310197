"""`liaison --help` is where a newcomer starts: it must read as plain help, every option must
say what it does, and the everyday commands come before the development stand-ins."""

from typing import Any

import click
import typer.main
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli_help import EVERYDAY_FIRST


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    found = [(" ".join(path) or "liaison", group)]
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            found += _commands(command, (*path, name))
    return found


def test_every_command_and_option_says_what_it_does() -> None:
    root = typer.main.get_command(app)
    silent = [
        f"{name} {param.opts[0]}"
        for name, command in _commands(root)
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    undocumented = [name for name, command in _commands(root) if not (command.help or "").strip()]
    assert silent == [], "options without help text"
    assert undocumented == [], "commands without help text"


def test_help_has_no_placeholder_metavars_and_lists_everyday_commands_first() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    assert "<bool>" not in top.output
    listed = [
        line.split()[0]
        for line in top.output.split("Commands:")[1].splitlines()
        if line.startswith("  ") and line.strip()
    ]
    assert listed[: len(EVERYDAY_FIRST)] == list(EVERYDAY_FIRST)
    assert {"simulator", "mailsink", "notifysink"} <= set(listed[len(EVERYDAY_FIRST) :])
    for name, _ in _commands(typer.main.get_command(app))[1:]:
        shown = runner.invoke(app, [*name.split(), "--help"])
        assert shown.exit_code == 0, name
        assert "<bool>" not in shown.output, name
