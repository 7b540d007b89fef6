"""Custom domains proven by DNS: the CLI, the host that starts and stops serving, apex and
www, one host per shop, and ``/_tls/ask`` — against a real DNS server on loopback."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kameng.core.extensions import db
from kameng.tenants import domains
from kameng.tenants.models import Domain
from tests.helpers import open_transactions_per_dns_query

pytestmark = pytest.mark.app_config(PUBLIC_IP="203.0.113.7", CNAME_TARGET="edge.kameng.test")


def token_of(host: str) -> str:
    return db.session.scalar(select(Domain.token).where(Domain.hostname == host))


def err(result) -> str:
    return result.stderr if hasattr(result, "stderr") else result.output


# ----- the CLI ---------------------------------------------------------------------------

def test_domain_add_json_shows_exactly_the_records(app, tree, cli):
    r = cli("tenants", "domain-add", "star", "Shop.Example.com", "--json")
    assert r.exit_code == 0, err(r)
    answer = json.loads(r.output)
    assert answer == {"hostname": "shop.example.com", "verified": False,
                      "txt_name": "_kameng.shop.example.com",
                      "txt_value": token_of("shop.example.com"), "target": "edge.kameng.test"}
    assert len(answer["txt_value"]) == 32


def test_domain_add_text_lists_cname_and_txt(app, tree, cli):
    r = cli("tenants", "domain-add", "star", "shop.example.com")
    assert r.exit_code == 0, err(r)
    token = token_of("shop.example.com")
    assert "CNAME  shop.example.com" in r.output and "edge.kameng.test" in r.output
    assert "TXT    _kameng.shop.example.com" in r.output and token in r.output
    assert "kameng tenants domain-check shop.example.com" in r.output


def test_an_apex_is_an_a_record_and_binds_www_too(app, tree, cli):
    r = cli("tenants", "domain-add", "star", "example.com", "--json")
    assert r.exit_code == 0, err(r)
    assert json.loads(r.output)["target"] == "203.0.113.7"
    www = db.session.scalar(select(Domain).where(Domain.hostname == "www.example.com"))
    apex = db.session.scalar(select(Domain).where(Domain.hostname == "example.com"))
    assert www.alias_of_id == apex.id and www.token == apex.token and www.verified_at is None
    text_out = cli("tenants", "domain-add", "star", "example.org").output
    assert "A      example.org" in text_out and "203.0.113.7" in text_out
    assert "CNAME  www.example.org" in text_out and "TXT    _kameng.example.org" in text_out


@pytest.mark.app_config(PUBLIC_IP="")
def test_an_apex_without_a_public_ip_is_refused_with_the_reason(app, tree, cli):
    r = cli("tenants", "domain-add", "star", "example.com")
    assert r.exit_code != 0
    assert "Error: example.com is a root domain" in err(r) and "www.example.com" in err(r)
    assert db.session.scalar(select(Domain.id).where(Domain.hostname.like("%example.com"))) \
        is None


def test_domain_check_match_verifies_and_serves_at_once(app, tree, cli, dns_server,
                                                       client_for):
    cli("tenants", "domain-add", "star", "shop.example.com")
    client = client_for("shop.example.com")
    assert client.get("/").status_code == 404  # cached as "no shop" in this process
    dns_server.set_txt("_kameng.shop.example.com", token_of("shop.example.com"))
    r = cli("tenants", "domain-check", "shop.example.com")
    assert r.exit_code == 0, err(r)
    assert "shop.example.com verified" in r.output
    assert "_kameng.shop.example.com" in dns_server.queries
    resp = client.get("/")
    assert resp.status_code == 200 and "Star Cards" in resp.get_data(as_text=True)


def test_domain_check_missing_record_says_what_was_expected(app, tree, cli, dns_server,
                                                           client_for):
    cli("tenants", "domain-add", "star", "shop.example.com")
    token = token_of("shop.example.com")
    r = cli("tenants", "domain-check", "shop.example.com")
    assert r.exit_code == 1
    assert err(r).strip().splitlines()[-1] == (
        f'Error: TXT record _kameng.shop.example.com: expected "{token}", '
        "found no TXT record.")
    assert client_for("shop.example.com").get("/").status_code == 404
    domain = db.session.scalar(select(Domain).where(Domain.hostname == "shop.example.com"))
    assert domain.verified_at is None and domain.check_failures == 1


def test_domain_check_wrong_value_says_what_was_found(app, tree, cli, dns_server, client_for):
    cli("tenants", "domain-add", "star", "shop.example.com")
    token = token_of("shop.example.com")
    dns_server.set_txt("_kameng.shop.example.com", "not-the-token", "v=spf1 -all")
    r = cli("tenants", "domain-check", "shop.example.com")
    assert r.exit_code == 1
    assert err(r).strip().splitlines()[-1] == (
        f'Error: TXT record _kameng.shop.example.com: expected "{token}", '
        'found "not-the-token", "v=spf1 -all".')
    assert client_for("shop.example.com").get("/").status_code == 404


def test_domain_check_resolver_failure_changes_nothing(app, tree, cli, dns_server):
    cli("tenants", "domain-add", "star", "shop.example.com")
    dns_server.fail("servfail")
    r = cli("tenants", "domain-check", "shop.example.com")
    assert r.exit_code == 1 and "could not be looked up" in err(r)
    domain = db.session.scalar(select(Domain).where(Domain.hostname == "shop.example.com"))
    assert domain.verified_at is None and domain.check_failures == 0


def test_the_apex_record_proves_www_too(app, tree, cli, dns_server, client_for):
    cli("tenants", "domain-add", "star", "example.com")
    dns_server.set_txt("_kameng.example.com", token_of("example.com"))
    assert cli("tenants", "domain-check", "www.example.com").exit_code == 0
    for host in ("example.com", "www.example.com"):
        assert client_for(host).get("/").status_code == 200


def test_no_transaction_is_open_during_the_look_up(app, tree, cli, dns_server):
    cli("tenants", "domain-add", "star", "shop.example.com")
    dns_server.set_txt("_kameng.shop.example.com", token_of("shop.example.com"))
    db.session.commit()
    seen = open_transactions_per_dns_query(dns_server)
    assert cli("tenants", "domain-check", "shop.example.com").exit_code == 0
    assert seen and set(seen) == {0}, seen


def test_domain_verify_stays_an_operator_override(app, tree, cli, client_for):
    cli("tenants", "domain-add", "star", "example.com")
    assert cli("tenants", "domain-verify", "example.com").exit_code == 0
    assert client_for("www.example.com").get("/").status_code == 200


def test_one_host_belongs_to_one_shop(app, tree, cli):
    assert cli("tenants", "domain-add", "star", "shop.example.com").exit_code == 0
    again = cli("tenants", "domain-add", "rocket", "SHOP.example.com")
    assert again.exit_code == 1
    assert "shop.example.com is already bound to another shop" in err(again)
    same = cli("tenants", "domain-add", "star", "shop.example.com")
    assert "already bound to this shop" in err(same)
    cli("tenants", "domain-add", "rocket", "www.example.net")
    apex = cli("tenants", "domain-add", "star", "example.net")
    assert apex.exit_code == 1 and "www.example.net is already bound to another shop" in err(apex)
    assert db.session.scalar(select(Domain.id).where(Domain.hostname == "example.net")) is None


# ----- /_tls/ask -------------------------------------------------------------------------

def ask(client_for, host, on="unknown.invalid"):
    resp = client_for(on).get(f"/_tls/ask?domain={host}")
    assert resp.get_data() == b""
    return resp.status_code


def test_tls_ask_answers_on_any_host(app, tree, client_for):
    domains.add_domain("star", "shop.example.com")
    domains.add_domain("star", "cards.example.com", verified=True)
    assert ask(client_for, "cards.example.com") == 200
    assert ask(client_for, "CARDS.example.com.", on="star.localhost") == 200
    assert ask(client_for, "star.localhost") == 200  # a sub-domain of the base domain
    assert ask(client_for, "shop.example.com") == 404  # unverified
    assert ask(client_for, "nobody.localhost") == 404  # under the base, but no shop
    assert ask(client_for, "unknown.example.org") == 404
    assert ask(client_for, "") == 404
    assert ask(client_for, "<script>") == 404
    assert client_for("x.invalid").get("/_tls/ask").status_code == 404


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_tls_ask_refuses_a_shop_that_is_not_active(app, tree, client_for, status):
    domains.add_domain("rocket", "rocket.example.com", verified=True)
    tree.rocket.status = status
    db.session.commit()
    assert ask(client_for, "rocket.example.com") == 404
    assert ask(client_for, "rocket.localhost") == 404
    assert ask(client_for, "star.localhost") == 200


# ----- the host cache --------------------------------------------------------------------

def test_check_bookkeeping_does_not_empty_the_host_cache_but_verifying_does(
        app, tree, cli, dns_server, redis_client):
    from kameng.tenants.hostcache import GEN_KEY

    cli("tenants", "domain-add", "star", "shop.example.com")
    gen = redis_client.get(GEN_KEY)
    assert cli("tenants", "domain-check", "shop.example.com").exit_code == 1  # a miss
    assert redis_client.get(GEN_KEY) == gen
    dns_server.set_txt("_kameng.shop.example.com", token_of("shop.example.com"))
    assert cli("tenants", "domain-check", "shop.example.com").exit_code == 0
    assert redis_client.get(GEN_KEY) != gen


def test_a_plan_without_custom_domains_refuses_the_cli_too(app, tree, cli):
    from kameng.billing.plans import services as plans

    plans.grant_plan(tree.star, plans.create_plan(tree.master, "basic", "Basic", 0).id)
    r = cli("tenants", "domain-add", "star", "example.com")
    assert r.exit_code == 1
    assert "Error: your plan does not include custom domains" in err(r)
    assert db.session.scalar(select(Domain.id).where(Domain.hostname.like("%example.com"))) \
        is None
    with_domains = plans.create_plan(tree.master, "pro", "Pro", 0, custom_domain=True)
    plans.grant_plan(tree.star, with_domains.id)
    assert cli("tenants", "domain-add", "star", "example.com").exit_code == 0


def test_nameservers_setting_is_parsed():
    assert domains.nameservers("127.0.0.1:5353, [::1]:53,10.0.0.1") == [
        ("127.0.0.1", 5353), ("::1", 53), ("10.0.0.1", 53)]
    assert domains.nameservers("") == []
    with pytest.raises(ValueError):
        domains.nameservers("dns.example.com:53")
