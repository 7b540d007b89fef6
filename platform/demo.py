"""Demo data: a master shop, a sub-shop and a sub-sub-shop, each with its own theme."""
from __future__ import annotations

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

# every later issue extends seed() with its own demo rows (catalog, stock, wallets …)
EXTRA_SEEDERS: list = []


def is_empty() -> bool:
    return db.session.scalar(select(Tenant.id).limit(1)) is None


def seed() -> list[dict]:
    """Create the demo tree and its logins; returns what to print."""
    logins = []
    for shop in DEMO_SHOPS:
        tenant = services.create_tenant(shop.slug, shop.name, shop.parent, theme=shop.theme,
                                        locale=shop.locale)
        owner = f"owner@{shop.slug}.localhost"
        services.create_user(tenant, owner, "owner", DEMO_PASSWORD, f"{shop.name} owner")
        customer = f"buyer@{shop.slug}.localhost"
        services.create_user(tenant, customer, "customer", DEMO_PASSWORD, "Demo buyer")
        logins.append({"slug": tenant.slug, "name": tenant.name,
                       "host": services.primary_host(tenant),
                       "owner": owner, "customer": customer, "password": DEMO_PASSWORD})
    for seeder in EXTRA_SEEDERS:
        seeder()
    return logins
