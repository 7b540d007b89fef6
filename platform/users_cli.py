"""``kameng users …``: accounts on a shop (with an optional API key).

The account and its docking-API key (both in tenants) are created in one
transaction.
"""
from __future__ import annotations

import click
from flask.cli import AppGroup

from kameng.core.extensions import db
from kameng.tenants import services, twofactor
from kameng.tenants.api_keys import create_key_in_txn
from kameng.tenants.models import ROLES, STAFF_ROLES

users_cli = AppGroup("users", help="Accounts: owners, staff and customers of a shop.")


@users_cli.command("create")
@click.option("--tenant", "slug", required=True, help="Slug of the shop.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--staff-role", "staff_role", type=click.Choice(STAFF_ROLES),
              help="What a staff account may do in the back office (default manager).")
@click.option("--password", help="At least 8 characters; omit for an API-only account.")
@click.option("--name", "display_name", help="Display name.")
@click.option("--api-key", "api_key", is_flag=True,
              help="Also make an API key; it is printed alone on the last line, once.")
def create_user(slug, email, role, staff_role, password, display_name, api_key):
    """Create an account on one shop."""
    tenant = services.tenant_by_slug(slug)
    if not api_key:
        user = services.create_user(tenant, email, role, password, display_name, staff_role)
        click.echo(f"created {role} {user.email} on {tenant.slug}")
        return
    # the account and its key are committed together, or neither
    user = services.create_user_in_txn(tenant, email, role, password, display_name, staff_role)
    db.session.flush()
    made = create_key_in_txn(user, "cli")
    db.session.commit()
    click.echo(f"created {role} {user.email} on {tenant.slug} with API key {made.key.prefix}…")
    click.echo(made.plaintext)


@users_cli.command("set-password")
@click.option("--tenant", "slug", required=True, help="Slug of the shop.")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters; asked for when left out.")
def set_password(slug, email, password):
    """Give an account a new password; every session signed in before ends."""
    user = services.user_by_email(services.tenant_by_slug(slug), email)
    services.set_password(user, password)
    click.echo(f"new password for {user.email} on {slug}; its sessions are signed out")


@users_cli.command("reset-2fa")
@click.option("--tenant", "slug", required=True, help="Slug of the shop.")
@click.option("--email", required=True)
def reset_2fa(slug, email):
    """Switch an account's two-factor sign-in off (a lost device): its secret and
    recovery codes are deleted; it signs in with its password and may enrol again."""
    user = services.user_by_email(services.tenant_by_slug(slug), email)
    twofactor.reset(user, actor="cli")
    click.echo(f"two-factor sign-in of {user.email} on {slug} is off")
