"""What cog writes into the documentation pages, from the code itself: the CLI reference from the click
commands (each command's ``--help``, exactly as a terminal 100 columns wide shows it) and the package layout
from each module's docstring, in the order of the layers contract in pyproject.toml.

``make docs-generate`` rewrites the pages (``cog -r -I docs/tools`` on every page with a ``[[[cog`` block);
tests/test_docs.py fails when a committed page is not what this module writes now.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "animalsort"
# Wide enough that option help reads as sentences, narrow enough for a code block on a laptop screen.
WIDTH = 100


def commands() -> Iterator[tuple[click.Context, click.Command]]:
    """Every command of the CLI, the group first, then its commands (and theirs) in the order --help lists them."""
    from animalsort.cli import main

    def walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
        yield ctx, command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))

    settings = {**main.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    root = click.Context(main, info_name="animalsort", **settings)
    yield from walk(main, root)


def cli_reference() -> str:
    """One section per command: its path as the heading (the anchor other pages link to), its --help below."""
    parts = []
    for ctx, command in commands():
        parts.append(f"## {ctx.command_path}\n\n```text\n{command.get_help(ctx)}\n```\n")
    return "\n".join(parts)


def first_sentence(docstring: str | None) -> str:
    """A docstring's first sentence as Markdown (reST's ``code`` and :role:`name` become `code`)."""
    paragraph = " ".join((docstring or "").split("\n\n")[0].split())
    sentence = re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]
    sentence = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", sentence).replace("``", "`")
    return sentence.replace("|", "\\|") or "(no docstring)"


def _docstring(path: Path) -> str | None:
    # Parsed, not imported: the layout of the torch modules is read without loading torch.
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))


def _layers() -> list[str]:
    """The package's names top to bottom, as the layers contract of pyproject.toml orders them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    return [name.strip().removeprefix("animalsort.") for layer in layers for name in layer.split("|")]


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| module | what it holds |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in rows]
    return "\n".join(lines) + "\n"


def layout() -> str:
    """The package, top layer first: each sub-package's modules with the first sentence of their docstrings;
    the single-module layers (the leaves) and the package's own files in one table at the end."""
    sections, singles = [], []
    for name in _layers():
        folder = PACKAGE / name
        if folder.is_dir():
            modules = sorted(folder.glob("*.py"), key=lambda p: (p.name != "__init__.py", p.name))
            rows = [(f"{name}/{m.name}", first_sentence(_docstring(m))) for m in modules]
            sections.append(f"### `animalsort/{name}/`\n\n{_table(rows)}")
        elif (PACKAGE / f"{name}.py").exists():
            singles.append((f"{name}.py", first_sentence(_docstring(PACKAGE / f"{name}.py"))))
    named = set(_layers())
    for folder in sorted(p.parent for p in PACKAGE.glob("*/__init__.py") if p.parent.name not in named):
        rows = [(f"{folder.name}/{m.name}", first_sentence(_docstring(m))) for m in sorted(folder.glob("*.py"))]
        sections.append(f"### `animalsort/{folder.name}/` (in no layer of the contract)\n\n{_table(rows)}")
    listed = {f for f, _ in singles}
    own = [(p.name, first_sentence(_docstring(p))) for p in sorted(PACKAGE.glob("*.py")) if p.name not in listed]
    sections.append(f"### Leaves and the package's own files\n\n{_table(singles + own)}")
    return "\n".join(sections)
