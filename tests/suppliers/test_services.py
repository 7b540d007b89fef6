"""Supplier settings, the secret at rest, catalog sync and mapping, margins."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.shop.catalog.models import Product
from kameng.shop.suppliers import services
from kameng.shop.suppliers.adapters import SUCCESS, SupplierError, get_adapter
from kameng.shop.suppliers.local import LocalAdapter
from kameng.shop.suppliers.models import Supplier, UpstreamProduct
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)

pytestmark = pytest.mark.both

PHONE = "13800138000"


def make_product(sku: str, kind: str = "topup", **values) -> Product:
    product = Product(sku=sku, kind=kind, name=values.pop("name", sku), **values)
    db.session.add(product)
    db.session.commit()
    return product


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_secret_is_sealed_at_rest_and_never_in_the_config(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    assert fake_supplier.secret not in (supplier.secret_ciphertext or "")
    assert "secret" not in supplier.config
    assert fake_supplier.secret not in repr(supplier)
    assert fake_supplier.secret not in repr(get_adapter(supplier))
    rows = db.session.execute(text("SELECT * FROM suppliers")).all()
    assert fake_supplier.secret not in repr(rows)
    # and it opens again: the adapter can talk to the supplier
    assert get_adapter(db.session.get(Supplier, supplier.id)).balance() == fake_supplier.balance


def test_the_secret_never_reaches_the_logs(app, fake_supplier, caplog):  # noqa: F811
    caplog.set_level("DEBUG")
    supplier = fake_supplier.create_supplier()
    adapter = get_adapter(supplier)
    adapter.place_order("CMCC-50", 1, PHONE, "line-log")
    adapter.balance()
    fake_supplier.mode = "down"
    with pytest.raises(SupplierError) as err:
        services.sync_catalog(supplier.id)
    assert fake_supplier.secret not in caplog.text + err.value.message
    assert "line-log" in caplog.text   # the order key is logged, for reconciling by hand


@pytest.mark.parametrize("field, value", [
    ("base_url", ""),
    ("base_url", "ftp://up.example"),
    ("base_url", "https://user:pw@up.example"),
    ("key_id", ""),
    ("key_id", "has space"),
    ("secret", ""),
    ("read_timeout", "0"),
    ("connect_timeout", "abc"),
    ("read_timeout", "121"),
])
def test_bad_settings_are_refused_and_nothing_is_written(app, fake_supplier, field,  # noqa: F811
                                                         value):
    with pytest.raises(InvalidInput) as err:
        fake_supplier.create_supplier(**{field: value})
    assert err.value.field == field
    assert count(Supplier) == 0


def test_names_are_unique_and_unavailable_adapters_refused(app, fake_supplier):  # noqa: F811
    fake_supplier.create_supplier("Upstream")
    with pytest.raises(Conflict):
        fake_supplier.create_supplier("Upstream")
    with pytest.raises(InvalidInput, match="not available"):
        services.create_supplier("Other shop", "kameng")
    with pytest.raises(InvalidInput, match="adapter"):
        services.create_supplier("Other shop", "carrier-pigeon")
    assert count(Supplier) == 1


def test_update_keeps_the_secret_unless_a_new_one_is_given(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    sealed = supplier.secret_ciphertext
    services.update_supplier(supplier.id, read_timeout="2", secret="")
    assert supplier.secret_ciphertext == sealed and supplier.config["read_timeout"] == 2.0
    services.update_supplier(supplier.id, secret="wrong-secret")
    with pytest.raises(SupplierError, match="401"):
        services.check_balance(supplier.id)
    services.update_supplier(supplier.id, secret=fake_supplier.secret)
    assert services.check_balance(supplier.id) == fake_supplier.balance
    assert supplier.last_balance == fake_supplier.balance and supplier.balance_checked_at


def test_every_product_has_an_adapter(app, fake_supplier):  # noqa: F811
    own = make_product("OWN-CARD", kind="card")
    supplier = fake_supplier.create_supplier()
    upstream = make_product("TOPUP-50", supplier_id=supplier.id, supplier_sku="CMCC-50")
    local = services.adapter_for_product(own)
    assert isinstance(local, LocalAdapter)
    result = local.place_order("OWN-CARD", 1, None, "line-own")
    assert result.status == SUCCESS and result.from_stock and result.codes == []
    remote = services.adapter_for_product(upstream)
    assert remote.place_order("CMCC-50", 1, PHONE, "line-up").status == SUCCESS
    assert fake_supplier.topups_for("line-up") == 1


def test_sync_stores_the_catalog_and_marks_what_went_away(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    report = services.sync_catalog(supplier.id)
    assert report.total == 4 and sorted(report.added) == ["CMCC-50", "CMCC-ANY", "GAME-UID",
                                                          "STEAM-100"]
    fake_supplier.products = [p for p in fake_supplier.products if p["sku"] != "GAME-UID"]
    fake_supplier.products[0]["price"] = 4950
    report = services.sync_catalog(supplier.id)
    assert report.gone == ["GAME-UID"] and report.added == []
    rows = {r.sku: r for r in db.session.scalars(select(UpstreamProduct))}
    assert rows["CMCC-50"].price == 4950 and rows["GAME-UID"].available is False
    assert supplier.synced_at is not None


def test_a_failed_sync_writes_nothing(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    fake_supplier.mode = "down"
    with pytest.raises(SupplierError, match="503"):
        services.sync_catalog(supplier.id)
    assert count(UpstreamProduct) == 0 and supplier.synced_at is None


def test_validation_uses_the_synced_catalog_even_when_the_supplier_is_down(
        app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    services.sync_catalog(supplier.id)
    fake_supplier.mode = "down"
    adapter = get_adapter(supplier)
    adapter.validate_order("CMCC-50", 5000, PHONE)
    with pytest.raises(InvalidInput) as err:
        adapter.validate_order("CMCC-50", 5000, "not-a-phone")
    assert err.value.field == "account"


def test_map_products_and_take_upstream_costs(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier()
    product = make_product("PHONE-50", supplier_cost=4800, wholesale_price=5000,
                           retail_price=5200)
    with pytest.raises(NotFound, match="sync"):
        services.map_product(supplier.id, "CMCC-50", "PHONE-50")
    services.sync_catalog(supplier.id)
    with pytest.raises(NotFound):
        services.map_product(supplier.id, "CMCC-50", "NO-SUCH-SKU")
    services.map_product(supplier.id, "CMCC-50", "PHONE-50")
    assert (product.supplier_id, product.supplier_sku, product.supplier_cost) == \
        (supplier.id, "CMCC-50", 4800)
    rows = services.catalog(supplier.id)
    mapped = {r.upstream.sku: [p.sku for p in r.products] for r in rows}
    assert mapped["CMCC-50"] == ["PHONE-50"] and mapped["STEAM-100"] == []
    # the upstream raises its price; a sync asked to take costs updates ours
    fake_supplier.products[0]["price"] = 4990
    report = services.sync_catalog(supplier.id, update_costs=True)
    assert report.costs_updated == ["PHONE-50"] and product.supplier_cost == 4990


def test_margin_report(app, fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier("Mobile Upstream")
    make_product("OWN-CARD", kind="card", supplier_cost=800, wholesale_price=1000,
                 retail_price=1200)
    make_product("PHONE-50", supplier_id=supplier.id, supplier_sku="CMCC-50",
                 supplier_cost=4800, wholesale_price=5000, retail_price=5200)
    make_product("LOSS", supplier_cost=600, wholesale_price=500, retail_price=700)
    services.sync_catalog(supplier.id)
    rows = {r.sku: r for r in services.supplier_margin_report()}
    own, phone, loss = rows["OWN-CARD"], rows["PHONE-50"], rows["LOSS"]
    assert (own.supplier, own.adapter, own.margin, own.margin_percent) == \
        (None, "local", 200, "20.00")
    assert (phone.supplier, phone.supplier_cost, phone.wholesale_price, phone.margin) == \
        ("Mobile Upstream", 4800, 5000, 200)
    assert phone.upstream_price == 4900 and phone.cost_drift
    assert loss.margin == -100
    only = services.supplier_margin_report(supplier.id)
    assert [r.sku for r in only] == ["PHONE-50"]
