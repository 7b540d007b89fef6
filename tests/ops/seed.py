"""A database with every kind of stored ciphertext, built through the real services:
the demo (card codes, a sealed 易支付 key, wallets), a supplier's sealed secret, a TOTP
secret, and delivered orders (codes from stock, and a manual line's codes sealed on
the order line)."""
from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select

from kameng import demo
from kameng.core.extensions import db
from kameng.sales.delivery import line_codes
from kameng.sales.manual import deliver_manual
from kameng.sales.models import Order
from kameng.shop.catalog import services as catalog
from kameng.shop.stock.models import CardCode
from kameng.shop.suppliers import services as suppliers
from kameng.tenants import twofactor
from kameng.tenants.models import Tenant, User
from tests.helpers import login
from tests.orders.web_helpers import checkout, get_order, order_no_from, run_jobs


def seed(app, client_for) -> SimpleNamespace:
    demo.seed()
    suppliers.create_supplier("upstream", "http_topup", base_url="https://up.example.com",
                              key_id="acct", secret="supplier-secret-1")
    master = db.session.scalar(select(Tenant).where(Tenant.slug == "master"))
    owner = db.session.scalar(select(User).where(User.tenant_id == master.id,
                                                 User.role == "owner"))
    twofactor.start_enrolment(owner)
    totp = twofactor.pending_secret(owner)
    manual = catalog.create_product(sku="VIP-M", name="VIP", kind="manual",
                                    supplier_cost=100, wholesale_price=150, retail_price=200)
    buyer = client_for("star.localhost")
    assert login(buyer, "buyer@star.localhost", demo.DEMO_PASSWORD).status_code == 302
    orders = []
    orders.append(order_no_from(checkout(buyer, _a_card_sku(), "balance")))
    orders.append(order_no_from(checkout(buyer, manual.sku, "balance")))
    run_jobs(app)
    manual_order = get_order(orders[1])
    deliver_manual(manual_order, manual_order.lines[0].id, "MANUAL-CODE-1", owner)
    delivered = {}
    for no in orders:
        order = get_order(no)
        assert order.status == "delivered", (no, order.status)
        delivered[no] = [c for line in order.lines for c in line_codes(line)]
    db.session.commit()
    return SimpleNamespace(owner_id=owner.id, totp=totp, delivered=delivered)


def _a_card_sku() -> str:
    from kameng.shop.catalog.models import Product

    return db.session.scalar(select(Product.sku).where(Product.kind == "card",
                                                       Product.loop_code.is_(False))
                             .order_by(Product.id).limit(1))


def everything_decrypts(seeded) -> dict:
    """Open every stored ciphertext through the services that use it; counts."""
    from kameng.billing.payments.models import PaymentMethodConfig
    from kameng.billing.payments.secrets import unseal as unseal_payment
    from kameng.core.crypto import keyring
    from kameng.shop.stock.allocation import code_aad
    from kameng.shop.suppliers.models import Supplier
    from kameng.shop.suppliers.secretbox import unseal as unseal_supplier

    db.session.expire_all()
    ring = keyring()
    codes = 0
    for row in db.session.execute(select(CardCode.key_id, CardCode.secret_ciphertext,
                                         CardCode.product_id)):
        assert ring.decrypt(row.key_id, row.secret_ciphertext, code_aad(row.product_id))
        codes += 1
    for no, expected in seeded.delivered.items():
        order = db.session.scalar(select(Order).where(Order.order_no == no))
        assert [c for line in order.lines for c in line_codes(line)] == expected
    payment = 0
    for cfg in db.session.scalars(select(PaymentMethodConfig)):
        for field, token in (cfg.secrets or {}).items():
            assert unseal_payment(token, tenant_id=cfg.tenant_id, provider=cfg.provider,
                                  name=field)
            payment += 1
    supplier = db.session.scalar(select(Supplier).where(Supplier.name == "upstream"))
    assert unseal_supplier(supplier.secret_ciphertext) == "supplier-secret-1"
    owner = db.session.get(User, seeded.owner_id)
    assert twofactor.pending_secret(owner) == seeded.totp
    return {"codes": codes, "payment": payment}
