"""Staff roles (owner, manager, support, finance): one table says which back-office areas
each may open (admin/permissions.py), every admin route found in the url_map is checked
against it; the owner manages the accounts on /admin/staff, never leaving the shop without
an owner; the plan's staff limit holds; disabled accounts are signed out."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kameng.admin import permissions
from kameng.core.extensions import db
from kameng.tenants.models import User
from kameng.tenants.services import create_user
from tests.fakes.smtp import smtp  # noqa: F401  (fixture)
from tests.helpers import PASSWORD, login

ROLES = ("manager", "support", "finance")


@pytest.fixture
def staff(app, tree):
    """One staff account per role on the depth-1 shop."""
    return {role: create_user(tree.star, f"{role}@star.test", "staff", PASSWORD,
                              staff_role=role) for role in ROLES}


def _as(client_for, host: str, email: str):
    client = client_for(host)
    assert login(client, email).status_code == 302, email
    return client


def _fill(rule) -> str:
    """The rule's URL with a made-up value for each parameter (the area check runs before
    the view looks anything up)."""
    values = {arg: 1 if "int" in type(rule._converters[arg]).__name__.lower() else "X"
              for arg in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def _admin_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("admin.") and rule.endpoint != "admin.static"]


def test_every_admin_route_has_an_area_and_unlisted_modules_are_the_owners(app):
    for rule in _admin_rules(app):
        assert permissions.area_of(rule.endpoint), rule.endpoint
    # fail safe: a module the table does not list opens to no staff role
    for role in ROLES:
        assert not permissions.may_open(role, "some_new_module")
        assert not permissions.may_open(role, None)
    assert permissions.may_open("owner", "some_new_module")
    assert not permissions.may_open(None, "orders")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_403_outside_its_areas_on_every_route(app, tree, staff, client_for,
                                                             role):
    client = _as(client_for, "star.localhost", f"{role}@star.test")
    checked = 0
    for rule in _admin_rules(app):
        if permissions.may_open(role, permissions.area_of(rule.endpoint)):
            continue
        url = _fill(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            assert resp.status_code == 403, (role, method, url, resp.status_code)
            checked += 1
    assert checked > 10


def test_what_each_role_reaches(app, tree, staff, client_for):
    expect = {
        "manager": {"/admin/": 200, "/admin/orders": 200, "/admin/customers": 200,
                    "/admin/withdrawals": 200, "/admin/earnings": 200, "/admin/staff": 403,
                    "/admin/payments": 403, "/admin/plans": 403, "/admin/security": 200},
        "support": {"/admin/": 200, "/admin/orders": 200, "/admin/customers": 200,
                    "/admin/refund-requests": 200, "/admin/withdrawals": 403,
                    "/admin/earnings": 403, "/admin/funding": 403, "/admin/staff": 403,
                    "/admin/security": 200},
        "finance": {"/admin/": 200, "/admin/earnings": 200, "/admin/withdrawals": 200,
                    "/admin/funding": 200, "/admin/wallets": 200,
                    "/admin/earnings/statement.csv": 200, "/admin/customers": 403,
                    "/admin/staff": 403, "/admin/payments": 403},
    }
    for role, pages in expect.items():
        client = _as(client_for, "star.localhost", f"{role}@star.test")
        for path, status in pages.items():
            assert client.get(path).status_code == status, (role, path)
        nav = client.get("/admin/").text
        # the nav offers what the role may open, and nothing else
        assert ('href="/admin/customers"' in nav) == (role != "finance"), role
        assert ('href="/admin/withdrawals"' in nav) == (role != "support"), role
        assert 'href="/admin/staff"' not in nav
    # finance asks for a payout but does not say where money goes
    finance = _as(client_for, "star.localhost", "finance@star.test")
    page = finance.get("/admin/withdrawals").text
    assert "/admin/withdrawals/methods" not in page
    assert finance.post("/admin/withdrawals/methods",
                        data={"kind": "alipay", "account": "x"}).status_code == 403


def test_staff_of_one_shop_reach_nothing_of_another_nor_the_shop_above(app, tree, staff,
                                                                      client_for):
    customer_id = tree.star_customer.id
    rocket_manager = create_user(tree.rocket, "manager@rocket.test", "staff", PASSWORD,
                                 staff_role="manager")
    client = _as(client_for, "rocket.localhost", rocket_manager.email)
    assert client.get(f"/admin/customers/{customer_id}").status_code == 404
    assert client.post(f"/admin/customers/{customer_id}/block").status_code == 404
    # the shop above: the star account is no account on the master's host
    for role in ROLES:
        above = client_for("master.localhost")
        assert login(above, f"{role}@star.test").status_code == 200   # refused, form again
        assert above.get("/admin/").status_code == 302                 # to the sign-in page
        assert above.get("/admin/staff").status_code == 302
    db.session.expire_all()
    assert tree.star_customer.blocked_at is None


def test_owner_adds_staff_with_a_password_or_a_set_password_mail(app, tree, client_for, smtp):
    owner = _as(client_for, "star.localhost", "owner@star.test")
    page = owner.get("/admin/staff")
    assert page.status_code == 200
    assert "role-matrix" in page.text
    resp = owner.post("/admin/staff/add", data={"email": "Sue@Star.test", "role": "support",
                                                "password": "support-pass-1"})
    assert resp.status_code == 302
    sue = db.session.scalar(select(User).where(User.email == "sue@star.test"))
    assert (sue.role, sue.staff_role, sue.tenant_id) == ("staff", "support", tree.star.id)
    assert login(client_for("star.localhost"), "sue@star.test", "support-pass-1").status_code == 302

    resp = owner.post("/admin/staff/add", data={"email": "fin@star.test", "role": "finance"})
    assert resp.status_code == 302
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["fin@star.test"]
    link = re.search(r"http://\S+/password/reset/\S+", message.get_content()).group(0)
    path = link.removeprefix("http://star.localhost")
    fin = client_for("star.localhost")
    done = fin.post(path, data={"password": "finance-pass-1", "confirm": "finance-pass-1"})
    assert done.status_code == 200 and "password-reset-done" in done.text
    assert login(fin, "fin@star.test", "finance-pass-1").status_code == 302
    assert fin.get("/admin/earnings").status_code == 200

    # bad input: the page again with the message, nothing written
    for data in ({"email": "sue@star.test", "role": "support", "password": "x" * 9},
                 {"email": "new@star.test", "role": "emperor", "password": "x" * 9},
                 {"email": "new@star.test", "role": "support", "password": "short"},
                 {"email": "not-an-address", "role": "support", "password": "x" * 9}):
        resp = owner.post("/admin/staff/add", data=data)
        assert resp.status_code in (400, 409, 422), data
        assert 'class="flash error"' in resp.text
    assert db.session.scalar(select(User).where(User.email == "new@star.test")) is None
    audit = owner.get("/admin/audit").text
    assert "admin.staff_add" in audit or "staff.add" in audit


def test_role_change_disable_enable_remove_end_sessions(app, tree, staff, client_for):
    owner = _as(client_for, "star.localhost", "owner@star.test")
    support = _as(client_for, "star.localhost", "support@star.test")
    sid = staff["support"].id
    assert support.get("/admin/withdrawals").status_code == 403
    assert owner.post(f"/admin/staff/{sid}/role", data={"role": "finance"}).status_code == 302
    assert support.get("/admin/").status_code == 302          # signed out: a new role
    support = _as(client_for, "star.localhost", "support@star.test")
    assert support.get("/admin/withdrawals").status_code == 200

    assert owner.post(f"/admin/staff/{sid}/disable").status_code == 302
    assert support.get("/admin/").status_code == 302
    assert login(client_for("star.localhost"), "support@star.test").status_code == 200
    assert owner.post(f"/admin/staff/{sid}/enable").status_code == 302
    support = _as(client_for, "star.localhost", "support@star.test")

    assert owner.post(f"/admin/staff/{sid}/remove").status_code == 302
    assert support.get("/admin/").status_code == 302
    assert db.session.get(User, sid) is None
    # a customer is no staff account; another shop's staff is not found
    assert owner.post(f"/admin/staff/{tree.star_customer.id}/disable").status_code == 404
    other = create_user(tree.rocket, "m@rocket.test", "staff", PASSWORD)
    assert owner.post(f"/admin/staff/{other.id}/remove").status_code == 404
    assert db.session.get(User, other.id) is not None


def test_the_shop_keeps_an_owner(app, tree, staff, client_for):
    owner = _as(client_for, "star.localhost", "owner@star.test")
    me = tree.star_owner.id
    for action, data in ((f"/admin/staff/{me}/role", {"role": "manager"}),
                         (f"/admin/staff/{me}/disable", {}), (f"/admin/staff/{me}/remove", {})):
        resp = owner.post(action, data=data)
        assert resp.status_code == 409, action
        assert 'class="flash error"' in resp.text
    db.session.expire_all()
    assert tree.star_owner.role == "owner" and tree.star_owner.blocked_at is None
    # with a second owner, the first may step down
    manager_id = staff["manager"].id
    assert owner.post(f"/admin/staff/{manager_id}/role", data={"role": "owner"}).status_code == 302
    assert owner.post(f"/admin/staff/{me}/role", data={"role": "manager"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, me).staff_role == "manager"


def test_a_manager_cannot_manage_staff(app, tree, staff, client_for):
    manager = _as(client_for, "star.localhost", "manager@star.test")
    sid = staff["support"].id
    assert manager.get("/admin/staff").status_code == 403
    assert manager.post(f"/admin/staff/{sid}/role", data={"role": "owner"}).status_code == 403
    assert manager.post("/admin/staff/add", data={"email": "x@star.test", "role": "owner",
                                                  "password": "x" * 9}).status_code == 403
    db.session.expire_all()
    assert db.session.get(User, sid).staff_role == "support"


def test_the_plans_staff_limit_holds(app, tree, client_for):
    from kameng.billing.plans import services as plans

    plan = plans.create_plan(tree.master, "tiny", "Tiny", 0, max_staff=1)
    plans.grant_plan(tree.star, plan.id)
    owner = _as(client_for, "star.localhost", "owner@star.test")
    assert owner.post("/admin/staff/add", data={"email": "a@star.test", "role": "support",
                                                "password": "x" * 9}).status_code == 302
    resp = owner.post("/admin/staff/add", data={"email": "b@star.test", "role": "finance",
                                                "password": "x" * 9})
    assert resp.status_code == 403 and 'class="flash error"' in resp.text
    assert db.session.scalar(select(User).where(User.email == "b@star.test")) is None


def test_existing_staff_accounts_are_managers(app, tree):
    user = create_user(tree.star, "old@star.test", "staff", PASSWORD)
    assert user.staff_role == "manager" and user.back_office_role == "manager"
    assert tree.star_owner.back_office_role == "owner"
    assert tree.star_customer.back_office_role is None
