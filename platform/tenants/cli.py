"""``kameng tenants …`` and ``kameng users …``."""
from __future__ import annotations

import json
from functools import wraps

import click
from flask.cli import AppGroup

from kameng.tenants import services

tenants_cli = AppGroup("tenants", help="Shops (tenants) and their hostnames.")


def tenant_command(group, name: str, slug_help: str = "Slug of the shop."):
    """``group.command(name)`` with a required ``--tenant SLUG`` option: the command
    function is called with the shop itself instead of its slug."""
    def decorator(f):
        @wraps(f)
        def command(slug, **kwargs):
            return f(services.tenant_by_slug(slug), **kwargs)
        option = click.option("--tenant", "slug", required=True, help=slug_help)
        return group.command(name)(option(command))
    return decorator


@tenants_cli.command("create")
@click.option("--slug", required=True, help="Short unique name, e.g. 'acme'.")
@click.option("--name", required=True, help="The shop's display name.")
@click.option("--parent", "parent", help="Slug of the parent shop; omit to create the master.")
@click.option("--domain", "domains", multiple=True,
              help="Hostname (repeatable); default <slug>.<base domain>.")
@click.option("--theme", help="Theme name (default: the parent's).")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]), help="Default language.")
@click.option("--currency", help="ISO currency code (default: the parent's).")
def create_tenant(slug, name, parent, domains, theme, locale, currency):
    """Create a shop: the master (no --parent) or a sub-shop under PARENT."""
    tenant = services.create_tenant(slug, name, parent, list(domains), theme=theme,
                                    locale=locale, currency=currency)
    click.echo(f"created {tenant.slug} (depth {tenant.depth}) at "
               + ", ".join(d.hostname for d in tenant.domains))


@tenants_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tenants(as_json):
    """List every shop in the tree."""
    rows = [{
        "slug": t.slug, "name": t.name, "parent": t.parent.slug if t.parent else None,
        "depth": t.depth, "theme": t.theme, "status": t.status,
        "domains": [d.hostname for d in t.domains],
    } for t in services.list_tenants()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{'  ' * r['depth']}{r['slug']:<20} {r['name']:<24} "
                   f"{' '.join(r['domains'])}")


@tenants_cli.command("domain-add")
@click.argument("slug")
@click.argument("host")
@click.option("--verified", is_flag=True,
              help="Operator override: mark a custom domain verified now, without DNS.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def domain_add(slug, host, verified, as_json):
    """Bind HOST to the shop SLUG and print the DNS records to create (custom domains
    start unverified; an apex also binds www.HOST)."""
    from kameng.tenants import domains

    domain = domains.add_domain(slug, host, verified=verified)
    setup = domains.setup_of(domain)
    if as_json:
        click.echo(json.dumps(setup.as_json(), ensure_ascii=False))
        return
    state = "verified" if setup.verified else "unverified"
    click.echo(f"{domain.hostname} → {slug}: {domain.kind}, {state}")
    if setup.records:
        click.echo("DNS records to create:")
        for record in setup.records:
            click.echo(f"  {record.type:<6} {record.name:<40} {record.value}")
    if not setup.verified:
        click.echo(f"then: kameng tenants domain-check {domain.hostname}")


@tenants_cli.command("domain-check")
@click.argument("host")
def domain_check(host):
    """Look up HOST's TXT record _kameng.HOST: a match verifies it (it serves at once);
    a missing or wrong record exits non-zero saying what was expected and found."""
    from kameng.tenants import domains

    domain = domains.check_host(host)
    click.echo(f"{domain.hostname} verified: its TXT record matches, it serves "
               f"{domain.tenant.slug}")


@tenants_cli.command("domain-verify")
@click.argument("host")
def domain_verify(host):
    """Operator override: mark HOST verified without looking at DNS (domain-check
    proves it instead), so it starts serving its shop."""
    domain = services.verify_domain(host)
    click.echo(f"{domain.hostname} verified")
