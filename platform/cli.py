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
    from flask_migrate.cli import db as db_cli

    from kameng import commands
    from kameng.tenants.cli import tenants_cli
    from kameng.users_cli import users_cli

    cli.add_command(db_cli)
    cli.add_command(tenants_cli)
    cli.add_command(users_cli)
    for command in commands.COMMANDS:
        cli.add_command(command)
    from kameng.billing.ledger.cli import balance_cli, ledger_cli

    cli.add_command(ledger_cli)
    cli.add_command(balance_cli)
    from kameng.shop.pricing.cli import COMMANDS as pricing_commands

    for command in pricing_commands:
        cli.add_command(command)

    from kameng.benchmarks.cli import bench
    from kameng.shop.catalog.cli import products_cli
    from kameng.shop.stock.cli import stock_cli

    cli.add_command(products_cli)
    cli.add_command(stock_cli)
    cli.add_command(bench)
    from kameng.shop.suppliers.cli import suppliers_cli

    cli.add_command(suppliers_cli)
    # issue 5: commissions, withdrawals, plans; `ledger balances` joins the ledger group
    from kameng.billing.commissions.cli import commissions_cli
    from kameng.billing.plans.cli import plans_cli
    from kameng.billing.withdrawals.cli import withdrawals_cli

    cli.add_command(commissions_cli)
    cli.add_command(withdrawals_cli)
    cli.add_command(plans_cli)


_register()


def main():
    cli.main(prog_name="kameng")


if __name__ == "__main__":
    main()
