"""The README is the operator's reference: every command, option and setting that
exists is listed there, and nothing that does not exist."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from kameng.cli import cli
from kameng.core.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
pytestmark = pytest.mark.smoke


def section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # the header row


def cli_tree(command: click.Command, path: tuple[str, ...] = ()):
    """(command path, its option names and argument names) for every leaf command."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from cli_tree(sub, (*path, name))
        return
    params = set()
    for param in command.params:
        if isinstance(param, click.Option):
            params.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        else:
            params.add(param.human_readable_name.upper())
    yield " ".join(path), params


def readme_commands(text: str) -> dict[str, set[str]]:
    documented = {}
    for row in table_rows(section(text, "Command reference")):
        names = re.findall(r"`kameng ([a-z][a-z0-9 -]*?)`", row[0])
        assert names, f"a command reference row names no command: {row}"
        params = set()
        for span in re.findall(r"`([^`]+)`", row[1]):
            first = span.strip("[]… ").split()[0]
            # "--tenant SLUG" names an option (SLUG is its value), "FILE" an argument
            params.update(first.split("/") if first.startswith("--") else [first])
        for name in names:
            documented[name.strip()] = params
    return documented


def readme_settings(text: str) -> set[str]:
    names = set()
    for row in table_rows(section(text, "Configuration")):
        names.update(re.findall(r"`KAMENG_([A-Z0-9_]+)`", row[0]))
    return names


def test_every_command_and_option_is_in_the_readme_and_nothing_else():
    actual = dict(cli_tree(cli))
    documented = readme_commands(README)
    assert sorted(set(actual) - set(documented)) == [], "commands missing from the README"
    assert sorted(set(documented) - set(actual)) == [], "README lists commands that do not exist"
    wrong = {name: (sorted(actual[name] - documented[name]), sorted(documented[name] - actual[name]))
             for name in actual if actual[name] != documented[name]}
    assert wrong == {}, "per command: (options missing from the README, listed but not real)"


def test_every_setting_is_in_the_readme_and_nothing_else():
    in_code = set(SETTINGS) | {"INSTANCE_PATH"}
    # a KAMENG_ variable the code reads by name outside the settings table counts too
    for path in [*(ROOT / "platform").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]:
        in_code.update(re.findall(r"KAMENG_([A-Z][A-Z0-9_]+)", path.read_text(encoding="utf-8")))
    in_code = {name for name in in_code if not name.startswith("TEST_")}
    documented = readme_settings(README)
    assert sorted(in_code - documented) == [], "settings missing from the README"
    assert sorted(documented - in_code) == [], "README lists settings that do not exist"


def test_the_checks_can_fail():
    fake = ("## Command reference\n| command | options | what |\n|---|---|---|\n"
            "| `kameng stock import` | `--product SKU` `FILE` | x |\n## Configuration\n"
            "| variable | default | meaning |\n|---|---|---|\n| `KAMENG_NOPE` | — | x |\n")
    documented = readme_commands(fake)
    assert documented == {"stock import": {"--product", "FILE"}}
    assert documented["stock import"] != dict(cli_tree(cli))["stock import"]  # --separator …
    assert readme_settings(fake) == {"NOPE"}


def test_the_readme_stands_alone():
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "DESIGN.md" not in text, path
