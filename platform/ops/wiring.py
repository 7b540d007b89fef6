"""ops' part of the app: its commands (no routes, no listeners)."""
from __future__ import annotations


def init_app(app) -> None:
    pass


def register_cli(group) -> None:
    from kameng.ops.cli import COMMANDS

    for command in COMMANDS:
        group.add_command(command)
