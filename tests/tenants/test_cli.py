"""The operator's ``kameng tenants`` / ``kameng users`` commands."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.tenants.models import Domain, Tenant, User

pytestmark = [pytest.mark.both, pytest.mark.smoke]


def counts():
    return (db.session.scalar(select(func.count()).select_from(Tenant)),
            db.session.scalar(select(func.count()).select_from(Domain)))


def test_create_master_then_subshops_with_domains(app, cli):
    r = cli("tenants", "create", "--slug", "hq", "--name", "总站")
    assert r.exit_code == 0, r.output
    r = cli("tenants", "create", "--slug", "a", "--name", "A", "--parent", "hq",
            "--domain", "Shop.Example.com", "--domain", "a2.example.com")
    assert r.exit_code == 0, r.output
    r = cli("tenants", "create", "--slug", "b", "--name", "B", "--parent", "a")
    assert r.exit_code == 0, r.output
    rows = json.loads(cli("tenants", "list", "--json").output)
    by_slug = {row["slug"]: row for row in rows}
    assert by_slug["hq"]["parent"] is None and by_slug["hq"]["depth"] == 0
    assert by_slug["hq"]["domains"] == ["hq.localhost"]
    assert by_slug["a"]["domains"] == ["shop.example.com", "a2.example.com"]
    assert by_slug["b"] == {**by_slug["b"], "parent": "a", "depth": 2,
                            "domains": ["b.localhost"]}
    b = db.session.scalar(select(Tenant).where(Tenant.slug == "b"))
    a = db.session.scalar(select(Tenant).where(Tenant.slug == "a"))
    assert b.path == f"{a.path}{b.id}/" and b.ancestor_ids == [a.parent_id, a.id]


@pytest.mark.parametrize("args, message", [
    (["--slug", "x", "--name", "X", "--parent", "nope"], "no parent shop with slug 'nope'"),
    (["--slug", "x", "--name", "X", "--parent", "hq", "--domain", "hq.localhost"],
     "already bound"),
    (["--slug", "hq", "--name", "Again", "--parent", "hq"], "already exists"),
    (["--slug", "x", "--name", "Second root"], "master shop already exists"),
    (["--slug", "Bad Slug", "--name", "X", "--parent", "hq"], "slug"),
    (["--slug", "x", "--name", "X", "--parent", "hq", "--domain", "bad host!"],
     "not a valid hostname"),
    (["--slug", "x", "--name", "X", "--parent", "hq", "--domain", "d1.example.com",
      "--domain", "hq.localhost"], "already bound"),
])
def test_bad_input_exits_nonzero_and_writes_nothing(app, cli, args, message):
    assert cli("tenants", "create", "--slug", "hq", "--name", "HQ").exit_code == 0
    before = counts()
    r = cli("tenants", "create", *args)
    assert r.exit_code != 0
    assert message in (r.stderr if hasattr(r, "stderr") else r.output)
    assert counts() == before


def test_domain_add_and_errors(app, cli):
    cli("tenants", "create", "--slug", "hq", "--name", "HQ")
    r = cli("tenants", "domain-add", "hq", "Cards.Example.com")
    assert r.exit_code == 0 and "unverified" in r.output
    assert cli("tenants", "domain-add", "hq", "cards.example.com").exit_code != 0
    assert cli("tenants", "domain-add", "nope", "x.example.com").exit_code != 0
    assert cli("tenants", "domain-verify", "cards.example.com").exit_code == 0


def test_users_create_validates(app, cli):
    cli("tenants", "create", "--slug", "hq", "--name", "HQ")
    ok = cli("users", "create", "--tenant", "hq", "--email", "Boss@Example.com",
             "--role", "owner", "--password", "long-enough")
    assert ok.exit_code == 0, ok.output
    user = db.session.scalar(select(User))
    assert user.email == "boss@example.com" and user.password_hash.startswith("$argon2id$")
    for args in (["--email", "not-an-email"], ["--email", "boss@example.com"]):
        r = cli("users", "create", "--tenant", "hq", "--role", "customer",
                "--password", "long-enough", *args)
        assert r.exit_code != 0
    assert cli("users", "create", "--tenant", "nope", "--email", "a@b.cn",
               "--role", "owner").exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_every_subcommand_has_help(app, cli):
    from kameng.cli import cli as root

    def walk(group, prefix):
        for name, cmd in list(group.commands.items()):
            yield [*prefix, name]
            if hasattr(cmd, "commands"):
                yield from walk(cmd, [*prefix, name])

    for path in list(walk(root, [])):
        r = cli(*path, "--help")
        assert r.exit_code == 0, (path, r.output)
        assert "Usage:" in r.output
