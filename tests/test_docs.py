"""The documentation cannot drift from the code: every command and option has help, and every command an
``Example:``."""

from __future__ import annotations

import click

from animalsort.cli import main


def _commands() -> list[tuple[str, click.Command]]:
    found = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(main, "animalsort")
    return found


def test_every_command_has_help_with_an_example() -> None:
    missing = [path for path, command in _commands() if "Example:" not in (command.help or "")]
    assert not missing, f"commands whose help has no Example: section: {missing}"


def test_every_option_has_help() -> None:
    missing = [
        f"{path} {'/'.join(param.opts)}"
        for path, command in _commands()
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]
    assert not missing, f"options without help text: {missing}"
