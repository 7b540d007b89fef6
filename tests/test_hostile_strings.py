"""Data never becomes markup: a hostile string in every name field comes out escaped.

Shops, users, categories, products (name and name_en, descriptions, buyer field labels),
shop overrides, suppliers, tiers, markup rules, plans, API keys, theme texts, a shop's
contact link, wallet notes, payout methods, withdrawal notes, guest contacts, buyer field
values and delivered codes all hold ``HOSTILE``. Every GET route of the app — those without URL
parameters and those with the ids made here, found in the url_map so a new page is
covered when it is added — is rendered for the master's owner and staff, a sub-shop's
owner and staff, a sub-sub-shop's owner, a customer and a visitor, in Chinese and in
English: no page answers 500, and no HTML page carries the string raw.
"""
from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from kameng.billing import wallets
from kameng.billing.commissions import services as commissions
from kameng.billing.funding import services as funding
from kameng.billing.payments import services as payment_services
from kameng.billing.payments.base import PaymentNotice
from kameng.billing.plans import services as plans
from kameng.billing.withdrawals import services as withdrawals
from kameng.core import audit
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import coupons, manual, refunds
from kameng.sales import services as orders
from kameng.sales.mailer import delivery_message
from kameng.sales.models import Order
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services as pricing
from kameng.shop.stock import services as stock
from kameng.shop.stock.models import StockBatch
from kameng.shop.suppliers import services as suppliers
from kameng.tenants import api_keys, shop_settings
from kameng.tenants import services as tenants
from tests.billing.commissions.helpers import deliver
from tests.helpers import PASSWORD, login
from tests.orders.web_helpers import enable_balance

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
RAW = ("<script>alert(1)", "<img src=x onerror")
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ROOT = Path(__file__).resolve().parents[1]

# routes that are no page (a theme's static file; the language switch, used to set it)
SKIPPED = {"auth.theme_static", "auth.set_language"}
# parameters of GET routes this test makes nothing for: a wallet top-up
NOT_MADE = {"topup_no"}


def _uploaded_image(owner) -> str:
    """An image uploaded for ``owner`` as the back office stores it: its /media URL."""
    import io

    from PIL import Image

    from kameng.shop.catalog.images import store_image

    data = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(data, "PNG")
    data.seek(0)
    return store_image(type("Upload", (), {"stream": data})(), owner.id)


def _hostile_world():
    """Three shops with every name field hostile, and orders, stock and money to show."""
    master = tenants.create_tenant("master", HOSTILE)
    star = tenants.create_tenant("star", HOSTILE, "master")
    rocket = tenants.create_tenant("rocket", HOSTILE, "star")
    people = {}
    for shop in (master, star, rocket):
        for role in ("owner", "staff", "customer"):
            people[f"{shop.slug}_{role}"] = tenants.create_user(
                shop, f"{role}@{shop.slug}.test", role, PASSWORD, display_name=HOSTILE)
    for shop in (star, rocket):
        pricing.set_markup(shop, kind="percent", value=1000)
        pricing.set_markup(shop, kind="percent", value=500, wholesale=True)
        enable_balance(shop)

    games = catalog.create_category(HOSTILE, HOSTILE)
    cards = catalog.create_category(HOSTILE, HOSTILE, parent=games)
    card = catalog.create_product(
        sku="H-CARD", name=HOSTILE, name_en=HOSTILE, kind="card", category=cards,
        supplier_cost=800, wholesale_price=900, retail_price=1000,
        description=HOSTILE, description_en=HOSTILE)
    stock.import_codes(card, text="\n".join(f"H-CODE-{i:03d}" for i in range(20)),
                       cost_note=HOSTILE)
    image = _uploaded_image(master)
    catalog.update_product(card, images=[image])
    plan = plans.create_plan(master, "h-plan", HOSTILE, 1000, sub_shops=True,
                             max_markup_bp=2000)
    plans.create_plan(star, "h-resold", HOSTILE, 1500, base_plan_id=plan.id)
    field = {"name": "account", "label": HOSTILE, "label_en": HOSTILE, "type": "text",
             "required": True}
    by_hand = catalog.create_product(
        sku="H-MANUAL", name=HOSTILE, name_en=HOSTILE, kind="manual", category=games,
        supplier_cost=100, wholesale_price=200, retail_price=300, fields=[field])
    catalog.set_shop_override(star, card, name=HOSTILE, name_en=HOSTILE, featured=True)
    supplier = suppliers.create_supplier(HOSTILE)

    pricing.set_tier(star, HOSTILE, 500, 0)
    pricing.set_markup(master, kind="percent", value=500, level="category",
                       category_id=games.id)
    pricing.set_markup(star, kind="percent", value=800, level="category", category_id=cards.id)
    pricing.set_markup(star, kind="fixed", value=50, level="product", product_id=card.id)
    plans.create_plan(master, "basic", HOSTILE, 1000)
    api_keys.create_key(people["star_owner"], HOSTILE)
    tenants.update_appearance(star, "default", {"banner_text": HOSTILE,
                                                "announcement": HOSTILE})
    # a contact link may carry markup in its query (nothing else passes validation)
    shop_settings.update_shop_settings(star, contacts={
        "url": "https://help.example/?q=" + HOSTILE.replace(" ", "")})

    buyer = people["star_customer"]
    credit = wallets.credit_wallet(buyer, 100_000, note=HOSTILE)
    bought = deliver(star, buyer, card, quantity=2)
    handed = orders.place_order(star, sku=by_hand.sku, fields={"account": HOSTILE},
                                customer=buyer).order
    manual.deliver_manual(handed, handed.lines[0].id, HOSTILE, people["master_owner"])
    waiting = orders.place_order(star, sku=by_hand.sku, fields={"account": HOSTILE},
                                 customer=buyer).order
    payment_services.save_provider_config(
        star, "epay", enabled=True, secrets={"key": "epay-test-key"},
        settings={"apiurl": "https://pay.example/", "pid": "1001", "types": ["alipay"]})
    guest = orders.place_order(star, sku=card.sku, contact=HOSTILE, lookup_password="pw-1234",
                               payment_method="epay")
    # a coupon of star on a hostile-named product, and an order that used it
    coupon = coupons.create_coupon(star, {"code": "HOSTILE1", "kind": "percent", "value": "10",
                                          "target": f"product:{card.id}"})
    with_coupon = orders.place_order(star, sku=card.sku, contact=HOSTILE,
                                     lookup_password="pw-1234", payment_method="epay",
                                     coupon="hostile1").order
    # a funded account with a hostile note, and an order paid on star's own gateway
    # that waits for more funds (its funded account pays only part of one order)
    funding.fund_shop(master, star, 100, note=HOSTILE, actor=people["master_owner"])
    own = orders.place_order(star, sku=card.sku, contact=HOSTILE, lookup_password="pw-1234",
                             payment_method="epay").order
    orders.record_payment(star, PaymentNotice("epay", own.order_no, own.amount, own.currency,
                                              HOSTILE, True))
    commissions.mature_commissions(now=utcnow() + timedelta(days=60))
    method = withdrawals.add_payout_method(star, "bank", "4111111111111111", HOSTILE, HOSTILE)
    refused = withdrawals.request_withdrawal(star, people["star_owner"], method.id, 5,
                                             note=HOSTILE)
    withdrawals.reject(refused.id, master, note=HOSTILE)
    withdrawals.request_withdrawal(star, people["star_owner"], method.id, 5, note=HOSTILE)
    for shop in (master, star):   # the audit log pages
        audit.record(HOSTILE, HOSTILE[:64], tenant_id=shop.id, note=HOSTILE)
    # a custom domain whose DNS check found a hostile TXT value (the Domains page, the
    # owner's banner on every back-office page)
    domain = tenants.add_domain("star", "hostile.example.com", verified=True)
    domain.check_failures, domain.check_found = 1, HOSTILE
    # sign-ups on the master's site (the form names the plan) and an invite link
    from kameng.sales import openshop

    openshop.set_signup_settings(master, "approval", [plan.id], 500)
    openshop.create_invite(master, plan_id=plan.id, markup_bp=None, days=3, note=HOSTILE)
    db.session.commit()

    # a refund request up the tree, and a code voided by the master's full refund
    request = refunds.file_request(star, bought, HOSTILE, actor=people["star_owner"])
    wallets.credit_wallet(people["master_customer"], 10_000)
    voided = deliver(master, people["master_customer"], card)
    refunds.refund_directly(master, voided, HOSTILE, actor=people["master_owner"])

    batch = db.session.scalar(select(StockBatch).where(StockBatch.product_id == card.id))
    ids = {"category_id": cards.id, "product_id": card.id, "sku": card.sku,
           "supplier_id": supplier.id, "batch_id": batch.id, "user_id": buyer.id,
           "transaction_id": credit.id, "request_id": request.id, "shop_id": star.id,
           # a sign-up confirmation / password reset link that is not valid: the refusal
           # page is rendered
           "token": "forged-confirmation-token",
           "filename": "admin.js",  # the back office's own script (admin/static)
           "media_name": image.rsplit("/", 1)[1],  # an uploaded product image
           "plan_id": plan.id, "coupon_id": coupon.id}
    order_nos = [bought.order_no, handed.order_no, waiting.order_no, guest.order.order_no,
                 own.order_no, voided.order_no, with_coupon.order_no]
    return people, ids, order_nos


VIEWERS = [  # (host, who logs in: role, or None for a visitor)
    ("master.localhost", "owner"), ("master.localhost", "staff"),
    ("star.localhost", "owner"), ("star.localhost", "staff"), ("rocket.localhost", "owner"),
    ("star.localhost", "customer"), ("star.localhost", None), ("master.localhost", None)]


def _urls(app, ids: dict, order_nos: list[str]) -> list[str]:
    """Every GET route: those without parameters, and those whose parameters were made here
    (each order for the routes that take an order number); plus pages given hostile input."""
    values = {key: [value] for key, value in ids.items()}
    values["order_no"] = order_nos
    urls = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIPPED:
            continue
        # a new page with a new kind of id: make one in _hostile_world
        assert rule.arguments <= values.keys() | NOT_MADE, rule.rule
        if not rule.arguments <= values.keys():
            continue
        combos = [{}]
        for arg in sorted(rule.arguments):
            combos = [dict(c, **{arg: v}) for c in combos for v in values[arg]]
        for combo in combos:
            urls.add(rule.build(combo, append_unknown=False)[1])
    quoted = quote(HOSTILE)
    urls |= {f"/search?q={quoted}", f"/login?next={quoted}", f"/checkout?sku={ids['sku']}",
             f"/admin/orders?q={quoted}", f"/admin/orders?status={quoted}",
             f"/admin/orders?shop={quoted}&product={quoted}&from={quoted}&to={quoted}",
             "/admin/orders?status=queue", f"/admin/orders.csv?q={quoted}",
             f"/admin/wallets?q={quoted}", "/admin/earnings?days=7",
             f"/admin/appearance?theme={quoted}", "/admin/appearance?theme=default",
             f"/?preview={quoted}", f"/_theme/custom.css?preview={quoted}",
             f"/_theme/custom.css?v={quoted}", f"/_theme/theme.css?t={quoted}",
             f"/admin/customers?q={quoted}", f"/admin/customers?before={quoted}",
             f"/admin/reports/tree?after={quoted}"}
    return sorted(urls)


def _client(client_for, host: str, role: str | None, locale: str):
    client = client_for(host)
    if role is not None:
        login(client, f"{role}@{host.split('.')[0]}.test")
    client.get(f"/lang/{locale}")
    return client


def test_every_page_escapes_hostile_names(app, client_for):
    people, ids, order_nos = _hostile_world()
    urls = _urls(app, ids, order_nos)
    assert len(urls) > 50
    problems, escaped = [], set()
    for host, role in VIEWERS:
        for locale in ("zh_CN", "en"):
            client = _client(client_for, host, role, locale)
            for url in urls:
                response = client.get(url)
                where = f"{role or 'visitor'}@{host} {locale} GET {url}"
                if response.status_code >= 500:
                    problems.append(f"{where}: {response.status_code}")
                if response.mimetype != "text/html":
                    continue
                body = response.get_data(as_text=True)
                for raw in RAW:
                    at = body.find(raw)
                    if at >= 0:
                        problems.append(f"{where}: raw {body[max(at - 120, 0):at + 60]!r}")
                if ESCAPED in body:
                    escaped.add((host, role, url))
    assert not problems, "\n".join(problems)
    # the names were on the pages (escaped), so the test saw what it checks
    handed = order_nos[1]
    for page in [("master.localhost", "owner", "/admin/markup"),
                 ("star.localhost", "owner", "/admin/markup"),
                 ("rocket.localhost", "owner", "/admin/markup"),
                 ("master.localhost", "staff", "/admin/catalog/products"),
                 ("star.localhost", "owner", f"/admin/orders/{handed}"),
                 ("star.localhost", "owner", "/admin/withdrawals"),
                 ("master.localhost", "owner", "/admin/withdrawals"),
                 ("master.localhost", "owner", "/admin/audit"),
                 ("star.localhost", "owner", "/admin/audit"),
                 ("master.localhost", "owner", f"/admin/refund-requests/{ids['request_id']}"),
                 ("star.localhost", "owner", "/admin/refund-requests"),
                 # the customer's name and the member tier it reached
                 ("star.localhost", "owner", f"/admin/customers/{ids['user_id']}"),
                 ("star.localhost", "staff", "/admin/customers"),
                 ("master.localhost", "owner", f"/admin/stock/products/{ids['product_id']}"),
                 ("master.localhost", "owner",
                  f"/admin/stock/products/{ids['product_id']}/codes"),
                 ("master.localhost", "owner", f"/admin/plans/{ids['plan_id']}"),
                 ("star.localhost", "owner", "/admin/plans"),
                 ("master.localhost", "owner", f"/admin/orders/{order_nos[-1]}"),
                 ("star.localhost", "customer", f"/o/{handed}"),
                 ("star.localhost", None, "/"), ("star.localhost", None, "/p/H-CARD"),
                 ("master.localhost", "owner", "/admin/subshops"),
                 ("master.localhost", None, "/open-shop")]:
        assert page in escaped, page
    # and the delivery mail's HTML part
    order = db.session.scalar(select(Order).where(Order.order_no == handed))
    html = delivery_message(order, tenants.tenant_by_slug("star")).html
    assert not any(raw in html for raw in RAW) and ESCAPED in html


def test_lazy_messages_with_data_render_escaped(app):
    from markupsafe import escape

    from kameng.core.i18n import lazy_gettext as _l

    with app.test_request_context("/"):
        message = _l("Category: %(name)s", name=HOSTILE)
        assert str(message).endswith(HOSTILE)   # the text keeps the data as it is
        assert not any(raw in escape(message) for raw in RAW)
        assert ESCAPED in escape(message)


def _sources(*folders: str):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_lazy_string_of_flask_babel_and_no_markup_in_code():
    """Flask-Babel's lazy strings render unescaped (kameng.core.i18n has the escaping
    one), and ``Markup`` marks whatever it wraps safe: neither is used on data."""
    found = []
    for path in _sources("platform", "workers", "benchmarks", "tests"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [(node.module or "", a.name) for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [("", node.attr)]
            for module, name in names:
                if name == "Markup" or (module.startswith("flask_babel") and
                                        name.startswith("lazy_")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {module} {name}")
    assert not found, found


COMMENT = re.compile(r"\{#.*?#\}")
UNSAFE_TEMPLATE = re.compile(
    r"\|\s*safe\b|autoescape\s+false|\bMarkup\("
    r"|\b(?:_|gettext|ngettext)\(\s*(?!['\"])")   # a translation of anything but a literal


def test_templates_mark_nothing_safe():
    found = []
    for folder in ("platform", "themes"):
        for path in sorted((ROOT / folder).rglob("templates/**/*.html")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if UNSAFE_TEMPLATE.search(COMMENT.sub("", line)):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "\n".join(found)
