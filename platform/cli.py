"""The ``kameng`` command: every operator task, honouring the same configuration as the app."""
from __future__ import annotations

import click
from flask.cli import FlaskGroup

from kameng.core.errors import ServiceError
from kameng.core.scoping import ALL, set_scope


def _create_app():
    from kameng.webapp import create_app

    return create_app()


class KamengGroup(FlaskGroup):
    def _load_plugin_commands(self):
        # only our own commands: third-party "flask.commands" plugins are not kameng's
        self._loaded_plugin_commands = True

    def invoke(self, ctx):
        # operator commands act across tenants on purpose
        set_scope(ALL)
        try:
            return super().invoke(ctx)
        except ServiceError as err:
            raise click.ClickException(err.message) from err


@click.group(cls=KamengGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, set_debug_flag=False, load_dotenv=False)
def cli():
    """kameng — multi-tenant virtual-goods shops (卡盟)."""


def _register():
    import importlib

    from kameng import commands
    from kameng.users_cli import users_cli
    from kameng.webapp import PACKAGES

    for name in PACKAGES:
        wiring = importlib.import_module(f"kameng.{name}.wiring")
        if hasattr(wiring, "register_cli"):
            wiring.register_cli(cli)
    cli.add_command(users_cli)
    for command in commands.COMMANDS:
        cli.add_command(command)

    from kameng.bench_cli import bench
    from kameng.shop.stock.bench import bench_import

    bench.add_command(bench_import)
    cli.add_command(bench)


_register()


def main():
    cli.main(prog_name="kameng")


if __name__ == "__main__":
    main()
