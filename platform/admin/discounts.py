"""Back office of any shop: its customer tiers (会员等级) and quantity discounts (批发价).

/admin/discounts                    both lists, and the forms that add or change them
/admin/discounts/tiers              POST: create or change a tier (``kameng tiers set``)
/admin/discounts/tiers/delete       POST: delete a tier by name
/admin/discounts/quantity           POST: add or change a quantity step (``kameng qty-discount set``)
/admin/discounts/quantity/delete    POST: delete a quantity step by id
"""
from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import ActionPage, owner_required
from kameng.core.percent import format_percent
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services
from kameng.shop.pricing.forms import QuantityDiscountForm, TierForm

bp = Routes()


def _page(status: int = 200):
    steps = [(row, catalog.product_sku(row.product_id) if row.product_id else None)
             for row in services.list_quantity_discounts(g.tenant)]
    return render_template("admin/discounts.html", tiers=services.list_tiers(g.tenant),
                           steps=steps, tier_form=TierForm(), qty_form=QuantityDiscountForm(),
                           format_percent=format_percent), status


page = ActionPage(bp, "/discounts", "discounts", owner_required, _page)


@page.action("/discounts/tiers")
def discounts_tier_save():
    name, bp_, spend = TierForm().values(g.tenant.currency)
    services.set_tier(g.tenant, name, bp_, spend)
    return _("Tier %(name)s saved.", name=name)


@page.action("/discounts/tiers/delete")
def discounts_tier_delete():
    name = (request.form.get("name") or "").strip()
    services.delete_tier(g.tenant, name)
    return _("Tier %(name)s deleted.", name=name)


@page.action("/discounts/quantity")
def discounts_quantity_save():
    quantity, bp_, product_id = QuantityDiscountForm().values()
    services.set_quantity_discount(g.tenant, quantity, bp_, product_id)
    return _("Quantity discount saved.")


@page.action("/discounts/quantity/delete")
def discounts_quantity_delete():
    raw = (request.form.get("discount_id") or "").strip()
    services.delete_quantity_discount(g.tenant, int(raw) if raw.isdecimal() else 0)
    return _("Quantity discount deleted.")
