"""Sales commands that join other groups (attached by ``kameng.cli``)."""
from __future__ import annotations

import click

from kameng.sales.commissions import post_commissions_by_number


@click.command("post")
@click.argument("order_no")
def post_commissions_command(order_no):
    """Post a delivered order's commissions now (normally the delivery job does it)."""
    click.echo(f"{order_no}: {post_commissions_by_number(order_no)}")
