"""The back office's Domains page (add, verify against a loopback DNS server, make primary,
remove; the plan's custom_domain flag; another shop's ids) and the daily re-check (a miss
tells the owner by banner and e-mail, an unanswered look-up does nothing, nothing stops
serving)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kameng.billing.plans import services as plans
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales.domain_checks import recheck_domains
from kameng.sales.models import OutboxMessage
from kameng.tenants import domains
from kameng.tenants.models import Domain
from tests.fakes.smtp import smtp  # noqa: F401  (fixture)
from tests.helpers import login, open_transactions_per_dns_query
from tests.orders.web_helpers import run_jobs

pytestmark = pytest.mark.app_config(PUBLIC_IP="203.0.113.7", CNAME_TARGET="edge.kameng.test")


def row(host: str) -> Domain | None:
    db.session.expire_all()
    return db.session.scalar(select(Domain).where(Domain.hostname == host))


@pytest.fixture
def owner(tree, client_for):
    client = client_for("star.localhost")
    client.get("/lang/en")
    assert login(client, "owner@star.test").status_code == 302
    return client


def add(owner, host):
    return owner.post("/admin/domains", data={"hostname": host})


def test_the_page_is_in_the_owners_nav_and_not_for_staff(app, tree, owner, client_for):
    assert 'href="/admin/domains"' in owner.get("/admin/").get_data(as_text=True)
    page = owner.get("/admin/domains").get_data(as_text=True)
    assert "star.localhost" in page and "Add your domain" in page
    from kameng.tenants import services

    services.create_user(tree.star, "staff@star.test", "staff", "correct-horse")
    staff = client_for("star.localhost")
    login(staff, "staff@star.test", "correct-horse")
    assert staff.get("/admin/domains").status_code == 403


def test_add_shows_the_records_and_the_host_does_not_serve_yet(app, tree, owner, client_for):
    resp = add(owner, "Shop.Example.com")
    assert resp.status_code == 302
    page = owner.get("/admin/domains").get_data(as_text=True)
    token = row("shop.example.com").token
    for text in ("shop.example.com", "edge.kameng.test", "_kameng.shop.example.com", token,
                 "Waiting for verification"):
        assert text in page
    assert client_for("shop.example.com").get("/").status_code == 404


@pytest.mark.parametrize("host, message", [
    ("", "Enter a domain name"),
    ("not a host", "not a valid hostname"),
    ("shop", "Enter a domain name such as"),
    ("1.2.3.4", "Enter a domain name such as"),
    ("x.localhost", "Addresses under localhost are given by the platform"),
    ("rocket.localhost", "Addresses under localhost are given by the platform"),
    ("star.localhost", "Addresses under localhost"),
])
def test_bad_hosts_are_refused_on_the_form(app, tree, owner, host, message):
    before = db.session.scalar(select(func.count()).select_from(Domain))
    resp = add(owner, host)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Domain)) == before


def test_an_international_name_is_bound_in_its_ascii_form(app, tree, owner):
    assert add(owner, "商店.example.com").status_code == 302
    assert row("xn--czrs0t.example.com") is not None


def test_a_host_of_another_shop_is_a_conflict(app, tree, owner):
    domains.add_domain("rocket", "taken.example.com")
    resp = add(owner, "taken.example.com")
    assert resp.status_code == 409
    assert "taken.example.com is already bound to another shop" in resp.get_data(as_text=True)


def test_verify_a_match_serves_at_once(app, tree, owner, client_for, dns_server):
    add(owner, "shop.example.com")
    shop = client_for("shop.example.com")
    assert shop.get("/").status_code == 404
    domain = row("shop.example.com")
    dns_server.set_txt("_kameng.shop.example.com", domain.token)
    resp = owner.post(f"/admin/domains/{domain.id}/verify")
    assert resp.status_code == 302
    assert "serves your shop now" in owner.get("/admin/domains").get_data(as_text=True)
    assert row("shop.example.com").verified_at is not None
    page = shop.get("/")
    assert page.status_code == 200 and "Star Cards" in page.get_data(as_text=True)


def test_verify_a_miss_is_a_form_error_with_the_expected_value(app, tree, owner, client_for,
                                                              dns_server):
    add(owner, "shop.example.com")
    domain = row("shop.example.com")
    resp = owner.post(f"/admin/domains/{domain.id}/verify")
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert (f"TXT record _kameng.shop.example.com: expected &#34;{domain.token}&#34;, "
            "found no TXT record.") in body
    dns_server.set_txt("_kameng.shop.example.com", "<b>wrong</b>")
    body = owner.post(f"/admin/domains/{domain.id}/verify").get_data(as_text=True)
    assert "found &#34;&lt;b&gt;wrong&lt;/b&gt;&#34;" in body and "<b>wrong" not in body
    assert row("shop.example.com").verified_at is None
    assert client_for("shop.example.com").get("/").status_code == 404


def test_primary_and_remove(app, tree, owner, client_for, dns_server):
    add(owner, "example.com")  # an apex: binds www too
    apex, www = row("example.com"), row("www.example.com")
    assert www.alias_of_id == apex.id
    page = owner.get("/admin/domains").get_data(as_text=True)
    assert "203.0.113.7" in page and "www.example.com" in page
    # not verified: cannot be primary
    resp = owner.post(f"/admin/domains/{apex.id}/primary")
    assert resp.status_code == 409 and "verify it before" in resp.get_data(as_text=True)
    dns_server.set_txt("_kameng.example.com", apex.token)
    assert owner.post(f"/admin/domains/{apex.id}/verify").status_code == 302
    assert owner.post(f"/admin/domains/{www.id}/primary").status_code == 302
    assert row("www.example.com").is_primary and not row("star.localhost").is_primary
    for host in ("example.com", "www.example.com"):
        assert client_for(host).get("/").status_code == 200
    assert owner.post(f"/admin/domains/{apex.id}/remove").status_code == 302
    assert row("example.com") is None and row("www.example.com") is None
    assert row("star.localhost").is_primary
    for host in ("example.com", "www.example.com"):
        assert client_for(host).get("/").status_code == 404
    assert client_for("star.localhost").get("/").status_code == 200


def test_the_shops_own_address_cannot_be_removed(app, tree, owner):
    own = row("star.localhost")
    resp = owner.post(f"/admin/domains/{own.id}/remove")
    assert resp.status_code == 409
    assert "own address on the platform and cannot be removed" in resp.get_data(as_text=True)
    assert row("star.localhost") is not None


def test_another_shops_domain_ids_are_404(app, tree, client_for):
    theirs = domains.add_domain("rocket", "rocket.example.com")
    theirs_id = theirs.id
    master_own = row("master.localhost").id
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    for target in (theirs_id, master_own):
        for action in ("verify", "primary", "remove"):
            assert star.post(f"/admin/domains/{target}/{action}").status_code == 404
    assert row("rocket.example.com") is not None and row("master.localhost").is_primary


def test_a_plan_without_custom_domains_is_refused_clearly(app, tree, owner):
    basic = plans.create_plan(tree.master, "basic", "Basic", 0)
    plans.grant_plan(tree.star, basic.id)
    page = owner.get("/admin/domains").get_data(as_text=True)
    assert "Your plan does not include custom domains" in page
    assert 'name="hostname"' not in page
    resp = add(owner, "shop.example.com")
    assert resp.status_code == 403
    assert "your plan does not include custom domains" in resp.get_data(as_text=True)
    assert row("shop.example.com") is None


# ----- the daily re-check ----------------------------------------------------------------

def verified(slug, host, dns_server):
    domain = domains.add_domain(slug, host)
    dns_server.set_txt(f"_kameng.{host}", domain.token)
    domains.check_host(host)
    return row(host)


def test_recheck_miss_tells_the_owner_once_and_keeps_serving(app, tree, owner, client_for,
                                                            dns_server, smtp):
    verified("star", "shop.example.com", dns_server)
    later = utcnow() + timedelta(days=1)
    dns_server.remove("_kameng.shop.example.com")
    counts = recheck_domains(now=later)
    assert counts["checked"] == 1 and counts["missed"] == 1 and counts["notified"] == 1
    domain = row("shop.example.com")
    assert domain.verified_at is not None and domain.check_failures == 1
    assert client_for("shop.example.com").get("/").status_code == 200  # still serving
    banner = owner.get("/admin/").get_data(as_text=True)
    assert "The DNS record that proves shop.example.com is missing or wrong" in banner
    run_jobs(app, "mail")
    [(rcpt, msg)] = smtp.messages
    assert rcpt == ["owner@star.test"] and "shop.example.com" in msg["Subject"]
    assert domain.token in msg.get_content() and "no TXT record" in msg.get_content()
    # the next day's miss: counted, no second e-mail
    assert recheck_domains(now=later + timedelta(days=1))["notified"] == 0
    assert row("shop.example.com").check_failures == 2
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == "domain.check_failed")) == 1
    # fixed: the next check clears the notice
    dns_server.set_txt("_kameng.shop.example.com", domain.token)
    assert recheck_domains(now=later + timedelta(days=2))["ok"] == 1
    fixed = row("shop.example.com")
    assert fixed.check_failures == 0 and fixed.notified_at is None
    assert "is missing or wrong" not in owner.get("/admin/").get_data(as_text=True)


def test_recheck_a_wrong_value_counts_as_a_miss(app, tree, dns_server):
    verified("star", "shop.example.com", dns_server)
    dns_server.set_txt("_kameng.shop.example.com", "someone-else")
    assert recheck_domains(now=utcnow() + timedelta(days=1))["missed"] == 1
    assert row("shop.example.com").check_found == '"someone-else"'


@pytest.mark.parametrize("mode", ["servfail", "timeout"])
def test_recheck_an_unanswered_look_up_does_nothing(app, tree, owner, dns_server, mode):
    verified("star", "shop.example.com", dns_server)
    dns_server.fail(mode)
    counts = recheck_domains(now=utcnow() + timedelta(days=1))
    assert counts["unanswered"] == 1 and counts["notified"] == 0
    domain = row("shop.example.com")
    assert domain.check_failures == 0 and domain.verified_at is not None
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert "is missing or wrong" not in owner.get("/admin/").get_data(as_text=True)


def test_recheck_takes_only_domains_due_and_skips_unverified(app, tree, dns_server):
    verified("star", "shop.example.com", dns_server)
    domains.add_domain("rocket", "pending.example.com")
    # just checked (by the verification): not due yet
    assert recheck_domains()["checked"] == 0
    dns_server.queries.clear()
    assert recheck_domains(now=utcnow() + timedelta(days=1))["checked"] == 1
    assert dns_server.queries == ["_kameng.shop.example.com"]


def test_the_scheduler_declares_the_recheck():
    from kameng.workers.schedule import PERIODIC

    [entry] = [p for p in PERIODIC if p.func == "kameng.workers.jobs.recheck_domains"]
    assert entry.every <= 86400


def test_no_transaction_is_open_during_the_back_office_and_recheck_look_ups(
        app, tree, owner, dns_server):
    add(owner, "shop.example.com")
    domain = row("shop.example.com")
    dns_server.set_txt("_kameng.shop.example.com", domain.token)
    db.session.commit()
    seen = open_transactions_per_dns_query(dns_server)
    assert owner.post(f"/admin/domains/{domain.id}/verify").status_code == 302
    db.session.commit()
    assert recheck_domains(now=utcnow() + timedelta(days=1))["ok"] == 1
    assert len(seen) == 2 and set(seen) == {0}, seen
