"""The master's supplier pages: who may open them, and the secret never comes back."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.core.extensions import db
from kameng.shop.catalog.models import Product
from kameng.shop.suppliers.models import Supplier
from kameng.tenants import services as tenant_services
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both

MASTER = "master.localhost"


def as_user(client_for, host: str, email: str):
    client = client_for(host)
    assert login(client, email).status_code == 302
    client.get("/lang/en")   # the messages asserted below are the English ones
    return client


@pytest.fixture
def owner(tree, client_for):
    return as_user(client_for, MASTER, "owner@master.test")


def form_for(fake, **overrides) -> dict:
    data = {"name": "Fake Topup", "adapter": "http_topup", "base_url": fake.url,
            "key_id": fake.key_id, "secret": fake.secret, "connect_timeout": "1",
            "read_timeout": "0.5", "enabled": "y"}
    data.update(overrides)
    return data


def test_sub_shop_owners_customers_and_strangers_are_kept_out(app, tree, client_for,
                                                              fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    paths = ["/admin/suppliers", "/admin/suppliers/new", f"/admin/suppliers/{supplier.id}",
             f"/admin/suppliers/{supplier.id}/edit", "/admin/suppliers/margins"]
    posts = ["/admin/suppliers/new", f"/admin/suppliers/{supplier.id}/test",
             f"/admin/suppliers/{supplier.id}/sync", f"/admin/suppliers/{supplier.id}/map"]
    star_owner = as_user(client_for, "star.localhost", "owner@star.test")
    master_customer = as_user(client_for, MASTER, "buyer@master.test")
    for client in (star_owner, master_customer):
        for path in paths:
            assert client.get(path).status_code == 403, path
        for path in posts:
            assert client.post(path, data=form_for(fake_supplier)).status_code == 403, path
    anonymous = client_for(MASTER).get("/admin/suppliers")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert fake_supplier.log == []           # nobody reached the supplier
    assert db.session.scalar(select(func.count()).select_from(Supplier)) == 1


def test_master_staff_may_look_and_test_but_not_change(app, tree, client_for,
                                                      fake_supplier):  # noqa: F811
    tenant_services.create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    supplier = fake_supplier.create_supplier()
    staff = as_user(client_for, MASTER, "staff@master.test")
    assert staff.get("/admin/suppliers").status_code == 200
    assert staff.get(f"/admin/suppliers/{supplier.id}").status_code == 200
    assert staff.get("/admin/suppliers/margins").status_code == 200
    page = staff.post(f"/admin/suppliers/{supplier.id}/test", follow_redirects=True)
    assert "Balance" in page.get_data(as_text=True)
    assert staff.get("/admin/suppliers/new").status_code == 403
    assert staff.get(f"/admin/suppliers/{supplier.id}/edit").status_code == 403
    assert staff.post(f"/admin/suppliers/{supplier.id}/sync").status_code == 403


def test_owner_creates_a_supplier_and_the_secret_is_never_shown(app, owner,
                                                                fake_supplier):  # noqa: F811
    response = owner.post("/admin/suppliers/new", data=form_for(fake_supplier))
    assert response.status_code == 302
    supplier = db.session.scalar(select(Supplier))
    assert supplier.config["base_url"] == fake_supplier.url
    assert supplier.has_secret and fake_supplier.secret not in supplier.secret_ciphertext
    for path in ("/admin/suppliers", f"/admin/suppliers/{supplier.id}",
                 f"/admin/suppliers/{supplier.id}/edit"):
        body = owner.get(path).get_data(as_text=True)
        assert fake_supplier.secret not in body, path
        assert supplier.secret_ciphertext not in body, path
    # test connection reads the balance through the stored (sealed) secret
    page = owner.post(f"/admin/suppliers/{supplier.id}/test", follow_redirects=True)
    # an English page: Babel writes CNY as CN¥ there, grouped
    assert "Balance: CN¥10,000.00" in page.get_data(as_text=True)


def test_bad_input_shows_the_error_and_creates_nothing(app, owner, fake_supplier):  # noqa: F811
    response = owner.post("/admin/suppliers/new",
                          data=form_for(fake_supplier, base_url="not a url"))
    assert response.status_code == 200
    assert "base URL must be" in response.get_data(as_text=True)
    response = owner.post("/admin/suppliers/new", data=form_for(fake_supplier, secret=""))
    assert "secret is required" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Supplier)) == 0


def test_edit_without_a_secret_keeps_it(app, owner, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    sealed = supplier.secret_ciphertext
    response = owner.post(f"/admin/suppliers/{supplier.id}/edit",
                          data=form_for(fake_supplier, name="Renamed", secret="",
                                        read_timeout="3"))
    assert response.status_code == 302
    db.session.expire_all()
    supplier = db.session.get(Supplier, supplier.id)
    assert supplier.name == "Renamed" and supplier.config["read_timeout"] == 3.0
    assert supplier.secret_ciphertext == sealed


def test_sync_shows_the_upstream_catalog_and_maps_a_product(app, owner,
                                                            fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    db.session.add(Product(sku="PHONE-50", kind="topup", name="Phone ¥50",
                           supplier_cost=4800, wholesale_price=5000, retail_price=5200))
    db.session.commit()
    page = owner.post(f"/admin/suppliers/{supplier.id}/sync", follow_redirects=True)
    body = page.get_data(as_text=True)
    assert "Synced 4 upstream products" in body
    assert "CMCC-50" in body and "Steam wallet code" in body
    page = owner.post(f"/admin/suppliers/{supplier.id}/map",
                      data={"supplier_sku": "CMCC-50", "product_sku": "PHONE-50",
                            "take_cost": "y"}, follow_redirects=True)
    assert "PHONE-50 now comes from" in page.get_data(as_text=True)
    product = db.session.scalar(select(Product).where(Product.sku == "PHONE-50"))
    db.session.refresh(product)
    assert (product.supplier_id, product.supplier_sku, product.supplier_cost) == \
        (supplier.id, "CMCC-50", 4900)
    margins = owner.get("/admin/suppliers/margins").get_data(as_text=True)
    assert "PHONE-50" in margins and "Fake Topup" in margins and "2.00" in margins


def test_an_unreachable_supplier_is_reported_not_crashed(app, owner,
                                                         fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    fake_supplier.mode = "down"
    page = owner.post(f"/admin/suppliers/{supplier.id}/test", follow_redirects=True)
    assert page.status_code == 200 and "Connection to Fake Topup failed" in \
        page.get_data(as_text=True)
    assert owner.get("/admin/suppliers/999999").status_code == 404
