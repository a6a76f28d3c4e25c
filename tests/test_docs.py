"""The README is the contract with a newcomer: it must cover every setting and every command."""

from __future__ import annotations

from pathlib import Path

import click

from docctl.cli import main
from docctl.ops.settings import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in README]
    assert not missing, f"README does not document: {missing}"


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_command_is_documented():
    commands = list(_commands(main))
    assert "user add" in commands and "serve" in commands
    missing = [c for c in commands if f"docctl {c}" not in README]
    assert not missing, f"README does not document: {missing}"


def test_quick_start_has_the_two_commands():
    assert "pip install . && docctl serve --demo" in README
    assert 'pip install ".[test]" && pytest' in README
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert 'pip install --quiet ".[test]"' in ci and "pytest" in ci
