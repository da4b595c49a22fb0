"""Every command has help and a section in docs/cli.md; the README's links point at real files."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from minorch.cli import main

ROOT = Path(__file__).parent.parent
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()


def commands(group: click.Group = main, prefix: str = "minorch"):
    ctx = click.Context(group, info_name=prefix)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


@pytest.mark.parametrize("name,command", list(commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_and_a_section_in_the_cli_reference(name, command):
    assert command.help and command.help.strip(), f"{name} has no help text"
    assert f"\n### {name}\n" in CLI_DOC, f"docs/cli.md has no section for {name}"
    first_line = command.help.strip().splitlines()[0]
    assert first_line in CLI_DOC, f"docs/cli.md does not show the help of {name}: {first_line!r}"


def test_the_readme_links_only_to_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to missing {target}"
