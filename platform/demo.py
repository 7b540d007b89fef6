"""Demo data: a master shop, a sub-shop and a sub-sub-shop, each with its own theme."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from kameng.core.extensions import db
from kameng.tenants import services
from kameng.tenants.models import Tenant

DEMO_PASSWORD = "kameng-demo"


@dataclass(frozen=True)
class DemoShop:
    slug: str
    name: str
    parent: str | None
    theme: str
    locale: str


DEMO_SHOPS = (
    DemoShop("master", "卡盟总站", None, "default", "zh_CN"),
    DemoShop("star", "星光卡铺", "master", "classic", "zh_CN"),
    DemoShop("rocket", "Rocket Top-ups", "star", "midnight", "en"),
)

# (sku, category, name, name_en, kind, supplier cost, wholesale, retail, codes, extra)
DEMO_PRODUCTS = (
    ("STEAM-100", "game", "Steam 钱包充值卡 ¥100", "Steam Wallet card ¥100", "card",
     9300, 9600, 9900, 40, {}),
    ("NETEASE-50", "game", "网易一卡通 50 元", "NetEase card ¥50", "card",
     4650, 4800, 4950, 40, {}),
    ("APPSTORE-100", "gift", "App Store 充值卡 ¥100", "App Store card ¥100", "card",
     9400, 9700, 9990, 25, {}),
    ("QQVIP-1M", "member", "QQ 会员 1 个月", "QQ VIP, 1 month", "card",
     1000, 1150, 1300, 30, {}),
    ("IQIYI-1M", "member", "爱奇艺黄金会员 月卡", "iQIYI Gold VIP, 1 month", "card",
     1500, 1700, 1900, 3, {"low_stock_threshold": 5}),
    ("GUIDE-LOOP", "gift", "新手教程激活链接（共享）", "Starter guide link (shared)", "card",
     0, 100, 500, 0, {"loop_code": True}),
    ("KOG-60", "game", "王者荣耀 60 点券（人工代充）", "Honor of Kings 60 tokens (manual)",
     "manual", 550, 580, 600, 0, {"fields": [
         {"name": "account", "label": "游戏账号", "label_en": "Game account", "type": "text",
          "regex": r"[0-9A-Za-z_]{4,32}", "required": True}]}),
)
DEMO_CATEGORIES = {
    "game": ("游戏点卡", "Game cards", "🎮"),
    "gift": ("礼品卡", "Gift cards", "🎁"),
    "member": ("视频会员", "Memberships", "⭐"),
}
DEMO_WALLET = 20000  # ¥200.00 for each demo buyer


def is_empty() -> bool:
    return db.session.scalar(select(Tenant.id).limit(1)) is None


def uses_embedded_default(config) -> bool:
    """Whether the app runs on the embedded default database (the instance folder's SQLite
    file), the only one ``kameng run`` seeds the demo into unasked."""
    from kameng.core.config import default_database_url

    return config["DATABASE_URL"] == default_database_url(config["INSTANCE_PATH"])


def run_seeding(config, *, asked: bool | None, empty: bool) -> tuple[bool, str]:
    """What ``kameng run`` does about demo data: (seed it?, the line that says so).

    ``asked`` is ``--demo`` (True), ``--no-demo`` (False) or neither (None). The
    demo logins share a published password, so unasked they go only into an empty
    embedded default database — never into a PostgreSQL or other configured
    database, nor one that has data. ``--demo`` on a database with data is refused.
    """
    if asked is False:
        return False, "demo data not seeded (--no-demo)"
    if not empty:
        if asked:
            raise ValueError("the database already has shops; --demo needs an empty one")
        return False, "the database has shops: no demo data seeded"
    if asked:
        return True, ("demo data seeded as asked (--demo); its logins share the published "
                      f"password {DEMO_PASSWORD!r}")
    if uses_embedded_default(config):
        return True, "demo data seeded into the empty embedded default database"
    return False, ("the database is empty and is not the embedded default: no demo data "
                   "seeded (create the master shop with `kameng tenants create`, or add "
                   "the demo with `kameng demo seed` or `kameng run --demo`)")


def seed() -> list[dict]:
    """Create the demo tree and its logins; returns what to print."""
    logins = []
    for shop in DEMO_SHOPS:
        tenant = services.create_tenant(shop.slug, shop.name, shop.parent, theme=shop.theme,
                                        locale=shop.locale)
        owner = f"owner@{shop.slug}.localhost"
        services.create_user(tenant, owner, "owner", DEMO_PASSWORD, shop.name)
        customer = f"buyer@{shop.slug}.localhost"
        services.create_user(tenant, customer, "customer", DEMO_PASSWORD, "Demo buyer")
        logins.append({"slug": tenant.slug, "name": tenant.name,
                       "host": services.primary_host(tenant),
                       "owner": owner, "customer": customer, "password": DEMO_PASSWORD})
    _seed_staff()
    logins[0]["staff"] = [(email, role, DEMO_PASSWORD) for email, role, _name in DEMO_STAFF]
    _seed_catalog()
    _seed_shops()
    for row in logins:
        row["open_shop"] = row["slug"] == "master"  # _seed_signups opened it
    return logins


# one back-office account per staff role on the master (admin/permissions.py)
DEMO_STAFF = (("staff@master.localhost", "manager", "Manager"),
              ("support@master.localhost", "support", "Support"),
              ("finance@master.localhost", "finance", "Finance"))


def _seed_staff() -> None:
    master = services.tenant_by_slug("master")
    for email, role, name in DEMO_STAFF:
        services.create_user(master, email, "staff", DEMO_PASSWORD, name, staff_role=role)


def current_logins() -> list[dict]:
    """What ``kameng run`` prints on every start: each shop with its host, its first
    owner and, for a demo shop, its demo buyer. The published demo password is shown
    only for a demo login that still has it (an operator who changed it sees none)."""
    from kameng.core.passwords import verify_password
    from kameng.sales.openshop import takes_signups
    from kameng.tenants.models import User

    demo_slugs = {shop.slug for shop in DEMO_SHOPS}
    rows = []
    for tenant in services.list_tenants():
        users = {u.email: u for u in db.session.scalars(
            select(User).where(User.tenant_id == tenant.id).order_by(User.id))}
        owners = [u for u in users.values() if u.role == "owner"]
        demo_owner = users.get(f"owner@{tenant.slug}.localhost")
        demo_buyer = users.get(f"buyer@{tenant.slug}.localhost")
        is_demo = tenant.slug in demo_slugs and demo_owner is not None

        def published(user):
            return user is not None and verify_password(user.password_hash, DEMO_PASSWORD)

        owner = demo_owner if is_demo else (owners[0] if owners else None)
        rows.append({"slug": tenant.slug, "name": tenant.name,
                     "host": services.primary_host(tenant),
                     "owner": owner.email if owner else None,
                     "owner_password": DEMO_PASSWORD if is_demo and published(owner) else None,
                     "customer": demo_buyer.email if is_demo and demo_buyer else None,
                     "customer_password": (DEMO_PASSWORD if is_demo and published(demo_buyer)
                                           else None),
                     # the demo's staff accounts, one per role (master only)
                     "staff": [(email, users[email].staff_role,
                                DEMO_PASSWORD if published(users[email]) else None)
                               for email, _role, _name in DEMO_STAFF
                               if is_demo and email in users and users[email].role == "staff"
                               and users[email].tenant_id == tenant.id],
                     "open_shop": takes_signups(tenant)})
    return rows


def _seed_catalog() -> None:
    from kameng.shop.catalog import services as catalog
    from kameng.shop.stock import services as stock

    categories = {key: catalog.create_category(name, name_en=name_en, icon=icon)
                  for key, (name, name_en, icon) in DEMO_CATEGORIES.items()}
    for sku, cat, name, name_en, kind, cost, wholesale, retail, codes, extra in DEMO_PRODUCTS:
        product = catalog.create_product(
            sku=sku, name=name, name_en=name_en, kind=kind, supplier_cost=cost,
            wholesale_price=wholesale, retail_price=retail, category=categories[cat],
            description=f"{name} — 自动发货，购买后立即显示卡密。", **extra)
        if codes:
            stock.import_codes(product, text="\n".join(
                f"{sku}-{secrets.token_hex(6).upper()}" for _ in range(codes)),
                cost_note="demo stock")
        elif extra.get("loop_code"):
            stock.import_codes(product, text="https://guide.example.com/start?k=DEMO")


def _seed_shops() -> None:
    from kameng.billing import wallets
    from kameng.billing.payments.services import save_provider_config
    from kameng.shop.catalog import services as catalog
    from kameng.shop.pricing import services as pricing
    from kameng.tenants.models import User

    shops = {t.slug: t for t in db.session.scalars(select(Tenant))}
    # star resells at +5 % and sells to its own sub-shops at +3 %; rocket adds 8 %
    pricing.set_markup(shops["star"], kind="percent", value=500, rounding="jiao")
    pricing.set_markup(shops["star"], kind="percent", value=300, wholesale=True)
    pricing.set_markup(shops["rocket"], kind="percent", value=800, rounding="x9")
    catalog.set_shop_override(shops["rocket"], catalog.product_by_sku("STEAM-100"),
                              featured=True)
    # the platform's 易支付 is the built-in demo gateway: a guest of any demo shop can pay
    # (sub-shops offer the master's 易支付; refused on a production database unless
    # KAMENG_DEMO_GATEWAY is set)
    from kameng.billing.payments import demo as demo_gateway

    demo_gateway.install(shops["master"])
    _seed_signups(shops["master"])
    for tenant in shops.values():
        save_provider_config(tenant, "balance", enabled=True)
        for user in db.session.scalars(select(User).where(User.tenant_id == tenant.id,
                                                          User.role == "customer")):
            wallets.credit_wallet(user, DEMO_WALLET, note="demo credit")


def _seed_signups(master: Tenant) -> None:
    """Open sign-ups on the master with a free plan, so a newcomer can open a shop at
    http://master.localhost:5000/open-shop (the new shop sells at +10 %)."""
    from kameng.billing.plans import services as plans
    from kameng.sales import openshop

    free = plans.create_plan(master, "free", "免费体验版", 0, custom_domain=True,
                             sub_shops=True)
    openshop.set_signup_settings(master, "open", [free.id], 1000)
