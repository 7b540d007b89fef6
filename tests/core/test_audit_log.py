"""The back-office audit log: every write recorded (who, which shop, what, when, from
where, did it work) in its own transaction; owners read their shop's, the master all."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from kameng.core import audit
from kameng.core.audit import AuditEvent
from kameng.core.extensions import db
from kameng.shop.catalog.models import Category
from kameng.tenants.services import create_user
from tests import helpers
from tests.helpers import PASSWORD

pytestmark = pytest.mark.both

UA = {"User-Agent": "audit-test/1.0"}


def login(client, email: str, password: str = PASSWORD):
    client.get("/lang/en")
    return helpers.login(client, email, password)


def events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def last() -> AuditEvent:
    return events()[-1]


@pytest.mark.app_config(TRUSTED_PROXIES=1)
def test_a_successful_write_is_recorded_with_who_what_and_from_where(app, tree, client_for):
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    resp = master.post("/admin/catalog/categories", data={"name": "游戏卡", "position": 1},
                       headers={**UA, "X-Forwarded-For": "203.0.113.9"})
    assert resp.status_code == 302
    event = last()
    assert (event.user_id, event.tenant_id, event.method, event.action, event.status,
            event.ok) == (tree.master_owner.id, tree.master.id, "POST",
                          "admin.catalog_categories", 302, True)
    assert event.ip == "203.0.113.9" and event.user_agent == "audit-test/1.0"
    assert "owner@master.test" in event.actor
    assert set(event.detail["fields"]) == {"name", "position"}      # names, not values
    assert "游戏卡" not in str(event.detail)
    # the object of an action on one row is its id
    category = db.session.scalar(select(Category))
    master.post(f"/admin/catalog/categories/{category.id}",
                data={"name": "新", "position": 2}, headers=UA)
    assert last().object_id == str(category.id)


def test_refused_and_invalid_writes_are_recorded_as_failed(app, tree, client_for):
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    before = len(events())
    # a form that does not validate: nothing committed
    invalid = master.post("/admin/catalog/categories", data={"name": ""})
    assert invalid.status_code in (200, 400, 422)
    event = last()
    assert len(events()) == before + 1
    assert event.ok is False and event.action == "admin.catalog_categories"
    assert db.session.scalar(select(Category)) is None
    # a service refuses (its transaction is rolled back): failed, with its status; the
    # password typed in is not recorded anywhere
    refused = master.post("/admin/security/2fa/disable", data={"code": "my-password-123"})
    assert refused.status_code >= 400
    event = last()
    assert event.ok is False and event.status == refused.status_code
    assert event.action == "admin.security_2fa_disable" and event.detail["fields"] == ["code"]
    assert all("my-password-123" not in str((e.detail, e.actor, e.object_id))
               for e in events())
    # a write refused for want of rights (403) is recorded too
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    assert star.post("/admin/catalog/categories", data={"name": "x"}).status_code == 403
    event = last()
    assert (event.tenant_id, event.ok, event.status) == (tree.star.id, False, 403)


def test_reads_are_not_recorded_and_anonymous_posts_are_not_attributed(app, tree, client_for):
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    master.get("/admin/")
    master.get("/admin/audit")
    assert events() == []
    anonymous = client_for("master.localhost")
    assert anonymous.post("/admin/catalog/categories", data={"name": "x"}).status_code == 302
    assert events() == []


def _record(actor, tenant_id, n=1):
    for i in range(n):
        audit.record(actor, "test.event", tenant_id=tenant_id, n=i)
    db.session.commit()


def test_each_owner_reads_its_own_shops_log_and_the_master_reads_all(app, tree, client_for):
    create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    for who, host in (("owner@master.test", "master.localhost"),
                      ("owner@star.test", "star.localhost"),
                      ("owner@rocket.test", "rocket.localhost")):
        c = client_for(host)
        login(c, who)
        c.post("/admin/security/2fa/disable", data={"code": "x"})    # one (failed) write each

    star = client_for("star.localhost")
    login(star, "owner@star.test")
    page = star.get("/admin/audit").get_data(as_text=True)
    assert f"user:{tree.star_owner.id} owner@star.test" in page
    assert "owner@master.test" not in page and "owner@rocket.test" not in page
    assert "admin.security_2fa_disable" in page
    # a sub-shop owner cannot widen its view with the master's filter
    master_label = f"user:{tree.master_owner.id} owner@master.test"
    rocket_label = f"user:{tree.rocket_owner.id} owner@rocket.test"
    assert rocket_label not in star.get("/admin/audit?shop=rocket").get_data(as_text=True)
    assert master_label not in star.get(
        "/admin/audit?user=owner@master.test").get_data(as_text=True)

    staff = client_for("star.localhost")
    login(staff, "staff@star.test")
    assert staff.get("/admin/audit").status_code == 403

    master = client_for("master.localhost")
    login(master, "owner@master.test")
    everything = master.get("/admin/audit").get_data(as_text=True)
    for email in ("owner@master.test", "owner@star.test", "owner@rocket.test"):
        assert email in everything
    only_rocket = master.get("/admin/audit?shop=rocket").get_data(as_text=True)
    assert f"user:{tree.rocket_owner.id} owner@rocket.test" in only_rocket
    assert f"user:{tree.star_owner.id} owner@star.test" not in only_rocket
    by_user = master.get("/admin/audit?user=owner@star.test").get_data(as_text=True)
    assert f"user:{tree.star_owner.id} owner@star.test" in by_user
    assert f"user:{tree.rocket_owner.id} owner@rocket.test" not in by_user
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    old = master.get(f"/admin/audit?to={yesterday}").get_data(as_text=True)
    assert "Nothing recorded yet." in old
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert "Nothing recorded yet." in master.get(f"/admin/audit?from={tomorrow}").get_data(
        as_text=True)


def test_the_log_pages_by_fifty(app, tree, client_for):
    _record(tree.star_owner, tree.star.id, 60)
    star = client_for("star.localhost")
    login(star, "owner@star.test")
    first = star.get("/admin/audit").get_data(as_text=True)
    assert first.count("test.event") == 50 and "before=" in first
    older = first.split('href="/admin/audit?before=')[1].split('"')[0]
    second = star.get(f"/admin/audit?before={older}").get_data(as_text=True)
    assert second.count("test.event") == 10 and "before=" not in second


@pytest.mark.parametrize("who,host", [("owner@master.test", "master.localhost"),
                                      ("owner@star.test", "star.localhost")])
def test_audit_page_in_both_languages(app, tree, client_for, who, host):
    client = client_for(host)
    login(client, who)
    client.post("/admin/security/2fa/disable", data={"code": "x"})
    en = client.get("/admin/audit").get_data(as_text=True)
    assert "Audit log" in en and "Failed" in en and "<th>When</th>" in en
    assert ('name="shop"' in en) == (host == "master.localhost")
    client.get("/lang/zh_CN")
    zh = client.get("/admin/audit").get_data(as_text=True)
    assert "操作日志" in zh and "<th>时间</th>" in zh
